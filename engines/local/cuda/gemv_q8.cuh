// Decode GEMVs for quantized weights on 8-bit activations: the activations of the 1-8 tokens are
// quantized first (for K-quants, Q4_K/Q5_K/Q6_K, ActQ8K: per 256 values an F32 scale
// amax / 127, int8 quants and sums of 16 quants; for Q4_0/Q4_1/Q8_0, ActQ8: per 32 values an
// F16-rounded scale, int8 quants and the block's scaled sum), then each lane takes integer dot
// products of 4 quant pairs per instruction (dp4a) and scales only once per 16-32 values.
//
// Why: the float GEMV (gemv.cuh, q4k_wide_step) spends a convert, a multiply, a subtract and an
// FMA on every 4-bit weight, so on the H200 its Q4_K GEMV was instruction-bound at 17% of copy
// bandwidth (BF16: 61%). Here a 4-bit weight costs about half an instruction, and the
// activations read per weight are 1 byte instead of 4. This is llama.cpp's "MMVQ" scheme, and
// exactly the arithmetic of our CPU backend's default numerics (cpu/quants.h ActQ8K, the integer
// kernels of cpu/matmul.cpp): the same quants, the same integer sums per block; only the float
// sums over blocks are added in another order.
//
// Everything here is __host__ __device__ (dp4a and the byte-wise subtract have host versions),
// so tests/engines/local/cuda/cuda_host_test.cpp runs the quantizer and the lane steps without a
// GPU against the CPU backend.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "engines/local/cuda/cuda_quants.cuh"
#if defined(__CUDACC__)
#include "engines/local/cuda/gemv.cuh"
#endif

namespace assay::cuda {

// One token's ActQ8K activations on the device (k values, k % 256 == 0): the numbers of the CPU's
// ActQ8K, laid out for aligned vector loads: int8 quants [k], then F32 scales [k / 256], then
// int16 sums of 16 quants [k / 16]; rows 16-byte aligned.
struct ActQ8KRow {
  __host__ __device__ static constexpr int64_t d_offset(int64_t k) { return k; }
  __host__ __device__ static constexpr int64_t bsums_offset(int64_t k) { return k + 4 * (k / 256); }
  __host__ __device__ static constexpr int64_t bytes(int64_t k) {
    return (bsums_offset(k) + 2 * (k / 16) + 15) & ~int64_t{15};
  }
};

__host__ __device__ __forceinline__ int dp4a(uint32_t a, uint32_t b, int c) {
#if defined(__CUDA_ARCH__)
  return __dp4a(static_cast<int>(a), static_cast<int>(b), c);
#else
  for (int i = 0; i < 4; ++i)
    c += static_cast<int8_t>(static_cast<uint8_t>(a >> (8 * i))) * static_cast<int8_t>(static_cast<uint8_t>(b >> (8 * i)));
  return c;
#endif
}

// Byte-wise a - b (no borrow between bytes).
__host__ __device__ __forceinline__ uint32_t vsub4(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __vsub4(a, b);
#else
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= (((a >> (8 * i)) - (b >> (8 * i))) & 0xFFu) << (8 * i);
  return r;
#endif
}

// q[0..n) = x[j] * id rounded half to even (as the CPU's quantize_act_q8* do); returns their sum.
template <int n>
__host__ __device__ __forceinline__ int quantize_run(const float* x, float id, int8_t* q) {
  int s = 0;
  for (int j = 0; j < n; ++j) {
#if defined(__CUDA_ARCH__)
    const int v = __float2int_rn(x[j] * id);
#else
    const int v = static_cast<int>(std::nearbyint(x[j] * id));
#endif
    q[j] = static_cast<int8_t>(v);
    s += v;
  }
  return s;
}

// One token's ActQ8 activations (k values, k % 32 == 0): the CPU's ActQ8 numbers, as int8 quants
// [k], F32 scales d [k / 32] (F16 values), then F32 block sums [k / 32] (d * sum(q), F16-rounded
// for Q4_1 weights: the CPU's s8 * 8); rows 16-byte aligned.
struct ActQ8Row {
  __host__ __device__ static constexpr int64_t d_offset(int64_t k) { return k; }
  __host__ __device__ static constexpr int64_t s_offset(int64_t k) { return k + 4 * (k / 32); }
  __host__ __device__ static constexpr int64_t bytes(int64_t k) { return (s_offset(k) + 4 * (k / 32) + 15) & ~int64_t{15}; }
};

// Block b (32 values at x) of one token's ActQ8 row `a`, as quantize_act_q8_scalar makes it
// (round half to even; q8_1: the sum term rounded to F16 as ggml's Q8_1 stores it).
__host__ __device__ __forceinline__ void q8_quantize_block(const float* x, uint8_t* a, int64_t k, int64_t b,
                                                           bool q8_1) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = fmaxf(amax, fabsf(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  const int sum = quantize_run<32>(x, id, reinterpret_cast<int8_t*>(a + 32 * b));
  const float dh = __half2float(__float2half_rn(d));
  const float s = q8_1 ? __half2float(__float2half_rn(d * static_cast<float>(sum))) : dh * static_cast<float>(sum);
  reinterpret_cast<float*>(a + ActQ8Row::d_offset(k))[b] = dh;
  reinterpret_cast<float*>(a + ActQ8Row::s_offset(k))[b] = s;
}

// The block's scale from its largest magnitude, and the inverse scale (as the CPU computes both).
__host__ __device__ __forceinline__ void q8k_scales(float amax, float* d, float* id) {
  *d = amax / 127.0f;
  *id = *d != 0.0f ? 1.0f / *d : 0.0f;
}

// A 32-bit word of 2-byte-aligned memory (Q6_K blocks are 210 bytes).
__host__ __device__ __forceinline__ uint32_t load_u32_a2(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return static_cast<uint32_t>(ldg(h)) | (static_cast<uint32_t>(ldg(h + 1)) << 16);
}

// Token t's activation pieces for a step: quants at position pos, the block scale.
struct ActQ8KView {
  const uint8_t* row;
  int64_t k;
  __host__ __device__ float d(int64_t blk) const {
    return ldg(reinterpret_cast<const float*>(row + ActQ8KRow::d_offset(k)) + blk);
  }
  __host__ __device__ int bsum(int64_t g) const {
    return ldg(reinterpret_cast<const int16_t*>(row + ActQ8KRow::bsums_offset(k)) + g);
  }
  __host__ __device__ uint4 q16(int64_t pos) const { return ldg(reinterpret_cast<const uint4*>(row + pos)); }
  __host__ __device__ uint2 q8(int64_t pos) const { return ldg(reinterpret_cast<const uint2*>(row + pos)); }
};

// The lane steps. Each covers 32 values of one row (8 steps per 256-value block, step i of a row
// in block i / 8) and adds, for each of R rows and NT tokens, its part of the dot product:
//   acc[r][t] += d_act * (d * sum(scale * q_w . q_act) - dmin * sum(min * q_act sums)).
// wr[r]: row r's bytes; act: token 0's ActQ8K row, token t at act + t * as.

// Q4_K / Q5_K: the Q4KWide step positions (cuda_quants.cuh): 16 low nibbles of sub-block 2 c4 at
// 64 c4 + 16 hh, 16 high nibbles of sub-block 2 c4 + 1 at 64 c4 + 32 + 16 hh; Q5_K adds bit
// 2 c4 (low) / 2 c4 + 1 (high) of qh bytes 16 hh .. 16 hh + 15 as the fifth bit.
template <bool kFive>
struct K45Q8 {
  static constexpr bool kActK = true;  // ActQ8K activations
  static constexpr bool kQ8_1 = false;
  __host__ __device__ static constexpr int64_t steps(int64_t ne0) { return ne0 / 256 * 8; }
  static constexpr int kBytes = kFive ? 176 : 144;
  static constexpr int kQs = kFive ? 48 : 16;
  template <int R, int NT>
  __host__ __device__ __forceinline__ static void step(const uint8_t* const* wr, int64_t i, const uint8_t* act,
                                                       int64_t as, int64_t k, float (*acc)[NT]) {
    const int64_t blk = i >> 3;
    const int c4 = static_cast<int>((i >> 1) & 3), hh = static_cast<int>(i & 1);
    const int64_t pos = blk * 256 + 64 * c4 + 16 * hh;
    uint4 q[R], h[R] = {};
    float d[R], dmin[R];
    int sc0[R], mn0[R], sc1[R], mn1[R];
    ASSAY_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* b = wr[r] + blk * kBytes;
      q[r] = ldg(reinterpret_cast<const uint4*>(b + kQs + 32 * c4 + 16 * hh));
      if constexpr (kFive) h[r] = ldg(reinterpret_cast<const uint4*>(b + 16 + 16 * hh));
      const uint32_t dm = ldg(reinterpret_cast<const uint32_t*>(b));
      d[r] = __half2float(__ushort_as_half(static_cast<unsigned short>(dm & 0xFFFF)));
      dmin[r] = __half2float(__ushort_as_half(static_cast<unsigned short>(dm >> 16)));
      k4_pair_scales(ldg(reinterpret_cast<const uint32_t*>(b + 4)), ldg(reinterpret_cast<const uint32_t*>(b + 8)),
                     ldg(reinterpret_cast<const uint32_t*>(b + 12)), c4, &sc0[r], &mn0[r], &sc1[r], &mn1[r]);
    }
    ASSAY_UNROLL
    for (int t = 0; t < NT; ++t) {
      const ActQ8KView a{act + t * as, k};
      const uint4 alo = a.q16(pos), ahi = a.q16(pos + 32);
      const float da = a.d(blk);
      const int blo = a.bsum(pos / 16), bhi = a.bsum(pos / 16 + 2);
      ASSAY_UNROLL
      for (int r = 0; r < R; ++r) {
        const uint32_t w[4] = {q[r].x, q[r].y, q[r].z, q[r].w};
        const uint32_t hb[4] = {h[r].x, h[r].y, h[r].z, h[r].w};
        const uint32_t al[4] = {alo.x, alo.y, alo.z, alo.w}, ah[4] = {ahi.x, ahi.y, ahi.z, ahi.w};
        int slo = 0, shi = 0;
        ASSAY_UNROLL
        for (int g = 0; g < 4; ++g) {
          uint32_t lo = w[g] & 0x0F0F0F0Fu, hi = (w[g] >> 4) & 0x0F0F0F0Fu;
          if constexpr (kFive) {
            lo |= ((hb[g] >> (2 * c4)) & 0x01010101u) << 4;
            hi |= ((hb[g] >> (2 * c4 + 1)) & 0x01010101u) << 4;
          }
          slo = dp4a(lo, al[g], slo);
          shi = dp4a(hi, ah[g], shi);
        }
        const int isum = sc0[r] * slo + sc1[r] * shi;
        const int corr = mn0[r] * blo + mn1[r] * bhi;
        acc[r][t] += da * (d[r] * static_cast<float>(isum) - dmin[r] * static_cast<float>(corr));
      }
    }
  }
};
using Q4KQ8 = K45Q8<false>;
using Q5KQ8 = K45Q8<true>;

// Q6_K: step i covers half hf = (i / 4) % 2 of its block, columns l0 .. l0 + 7 (l0 = 8 (i % 4))
// of the four 32-value quarters: ql bytes 64 hf + l0 (quarters 0, 2: low, high nibble) and
// 64 hf + 32 + l0 (quarters 1, 3), qh bytes 128 + 32 hf + l0 (bits 2j, 2j + 1 for quarter j);
// quarter j has scale scales[8 hf + l0 / 16 + 2 j]. The quants are 6-bit minus 32, signed bytes.
struct Q6KQ8 {
  static constexpr bool kActK = true;
  static constexpr bool kQ8_1 = false;
  __host__ __device__ static constexpr int64_t steps(int64_t ne0) { return ne0 / 256 * 8; }
  template <int R, int NT>
  __host__ __device__ __forceinline__ static void step(const uint8_t* const* wr, int64_t i, const uint8_t* act,
                                                       int64_t as, int64_t k, float (*acc)[NT]) {
    const int64_t blk = i >> 3;
    const int hf = static_cast<int>((i >> 2) & 1), l0 = 8 * static_cast<int>(i & 3);
    uint32_t v[R][4][2];  // row, quarter, word: the 8 signed quants
    int sc[R][4];
    float d[R];
    ASSAY_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* b = wr[r] + blk * 210;
      ASSAY_UNROLL
      for (int wd = 0; wd < 2; ++wd) {
        const uint32_t ql0 = load_u32_a2(b + 64 * hf + l0 + 4 * wd);
        const uint32_t ql1 = load_u32_a2(b + 64 * hf + 32 + l0 + 4 * wd);
        const uint32_t qh = load_u32_a2(b + 128 + 32 * hf + l0 + 4 * wd);
        v[r][0][wd] = vsub4((ql0 & 0x0F0F0F0Fu) | ((qh & 0x03030303u) << 4), 0x20202020u);
        v[r][1][wd] = vsub4((ql1 & 0x0F0F0F0Fu) | (((qh >> 2) & 0x03030303u) << 4), 0x20202020u);
        v[r][2][wd] = vsub4(((ql0 >> 4) & 0x0F0F0F0Fu) | (((qh >> 4) & 0x03030303u) << 4), 0x20202020u);
        v[r][3][wd] = vsub4(((ql1 >> 4) & 0x0F0F0F0Fu) | (((qh >> 6) & 0x03030303u) << 4), 0x20202020u);
      }
      const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192) + 8 * hf + l0 / 16;
      ASSAY_UNROLL
      for (int j = 0; j < 4; ++j) sc[r][j] = ldg(scales + 2 * j);
      d[r] = __half2float(__ushort_as_half(ldg(reinterpret_cast<const unsigned short*>(b + 208))));
    }
    const int64_t pos = blk * 256 + 128 * hf + l0;
    ASSAY_UNROLL
    for (int t = 0; t < NT; ++t) {
      const ActQ8KView a{act + t * as, k};
      uint2 aq[4];
      ASSAY_UNROLL
      for (int j = 0; j < 4; ++j) aq[j] = a.q8(pos + 32 * j);
      const float da = a.d(blk);
      ASSAY_UNROLL
      for (int r = 0; r < R; ++r) {
        int isum = 0;
        ASSAY_UNROLL
        for (int j = 0; j < 4; ++j) isum += sc[r][j] * dp4a(v[r][j][1], aq[j].y, dp4a(v[r][j][0], aq[j].x, 0));
        acc[r][t] += da * (d[r] * static_cast<float>(isum));
      }
    }
  }
};

// Q4_0, Q4_1, Q8_0: step i is block i of the row (32 values at 32 i). Q4: the low nibbles of the
// 16 quant bytes are values 0..15, the high nibbles 16..31; Q4_0's -8 offset and Q4_1's min go
// through the activation block sum s: acc += d_w d_a isum + m_w s (m_w = -8 d_w for Q4_0).
template <GgmlType kType>
struct LegacyQ8 {
  static constexpr bool kActK = false;  // ActQ8 activations (with Q8_1's rounded sums for Q4_1)
  static constexpr bool kQ8_1 = kType == GgmlType::Q4_1;
  __host__ __device__ static constexpr int64_t steps(int64_t ne0) { return ne0 / 32; }
  static constexpr int kBytes = kType == GgmlType::Q8_0 ? 34 : (kType == GgmlType::Q4_1 ? 20 : 18);
  template <int R, int NT>
  __host__ __device__ __forceinline__ static void step(const uint8_t* const* wr, int64_t i, const uint8_t* act,
                                                       int64_t as, int64_t k, float (*acc)[NT]) {
    constexpr int kWords = kType == GgmlType::Q8_0 ? 8 : 4;
    uint32_t q[R][kWords];
    float d[R], m[R];
    ASSAY_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* b = wr[r] + i * kBytes;
      d[r] = __half2float(__ushort_as_half(ldg(reinterpret_cast<const unsigned short*>(b))));
      if constexpr (kType == GgmlType::Q4_1) {
        m[r] = __half2float(__ushort_as_half(ldg(reinterpret_cast<const unsigned short*>(b + 2))));
        ASSAY_UNROLL
        for (int g = 0; g < 4; ++g) q[r][g] = ldg(reinterpret_cast<const uint32_t*>(b + 4) + g);
      } else {
        m[r] = kType == GgmlType::Q4_0 ? -8.0f * d[r] : 0.0f;
        ASSAY_UNROLL
        for (int g = 0; g < kWords; ++g) q[r][g] = load_u32_a2(b + 2 + 4 * g);
      }
    }
    ASSAY_UNROLL
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = act + t * as;
      const uint4 a0 = ldg(reinterpret_cast<const uint4*>(a + 32 * i));
      const uint4 a1 = ldg(reinterpret_cast<const uint4*>(a + 32 * i + 16));
      const uint32_t aw[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float da = ldg(reinterpret_cast<const float*>(a + ActQ8Row::d_offset(k)) + i);
      const float sa = ldg(reinterpret_cast<const float*>(a + ActQ8Row::s_offset(k)) + i);
      ASSAY_UNROLL
      for (int r = 0; r < R; ++r) {
        int isum = 0;
        ASSAY_UNROLL
        for (int g = 0; g < 4; ++g) {
          if constexpr (kType == GgmlType::Q8_0) {
            isum = dp4a(q[r][g], aw[g], isum);
            isum = dp4a(q[r][g + 4], aw[g + 4], isum);
          } else {
            isum = dp4a(q[r][g] & 0x0F0F0F0Fu, aw[g], isum);
            isum = dp4a((q[r][g] >> 4) & 0x0F0F0F0Fu, aw[g + 4], isum);
          }
        }
        acc[r][t] += (d[r] * da) * static_cast<float>(isum) + m[r] * sa;
      }
    }
  }
};

#if defined(__CUDACC__)
// A warp per kRows output rows, lanes over the 32-value steps (as gemv_q4k_kernel), NT tokens.
template <class S, int NT, int kRows, int kUnroll, int kWarps>
__global__ void __launch_bounds__(32 * kWarps) gemv_q8_kernel(const uint8_t* w, size_t row_bytes, int64_t ne0,
                                                              int64_t ne1, const uint8_t* act, int64_t as,
                                                              const float* bias, float* out, int64_t os) {
  gemv_warp_steps<NT, kRows, kUnroll, kWarps>(
      w, row_bytes, ne1, S::steps(ne0), bias, out, os,
      [&](const uint8_t* const* wr, int64_t i, float (*acc)[NT]) { S::template step<kRows, NT>(wr, i, act, as, ne0, acc); });
}

template <class S, int NT, int kRows, int kUnroll, int kWarps>
void launch_gemv_q8_shape(const uint8_t* w, size_t row_bytes, int64_t ne0, int64_t ne1, const uint8_t* act,
                          int64_t as, const float* bias, float* out, int64_t os, cudaStream_t s) {
  constexpr int kRowsPerBlock = kWarps * kRows;
  const unsigned grid = static_cast<unsigned>((ne1 + kRowsPerBlock - 1) / kRowsPerBlock);
  gemv_q8_kernel<S, NT, kRows, kUnroll, kWarps><<<grid, 32 * kWarps, 0, s>>>(w, row_bytes, ne0, ne1, act, as, bias,
                                                                            out, os);
}

// One warp per 256-value block of one token (blockIdx.y), 8 warps per thread block: lane l
// quantizes values 8 l .. 8 l + 7; the pair of lanes 2 g, 2 g + 1 makes sum g.
static __global__ void __launch_bounds__(256) quantize_q8k_kernel(const float* x, int64_t xs, int64_t k, uint8_t* act,
                                                          int64_t as) {
  const int lane = threadIdx.x & 31;
  const int64_t blk = static_cast<int64_t>(blockIdx.x) * 8 + threadIdx.x / 32;
  if (blk >= k / 256) return;
  const float* xb = x + blockIdx.y * xs + blk * 256 + 8 * lane;
  float v[8];
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    v[j] = xb[j];
    amax = fmaxf(amax, fabsf(v[j]));
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  float d, id;
  q8k_scales(amax, &d, &id);
  alignas(8) int8_t q[8];
  int s = quantize_run<8>(v, id, q);
  uint8_t* a = act + blockIdx.y * as;
  *reinterpret_cast<uint2*>(a + blk * 256 + 8 * lane) = *reinterpret_cast<const uint2*>(q);
  s += __shfl_xor_sync(0xffffffffu, s, 1);
  if ((lane & 1) == 0) reinterpret_cast<int16_t*>(a + ActQ8KRow::bsums_offset(k))[blk * 16 + lane / 2] = static_cast<int16_t>(s);
  if (lane == 0) reinterpret_cast<float*>(a + ActQ8KRow::d_offset(k))[blk] = d;
}
// One thread per 32-value block of one token (blockIdx.y).
static __global__ void __launch_bounds__(256) quantize_q8_kernel(const float* x, int64_t xs, int64_t k, uint8_t* act,
                                                                int64_t as, bool q8_1) {
  const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= k / 32) return;
  q8_quantize_block(x + blockIdx.y * xs + 32 * b, act + blockIdx.y * as, k, b, q8_1);
}
#endif  // __CUDACC__

// Runs `body` with S bound to the step of `type`; false for types without one.
#define ASSAY_CUDA_Q8_DISPATCH(type, ...)                                                          \
  [&]() -> bool {                                                                                  \
    switch (type) {                                                                                \
      case GgmlType::Q4_K: { using S = ::assay::cuda::Q4KQ8; __VA_ARGS__; return true; }           \
      case GgmlType::Q5_K: { using S = ::assay::cuda::Q5KQ8; __VA_ARGS__; return true; }           \
      case GgmlType::Q6_K: { using S = ::assay::cuda::Q6KQ8; __VA_ARGS__; return true; }           \
      case GgmlType::Q4_0: { using S = ::assay::cuda::LegacyQ8<GgmlType::Q4_0>; __VA_ARGS__; return true; } \
      case GgmlType::Q4_1: { using S = ::assay::cuda::LegacyQ8<GgmlType::Q4_1>; __VA_ARGS__; return true; } \
      case GgmlType::Q8_0: { using S = ::assay::cuda::LegacyQ8<GgmlType::Q8_0>; __VA_ARGS__; return true; } \
      default: return false;                                                                       \
    }                                                                                              \
  }()

}  // namespace assay::cuda
