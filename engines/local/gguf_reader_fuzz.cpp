// libFuzzer entry point for GgufFile::from_memory (built only with -DASSAY_FUZZ=ON, clang).
// Any input must produce a Status or a file whose every tensor lies inside the input; the
// fuzzer checks the latter by touching each tensor's first and last byte and running the typed
// getters over all metadata.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engines/local/gguf_reader.h"
#include "engines/local/hparams.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private copy so reads past `size` hit ASan's redzone.
  std::vector<uint8_t> buf(data, data + size);
  auto f = assay::GgufFile::from_memory(buf.data(), buf.size(), "fuzz.gguf");
  if (!f.ok()) return 0;
  volatile uint8_t sink = 0;
  for (const assay::GgufTensorInfo& t : (*f)->tensors()) {
    if (t.n_bytes > 0) sink = sink ^ t.data[0] ^ t.data[t.n_bytes - 1];
  }
  for (const auto& [key, value] : (*f)->metadata()) {
    (void)(*f)->get_int(key);
    (void)(*f)->get_float(key);
    (void)(*f)->get_string(key);
    (void)(*f)->get_string_array(key);
    (void)(*f)->get_int_array(key);
    (void)(*f)->get_float_array(key);
  }
  (void)assay::hparams_from_gguf(**f);
  (void)sink;
  return 0;
}
