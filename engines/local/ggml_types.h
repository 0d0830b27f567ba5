// ggml tensor types as stored in GGUF files (ids from ggml's `enum ggml_type`), with their block
// geometry. Quant blocks run along ne[0] (the input dimension): each row is quantized on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace assay {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
};

struct GgmlTypeTraits {
  std::string_view name;   // "Q4_K"
  int64_t block_elems;     // elements per block (1 for plain types)
  int64_t block_bytes;     // bytes per block
  bool supported;          // assay can compute with it
};

// Traits of a type id; nullptr for ids ggml never defined or removed.
const GgmlTypeTraits* ggml_type_traits(uint32_t type_id);

// Bytes of a row of n elements; -1 if n is not a multiple of the block size or type unknown.
int64_t ggml_row_bytes(GgmlType type, int64_t n);

}  // namespace assay
