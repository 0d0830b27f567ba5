// Weight-reading kernels: embed, the fused dequantize-and-dot GEMV for small batches, and the
// BF16 tile dequantizer feeding cuBLAS for large batches.
#include <cuda_runtime.h>

#include <type_traits>
#include <utility>

#include "engines/local/cuda/cuda_kernels.h"
#include "engines/local/cuda/cuda_quants.cuh"
#include "engines/local/cuda/gemv.cuh"
#include "engines/local/cuda/gemv_q8.cuh"
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


// F16 saturates at its largest finite value instead of overflowing to inf (NaN stays NaN): an
// activation beyond 65504 is then off by its excess rather than poisoning the whole GEMM.
__device__ __forceinline__ float f16_saturate(float v) { return fabsf(v) > 65504.0f ? copysignf(65504.0f, v) : v; }
__device__ __forceinline__ void store_as(__nv_bfloat16* o, float v) { *o = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store_as(__half* o, float v) { *o = __float2half_rn(f16_saturate(v)); }
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

template <class T>
__global__ void f32_to_half_kernel(const float* x, int64_t xs, int64_t n_rows, int64_t n, T* out) {
  const int64_t total = n_rows * n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / n, c = i % n;
    store_as(out + i, x[r * xs + c]);
  }
}

// f(std::integral_constant<int, n>{}) for n in 1..kGemvMaxTokens: the token count as a template
// argument of the GEMV kernels.
template <int NT = 1, class F>
void with_tokens(int n, F&& f) {
  if constexpr (NT == 1) ASSAY_CHECK(n >= 1 && n <= kGemvMaxTokens);
  if constexpr (NT < kGemvMaxTokens) {
    if (n != NT) return with_tokens<NT + 1>(n, std::forward<F>(f));
  }
  f(std::integral_constant<int, NT>{});
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
  ASSAY_CHECK(n_tokens >= 1 && n_tokens <= kGemvMaxTokens);
  const bool vec_ok = aligned16(w) && row_bytes % 16 == 0;
  const auto* wb = static_cast<const uint8_t*>(w);
  // The engine's shapes: 4 warps per block; 2 rows per warp for plain formats, 4 for blocks,
  // halved above 4 tokens (the accumulators grow with the tokens).
  auto launch = [&](auto tag) {
    using D = typename decltype(tag)::type;
    with_tokens(n_tokens, [&](auto nt) {
      constexpr int NT = decltype(nt)::value;
      constexpr int kRows = NT <= 4 ? gemv_rows<D>() : (gemv_rows<D>() > 1 ? gemv_rows<D>() / 2 : 1);
      launch_gemv_shape<D, NT, kRows, kGemvUnroll, kGemvWarps>(wb, row_bytes, ne0, ne1, vec_ok, x, xs, bias, out, os,
                                                               st(s));
    });
  };
  if (type == GgmlType::Q4_K && vec_ok && ne0 % 256 == 0 && xs % 4 == 0 && aligned16(x)) {
    launch(GemvTag<Q4KWide>{});
    return;
  }
  const bool ok = ASSAY_CUDA_DISPATCH(type, { launch(GemvTag<D>{}); });
  ASSAY_CHECK_MSG(ok, "CudaOps::matmul: unsupported weight type");
}

bool gemv_q8_usable(GgmlType type, const void* w, size_t row_bytes, int64_t ne0) {
  const auto a = reinterpret_cast<uintptr_t>(w);
  switch (type) {
    case GgmlType::Q4_K: case GgmlType::Q5_K:  // 16-byte quant loads
      return ne0 > 0 && ne0 % 256 == 0 && (a & 15) == 0 && row_bytes % 16 == 0;
    case GgmlType::Q6_K:  // 210-byte blocks: 16-bit loads
      return ne0 > 0 && ne0 % 256 == 0 && (a & 1) == 0 && row_bytes % 2 == 0;
    case GgmlType::Q4_1:  // 20-byte blocks: 32-bit loads
      return ne0 > 0 && ne0 % 32 == 0 && (a & 3) == 0 && row_bytes % 4 == 0;
    case GgmlType::Q4_0: case GgmlType::Q8_0:  // 18 / 34-byte blocks: 16-bit loads
      return ne0 > 0 && ne0 % 32 == 0 && (a & 1) == 0 && row_bytes % 2 == 0;
    default:
      return false;
  }
}

int64_t act_q8_row_bytes(GgmlType type, int64_t k) {
  int64_t r = 0;
  const bool ok = ASSAY_CUDA_Q8_DISPATCH(type, { r = S::kActK ? ActQ8KRow::bytes(k) : ActQ8Row::bytes(k); });
  ASSAY_CHECK_MSG(ok, "act_q8_row_bytes: no 8-bit-activation kernel for this weight type");
  return r;
}

void launch_quantize_act(GgmlType type, const float* x, int64_t xs, int64_t n_tokens, int64_t k, void* act,
                         void* s) {
  ASSAY_CHECK(n_tokens >= 1 && n_tokens <= 65535);
  auto* a = static_cast<uint8_t*>(act);
  const bool ok = ASSAY_CUDA_Q8_DISPATCH(type, {
    if constexpr (S::kActK) {
      ASSAY_CHECK(k % 256 == 0);
      const dim3 grid(static_cast<unsigned>((k / 256 + 7) / 8), static_cast<unsigned>(n_tokens));
      quantize_q8k_kernel<<<grid, 256, 0, st(s)>>>(x, xs, k, a, ActQ8KRow::bytes(k));
    } else {
      ASSAY_CHECK(k % 32 == 0);
      const dim3 grid(static_cast<unsigned>((k / 32 + 127) / 128), static_cast<unsigned>(n_tokens));
      quantize_q8_kernel<<<grid, 128, 0, st(s)>>>(x, xs, k, a, ActQ8Row::bytes(k), S::kQ8_1);
    }
  });
  ASSAY_CHECK_MSG(ok, "launch_quantize_act: no 8-bit-activation kernel for this weight type");
}

void launch_gemv_q8(GgmlType type, const void* w, size_t row_bytes, int64_t ne0, int64_t ne1, const void* act,
                    int n_tokens, const float* bias, float* out, int64_t os, void* s) {
  ASSAY_CHECK(n_tokens >= 1 && n_tokens <= kGemvMaxTokens && gemv_q8_usable(type, w, row_bytes, ne0));
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  const int64_t as = act_q8_row_bytes(type, ne0);
  // The engine's shape: 4 warps per block, 4 rows per warp (2 above 4 tokens), 2 steps unrolled
  // (benchmarks/kernels/gemv_variants.cu times others).
  const bool ok = ASSAY_CUDA_Q8_DISPATCH(type, {
    with_tokens(n_tokens, [&](auto nt) {
      constexpr int NT = decltype(nt)::value;
      launch_gemv_q8_shape<S, NT, NT <= 4 ? 4 : 2, 2, 4>(wb, row_bytes, ne0, ne1, ab, as, bias, out, os, st(s));
    });
  });
  ASSAY_CHECK_MSG(ok, "CudaOps::matmul: no 8-bit-activation kernel for this weight type");
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

void launch_dequant_f16(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                        int64_t row0, int64_t n_rows, uint16_t* out, void* s) {
  launch_dequant(type, w, row_bytes, ne0, row0, n_rows, reinterpret_cast<__half*>(out), s);
}

void launch_dequant_f32(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                        int64_t row0, int64_t n_rows, float* out, void* s) {
  launch_dequant(type, w, row_bytes, ne0, row0, n_rows, out, s);
}

void launch_f32_to_bf16(const float* x, int64_t xs, int64_t n_rows, int64_t n, uint16_t* out,
                        void* s) {
  f32_to_half_kernel<<<grid_for(n_rows * n, 256), 256, 0, st(s)>>>(
      x, xs, n_rows, n, reinterpret_cast<__nv_bfloat16*>(out));
}

void launch_f32_to_f16(const float* x, int64_t xs, int64_t n_rows, int64_t n, uint16_t* out, void* s) {
  f32_to_half_kernel<<<grid_for(n_rows * n, 256), 256, 0, st(s)>>>(x, xs, n_rows, n,
                                                                   reinterpret_cast<__half*>(out));
}

}  // namespace assay::cuda
