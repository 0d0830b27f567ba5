// Weight-reading kernels: embed, the fused dequantize-and-dot GEMV for small batches, and the
// BF16 tile dequantizer feeding cuBLAS for large batches.
#include <cuda_runtime.h>

#include "engines/local/cuda/cuda_kernels.h"
#include "engines/local/cuda/cuda_quants.cuh"
#include "harness/status.h"

namespace assay::cuda {
namespace {

cudaStream_t st(void* s) { return static_cast<cudaStream_t>(s); }

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <class D>
__global__ void embed_kernel(const uint8_t* table, size_t row_bytes, int64_t ne0, bool vec_ok,
                             const int32_t* ids, float* out, int64_t out_stride) {
  const int64_t t = blockIdx.y;
  const uint8_t* row = table + static_cast<int64_t>(ids[t]) * row_bytes;
  float* o = out + t * out_stride;
  const int64_t nch = chunks_per_row<D>(ne0);
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < nch; i += gridDim.x * blockDim.x) {
    float v[8];
    int p0, p1;
    const int n = get_chunk<D>(row, i, ne0, vec_ok, v, &p0, &p1);
#pragma unroll
    for (int k = 0; k < 8; ++k)
      if (k < n) o[(k < 4 ? p0 : p1 - 4) + k] = v[k];
  }
}

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

// One warp per kRows output rows, NT tokens at once: the weight is read once for all tokens, and
// each activation value loaded (8 floats per chunk) serves kRows rows, which keeps L1 traffic
// for activations below the weight traffic even for 4-bit blocks. Each lane decodes kUnroll
// chunks per row before using any, so several loads per lane are in flight.
constexpr int kGemvWarps = 4;
template <class D>
__host__ __device__ constexpr int gemv_rows() { return D::kPlain ? 2 : 4; }

template <class D, int NT>
__global__ void __launch_bounds__(32 * kGemvWarps) gemv_kernel(const uint8_t* w, size_t row_bytes,
                                                               int64_t ne0, int64_t ne1, bool vec_ok,
                                                               const float* x, int64_t xs,
                                                               const float* bias, float* out,
                                                               int64_t os) {
  constexpr int kRows = gemv_rows<D>();
  constexpr int kUnroll = 2;
  const int lane = threadIdx.x & 31;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / 32) * kRows;
  if (row0 >= ne1) return;
  const uint8_t* wr[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) wr[r] = w + min(row0 + r, ne1 - 1) * row_bytes;  // clamp: tail rows recomputed, not stored
  const int64_t nch = chunks_per_row<D>(ne0);
  float acc[kRows][NT];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;
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

// Q4_K through Q4KWide (cuda_quants.cuh): a warp per 4 rows, lanes over 32-value steps.
template <int NT>
__global__ void __launch_bounds__(32 * kGemvWarps) gemv_q4k_kernel(const uint8_t* w, size_t row_bytes,
                                                                   int64_t ne0, int64_t ne1,
                                                                   const float* x, int64_t xs,
                                                                   const float* bias, float* out,
                                                                   int64_t os) {
  constexpr int kRows = 4;
  const int lane = threadIdx.x & 31;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / 32) * kRows;
  if (row0 >= ne1) return;
  const uint8_t* wr[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) wr[r] = w + min(row0 + r, ne1 - 1) * row_bytes;
  float acc[kRows][NT];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;
  const int64_t steps = ne0 / 256 * Q4KWide::kStepsPerBlock;
#pragma unroll 2
  for (int64_t i = lane; i < steps; i += 32) q4k_wide_step<kRows, NT>(wr, i, x, xs, acc);
  warp_store<kRows, NT>(acc, lane, row0, ne1, bias, out, os);
}

__device__ __forceinline__ void store_as(__nv_bfloat16* o, float v) { *o = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store_as(float* o, float v) { *o = v; }

template <class D, class T>
__global__ void dequant_kernel(const uint8_t* w, size_t row_bytes, int64_t ne0, bool vec_ok,
                               int64_t n_rows, T* out) {
  const int64_t nch = chunks_per_row<D>(ne0);
  const int64_t total = nch * n_rows;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / nch, c = i % nch;
    float v[8];
    int p0, p1;
    const int n = get_chunk<D>(w + r * row_bytes, c, ne0, vec_ok, v, &p0, &p1);
    T* o = out + r * ne0;
#pragma unroll
    for (int k = 0; k < 8; ++k)
      if (k < n) store_as(o + (k < 4 ? p0 : p1 - 4) + k, v[k]);
  }
}

__global__ void f32_to_bf16_kernel(const float* x, int64_t xs, int64_t n_rows, int64_t n,
                                   __nv_bfloat16* out) {
  const int64_t total = n_rows * n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / n, c = i % n;
    out[i] = __float2bfloat16_rn(x[r * xs + c]);
  }
}

int grid_for(int64_t items, int block) {
  const int64_t g = (items + block - 1) / block;
  return static_cast<int>(g < 65536 * 8 ? (g > 0 ? g : 1) : 65536 * 8);
}

}  // namespace

bool kernel_supports_type(GgmlType type) {
  return ASSAY_CUDA_DISPATCH(type, (void)0);
}

void launch_embed(GgmlType type, const void* table, size_t row_bytes, int64_t ne0,
                  const int32_t* ids, int64_t n_ids, float* out, int64_t out_stride, void* s) {
  if (n_ids == 0) return;
  const bool vec_ok = aligned16(table) && row_bytes % 16 == 0;
  const bool ok = ASSAY_CUDA_DISPATCH(type, {
    const int64_t nch = chunks_per_row<D>(ne0);
    dim3 grid(static_cast<unsigned>((nch + 127) / 128), static_cast<unsigned>(n_ids));
    embed_kernel<D><<<grid, 128, 0, st(s)>>>(static_cast<const uint8_t*>(table), row_bytes, ne0,
                                             vec_ok, ids, out, out_stride);
  });
  ASSAY_CHECK_MSG(ok, "CudaOps::embed: unsupported weight type");
}

void launch_gemv(GgmlType type, const void* w, size_t row_bytes, int64_t ne0, int64_t ne1,
                 const float* x, int64_t xs, int n_tokens, const float* bias, float* out,
                 int64_t os, void* s) {
  ASSAY_CHECK(n_tokens >= 1 && n_tokens <= 4);
  const bool vec_ok = aligned16(w) && row_bytes % 16 == 0;
  const auto* wb = static_cast<const uint8_t*>(w);
  if (type == GgmlType::Q4_K && vec_ok && ne0 % 256 == 0 && xs % 4 == 0 && aligned16(x)) {
    constexpr int kRowsPerBlock = kGemvWarps * 4;
    const unsigned grid = static_cast<unsigned>((ne1 + kRowsPerBlock - 1) / kRowsPerBlock);
    switch (n_tokens) {
      case 1: gemv_q4k_kernel<1><<<grid, 32 * kGemvWarps, 0, st(s)>>>(wb, row_bytes, ne0, ne1, x, xs, bias, out, os); break;
      case 2: gemv_q4k_kernel<2><<<grid, 32 * kGemvWarps, 0, st(s)>>>(wb, row_bytes, ne0, ne1, x, xs, bias, out, os); break;
      case 3: gemv_q4k_kernel<3><<<grid, 32 * kGemvWarps, 0, st(s)>>>(wb, row_bytes, ne0, ne1, x, xs, bias, out, os); break;
      default: gemv_q4k_kernel<4><<<grid, 32 * kGemvWarps, 0, st(s)>>>(wb, row_bytes, ne0, ne1, x, xs, bias, out, os); break;
    }
    return;
  }
  const bool ok = ASSAY_CUDA_DISPATCH(type, {
    constexpr int kRowsPerBlock = kGemvWarps * gemv_rows<D>();
    const unsigned grid = static_cast<unsigned>((ne1 + kRowsPerBlock - 1) / kRowsPerBlock);
    switch (n_tokens) {
      case 1: gemv_kernel<D, 1><<<grid, 32 * kGemvWarps, 0, st(s)>>>(wb, row_bytes, ne0, ne1, vec_ok, x, xs, bias, out, os); break;
      case 2: gemv_kernel<D, 2><<<grid, 32 * kGemvWarps, 0, st(s)>>>(wb, row_bytes, ne0, ne1, vec_ok, x, xs, bias, out, os); break;
      case 3: gemv_kernel<D, 3><<<grid, 32 * kGemvWarps, 0, st(s)>>>(wb, row_bytes, ne0, ne1, vec_ok, x, xs, bias, out, os); break;
      default: gemv_kernel<D, 4><<<grid, 32 * kGemvWarps, 0, st(s)>>>(wb, row_bytes, ne0, ne1, vec_ok, x, xs, bias, out, os); break;
    }
  });
  ASSAY_CHECK_MSG(ok, "CudaOps::matmul: unsupported weight type");
}

namespace {
template <class T>
void launch_dequant(GgmlType type, const void* w, size_t row_bytes, int64_t ne0, int64_t row0, int64_t n_rows,
                    T* out, void* s) {
  const auto* base = static_cast<const uint8_t*>(w) + row0 * row_bytes;
  const bool vec_ok = aligned16(base) && row_bytes % 16 == 0;
  const bool ok = ASSAY_CUDA_DISPATCH(type, {
    const int64_t items = chunks_per_row<D>(ne0) * n_rows;
    dequant_kernel<D><<<grid_for(items, 256), 256, 0, st(s)>>>(base, row_bytes, ne0, vec_ok, n_rows, out);
  });
  ASSAY_CHECK_MSG(ok, "CudaOps::matmul: unsupported weight type");
}
}  // namespace

void launch_dequant_bf16(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                         int64_t row0, int64_t n_rows, uint16_t* out, void* s) {
  launch_dequant(type, w, row_bytes, ne0, row0, n_rows, reinterpret_cast<__nv_bfloat16*>(out), s);
}

void launch_dequant_f32(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                        int64_t row0, int64_t n_rows, float* out, void* s) {
  launch_dequant(type, w, row_bytes, ne0, row0, n_rows, out, s);
}

void launch_f32_to_bf16(const float* x, int64_t xs, int64_t n_rows, int64_t n, uint16_t* out,
                        void* s) {
  f32_to_bf16_kernel<<<grid_for(n_rows * n, 256), 256, 0, st(s)>>>(
      x, xs, n_rows, n, reinterpret_cast<__nv_bfloat16*>(out));
}

}  // namespace assay::cuda
