// CPU matmul: out[t, j] = sum_i x[t, i] * w[j, i] (+ bias[j]) for GGUF weight types.
//
// Shapes: x [n_tokens, k] f32 (row stride x_stride), w ggml layout (ne0 = k contiguous, ne1 = n
// rows of w.row_bytes each), bias [n] f32 or null, out [n_tokens, n] f32 (row stride out_stride).
//
// Method (as ggml): activations are quantized per token to ActQ8 (Q4_0/Q4_1/Q8_0 weights) or
// ActQ8K (Q4_K/Q5_K/Q6_K weights) and dotted with integer SIMD (AVX2 maddubs/madd); F32/F16/BF16
// weights use f32 FMA on the f32 activations. With CpuExec::f32_compute, quantized rows are
// instead dequantized to f32 per tile (dequantize_row, as ggml and gguf-py) and go through the
// float kernels: the numbers of a float reference that dequantizes the same file. Work is tiled rows x tokens (weights loaded once
// per tile and reused for every token of the tile) and split over output rows between threads.
//
// Determinism: each out[t, j] is computed by the same sequence of operations whatever the tile
// shape, the thread count or the other tokens in the batch: results are bit-identical for any
// n_threads and any batch composition (on one ISA path; scalar and AVX2 differ by rounding).
//
// Accuracy: quantizing activations to 8 bits adds a relative error of about 0.5% of |x|.|w|
// per dot (as llama.cpp); float weights, and f32 compute, are exact up to f32 rounding.
//
// Guarded by tests/engines/local/cpu/matmul_test.cpp.
#pragma once

#include <cstdint>

#include "engines/local/cpu/cpu_exec.h"
#include "engines/local/ops.h"

namespace assay {

void cpu_matmul(const CpuExec& ex, const float* x, int64_t n_tokens, int64_t x_stride,
                const TensorRef& w, const float* bias, float* out, int64_t out_stride);

}  // namespace assay
