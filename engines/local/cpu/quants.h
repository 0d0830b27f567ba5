// GGUF block layouts, f16/bf16 conversion, reference (de)quantizers and activation quantizers.
//
// Block structs mirror ggml src/ggml-common.h byte for byte (sizes static_asserted). The
// dequantize_row_* functions follow ggml src/ggml-quants.c, including the order of f32 ops, so
// they are bit-exact with ggml's CPU reference. quantize_row_* for Q4_0/Q4_1/Q8_0 are ggml's
// reference quantizers; the K-quant quantizers are simple (not ggml's search) but produce valid
// blocks; they exist for tests, benchmarks and tiny test models.
//
// Activation formats (internal to the CPU backend, not GGUF types):
//   ActQ8  — 32 values: f32 d (an fp16 value), f32 s8 = d * sum(q) / 8, i8 qs[32]; used against Q4_0/Q4_1/Q8_0
//            weights (ggml uses Q8_0/Q8_1 here; the sum term serves the Q4_0 -8 offset and the
//            Q4_1 min).
//   ActQ8K — 256 values: f32 d, i8 qs[256], i16 bsums[16] (sums of 16 consecutive q); used
//            against Q4_K/Q5_K/Q6_K (ggml's Q8_K with an f32 d = amax / 127).
// Rounding is round-half-even (nearbyint) in both the scalar and AVX2 activation quantizers, so
// they produce identical bytes.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "engines/local/ggml_types.h"

namespace assay {

struct BlockQ4_0 {
  uint16_t d;  // f16
  uint8_t qs[16];
};
struct BlockQ4_1 {
  uint16_t d;  // f16
  uint16_t m;  // f16
  uint8_t qs[16];
};
struct BlockQ8_0 {
  uint16_t d;  // f16
  int8_t qs[32];
};
struct BlockQ4_K {
  uint16_t d;     // f16 super-block scale of the scales
  uint16_t dmin;  // f16 super-block scale of the mins
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;  // f16, last
};
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

struct ActQ8 {
  float d;
  float s8;  // d * sum(qs) / 8
  int8_t qs[32];
};
struct ActQ8K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(ActQ8) == 40);
static_assert(sizeof(ActQ8K) == 292);

// f16/bf16 conversions (fp16_to_fp32, fp32_to_fp16, bf16_to_fp32, fp32_to_bf16) come from
// engines/local/ggml_types.h.

// Scale and min of sub-block j (0..7) of a Q4_K/Q5_K block (ggml get_scale_min_k4).
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

// ---- dequantize: y[0..k) from k values of type (k a multiple of the block size) ----
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t k);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t k);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t k);
void dequantize_row_q4_k(const BlockQ4_K* x, float* y, int64_t k);
void dequantize_row_q5_k(const BlockQ5_K* x, float* y, int64_t k);
void dequantize_row_q6_k(const BlockQ6_K* x, float* y, int64_t k);
void dequantize_row_f16(const uint16_t* x, float* y, int64_t k);
void dequantize_row_bf16(const uint16_t* x, float* y, int64_t k);
// Any supported type (F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K); aborts otherwise.
void dequantize_row(GgmlType type, const void* x, float* y, int64_t k);
bool cpu_supports_type(GgmlType type);

// ---- quantize: k floats into row bytes of type (k a multiple of the block size) ----
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t k);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t k);
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t k);
void quantize_row_q4_k(const float* x, BlockQ4_K* y, int64_t k);
void quantize_row_q5_k(const float* x, BlockQ5_K* y, int64_t k);
void quantize_row_q6_k(const float* x, BlockQ6_K* y, int64_t k);
// Any supported type; F32/F16/BF16 are plain conversions. `y` must hold ggml_row_bytes(type, k).
void quantize_row(GgmlType type, const float* x, void* y, int64_t k);

// ---- activations (k a multiple of 32 / 256) ----
// d is rounded to fp16 as ggml's Q8_0/Q8_1 store it. q8_1: the sum term is fp16(d * sum) as in
// ggml's Q8_1 (for Q4_1 weights); otherwise it is exact (Q4_0 weights against Q8_0).
void quantize_act_q8_scalar(const float* x, ActQ8* y, int64_t k, bool q8_1 = false);
void quantize_act_q8k_scalar(const float* x, ActQ8K* y, int64_t k);
// Dispatch to AVX2 when `use_avx2` (the caller checked the CPU); identical output either way.
void quantize_act_q8(const float* x, ActQ8* y, int64_t k, bool use_avx2, bool q8_1 = false);
void quantize_act_q8k(const float* x, ActQ8K* y, int64_t k, bool use_avx2);

}  // namespace assay
