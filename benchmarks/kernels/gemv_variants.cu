#include "benchmarks/kernels/gemv_variants.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "engines/local/cuda/gemv.cuh"
#include "engines/local/cuda/cuda_kernels.h"
#include "engines/local/cuda/gemv_q8.cuh"

namespace assay {
namespace {

using cuda::launch_gemv_shape;

// Runs launch() once into out (NaN first: a row not written shows), compares with ref, then
// times reps back-to-back launches.
template <class L>
GemvVariantTiming time_launch(const std::string& shape, L launch, float* out, int64_t ne1,
                              const std::vector<float>& ref, int reps) {
  GemvVariantTiming t;
  t.shape = shape;
  cudaMemset(out, 0xFF, sizeof(float) * ne1);
  launch();
  std::vector<float> got(static_cast<size_t>(ne1));
  cudaMemcpy(got.data(), out, sizeof(float) * ne1, cudaMemcpyDeviceToHost);
  t.max_abs_diff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - ref[i]);
    t.max_abs_diff = std::isnan(d) ? INFINITY : std::max(t.max_abs_diff, d);
  }
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a);
  for (int i = 0; i < reps; ++i) launch();
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  t.us = 1e3 * ms / reps;
  if (cudaGetLastError() != cudaSuccess) t.max_abs_diff = INFINITY;
  return t;
}

std::string shape_name(int R, int U, int W, bool engine) {
  return "rows " + std::to_string(R) + ", unroll " + std::to_string(U) + ", warps " + std::to_string(W) +
         (engine ? " (engine)" : "");
}

template <class D, int R, int U, int W>
GemvVariantTiming time_shape(const void* w, size_t row_bytes, int64_t ne0, int64_t ne1, const float* x, float* out,
                             const std::vector<float>& ref, int reps, bool engine) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const bool vec_ok = (reinterpret_cast<uintptr_t>(w) & 15) == 0 && row_bytes % 16 == 0;
  return time_launch(
      shape_name(R, U, W, engine),
      [&] { launch_gemv_shape<D, 1, R, U, W>(wb, row_bytes, ne0, ne1, vec_ok, x, ne0, nullptr, out, ne1, nullptr); },
      out, ne1, ref, reps);
}

template <class S, int R, int U, int W>
GemvVariantTiming time_q8_shape(const void* w, size_t row_bytes, int64_t ne0, int64_t ne1, const uint8_t* act,
                                float* out, const std::vector<float>& ref, int reps, bool engine) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const int64_t as = S::kActK ? cuda::ActQ8KRow::bytes(ne0) : cuda::ActQ8Row::bytes(ne0);
  return time_launch(
      shape_name(R, U, W, engine),
      [&] { cuda::launch_gemv_q8_shape<S, 1, R, U, W>(wb, row_bytes, ne0, ne1, act, as, nullptr, out, ne1, nullptr); },
      out, ne1, ref, reps);
}

}  // namespace

std::vector<GemvVariantTiming> time_gemv_variants(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                                                  int64_t ne1, const float* x, float* out, const float* ref_d,
                                                  int reps) {
  std::vector<float> ref(static_cast<size_t>(ne1));
  cudaMemcpy(ref.data(), ref_d, sizeof(float) * ne1, cudaMemcpyDeviceToHost);
  std::vector<GemvVariantTiming> r;
#define ASSAY_GEMV_SHAPE(D, R, U, W, ENGINE) \
  r.push_back(time_shape<cuda::D, R, U, W>(w, row_bytes, ne0, ne1, x, out, ref, reps, ENGINE))
  switch (type) {
    case GgmlType::BF16:
      ASSAY_GEMV_SHAPE(DqBF16, 2, 2, 4, true);
      ASSAY_GEMV_SHAPE(DqBF16, 4, 2, 4, false);
      ASSAY_GEMV_SHAPE(DqBF16, 2, 4, 4, false);
      ASSAY_GEMV_SHAPE(DqBF16, 4, 4, 4, false);
      ASSAY_GEMV_SHAPE(DqBF16, 8, 2, 4, false);
      ASSAY_GEMV_SHAPE(DqBF16, 2, 2, 8, false);
      ASSAY_GEMV_SHAPE(DqBF16, 4, 2, 8, false);
      ASSAY_GEMV_SHAPE(DqBF16, 1, 4, 4, false);
      break;
    case GgmlType::Q4_K:
      ASSAY_GEMV_SHAPE(Q4KWide, 4, 2, 4, true);
      ASSAY_GEMV_SHAPE(Q4KWide, 2, 2, 4, false);
      ASSAY_GEMV_SHAPE(Q4KWide, 8, 2, 4, false);
      ASSAY_GEMV_SHAPE(Q4KWide, 4, 2, 8, false);
      ASSAY_GEMV_SHAPE(Q4KWide, 4, 4, 4, false);
      ASSAY_GEMV_SHAPE(Q4KWide, 2, 4, 8, false);
      break;
    case GgmlType::Q8_0:
      ASSAY_GEMV_SHAPE(DqQ8_0, 4, 2, 4, true);
      ASSAY_GEMV_SHAPE(DqQ8_0, 2, 2, 4, false);
      ASSAY_GEMV_SHAPE(DqQ8_0, 8, 2, 4, false);
      ASSAY_GEMV_SHAPE(DqQ8_0, 4, 4, 4, false);
      ASSAY_GEMV_SHAPE(DqQ8_0, 4, 2, 8, false);
      break;
    default:
      break;
  }
#undef ASSAY_GEMV_SHAPE
  return r;
}

std::vector<GemvVariantTiming> time_gemv_q8_variants(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                                                     int64_t ne1, const float* x, float* out, const float* ref_d,
                                                     int reps) {
  std::vector<GemvVariantTiming> r;
  if (!cuda::gemv_q8_usable(type, w, row_bytes, ne0)) return r;
  std::vector<float> ref(static_cast<size_t>(ne1));
  cudaMemcpy(ref.data(), ref_d, sizeof(float) * ne1, cudaMemcpyDeviceToHost);
  void* act = nullptr;
  if (cudaMalloc(&act, static_cast<size_t>(cuda::act_q8_row_bytes(type, ne0))) != cudaSuccess) return r;
  cuda::launch_quantize_act(type, x, ne0, 1, ne0, act, nullptr);
  const auto* a = static_cast<const uint8_t*>(act);
  const bool ok = ASSAY_CUDA_Q8_DISPATCH(type, {
    r.push_back(time_q8_shape<S, 4, 2, 4>(w, row_bytes, ne0, ne1, a, out, ref, reps, true));
    r.push_back(time_q8_shape<S, 2, 2, 4>(w, row_bytes, ne0, ne1, a, out, ref, reps, false));
    r.push_back(time_q8_shape<S, 8, 2, 4>(w, row_bytes, ne0, ne1, a, out, ref, reps, false));
    r.push_back(time_q8_shape<S, 4, 4, 4>(w, row_bytes, ne0, ne1, a, out, ref, reps, false));
    r.push_back(time_q8_shape<S, 4, 2, 8>(w, row_bytes, ne0, ne1, a, out, ref, reps, false));
    r.push_back(time_q8_shape<S, 2, 4, 8>(w, row_bytes, ne0, ne1, a, out, ref, reps, false));
    r.push_back(time_q8_shape<S, 1, 4, 4>(w, row_bytes, ne0, ne1, a, out, ref, reps, false));
  });
  (void)ok;
  cudaFree(act);
  return r;
}

}  // namespace assay
