// Activation kernels: norms, RoPE, KV stores, attention, element-wise ops and log-probs.
// Where CpuOps fixes an order of float operations (rms_norm's double sum, RoPE's repeated
// multiplication of theta) the kernels follow it, so the two backends differ only by the
// rounding of sums, and explicit __fmul_rn stops nvcc from contracting into FMAs there.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>
#include <cmath>

#include "engines/local/cuda/cuda_kernels.h"
#include "engines/local/cuda/cuda_sampling.cuh"
#include "engines/local/cuda/flash_prefill.cuh"
#include "harness/status.h"

namespace assay::cuda {
namespace {

cudaStream_t st(void* s) { return static_cast<cudaStream_t>(s); }

unsigned grid_for(int64_t items, int block) {
  const int64_t g = (items + block - 1) / block;
  return static_cast<unsigned>(g < 65536 * 8 ? (g > 0 ? g : 1) : 65536 * 8);
}

template <class T>
__device__ T block_sum(T v, T* smem) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  T r = 0;
  for (int i = 0; i < static_cast<int>(blockDim.x / 32); ++i) r += smem[i];
  return r;
}

__global__ void rms_norm_kernel(const float* x, const float* w, float* out, int64_t n, float eps) {
  __shared__ double smem[32];
  const float* xr = x + blockIdx.x * n;
  float* yr = out + blockIdx.x * n;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += static_cast<double>(__fmul_rn(xr[i], xr[i]));
  s = block_sum(s, smem);
  const float mean = static_cast<float>(s / static_cast<double>(n));
  const float scale = 1.0f / sqrtf(mean + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = __fmul_rn(xr[i], scale);
    yr[i] = w ? __fmul_rn(v, w[i]) : v;
  }
}

// One thread per (token, head, rotated pair).
__global__ void rope_kernel(float* x, int64_t n_tokens, int n_head, int head_dim, int64_t xs,
                            const int32_t* pos, bool neox, int n_rot, float freq_base,
                            float freq_scale, const float* ff) {
  const int half = n_rot / 2;
  const int64_t total = n_tokens * n_head * half;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(it % half);
    const int64_t th = it / half;
    const int h = static_cast<int>(th % n_head);
    const int64_t t = th / n_head;
    // The angle in double, as CpuOps::rope computes it (see there for why).
    const double f = ff ? ff[i] : 1.0;
    const double a = static_cast<double>(freq_scale) * pos[t] *
                     (pow(static_cast<double>(freq_base), -2.0 * i / n_rot) / f);
    const float c = static_cast<float>(cos(a)), s = static_cast<float>(sin(a));
    float* v = x + t * xs + static_cast<int64_t>(h) * head_dim;
    const int j0 = neox ? i : 2 * i, j1 = neox ? i + half : 2 * i + 1;
    const float x0 = v[j0], x1 = v[j1];
    v[j0] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
    v[j1] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
  }
}

__global__ void store_rows_kernel(const float* src, int64_t ss, const int32_t* rows,
                                  int64_t n_rows, uint8_t* dst, bool f16, size_t rb, int64_t ne0) {
  const int64_t total = n_rows * ne0;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = it / ne0, i = it % ne0;
    const float v = src[t * ss + i];
    uint8_t* d = dst + static_cast<int64_t>(rows[t]) * rb;
    if (f16) reinterpret_cast<__half*>(d)[i] = __float2half_rn(v);
    else reinterpret_cast<float*>(d)[i] = v;
  }
}

__device__ __forceinline__ float load_kv(const uint8_t* row, bool f16, int i) {
  return f16 ? __half2float(reinterpret_cast<const __half*>(row)[i])
             : reinterpret_cast<const float*>(row)[i];
}

// Eight floats of a cache row from element d (F16 or F32; the row is 16-byte aligned at d).
__device__ __forceinline__ void load_kv8(const uint8_t* row, bool f16, int d, float v[8]) {
  if (f16) {
    const uint4 u = *reinterpret_cast<const uint4*>(row + 2 * d);
    const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      v[2 * i] = f.x;
      v[2 * i + 1] = f.y;
    }
  } else {
    const float4 x = *reinterpret_cast<const float4*>(row + 4 * d);
    const float4 y = *reinterpret_cast<const float4*>(row + 4 * d + 16);
    v[0] = x.x; v[1] = x.y; v[2] = x.z; v[3] = x.w; v[4] = y.x; v[5] = y.y; v[6] = y.z; v[7] = y.w;
  }
}

// One block per (token, query head); its kAttnWarps warps split the KV rows (chunks of 32,
// round robin) so a decode step has enough warps in flight, and are merged at the end. In a
// chunk, lane j scores row j against q (in shared memory; 8-wide vector loads of K when the
// layout allows), the warp updates its online softmax, then each lane accumulates its slice of
// head_dim over the chunk's V rows.
constexpr int kAttnWarps = 8;
constexpr int kMaxHeadDim = 256;

__global__ void __launch_bounds__(32 * kAttnWarps) attention_kernel(AttnLaunch a, bool vec8) {
  __shared__ float qs[kMaxHeadDim];
  __shared__ float red_m[kAttnWarps], red_l[kAttnWarps];
  __shared__ float red_acc[kAttnWarps][kMaxHeadDim];
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t t = a.token_list ? a.token_list[blockIdx.x] : blockIdx.x;
  const int h = blockIdx.y;
  const int hd = a.head_dim;
  const int g = h / (a.n_head / a.n_head_kv);
  const float* q = a.q + t * a.q_stride + static_cast<int64_t>(h) * hd;
  // With an F16 K cache, q is rounded to F16 first, as CpuOps (and ggml, whose F16 dot product
  // takes F16 operands) does.
  for (int d = threadIdx.x; d < hd; d += blockDim.x)
    qs[d] = a.k_f16 ? __half2float(__float2half_rn(q[d])) : q[d];
  __syncthreads();
  const int32_t seq = a.token_seq[t];
  const int32_t* rows = a.rows + a.seq_offsets[seq];
  // This block's slice [lo, hi) of the token's KV rows: whole 32-row chunks, so a warp's chunk
  // never straddles two blocks; trailing slices may be empty.
  const int n_all = a.token_n_kv[t];
  const int span = ((n_all + a.n_split - 1) / a.n_split + 31) & ~31;
  const int lo = min(n_all, static_cast<int>(blockIdx.z) * span);
  const int n_kv = min(n_all, lo + span);
  const int64_t koff = static_cast<int64_t>(g) * hd * (a.k_f16 ? 2 : 4);
  const int64_t voff = static_cast<int64_t>(g) * hd * (a.v_f16 ? 2 : 4);
  const auto* kb = static_cast<const uint8_t*>(a.k);
  const auto* vb = static_cast<const uint8_t*>(a.v);
  constexpr int kPer = kMaxHeadDim / 32;
  float acc[kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) acc[i] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int j0 = lo + 32 * warp; j0 < n_kv; j0 += 32 * kAttnWarps) {
    const int j = j0 + lane;
    const bool valid = j < n_kv;
    const int32_t row = valid ? rows[j] : 0;
    float s = -INFINITY;
    if (valid) {
      const uint8_t* kr = kb + static_cast<int64_t>(row) * a.k_row_bytes + koff;
      float dot = 0.0f;
      if (vec8) {
#pragma unroll 4
        for (int d = 0; d < hd; d += 8) {
          float kv[8];
          load_kv8(kr, a.k_f16, d, kv);
#pragma unroll
          for (int i = 0; i < 8; ++i) dot += qs[d + i] * kv[i];
        }
      } else {
        for (int d = 0; d < hd; ++d) dot += qs[d] * load_kv(kr, a.k_f16, d);
      }
      s = dot * a.scale;
    }
    float cm = s;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, o));
    const float m_new = fmaxf(m, cm);
    const float corr = expf(m - m_new);  // 0 on the first chunk (m = -inf)
    const float p = valid ? expf(s - m_new) : 0.0f;
    float ps = p;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, o);
    l = l * corr + ps;
    m = m_new;
#pragma unroll
    for (int i = 0; i < kPer; ++i) acc[i] *= corr;
    const int n_here = min(32, n_kv - j0);
    for (int jj = 0; jj < n_here; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
      const int32_t rj = __shfl_sync(0xffffffffu, row, jj);
      const uint8_t* vr = vb + static_cast<int64_t>(rj) * a.v_row_bytes + voff;
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const int d = lane + 32 * i;
        if (d < hd) acc[i] += pj * load_kv(vr, a.v_f16, d);
      }
    }
  }
  // Merge the warps' partial softmaxes (a warp without rows has m = -inf, l = 0).
  if (lane == 0) {
    red_m[warp] = m;
    red_l[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int d = lane + 32 * i;
    if (d < hd) red_acc[warp][d] = acc[i];
  }
  __syncthreads();
  float mx = red_m[0];
  for (int w = 1; w < kAttnWarps; ++w) mx = fmaxf(mx, red_m[w]);
  float f[kAttnWarps];
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kAttnWarps; ++w) {
    f[w] = red_l[w] > 0.0f ? expf(red_m[w] - mx) : 0.0f;
    total += red_l[w] * f[w];
  }
  if (a.n_split > 1) {
    // An empty slice leaves (-inf, 0, zeros), which the merge weighs by 0.
    float* pr = a.part + ((static_cast<int64_t>(blockIdx.x) * a.n_head + h) * a.n_split + blockIdx.z) * (hd + 2);
    if (threadIdx.x == 0) {
      pr[0] = mx;
      pr[1] = total;
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
      float v = 0.0f;
#pragma unroll
      for (int w = 0; w < kAttnWarps; ++w) v += red_acc[w][d] * f[w];
      pr[2 + d] = v;
    }
    return;
  }
  const float inv = 1.0f / total;
  float* o = a.out + t * a.out_stride + static_cast<int64_t>(h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) v += red_acc[w][d] * f[w];
    o[d] = v * inv;
  }
}

// Merges the split-KV slices of one (token, head) per block: the slices' softmaxes rescaled to
// the common max, as the warps are merged above.
__global__ void attention_merge_kernel(AttnLaunch a) {
  const int64_t t = a.token_list ? a.token_list[blockIdx.x] : blockIdx.x;
  const int h = blockIdx.y, hd = a.head_dim, ns = a.n_split;
  const float* pr = a.part + (static_cast<int64_t>(blockIdx.x) * a.n_head + h) * ns * (hd + 2);
  float mx = -INFINITY;
  for (int z = 0; z < ns; ++z)
    if (pr[z * (hd + 2) + 1] > 0.0f) mx = fmaxf(mx, pr[z * (hd + 2)]);
  float total = 0.0f;
  for (int z = 0; z < ns; ++z) {
    const float l = pr[z * (hd + 2) + 1];
    if (l > 0.0f) total += l * expf(pr[z * (hd + 2)] - mx);
  }
  const float inv = 1.0f / total;
  float* o = a.out + t * a.out_stride + static_cast<int64_t>(h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float v = 0.0f;
    for (int z = 0; z < ns; ++z) {
      const float l = pr[z * (hd + 2) + 1];
      if (l > 0.0f) v += pr[z * (hd + 2) + 2 + d] * expf(pr[z * (hd + 2)] - mx);
    }
    o[d] = v * inv;
  }
}

__global__ void gather_kv_heads_kernel(const uint8_t* cache, bool f16, size_t rb, const int32_t* rows,
                                       int64_t n, int n_head, int group, int hd, __half* out) {
  const int64_t total = static_cast<int64_t>(n_head) * n * hd;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int d = static_cast<int>(it % hd);
    const int64_t hj = it / hd;
    const int64_t j = hj % n;
    const int h = static_cast<int>(hj / n);
    const int64_t e = static_cast<int64_t>(h / group) * hd + d;
    const uint8_t* r = cache + static_cast<int64_t>(rows[j]) * rb;
    out[it] = f16 ? reinterpret_cast<const __half*>(r)[e] : __float2half_rn(reinterpret_cast<const float*>(r)[e]);
  }
}

__global__ void gather_q_heads_kernel(const float* q, int64_t qs, int64_t t0, int64_t n, int n_head,
                                      int hd, __half* out) {
  const int64_t total = static_cast<int64_t>(n_head) * n * hd;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int d = static_cast<int>(it % hd);
    const int64_t hi = it / hd;
    const int64_t i = hi % n;
    const int h = static_cast<int>(hi / n);
    out[it] = __float2half_rn(q[(t0 + i) * qs + static_cast<int64_t>(h) * hd + d]);
  }
}

// One block per score row.
__global__ void attn_softmax_kernel(const float* s, int64_t ld, int64_t n_q, int64_t n_cols,
                                    const int32_t* n_kv, int64_t t0, __half* p) {
  __shared__ float sm[32];
  const int64_t r = blockIdx.x;
  const float* row = s + r * ld;
  __half* out = p + r * ld;
  const int64_t valid = n_kv[t0 + r % n_q];
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < valid; j += blockDim.x) mx = fmaxf(mx, row[j]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, nw = blockDim.x / 32;
  if (lane == 0) sm[warp] = mx;
  __syncthreads();
  mx = sm[0];
  for (int w = 1; w < nw; ++w) mx = fmaxf(mx, sm[w]);
  __syncthreads();
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < valid; j += blockDim.x) sum += expf(row[j] - mx);
  sum = block_sum(sum, sm);
  const float inv = 1.0f / sum;
  for (int64_t j = threadIdx.x; j < n_cols; j += blockDim.x)
    out[j] = __float2half_rn(j < valid ? expf(row[j] - mx) * inv : 0.0f);
}

__global__ void swiglu_kernel(const float* g, const float* u, float* out, int64_t n_rows,
                              int64_t n, int64_t gs, int64_t us, int64_t os) {
  const int64_t total = n_rows * n;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = it / n, i = it % n;
    const float gv = g[r * gs + i];
    out[r * os + i] = __fmul_rn(gv / (1.0f + expf(-gv)), u[r * us + i]);
  }
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = a[i] + b[i];
}

__global__ void add_bias_kernel(float* out, int64_t os, const float* bias, int64_t n_rows, int64_t n) {
  const int64_t total = n_rows * n;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = it / n, i = it % n;
    out[r * os + i] += bias[i];
  }
}

__global__ void gather_rows_kernel(const float* src, int64_t ss, const int32_t* rows,
                                   int64_t n_rows, int64_t width, float* dst) {
  const int64_t total = n_rows * width;
  for (int64_t it = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; it < total;
       it += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = it / width, i = it % width;
    dst[it] = src[static_cast<int64_t>(rows[r]) * ss + i];
  }
}

// One block per row: max and first argmax, then sum of exp(x - max) in double as CpuOps does.
__global__ void logprobs_kernel(const float* logits, int64_t n_vocab, const int32_t* targets,
                                float* out) {
  __shared__ float smax[32];
  __shared__ int sidx[32];
  __shared__ double ssum[32];
  const float* x = logits + blockIdx.x * n_vocab;
  float mx = -INFINITY;
  int idx = INT_MAX;
  for (int64_t i = threadIdx.x; i < n_vocab; i += blockDim.x) {
    const float v = x[i];
    if (v > mx || idx == INT_MAX) {
      mx = v;
      idx = static_cast<int>(i);
    }
  }
  // Larger value wins; on ties the lower index.
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float om = __shfl_xor_sync(0xffffffffu, mx, o);
    const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (om > mx || (om == mx && oi < idx)) {
      mx = om;
      idx = oi;
    }
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, nw = blockDim.x / 32;
  if (lane == 0) {
    smax[warp] = mx;
    sidx[warp] = idx;
  }
  __syncthreads();
  mx = smax[0];
  idx = sidx[0];
  for (int w = 1; w < nw; ++w) {
    if (smax[w] > mx || (smax[w] == mx && sidx[w] < idx)) {
      mx = smax[w];
      idx = sidx[w];
    }
  }
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n_vocab; i += blockDim.x) s += exp(static_cast<double>(x[i] - mx));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) ssum[warp] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double tot = 0.0;
    for (int w = 0; w < nw; ++w) tot += ssum[w];
    const float lse = mx + static_cast<float>(log(tot));
    const int32_t tg = targets ? targets[blockIdx.x] : -1;
    float* o = out + 3 * blockIdx.x;
    o[0] = tg >= 0 ? x[tg] - lse : NAN;
    o[1] = __int_as_float(idx);
    o[2] = lse;
  }
}

template <int HD>
__global__ void __launch_bounds__(kFlashThreads) flash_prefill_kernel(FlashArgs f) {
  extern __shared__ __align__(128) unsigned char flash_smem[];
  // The last query tiles walk the most cache rows (causal): start them first.
  flash_prefill_block<HD>(f, *reinterpret_cast<FlashSmem<HD>*>(flash_smem),
                          static_cast<int>(gridDim.x - 1 - blockIdx.x), static_cast<int>(blockIdx.y));
}

template <int HD>
void launch_flash_hd(const FlashArgs& f, cudaStream_t s) {
  constexpr size_t kBytes = sizeof(FlashSmem<HD>);
  // Above 48 KiB of shared memory a kernel must opt in, per device: set on every launch (cheap)
  // rather than once per process, so a CudaOps on a second device gets it too. The carveout
  // asks for the most shared memory, so two blocks of 112 KiB fit an SM.
  cudaError_t e = cudaFuncSetAttribute(flash_prefill_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(kBytes));
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(flash_prefill_kernel<HD>, cudaFuncAttributePreferredSharedMemoryCarveout,
                             cudaSharedmemCarveoutMaxShared);
  ASSAY_CHECK_MSG(e == cudaSuccess, std::string("flash prefill: shared memory opt-in failed: ") + cudaGetErrorString(e));
  const dim3 grid(static_cast<unsigned>((f.n + kFlashBQ - 1) / kFlashBQ), static_cast<unsigned>(f.attn.n_head));
  flash_prefill_kernel<HD><<<grid, kFlashThreads, kBytes, s>>>(f);
}

__global__ void __launch_bounds__(kSampleThreads) sample_kernel(const float* logits, int64_t n_vocab,
                                                                const SampleArgs* rows, int32_t* out,
                                                                uint32_t* keys, double* weights) {
  __shared__ SampleSmem sm;
  const int64_t r = blockIdx.x;
  const int32_t tok = sample_block(logits + r * n_vocab, n_vocab, rows[r], sm, keys + r * n_vocab, weights + r * n_vocab);
  if (threadIdx.x == 0) out[blockIdx.x] = tok;
}

}  // namespace

namespace {
bool flash_shape_ok(const AttnLaunch& a) {
  const auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  return (a.head_dim == 64 || a.head_dim == 128) && aligned(a.k) && aligned(a.v) && a.k_row_bytes % 16 == 0 &&
         a.v_row_bytes % 16 == 0;
}
}  // namespace

bool flash_prefill_usable(const AttnLaunch& a, size_t smem_optin) {
  return flash_shape_ok(a) && (a.head_dim == 64 ? sizeof(FlashSmem<64>) : sizeof(FlashSmem<128>)) <= smem_optin;
}

void launch_flash_prefill(const FlashArgs& f, void* s) {
  if (f.n == 0) return;
  ASSAY_CHECK_MSG(flash_shape_ok(f.attn), "flash prefill: head_dim 64 or 128 and 16-byte aligned cache rows only");
  if (f.attn.head_dim == 64) launch_flash_hd<64>(f, st(s));
  else launch_flash_hd<128>(f, st(s));
}

void launch_rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t n,
                     float eps, void* s) {
  if (n_rows == 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(n_rows), 256, 0, st(s)>>>(x, w, out, n, eps);
}

void launch_rope(float* x, int64_t n_tokens, int n_head, int head_dim, int64_t xs,
                 const int32_t* positions, bool neox, int n_rot, float freq_base,
                 float freq_scale, const float* ff, void* s) {
  const int64_t total = n_tokens * n_head * (n_rot / 2);
  if (total == 0) return;
  rope_kernel<<<grid_for(total, 256), 256, 0, st(s)>>>(x, n_tokens, n_head, head_dim, xs, positions,
                                                       neox, n_rot, freq_base, freq_scale, ff);
}

void launch_store_rows(const float* src, int64_t ss, const int32_t* rows, int64_t n_rows,
                       void* dst, bool f16, size_t rb, int64_t ne0, void* s) {
  if (n_rows == 0) return;
  store_rows_kernel<<<grid_for(n_rows * ne0, 256), 256, 0, st(s)>>>(
      src, ss, rows, n_rows, static_cast<uint8_t*>(dst), f16, rb, ne0);
}

void launch_attention(const AttnLaunch& a, void* s) {
  if (a.n_tokens == 0) return;
  ASSAY_CHECK_MSG(a.head_dim <= kMaxHeadDim, "CudaOps::attention: head_dim above 256");
  const auto aligned = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  const int kb = a.k_f16 ? 2 : 4;
  const bool vec8 = a.head_dim % 8 == 0 && aligned(a.k) && a.k_row_bytes % 16 == 0 &&
                    (static_cast<size_t>(a.head_dim) * kb) % 16 == 0;
  ASSAY_CHECK_MSG(a.n_split >= 1 && a.n_split <= 65535 && (a.n_split == 1 || a.part),
                  "CudaOps::attention: bad KV split");
  dim3 grid(static_cast<unsigned>(a.n_tokens), static_cast<unsigned>(a.n_head),
            static_cast<unsigned>(a.n_split));
  attention_kernel<<<grid, 32 * kAttnWarps, 0, st(s)>>>(a, vec8);
  if (a.n_split > 1)
    attention_merge_kernel<<<dim3(static_cast<unsigned>(a.n_tokens), static_cast<unsigned>(a.n_head)), 128, 0, st(s)>>>(a);
}

void launch_gather_kv_heads(const void* cache, bool f16, size_t rb, const int32_t* rows, int64_t n,
                            int n_head, int group, int hd, uint16_t* out, void* s) {
  const int64_t total = static_cast<int64_t>(n_head) * n * hd;
  if (total == 0) return;
  gather_kv_heads_kernel<<<grid_for(total, 256), 256, 0, st(s)>>>(
      static_cast<const uint8_t*>(cache), f16, rb, rows, n, n_head, group, hd, reinterpret_cast<__half*>(out));
}

void launch_gather_q_heads(const float* q, int64_t qs, int64_t t0, int64_t n, int n_head, int hd,
                           uint16_t* out, void* s) {
  const int64_t total = static_cast<int64_t>(n_head) * n * hd;
  if (total == 0) return;
  gather_q_heads_kernel<<<grid_for(total, 256), 256, 0, st(s)>>>(q, qs, t0, n, n_head, hd,
                                                                 reinterpret_cast<__half*>(out));
}

void launch_attn_softmax(const float* sc, int64_t ld, int64_t n_rows, int64_t n_q, int64_t n_cols,
                         const int32_t* n_kv, int64_t t0, uint16_t* p, void* s) {
  if (n_rows == 0) return;
  attn_softmax_kernel<<<static_cast<unsigned>(n_rows), 256, 0, st(s)>>>(sc, ld, n_q, n_cols, n_kv, t0,
                                                                        reinterpret_cast<__half*>(p));
}

void launch_swiglu(const float* g, const float* u, float* out, int64_t n_rows, int64_t n,
                   int64_t gs, int64_t us, int64_t os, void* s) {
  if (n_rows * n == 0) return;
  swiglu_kernel<<<grid_for(n_rows * n, 256), 256, 0, st(s)>>>(g, u, out, n_rows, n, gs, us, os);
}

void launch_add(const float* a, const float* b, float* out, int64_t n, void* s) {
  if (n == 0) return;
  add_kernel<<<grid_for(n, 256), 256, 0, st(s)>>>(a, b, out, n);
}

void launch_add_bias(float* out, int64_t os, const float* bias, int64_t n_rows, int64_t n, void* s) {
  if (n_rows * n == 0) return;
  add_bias_kernel<<<grid_for(n_rows * n, 256), 256, 0, st(s)>>>(out, os, bias, n_rows, n);
}

void launch_gather_rows(const float* src, int64_t ss, const int32_t* rows, int64_t n_rows,
                        int64_t width, float* dst, void* s) {
  if (n_rows * width == 0) return;
  gather_rows_kernel<<<grid_for(n_rows * width, 256), 256, 0, st(s)>>>(src, ss, rows, n_rows, width, dst);
}

void launch_token_logprobs(const float* logits, int64_t n_rows, int64_t n_vocab,
                           const int32_t* targets, float* out, void* s) {
  if (n_rows == 0) return;
  logprobs_kernel<<<static_cast<unsigned>(n_rows), 512, 0, st(s)>>>(logits, n_vocab, targets, out);
}

void launch_sample(const float* logits, int64_t n_rows, int64_t n_vocab, const SampleArgs* rows,
                   int32_t* out, void* scratch, void* s) {
  if (n_rows == 0) return;
  auto* keys = static_cast<uint32_t*>(scratch);
  auto* weights = reinterpret_cast<double*>(keys + ((n_rows * n_vocab + 1) & ~int64_t{1}));
  sample_kernel<<<static_cast<unsigned>(n_rows), kSampleThreads, 0, st(s)>>>(logits, n_vocab, rows, out, keys, weights);
}

}  // namespace assay::cuda
