// ggml tensor types as stored in GGUF files (ids from ggml's `enum ggml_type`), with their block
// geometry. Quant blocks run along ne[0] (the input dimension): each row is quantized on its own.
//
// Also the scalar conversions every reader of these files needs (binary16, bfloat16) and a
// reference dequantizer for the simple block types, used by tests and `assay inspect`; the
// compute backends keep their own fast versions and are tested against this one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace assay {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct GgmlTypeTraits {
  std::string_view name;  // "Q4_K"
  int64_t block_elems;    // elements per block (1 for plain types)
  int64_t block_bytes;    // bytes per block
  bool supported;         // assay can compute with it
};

// Traits of a type id; nullptr for ids ggml never defined or removed. Ids that ggml defines but
// that have no enumerator above (the IQ*, TQ* and MXFP4 families) still have traits, so files
// holding them open and can be inspected; they are `supported = false`.
const GgmlTypeTraits* ggml_type_traits(uint32_t type_id);
inline const GgmlTypeTraits* ggml_type_traits(GgmlType type) {
  return ggml_type_traits(static_cast<uint32_t>(type));
}

// "Q4_K", or "type#N" for an unknown id.
std::string_view ggml_type_name(GgmlType type);

// Bytes of a row of n elements; -1 if n is not a multiple of the block size or type unknown.
int64_t ggml_row_bytes(GgmlType type, int64_t n);

// IEEE-754 binary16 <-> binary32. fp32_to_fp16 rounds to nearest even (as F16C and numpy do).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
// bfloat16 is the top half of a binary32.
float bf16_to_fp32(uint16_t b);
// Rounds to nearest even; NaN stays NaN (as torch and ggml do).
uint16_t fp32_to_bf16(float f);

// Reference dequantization of one row of n elements (n a multiple of the block size) for F32,
// F16, BF16, Q8_0, Q4_0 and Q4_1, following ggml-quants.c `dequantize_row_*`. Returns false for
// other types or a bad n. `src` need not be aligned.
bool dequantize_row_reference(GgmlType type, const uint8_t* src, float* dst, int64_t n);

}  // namespace assay
