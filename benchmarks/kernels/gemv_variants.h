// Batch-1 GEMV shapes timed beside the engine's on a GPU (issue #7: kernel variants are developed
// here, each checked against the engine's output before it is timed, and the winner promoted
// into engines/local/cuda/gemv.cuh's defaults).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engines/local/ggml_types.h"

namespace assay {

struct GemvVariantTiming {
  std::string shape;    // "rows 2, unroll 2, warps 4 (engine)"
  double us = 0;        // per call, averaged over reps back-to-back launches
  double max_abs_diff;  // against the engine's output for the same x
};

// out[j] = sum_i w[j, i] x[i] for every shape built for w's type (BF16, Q8_0, Q4_K; none for
// others). w, x, out, ref are device pointers; ref holds the engine's result for this x.
std::vector<GemvVariantTiming> time_gemv_variants(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                                                  int64_t ne1, const float* x, float* out, const float* ref,
                                                  int reps);

// The 8-bit-activation GEMV (gemv_q8.cuh) in other shapes, for the quantized types: x is
// quantized once, then each shape's kernel alone is timed; ref holds the engine's q8_gemv result.
std::vector<GemvVariantTiming> time_gemv_q8_variants(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                                                     int64_t ne1, const float* x, float* out, const float* ref,
                                                     int reps);

}  // namespace assay
