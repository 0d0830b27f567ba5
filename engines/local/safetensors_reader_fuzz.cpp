// libFuzzer entry point for the safetensors header parser (built only with -DASSAY_FUZZ=ON).
// The input is a whole file (u64 length + JSON + data); every accepted tensor must lie inside it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engines/local/safetensors_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);
  auto f = assay::SafetensorsFile::from_memory(buf.data(), buf.size(), "fuzz.safetensors");
  if (!f.ok()) return 0;
  volatile uint8_t sink = 0;
  for (const assay::SafetensorsTensor& t : (*f)->tensors()) {
    if (t.n_bytes > 0) sink = sink ^ t.data[0] ^ t.data[t.n_bytes - 1];
  }
  (void)sink;
  return 0;
}
