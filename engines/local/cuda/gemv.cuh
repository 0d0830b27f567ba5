// The fused dequantize-and-dot GEMV kernels (small batches: 1-8 tokens), with their shape
// (rows per warp, chunks in flight per lane, warps per block) as template parameters so that
// benchmarks/kernels/gemv_variants.cu can time other shapes beside the engine's on a GPU.
#pragma once

#include <cuda_runtime.h>

#include <type_traits>

#include "engines/local/cuda/cuda_quants.cuh"

namespace assay::cuda {

// Sums the lanes' partial dot products and stores rows row0.. (those below ne1), plus bias.
template <int kRows, int NT>
__device__ __forceinline__ void warp_store(float (&acc)[kRows][NT], int lane, int64_t row0, int64_t ne1,
                                           const float* bias, float* out, int64_t os) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      float s = acc[r][t];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      const int64_t row = row0 + r;
      if (lane == 0 && row < ne1) out[t * os + row] = bias ? s + bias[row] : s;
    }
  }
}

// The rows warp `row0 / kRows` reads (clamped: tail rows are recomputed, not stored) and its
// zeroed accumulators.
template <int kRows, int NT>
__device__ __forceinline__ void gemv_warp_setup(const uint8_t* w, size_t row_bytes, int64_t ne1, int64_t row0,
                                                const uint8_t* (&wr)[kRows], float (&acc)[kRows][NT]) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    wr[r] = w + min(row0 + r, ne1 - 1) * row_bytes;
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;
  }
}

// One warp per kRows output rows, NT tokens at once: the weight is read once for all tokens, and
// each activation value loaded (8 floats per chunk) serves kRows rows, which keeps L1 traffic
// for activations below the weight traffic even for 4-bit blocks. Each lane decodes kUnroll
// chunks per row before using any, so several loads per lane are in flight.
// The shapes the engine launches (cuda_matmul.cu); benchmarks/kernels/gemv_variants.cu times
// others beside them on the device.
constexpr int kGemvWarps = 4;
template <class D>
__host__ __device__ constexpr int gemv_rows() {
  if constexpr (std::is_same_v<D, Q4KWide>) {
    return 4;
  } else {
    return D::kPlain ? 2 : 4;
  }
}
constexpr int kGemvUnroll = 2;

template <class D, int NT, int kRows, int kUnroll, int kWarps>
__global__ void __launch_bounds__(32 * kWarps) gemv_kernel(const uint8_t* w, size_t row_bytes,
                                                           int64_t ne0, int64_t ne1, bool vec_ok,
                                                           const float* x, int64_t xs,
                                                           const float* bias, float* out,
                                                           int64_t os) {
  const int lane = threadIdx.x & 31;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * kRows;
  if (row0 >= ne1) return;
  const uint8_t* wr[kRows];
  float acc[kRows][NT];
  gemv_warp_setup<kRows, NT>(w, row_bytes, ne1, row0, wr, acc);
  const int64_t nch = chunks_per_row<D>(ne0);
  for (int64_t base = 0; base < nch; base += 32 * kUnroll) {
    float v[kUnroll][kRows][8];
    int p0[kUnroll], p1[kUnroll], n[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * 32 + lane;
      n[u] = 0;
      if (i < nch) {
#pragma unroll
        for (int r = 0; r < kRows; ++r) n[u] = get_chunk<D>(wr[r], i, ne0, vec_ok, v[u][r], &p0[u], &p1[u]);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (n[u] == 8) {
#pragma unroll
        for (int t = 0; t < NT; ++t) {
          const float4 a = __ldg(reinterpret_cast<const float4*>(x + t * xs + p0[u]));
          const float4 b = __ldg(reinterpret_cast<const float4*>(x + t * xs + p1[u]));
#pragma unroll
          for (int r = 0; r < kRows; ++r)
            acc[r][t] += v[u][r][0] * a.x + v[u][r][1] * a.y + v[u][r][2] * a.z + v[u][r][3] * a.w +
                         v[u][r][4] * b.x + v[u][r][5] * b.y + v[u][r][6] * b.z + v[u][r][7] * b.w;
        }
      } else if (D::kPlain && n[u] > 0) {  // tail of a plain row: p1 == p0 + 4
        // Fully unrolled with a guard: indexing v with a runtime k would put v in local memory
        // (seen as a 128-256 byte stack frame and half the bandwidth on the H200).
#pragma unroll
        for (int t = 0; t < NT; ++t) {
#pragma unroll
          for (int k = 0; k < 8; ++k) {
            if (k < n[u]) {
              const float xv = x[t * xs + p0[u] + k];
#pragma unroll
              for (int r = 0; r < kRows; ++r) acc[r][t] += v[u][r][k] * xv;
            }
          }
        }
      }
    }
  }
  warp_store<kRows, NT>(acc, lane, row0, ne1, bias, out, os);
}

// The body of the step-wise GEMV kernels: warp w of the block takes kRows output rows, its lanes
// take the row's steps round robin (step(wr, i, acc) adds step i of every row), and the lanes'
// sums are stored.
template <int NT, int kRows, int kUnroll, int kWarps, class Step>
__device__ __forceinline__ void gemv_warp_steps(const uint8_t* w, size_t row_bytes, int64_t ne1, int64_t steps,
                                                const float* bias, float* out, int64_t os, Step step) {
  const int lane = threadIdx.x & 31;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * kRows;
  if (row0 >= ne1) return;
  const uint8_t* wr[kRows];
  float acc[kRows][NT];
  gemv_warp_setup<kRows, NT>(w, row_bytes, ne1, row0, wr, acc);
#pragma unroll kUnroll
  for (int64_t i = lane; i < steps; i += 32) step(wr, i, acc);
  warp_store<kRows, NT>(acc, lane, row0, ne1, bias, out, os);
}

// Q4_K through Q4KWide (cuda_quants.cuh): a warp per kRows rows (4 in the engine), lanes over
// 32-value steps.
template <int NT, int kRows, int kUnroll, int kWarps>
__global__ void __launch_bounds__(32 * kWarps) gemv_q4k_kernel(const uint8_t* w, size_t row_bytes,
                                                               int64_t ne0, int64_t ne1,
                                                               const float* x, int64_t xs,
                                                               const float* bias, float* out,
                                                               int64_t os) {
  gemv_warp_steps<NT, kRows, kUnroll, kWarps>(
      w, row_bytes, ne1, ne0 / 256 * Q4KWide::kStepsPerBlock, bias, out, os,
      [&](const uint8_t* const* wr, int64_t i, float (*acc)[NT]) { q4k_wide_step<kRows, NT>(wr, i, x, xs, acc); });
}

template <class T>
struct GemvTag {
  using type = T;
};

// Launches gemv_kernel (D a plain or block format) or, with D = Q4KWide, gemv_q4k_kernel for
// NT tokens over rows [0, ne1).
template <class D, int NT, int kRows, int kUnroll, int kWarps>
void launch_gemv_shape(const uint8_t* w, size_t row_bytes, int64_t ne0, int64_t ne1, bool vec_ok, const float* x,
                       int64_t xs, const float* bias, float* out, int64_t os, cudaStream_t s) {
  constexpr int kRowsPerBlock = kWarps * kRows;
  const unsigned grid = static_cast<unsigned>((ne1 + kRowsPerBlock - 1) / kRowsPerBlock);
  if constexpr (std::is_same_v<D, Q4KWide>) {
    (void)vec_ok;
    gemv_q4k_kernel<NT, kRows, kUnroll, kWarps><<<grid, 32 * kWarps, 0, s>>>(w, row_bytes, ne0, ne1, x, xs, bias, out, os);
  } else {
    gemv_kernel<D, NT, kRows, kUnroll, kWarps><<<grid, 32 * kWarps, 0, s>>>(w, row_bytes, ne0, ne1, vec_ok, x, xs,
                                                                           bias, out, os);
  }
}

}  // namespace assay::cuda
