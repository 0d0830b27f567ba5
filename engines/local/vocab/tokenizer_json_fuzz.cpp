// libFuzzer entry: arbitrary bytes as tokenizer.json (and, split at the first NUL, as
// tokenizer_config.json). The loader must return a Status, never crash; whatever loads must
// tokenize and decode without crashing. Wired by the build with ASSAY_FUZZ=ON (clang).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engines/local/vocab/chat_template.h"
#include "engines/local/vocab/hf_tokenizer_json.h"
#include "engines/local/vocab/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string_view config;
  if (size_t nul = bytes.find('\0'); nul != std::string_view::npos) {
    config = bytes.substr(nul + 1);
    bytes = bytes.substr(0, nul);
  }
  auto vocab = assay::vocab_from_hf_json(bytes, config, "fuzz.json");
  if (!config.empty()) {
    auto tmpl = assay::chat_template_from_hf_config(config, "fuzz_config.json");
    if (tmpl.ok() && tmpl->has_value()) (void)assay::ChatTemplate::from_jinja(**tmpl);
  }
  if (!vocab.ok()) return 0;
  auto tok = assay::Tokenizer::create(std::move(*vocab));
  if (!tok.ok()) return 0;
  for (std::string_view text :
       {std::string_view("Hello  world 123 \xF0\x9F\xA6\x99\n\n"), bytes.substr(0, 256)}) {
    std::vector<int32_t> ids = (*tok)->encode(text, true, true);
    (void)(*tok)->decode(ids, {.render_special = true});
  }
  return 0;
}
