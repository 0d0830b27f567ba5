// libFuzzer entry point for assay serve's request-body parsers (built only with -DASSAY_FUZZ=ON):
// the bodies come from any HTTP client. Whatever a parser accepts must be within the server's
// limits, and the error path must name an OpenAI-style error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "engines/serve/serve_protocol.h"

namespace {

void check_sampling(const assay::serve::SamplingFields& s) {
  if (s.n < 1 || s.n > assay::serve::kMaxN || s.stop.size() > assay::serve::kMaxStopStrings) std::abort();
  if (s.max_tokens && *s.max_tokens < 0) std::abort();
  (void)assay::serve::to_gen_params(s, 16);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto c = assay::serve::parse_completion_request(body);
  if (auto* r = std::get_if<assay::serve::CompletionRequest>(&c)) {
    check_sampling(r->s);
    if (r->logprobs && (*r->logprobs < 0 || *r->logprobs > assay::serve::kMaxLogprobs)) std::abort();
    if (r->prompts.empty() && r->token_prompts.empty()) std::abort();
  }
  auto ch = assay::serve::parse_chat_request(body);
  if (auto* r = std::get_if<assay::serve::ChatRequest>(&ch)) {
    check_sampling(r->s);
    if (r->messages.empty()) std::abort();
  }
  (void)assay::serve::parse_tokenize_request(body);
  (void)assay::serve::parse_detokenize_request(body);
  (void)assay::serve::codepoints(body);
  return 0;
}
