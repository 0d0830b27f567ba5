// Prefill attention as one tiled flash-attention kernel over the paged KV cache: a block per
// (tile of 64 consecutive queries of one sequence, query head) walks the sequence's cache rows
// 64 at a time, S = Q K^T and O += P V on tensor cores (F16 in, F32 accumulate), with the
// online softmax in between; no score matrix ever reaches global memory.
//
// Why it is written this way: as phases (block_phases.cuh), every per-thread value that lives
// from one phase to the next in shared memory. So the same block function runs on the host, each
// phase's threads one after another, with the tensor-core tiles replaced by plain loops:
// tests/engines/local/cuda/cuda_host_test.cpp checks the tiling, the masking, the paging and the
// online softmax against CpuOps without a GPU.
//
// Numerics match the GEMM path and CpuOps with an F16 cache: q is rounded to F16 unscaled, the
// scale multiplies the F32 dot products, K and V are F16 (an F32 cache is rounded on load), and
// the probabilities are rounded to F16 for P V while the row sums use them unrounded.
#pragma once

#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "engines/local/cuda/block_phases.cuh"
#include "engines/local/cuda/cuda_kernels.h"
#include "engines/local/cuda/cuda_quants.cuh"

#if defined(__CUDACC__)
#include <mma.h>
#endif

namespace assay::cuda {

constexpr int kFlashBQ = 64;       // queries per block
constexpr int kFlashBK = 64;       // cache rows per step
constexpr int kFlashThreads = 128; // 4 warps; warp w owns query rows [16w, 16w + 16)
constexpr int kFlashWarps = kFlashThreads / 32;
static_assert(kFlashBQ == 16 * kFlashWarps, "one 16-row stripe per warp");
static_assert(kFlashThreads == 2 * kFlashBQ, "two threads per query row in the softmax");

template <int HD>
struct FlashSmem {
  static_assert(HD % 16 == 0, "head_dim must be a multiple of 16");
  // Row strides padded off multiples of 32 banks; WMMA wants ld % 8 (halves) / % 4 (floats) and
  // 32-byte aligned tile starts, which these keep.
  static constexpr int kLdH = HD + 8;        // Q, K, V rows (halves)
  static constexpr int kLdS = kFlashBK + 4;  // scores (floats)
  static constexpr int kLdP = kFlashBK + 8;  // probabilities (halves)
  static constexpr int kLdO = HD + 4;        // output accumulator (floats)
  alignas(128) __half qs[kFlashBQ * kLdH];
  alignas(128) __half ks[kFlashBK * kLdH];
  alignas(128) __half vs[kFlashBK * kLdH];
  alignas(128) float s[kFlashBQ * kLdS];
  alignas(128) __half p[kFlashBQ * kLdP];
  alignas(128) float o[kFlashBQ * kLdO];
  float m[kFlashBQ];          // running max of each row (scaled scores)
  float l[kFlashBQ];          // running sum of exp(score - m)
  float m_new[kFlashBQ];
  float part_max[kFlashThreads];  // per (row, half) of the current step
  float part_sum[kFlashThreads];
  int n_kv[kFlashBQ];
};

__host__ __device__ __forceinline__ void flash_copy16(void* dst, const void* src) {
#if defined(__CUDA_ARCH__)
  *static_cast<uint4*>(dst) = *static_cast<const uint4*>(src);
#else
  std::memcpy(dst, src, 16);
#endif
}

// 8 consecutive elements of a cache row (F16 or F32) as F16 into shared memory.
__host__ __device__ __forceinline__ void flash_load8(__half* dst, const uint8_t* row, bool f16, int col) {
  if (f16) {
    flash_copy16(dst, row + 2 * static_cast<size_t>(col));
  } else {
    alignas(16) float f[8];
    flash_copy16(f, row + 4 * static_cast<size_t>(col));
    flash_copy16(f + 4, row + 4 * static_cast<size_t>(col) + 16);
    for (int j = 0; j < 8; ++j) dst[j] = __float2half_rn(f[j]);
  }
}

// s[16w.., 0..BK) = Q[16w.., :] K^T for warp w.
template <int HD>
__host__ __device__ __forceinline__ void flash_mma_qk(FlashSmem<HD>& sm, int w) {
  using S = FlashSmem<HD>;
#if defined(__CUDA_ARCH__)
  using namespace nvcuda;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kFlashBK / 16];
  for (int kt = 0; kt < kFlashBK / 16; ++kt) wmma::fill_fragment(acc[kt], 0.0f);
#pragma unroll
  for (int kk = 0; kk < HD / 16; ++kk) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
    wmma::load_matrix_sync(a, sm.qs + 16 * w * S::kLdH + 16 * kk, S::kLdH);
#pragma unroll
    for (int kt = 0; kt < kFlashBK / 16; ++kt) {
      // K^T as a col-major [HD, BK] matrix is K's rows as stored.
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
      wmma::load_matrix_sync(b, sm.ks + 16 * kt * S::kLdH + 16 * kk, S::kLdH);
      wmma::mma_sync(acc[kt], a, b, acc[kt]);
    }
  }
  for (int kt = 0; kt < kFlashBK / 16; ++kt)
    wmma::store_matrix_sync(sm.s + 16 * w * S::kLdS + 16 * kt, acc[kt], S::kLdS, wmma::mem_row_major);
#else
  for (int i = 16 * w; i < 16 * w + 16; ++i)
    for (int j = 0; j < kFlashBK; ++j) {
      float acc = 0.0f;
      for (int d = 0; d < HD; ++d)
        acc += __half2float(sm.qs[i * S::kLdH + d]) * __half2float(sm.ks[j * S::kLdH + d]);
      sm.s[i * S::kLdS + j] = acc;
    }
#endif
}

// o[16w.., :] += P[16w.., :] V for warp w.
template <int HD>
__host__ __device__ __forceinline__ void flash_mma_pv(FlashSmem<HD>& sm, int w) {
  using S = FlashSmem<HD>;
#if defined(__CUDA_ARCH__)
  using namespace nvcuda;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[kFlashBK / 16];
#pragma unroll
  for (int kk = 0; kk < kFlashBK / 16; ++kk)
    wmma::load_matrix_sync(a[kk], sm.p + 16 * w * S::kLdP + 16 * kk, S::kLdP);
  for (int ct = 0; ct < HD / 16; ++ct) {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    float* o = sm.o + 16 * w * S::kLdO + 16 * ct;
    wmma::load_matrix_sync(acc, o, S::kLdO, wmma::mem_row_major);
#pragma unroll
    for (int kk = 0; kk < kFlashBK / 16; ++kk) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
      wmma::load_matrix_sync(b, sm.vs + 16 * kk * S::kLdH + 16 * ct, S::kLdH);
      wmma::mma_sync(acc, a[kk], b, acc);
    }
    wmma::store_matrix_sync(o, acc, S::kLdO, wmma::mem_row_major);
  }
#else
  for (int i = 16 * w; i < 16 * w + 16; ++i)
    for (int d = 0; d < HD; ++d) {
      float acc = sm.o[i * S::kLdO + d];
      for (int j = 0; j < kFlashBK; ++j)
        acc += __half2float(sm.p[i * S::kLdP + j]) * __half2float(sm.vs[j * S::kLdH + d]);
      sm.o[i * S::kLdO + d] = acc;
    }
#endif
}

// The whole block: queries [64 * qtile, +64) of the run, query head `head`.
template <int HD>
__host__ __device__ void flash_prefill_block(const FlashArgs& f, FlashSmem<HD>& sm, int qtile, int head) {
  using S = FlashSmem<HD>;
  constexpr float kNegInf = -INFINITY;
  constexpr int kHalfCols = kFlashBK / 2;
  const AttnLaunch& a = f.attn;
  // The run's queries, key counts, cache rows and outputs.
  const float* q = a.q + f.t0 * a.q_stride;
  const int32_t* n_kv = a.token_n_kv + f.t0;
  const int32_t* seq_rows = a.rows + f.row0;
  float* out = a.out + f.t0 * a.out_stride;
  const auto* k_cache = static_cast<const uint8_t*>(a.k);
  const auto* v_cache = static_cast<const uint8_t*>(a.v);
  const int64_t q0 = static_cast<int64_t>(qtile) * kFlashBQ;
  const int nq = static_cast<int>(f.n - q0 < kFlashBQ ? f.n - q0 : kFlashBQ);
  const int kvh = head / (a.n_head / a.n_head_kv);

  block_phase<kFlashThreads>([&](int t) {
    for (int i = t; i < kFlashBQ * (HD / 8); i += kFlashThreads) {
      const int r = i / (HD / 8), c = (i % (HD / 8)) * 8;
      __half* dst = sm.qs + r * S::kLdH + c;
      const float* src = q + (q0 + r) * a.q_stride + static_cast<int64_t>(head) * HD + c;
      for (int j = 0; j < 8; ++j) dst[j] = __float2half_rn(r < nq ? src[j] : 0.0f);
    }
    for (int i = t; i < kFlashBQ * HD; i += kFlashThreads) sm.o[(i / HD) * S::kLdO + i % HD] = 0.0f;
    if (t < kFlashBQ) {
      sm.m[t] = kNegInf;
      sm.l[t] = 0.0f;
      sm.n_kv[t] = t < nq ? n_kv[q0 + t] : 0;
    }
  });
  int kv_end = 0;
  for (int r = 0; r < nq; ++r) kv_end = sm.n_kv[r] > kv_end ? sm.n_kv[r] : kv_end;

  for (int kv0 = 0; kv0 < kv_end; kv0 += kFlashBK) {
    const int nk = kv_end - kv0 < kFlashBK ? kv_end - kv0 : kFlashBK;
    block_phase<kFlashThreads>([&](int t) {
      for (int i = t; i < kFlashBK * (HD / 8); i += kFlashThreads) {
        const int r = i / (HD / 8), c = (i % (HD / 8)) * 8;
        __half* kd = sm.ks + r * S::kLdH + c;
        __half* vd = sm.vs + r * S::kLdH + c;
        if (r < nk) {
          const int64_t row = seq_rows[kv0 + r];
          flash_load8(kd, k_cache + row * a.k_row_bytes, a.k_f16, kvh * HD + c);
          flash_load8(vd, v_cache + row * a.v_row_bytes, a.v_f16, kvh * HD + c);
        } else {
          // Zeros, not stale rows: P is 0 there, but 0 * NaN would not be.
          for (int j = 0; j < 8; ++j) kd[j] = vd[j] = __float2half_rn(0.0f);
        }
      }
    });
    warp_phase<kFlashThreads>([&](int w) { flash_mma_qk<HD>(sm, w); });
    // Two threads per row, each over half the columns; thread t has row t % 64 so a warp's
    // lanes are 32 rows, and the column order is rotated by the row to spread the banks.
    block_phase<kFlashThreads>([&](int t) {
      const int r = t % kFlashBQ, h = t / kFlashBQ;
      float mx = kNegInf;
      for (int j = 0; j < kHalfCols; ++j) {
        const int c = h * kHalfCols + ((j + r) % kHalfCols);
        if (kv0 + c < sm.n_kv[r]) mx = fmaxf(mx, fmul_rn(sm.s[r * S::kLdS + c], a.scale));
      }
      sm.part_max[t] = mx;
    });
    block_phase<kFlashThreads>([&](int t) {
      const int r = t % kFlashBQ, h = t / kFlashBQ;
      const float m_old = sm.m[r];
      const float m_new = fmaxf(m_old, fmaxf(sm.part_max[r], sm.part_max[r + kFlashBQ]));
      float sum = 0.0f;
      for (int j = 0; j < kHalfCols; ++j) {
        const int c = h * kHalfCols + ((j + r) % kHalfCols);
        float pv = 0.0f;
        // Rounded product (no FMA), so the row's max gets exp(0) = 1 exactly, as on the host.
        if (kv0 + c < sm.n_kv[r]) pv = expf(fmul_rn(sm.s[r * S::kLdS + c], a.scale) - m_new);
        sm.p[r * S::kLdP + c] = __float2half_rn(pv);
        sum += pv;
      }
      sm.part_sum[t] = sum;
      // m_old = -inf: nothing accumulated yet (O and l are 0), and exp would give NaN.
      const float alpha = m_old == kNegInf ? 0.0f : expf(m_old - m_new);
      for (int j = 0; j < HD / 2; ++j) sm.o[r * S::kLdO + h * (HD / 2) + ((j + r) % (HD / 2))] *= alpha;
      if (h == 0) sm.m_new[r] = m_new;
    });
    block_phase<kFlashThreads>([&](int t) {
      if (t < kFlashBQ) {
        const float m_old = sm.m[t], m_new = sm.m_new[t];
        const float alpha = m_old == kNegInf ? 0.0f : expf(m_old - m_new);
        sm.l[t] = sm.l[t] * alpha + sm.part_sum[t] + sm.part_sum[t + kFlashBQ];
        sm.m[t] = m_new;
      }
    });
    warp_phase<kFlashThreads>([&](int w) { flash_mma_pv<HD>(sm, w); });
  }

  block_phase<kFlashThreads>([&](int t) {
    for (int i = t; i < nq * HD; i += kFlashThreads) {
      const int r = i / HD, d = i % HD;
      out[(q0 + r) * a.out_stride + static_cast<int64_t>(head) * HD + d] = sm.o[r * S::kLdO + d] / sm.l[r];
    }
  });
}

}  // namespace assay::cuda
