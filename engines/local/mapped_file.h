// Read-only mmap of a whole model file (GGUF, safetensors): the weights are used in place.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "harness/status.h"

namespace assay {

struct ReadOnlyMap {
  void* data = nullptr;
  size_t size = 0;
};

// Opens PATH and maps it read-only. Errors name the path: missing (kNotFound), not a regular
// file, and a file shorter than min_size ("PATH: file is N bytes, too short for WHAT").
// The caller owns the mapping (munmap(data, size)).
Result<ReadOnlyMap> map_file_readonly(const std::string& path, size_t min_size,
                                      std::string_view what);

}  // namespace assay
