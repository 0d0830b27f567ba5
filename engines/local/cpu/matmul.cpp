// CPU matmul kernels (see matmul.h).
//
// Layout of the work: rows are split into chunks (one parallel item each); inside a chunk, tokens
// are processed in blocks of kTokenBlock (their quantized activations stay in L2), and each
// (row tile x token tile) is one kernel call that keeps R x T accumulators in registers.
//
// Every kernel computes one output as: acc (8 f32 lanes) += per-block terms in block order, then
// a fixed horizontal sum. The tile shape only changes which outputs share loads, so results do not
// depend on tiling, threads or batch composition.
#include "engines/local/cpu/matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engines/local/cpu/quants.h"
#include "harness/status.h"

namespace assay {
namespace {

#define ASSAY_AVX2 __attribute__((target("avx2,fma,f16c")))
#define ASSAY_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline

constexpr int64_t kTokenBlock = 64;

bool is_legacy(GgmlType t) {
  return t == GgmlType::Q4_0 || t == GgmlType::Q4_1 || t == GgmlType::Q8_0;
}
bool is_kquant(GgmlType t) {
  return t == GgmlType::Q4_K || t == GgmlType::Q5_K || t == GgmlType::Q6_K;
}

// ---------------------------------------------------------------------------------------------
// K-quant super-blocks are unpacked once per (row, token block) into a form one integer kernel
// serves for all three types:
//   y = d * da * sum_v q[v] * a[v] * scale(v)  -  dmin * da * sum_g mins[g] * bsum_a[g]
// with q unsigned (Q4_K 0..15, Q5_K 0..31, Q6_K 0..63 = signed value + 32).

struct alignas(32) UnpackedK {
  uint8_t q[256];         // unsigned quants in value order
  int16_t scales[8][16];  // per 32-value chunk, one i16 per maddubs lane (lanes 0..7: values 0..15)
  int16_t mins[16];       // per 16-value group: multiplier of the activation group sum
  float d;
  float dmin;
};

void unpack_k_scalar(GgmlType type, const uint8_t* blk, UnpackedK* u) {
  if (type == GgmlType::Q4_K || type == GgmlType::Q5_K) {
    const bool five = type == GgmlType::Q5_K;
    const uint8_t* scales;
    const uint8_t* qs;
    const uint8_t* qh = nullptr;
    if (five) {
      const auto* b = reinterpret_cast<const BlockQ5_K*>(blk);
      u->d = fp16_to_fp32(b->d);
      u->dmin = fp16_to_fp32(b->dmin);
      scales = b->scales;
      qs = b->qs;
      qh = b->qh;
    } else {
      const auto* b = reinterpret_cast<const BlockQ4_K*>(blk);
      u->d = fp16_to_fp32(b->d);
      u->dmin = fp16_to_fp32(b->dmin);
      scales = b->scales;
      qs = b->qs;
    }
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, scales, &sc, &m);
      for (int l = 0; l < 16; ++l) u->scales[j][l] = sc;
      u->mins[2 * j] = u->mins[2 * j + 1] = m;
    }
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        uint8_t lo = qs[32 * c + l] & 0xF, hi = qs[32 * c + l] >> 4;
        if (five) {
          lo += (qh[l] >> (2 * c)) & 1 ? 16 : 0;
          hi += (qh[l] >> (2 * c + 1)) & 1 ? 16 : 0;
        }
        u->q[64 * c + l] = lo;
        u->q[64 * c + 32 + l] = hi;
      }
    }
  } else {
    const auto* b = reinterpret_cast<const BlockQ6_K*>(blk);
    u->d = fp16_to_fp32(b->d);
    u->dmin = u->d;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b->ql + 64 * h;
      const uint8_t* qh = b->qh + 32 * h;
      uint8_t* q = u->q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        q[l] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
        q[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
        q[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        q[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      }
    }
    for (int c = 0; c < 8; ++c) {
      for (int l = 0; l < 8; ++l) {
        u->scales[c][l] = b->scales[2 * c];
        u->scales[c][8 + l] = b->scales[2 * c + 1];
      }
    }
    for (int g = 0; g < 16; ++g) u->mins[g] = static_cast<int16_t>(32 * b->scales[g]);
  }
}

ASSAY_AVX2 void unpack_k_avx2(GgmlType type, const uint8_t* blk, UnpackedK* u) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  if (type == GgmlType::Q4_K || type == GgmlType::Q5_K) {
    const bool five = type == GgmlType::Q5_K;
    const uint8_t* scales;
    const uint8_t* qs;
    __m256i qh = _mm256_setzero_si256();
    if (five) {
      const auto* b = reinterpret_cast<const BlockQ5_K*>(blk);
      u->d = _cvtsh_ss(b->d);
      u->dmin = _cvtsh_ss(b->dmin);
      scales = b->scales;
      qs = b->qs;
      qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh));
    } else {
      const auto* b = reinterpret_cast<const BlockQ4_K*>(blk);
      u->d = _cvtsh_ss(b->d);
      u->dmin = _cvtsh_ss(b->dmin);
      scales = b->scales;
      qs = b->qs;
    }
    const __m256i one = _mm256_set1_epi8(1);
    for (int c = 0; c < 4; ++c) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
      __m256i lo = _mm256_and_si256(x, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
      if (five) {
        const __m256i blo = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one);
        const __m256i bhi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(blo, 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(bhi, 4));
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(u->q + 64 * c), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(u->q + 64 * c + 32), hi);
    }
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, scales, &sc, &m);
      _mm256_store_si256(reinterpret_cast<__m256i*>(u->scales[j]), _mm256_set1_epi16(sc));
      u->mins[2 * j] = u->mins[2 * j + 1] = m;
    }
  } else {
    const auto* b = reinterpret_cast<const BlockQ6_K*>(blk);
    u->d = _cvtsh_ss(b->d);
    u->dmin = u->d;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh + 32 * h));
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4);
      const __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4);
      const __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4);
      uint8_t* q = u->q + 128 * h;
      _mm256_store_si256(reinterpret_cast<__m256i*>(q), _mm256_or_si256(_mm256_and_si256(ql0, m4), h0));
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 32), _mm256_or_si256(_mm256_and_si256(ql1, m4), h1));
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 64),
                         _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), h2));
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 96),
                         _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), h3));
    }
    for (int c = 0; c < 8; ++c) {
      const __m128i s0 = _mm_set1_epi16(b->scales[2 * c]);
      const __m128i s1 = _mm_set1_epi16(b->scales[2 * c + 1]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(u->scales[c]), _mm256_set_m128i(s1, s0));
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->scales)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(u->mins), _mm256_slli_epi16(sc16, 5));
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar kernels: one output at a time. The same math as the AVX2 kernels (integer block dots,
// f32 block scaling), in plain C++; used where AVX2 is missing and always tested.

float dot_legacy_scalar(GgmlType type, const uint8_t* wrow, const ActQ8* a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int isum = 0;
    float d, m = 0.0f;
    if (type == GgmlType::Q8_0) {
      const auto* w = reinterpret_cast<const BlockQ8_0*>(wrow) + b;
      d = fp16_to_fp32(w->d);
      for (int j = 0; j < 32; ++j) isum += w->qs[j] * a[b].qs[j];
    } else {
      const uint8_t* qs;
      if (type == GgmlType::Q4_0) {
        const auto* w = reinterpret_cast<const BlockQ4_0*>(wrow) + b;
        d = fp16_to_fp32(w->d);
        m = -8.0f * d;
        qs = w->qs;
      } else {
        const auto* w = reinterpret_cast<const BlockQ4_1*>(wrow) + b;
        d = fp16_to_fp32(w->d);
        m = fp16_to_fp32(w->m);
        qs = w->qs;
      }
      for (int j = 0; j < 16; ++j) isum += (qs[j] & 0xF) * a[b].qs[j] + (qs[j] >> 4) * a[b].qs[j + 16];
    }
    acc += (d * a[b].d) * static_cast<float>(isum) + m * (a[b].s8 * 8.0f);
  }
  return acc;
}

float dot_k_scalar(const UnpackedK* u, const ActQ8K* a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int isum = 0;
    for (int c = 0; c < 8; ++c) {
      for (int l = 0; l < 32; ++l) {
        isum += u[b].q[32 * c + l] * a[b].qs[32 * c + l] * u[b].scales[c][l / 2];
      }
    }
    int corr = 0;
    for (int g = 0; g < 16; ++g) corr += u[b].mins[g] * a[b].bsums[g];
    acc += (u[b].d * a[b].d) * static_cast<float>(isum) - (u[b].dmin * a[b].d) * static_cast<float>(corr);
  }
  return acc;
}

float load_weight_scalar(GgmlType type, const uint8_t* wrow, int64_t i) {
  switch (type) {
    case GgmlType::F32: { float f; std::memcpy(&f, wrow + 4 * i, 4); return f; }
    case GgmlType::F16: { uint16_t h; std::memcpy(&h, wrow + 2 * i, 2); return fp16_to_fp32(h); }
    default: { uint16_t h; std::memcpy(&h, wrow + 2 * i, 2); return bf16_to_fp32(h); }
  }
}

float dot_float_scalar(GgmlType type, const uint8_t* wrow, const float* x, int64_t k) {
  float acc = 0.0f;
  for (int64_t i = 0; i < k; ++i) acc += load_weight_scalar(type, wrow, i) * x[i];
  return acc;
}

// ---------------------------------------------------------------------------------------------
// AVX2 kernels.

ASSAY_AVX2_INLINE float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Legacy blocks (32 values) x ActQ8. wrows[r]: row r's blocks; arows[t]: token t's blocks;
// srows[t]: token t's block sums d_a * sum(q_a), zero-padded to a multiple of 8 blocks.
// out[t * out_stride + r].
//
// Per block and (row, token): acc += (d_w * d_a) * isum (8 lanes). The Q4_0/Q4_1 offset term
// m_w * d_a * sum(q_a) is not added per block: the m_w of up to kMChunk blocks are buffered and
// dotted 8 blocks per FMA against srows afterwards (lane j holds block j mod 8).
template <GgmlType W, int R, int T>
ASSAY_AVX2 void tile_legacy_avx2(const uint8_t* const* wrows, const ActQ8* const* arows,
                                 const float* const* srows, int64_t nb, float* out,
                                 int64_t out_stride) {
  constexpr bool kHasMin = W != GgmlType::Q8_0;
  constexpr int64_t kMChunk = 64;
  alignas(32) float mbuf[R][kMChunk];
  __m256 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int64_t b0 = 0; b0 < nb; b0 += kMChunk) {
    const int64_t b1 = std::min(nb, b0 + kMChunk);
    for (int64_t b = b0; b < b1; ++b) {
      __m256i wq[R];
      __m256i wabs[R];
      __m256 wd[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if constexpr (W == GgmlType::Q8_0) {
          const auto* w = reinterpret_cast<const BlockQ8_0*>(wrows[r]) + b;
          wq[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w->qs));
          wabs[r] = _mm256_sign_epi8(wq[r], wq[r]);
          wd[r] = _mm256_set1_ps(_cvtsh_ss(w->d));
        } else {
          const uint8_t* qs;
          float d, m;
          if constexpr (W == GgmlType::Q4_0) {
            const auto* w = reinterpret_cast<const BlockQ4_0*>(wrows[r]) + b;
            d = _cvtsh_ss(w->d);
            m = -8.0f * d;
            qs = w->qs;
          } else {
            // d and m are adjacent halves: convert both with one vcvtph2ps.
            const auto* w = reinterpret_cast<const BlockQ4_1*>(wrows[r]) + b;
            uint32_t dm;
            std::memcpy(&dm, &w->d, 4);
            const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dm)));
            d = _mm_cvtss_f32(f);
            m = _mm_cvtss_f32(_mm_movehdup_ps(f));
            qs = w->qs;
          }
          const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
          wq[r] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), m4);
          wd[r] = _mm256_set1_ps(d);
          mbuf[r][b - b0] = m;
        }
      }
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const ActQ8* a = arows[t] + b;
        const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->qs));
        const __m256 ad = _mm256_broadcast_ss(&a->d);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          __m256i p;
          if constexpr (W == GgmlType::Q8_0) {
            p = _mm256_maddubs_epi16(wabs[r], _mm256_sign_epi8(aq, wq[r]));
          } else {
            p = _mm256_maddubs_epi16(wq[r], aq);
          }
          const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
          acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(wd[r], ad), f, acc[r][t]);
        }
      }
    }
    if constexpr (kHasMin) {
      const int64_t n = b1 - b0;
      const int64_t n8 = (n + 7) & ~int64_t{7};
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r)
        for (int64_t j = n; j < n8; ++j) mbuf[r][j] = 0.0f;
      for (int64_t j = 0; j < n8; j += 8) {
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const __m256 sv = _mm256_loadu_ps(srows[t] + b0 + j);
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r)
            acc[r][t] = _mm256_fmadd_ps(_mm256_load_ps(&mbuf[r][j]), sv, acc[r][t]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) out[t * out_stride + r] = hsum_ps(acc[r][t]);
}

// Unpacked K super-blocks x ActQ8K.
template <int R, int T>
ASSAY_AVX2 void tile_k_avx2(const UnpackedK* const* wrows, const ActQ8K* const* arows, int64_t nb,
                            float* out, int64_t out_stride) {
  __m256 acc[R][T];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const ActQ8K* a = arows[t] + b;
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const UnpackedK* u = wrows[r] + b;
        __m256i isum = _mm256_setzero_si256();
        #pragma GCC unroll 16
        for (int c = 0; c < 8; ++c) {
          const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(u->q + 32 * c));
          const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->qs + 32 * c));
          const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(u->scales[c]));
          isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(q, aq), sc));
        }
        const __m256i corr =
            _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u->mins)),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->bsums)));
        acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(u->d * a->d), _mm256_cvtepi32_ps(isum), acc[r][t]);
        acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(-(u->dmin * a->d)), _mm256_cvtepi32_ps(corr), acc[r][t]);
      }
    }
  }
  #pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) out[t * out_stride + r] = hsum_ps(acc[r][t]);
}

template <GgmlType W>
ASSAY_AVX2_INLINE __m256 load8_avx2(const uint8_t* wrow, int64_t i) {
  if constexpr (W == GgmlType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(wrow) + i);
  } else if constexpr (W == GgmlType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wrow + 2 * i)));
  } else if constexpr (W == GgmlType::BF16) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wrow + 2 * i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  } else {
    // Legacy quantized rows (i a multiple of 8): the 8 values dequantize_row gives, with the same
    // f32 operations (f16 -> f32 and int -> float exact, then * d, then + m; no fma: built with
    // -ffp-contract=off), so decode under f32 compute reads the quantized row directly and
    // still equals the batched path bit for bit.
    const int64_t blk = i / 32;
    const int o = static_cast<int>(i % 32);
    if constexpr (W == GgmlType::Q8_0) {
      const auto* b = reinterpret_cast<const BlockQ8_0*>(wrow) + blk;
      const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + o));
      const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
      return _mm256_mul_ps(q, _mm256_set1_ps(_cvtsh_ss(b->d)));
    } else {
      using Block = std::conditional_t<W == GgmlType::Q4_0, BlockQ4_0, BlockQ4_1>;
      const auto* b = reinterpret_cast<const Block*>(wrow) + blk;
      __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + (o & 15)));
      if (o >= 16) bytes = _mm_srli_epi16(bytes, 4);
      __m256i q = _mm256_cvtepu8_epi32(_mm_and_si128(bytes, _mm_set1_epi8(0x0F)));
      if constexpr (W == GgmlType::Q4_0) {
        q = _mm256_sub_epi32(q, _mm256_set1_epi32(8));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(_cvtsh_ss(b->d)));
      } else {
        return _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(_cvtsh_ss(b->d))),
                             _mm256_set1_ps(_cvtsh_ss(b->m)));
      }
    }
  }
}

// F16/BF16 row -> f32 (exact).
ASSAY_AVX2 void convert_row_avx2(GgmlType type, const uint8_t* row, float* dst, int64_t k) {
  const int64_t k8 = k & ~int64_t{7};
  for (int64_t i = 0; i < k8; i += 8) {
    _mm256_storeu_ps(dst + i, type == GgmlType::F16 ? load8_avx2<GgmlType::F16>(row, i)
                                                    : load8_avx2<GgmlType::BF16>(row, i));
  }
  for (int64_t i = k8; i < k; ++i) dst[i] = load_weight_scalar(type, row, i);
}

// Float weights x f32 activations; k8 = k rounded down to 8, the tail is added in scalar.
template <GgmlType W, int R, int T>
ASSAY_AVX2 void tile_float_avx2(const uint8_t* const* wrows, const float* const* xrows, int64_t k,
                                float* out, int64_t out_stride) {
  __m256 acc[R][T];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const int64_t k8 = k & ~int64_t{7};
  for (int64_t i = 0; i < k8; i += 8) {
    __m256 w[R];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) w[r] = load8_avx2<W>(wrows[r], i);
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m256 xv = _mm256_loadu_ps(xrows[t] + i);
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(w[r], xv, acc[r][t]);
    }
  }
  #pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      float s = hsum_ps(acc[r][t]);
      // Explicit fma: the same instruction whatever W is (F16 rows may run through the F32 kernel).
      for (int64_t i = k8; i < k; ++i) s = __builtin_fmaf(load_weight_scalar(W, wrows[r], i), xrows[t][i], s);
      out[t * out_stride + r] = s;
    }
  }
}

// Tile-shape dispatch tables: kernel<R, T> for R, T in 1..4.
constexpr int kMaxR = 4;
constexpr int kMaxT = 4;

using LegacyFn = void (*)(const uint8_t* const*, const ActQ8* const*, const float* const*, int64_t,
                          float*, int64_t);
using KFn = void (*)(const UnpackedK* const*, const ActQ8K* const*, int64_t, float*, int64_t);
using FloatFn = void (*)(const uint8_t* const*, const float* const*, int64_t, float*, int64_t);

template <GgmlType W, int R>
LegacyFn legacy_fn_t(int t) {
  switch (t) {
    case 1: return &tile_legacy_avx2<W, R, 1>;
    case 2: return &tile_legacy_avx2<W, R, 2>;
    case 3: return &tile_legacy_avx2<W, R, 3>;
    default: return &tile_legacy_avx2<W, R, 4>;
  }
}
// Decode (one token): a whole range of rows per call, so a row costs its dot product and
// nothing else (at k = 576 the per-row dispatch was ~40% of a matvec). Each row is exactly
// tile_legacy_avx2<W, 1, 1>, so outputs are bit-identical to the prefill tiles'.
using LegacyRowsFn = void (*)(const uint8_t*, size_t, int64_t, int64_t, const ActQ8*, const float*,
                              int64_t, float*);
template <GgmlType W>
__attribute__((target("avx2,fma,f16c"), flatten)) void rows_legacy_t1_avx2(
    const uint8_t* wbase, size_t wstride, int64_t r0, int64_t r1, const ActQ8* a, const float* s,
    int64_t nb, float* out) {
  // One row at a time (see tile_shape): 2 or 4 interleaved rows win with the weights in cache
  // but lose end to end, where the weights stream from memory.
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* w = wbase + r * wstride;
    tile_legacy_avx2<W, 1, 1>(&w, &a, &s, nb, out + r, 0);
  }
}
LegacyRowsFn legacy_rows_fn(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return &rows_legacy_t1_avx2<GgmlType::Q4_0>;
    case GgmlType::Q4_1: return &rows_legacy_t1_avx2<GgmlType::Q4_1>;
    default: return &rows_legacy_t1_avx2<GgmlType::Q8_0>;
  }
}

template <GgmlType W>
LegacyFn legacy_fn(int r, int t) {
  switch (r) {
    case 1: return legacy_fn_t<W, 1>(t);
    case 2: return legacy_fn_t<W, 2>(t);
    case 3: return legacy_fn_t<W, 3>(t);
    default: return legacy_fn_t<W, 4>(t);
  }
}
LegacyFn legacy_fn(GgmlType type, int r, int t) {
  switch (type) {
    case GgmlType::Q4_0: return legacy_fn<GgmlType::Q4_0>(r, t);
    case GgmlType::Q4_1: return legacy_fn<GgmlType::Q4_1>(r, t);
    default: return legacy_fn<GgmlType::Q8_0>(r, t);
  }
}

template <int R>
KFn k_fn_t(int t) {
  switch (t) {
    case 1: return &tile_k_avx2<R, 1>;
    case 2: return &tile_k_avx2<R, 2>;
    case 3: return &tile_k_avx2<R, 3>;
    default: return &tile_k_avx2<R, 4>;
  }
}
KFn k_fn(int r, int t) {
  switch (r) {
    case 1: return k_fn_t<1>(t);
    case 2: return k_fn_t<2>(t);
    case 3: return k_fn_t<3>(t);
    default: return k_fn_t<4>(t);
  }
}

template <GgmlType W, int R>
FloatFn float_fn_t(int t) {
  switch (t) {
    case 1: return &tile_float_avx2<W, R, 1>;
    case 2: return &tile_float_avx2<W, R, 2>;
    case 3: return &tile_float_avx2<W, R, 3>;
    default: return &tile_float_avx2<W, R, 4>;
  }
}
template <GgmlType W>
FloatFn float_fn(int r, int t) {
  switch (r) {
    case 1: return float_fn_t<W, 1>(t);
    case 2: return float_fn_t<W, 2>(t);
    case 3: return float_fn_t<W, 3>(t);
    default: return float_fn_t<W, 4>(t);
  }
}
FloatFn float_fn(GgmlType type, int r, int t) {
  switch (type) {
    case GgmlType::F32: return float_fn<GgmlType::F32>(r, t);
    case GgmlType::F16: return float_fn<GgmlType::F16>(r, t);
    default: return float_fn<GgmlType::BF16>(r, t);
  }
}

// Tile shape: decode (one token) streams one weight row at a time, as ggml's vec_dot does (2 rows
// measured ~10% and 4 rows ~20% slower single-token on the 2-core EPYC: more streams than its
// prefetchers follow); prefill shares each weight tile between 4 tokens (4x4 measured ~10%
// faster than 2x4 for Q4_1 on Zen 3; K-quants showed no difference). Float kernels: 3x4 keeps
// 12 accumulators + 3 rows + 1 activation in the 16 ymm registers: 76 GFLOP/s on one core
// against 42 for 2x4 and 51 for 4x4 (which spills). Any shape gives the same numbers.
struct TileShape {
  int r;
  int t;
};
TileShape tile_shape(GgmlType type, int64_t n_tokens) {
  if (n_tokens == 1) return {1, 1};
  if (is_legacy(type)) return {4, 4};
  if (is_kquant(type)) return {2, 4};
  return {3, 4};
}

}  // namespace

void cpu_matmul(const CpuExec& ex, const float* x, int64_t n_tokens, int64_t x_stride,
                const TensorRef& w, const float* bias, float* out, int64_t out_stride) {
  const int64_t k = w.ne0;
  const int64_t n = w.ne1;
  if (x_stride == 0) x_stride = k;
  if (out_stride == 0) out_stride = n;
  ASSAY_CHECK(x_stride >= k && out_stride >= n);
  ASSAY_CHECK_MSG(cpu_supports_type(w.type), "cpu_matmul: unsupported weight type");
  const int64_t row_bytes = ggml_row_bytes(w.type, k);
  ASSAY_CHECK_MSG(row_bytes > 0 && static_cast<int64_t>(w.row_bytes) >= row_bytes,
                  "cpu_matmul: k is not a multiple of the block size or row_bytes too small");
  if (n_tokens <= 0 || n <= 0) return;
  const auto* wbase = static_cast<const uint8_t*>(w.data);
  const size_t wstride = w.row_bytes;

  // f32 compute: quantized rows are dequantized per tile and go through the float kernels.
  const GgmlType type = w.type;
  const bool deq_rows = ex.f32_compute && (is_legacy(type) || is_kquant(type));
  const bool int_path = !deq_rows && (is_legacy(type) || is_kquant(type));

  // Quantize activations (per token, independent).
  std::vector<uint8_t> local_buf;
  std::vector<uint8_t>& act_buf = ex.act_scratch ? *ex.act_scratch : local_buf;
  int64_t act_row_bytes = 0;
  if (deq_rows) {
    // none: the float kernels read x directly
  } else if (is_legacy(type)) {
    // nb ActQ8 blocks, then nb block sums d * sum(q) zero-padded to a multiple of 8 (AVX2 path).
    act_row_bytes = (k / 32) * static_cast<int64_t>(sizeof(ActQ8)) + ((k / 32 + 7) & ~int64_t{7}) * 4;
  } else if (is_kquant(type)) {
    act_row_bytes = (k / 256) * static_cast<int64_t>(sizeof(ActQ8K));
  }
  if (act_row_bytes > 0) {
    act_buf.resize(static_cast<size_t>(act_row_bytes * n_tokens));
    uint8_t* abuf = act_buf.data();
    const bool legacy = is_legacy(type);
    cpu_parallel_for(ex, n_tokens, 8, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        if (legacy) {
          auto* a = reinterpret_cast<ActQ8*>(abuf + t * act_row_bytes);
          quantize_act_q8(x + t * x_stride, a, k, ex.avx2, type == GgmlType::Q4_1);
          const int64_t nb = k / 32;
          auto* sums = reinterpret_cast<float*>(a + nb);
          for (int64_t b = 0; b < nb; ++b) sums[b] = a[b].s8 * 8.0f;  // exact: power of two
          for (int64_t b = nb; b < ((nb + 7) & ~int64_t{7}); ++b) sums[b] = 0.0f;
        } else {
          quantize_act_q8k(x + t * x_stride, reinterpret_cast<ActQ8K*>(abuf + t * act_row_bytes), k, ex.avx2);
        }
      }
    });
  }
  const uint8_t* abuf = act_buf.data();

  // Rows per parallel item: enough items to balance threads, a multiple of the row tile.
  const TileShape shape = tile_shape(deq_rows ? GgmlType::F32 : type, n_tokens);
  int64_t chunk = n / (static_cast<int64_t>(std::max(ex.n_threads, 1)) * 8);
  chunk = std::clamp<int64_t>((chunk + 3) & ~int64_t{3}, 4, 64);
  chunk = (chunk + shape.r - 1) / shape.r * shape.r;

  auto add_bias = [&] {
    if (bias == nullptr) return;
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t j = 0; j < n; ++j) out[t * out_stride + j] += bias[j];
  };
  if (n_tokens == 1 && ex.avx2 && is_legacy(type) && deq_rows) {
    // Decode under f32 compute: the float kernel dequantizes in registers (no row buffer). About
    // 11 GFLOP/s per core for Q4_1, bound by the dequantizing instructions (four rows per call
    // measured the same), against 40 for the 8-bit path and 780 us -> 160 us per 576x1536 matvec
    // compared with dequantizing each row into a buffer first.
    const FloatFn fn = type == GgmlType::Q4_0   ? &tile_float_avx2<GgmlType::Q4_0, 1, 1>
                       : type == GgmlType::Q4_1 ? &tile_float_avx2<GgmlType::Q4_1, 1, 1>
                                                : &tile_float_avx2<GgmlType::Q8_0, 1, 1>;
    cpu_parallel_for(ex, n, chunk, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* wrow = wbase + r * wstride;
        fn(&wrow, &x, k, out + r, out_stride);
      }
    });
    add_bias();
    return;
  }
  if (n_tokens == 1 && ex.avx2 && is_legacy(type) && int_path) {
    const LegacyRowsFn rows = legacy_rows_fn(type);
    const auto* a = reinterpret_cast<const ActQ8*>(abuf);
    const auto* sums = reinterpret_cast<const float*>(a + k / 32);
    cpu_parallel_for(ex, n, chunk, [&](int64_t r0, int64_t r1) {
      rows(wbase, wstride, r0, r1, a, sums, k / 32, out);
    });
    add_bias();
    return;
  }

  cpu_parallel_for(ex, n, chunk, [&](int64_t r0, int64_t r1) {
    thread_local std::vector<UnpackedK> unpacked;
    // f32 compute: the item's rows dequantized once for all token blocks (at most 66 rows).
    thread_local std::vector<float> deq_chunk;
    if (deq_rows && ex.avx2) {
      deq_chunk.resize(static_cast<size_t>((r1 - r0) * k));
      for (int64_t r = r0; r < r1; ++r) dequantize_row(type, wbase + r * wstride, deq_chunk.data() + (r - r0) * k, k);
    }
    for (int64_t tb = 0; tb < n_tokens; tb += kTokenBlock) {
      const int64_t te = std::min(n_tokens, tb + kTokenBlock);
      for (int64_t r = r0; r < r1; r += shape.r) {
        const int rr = static_cast<int>(std::min<int64_t>(shape.r, r1 - r));
        if (!ex.avx2) {
          // Scalar path: one output at a time.
          for (int i = 0; i < rr; ++i) {
            const uint8_t* wrow = wbase + (r + i) * wstride;
            if (deq_rows) {
              thread_local std::vector<float> deq;
              deq.resize(static_cast<size_t>(k));
              dequantize_row(type, wrow, deq.data(), k);
              const auto* drow = reinterpret_cast<const uint8_t*>(deq.data());
              for (int64_t t = tb; t < te; ++t)
                out[t * out_stride + r + i] = dot_float_scalar(GgmlType::F32, drow, x + t * x_stride, k);
            } else if (is_kquant(type)) {
              const int64_t nb = k / 256;
              unpacked.resize(static_cast<size_t>(nb));
              for (int64_t b = 0; b < nb; ++b) unpack_k_scalar(type, wrow + b * (row_bytes / nb), &unpacked[b]);
              for (int64_t t = tb; t < te; ++t)
                out[t * out_stride + r + i] = dot_k_scalar(
                    unpacked.data(), reinterpret_cast<const ActQ8K*>(abuf + t * act_row_bytes), nb);
            } else if (is_legacy(type)) {
              for (int64_t t = tb; t < te; ++t)
                out[t * out_stride + r + i] = dot_legacy_scalar(
                    type, wrow, reinterpret_cast<const ActQ8*>(abuf + t * act_row_bytes), k / 32);
            } else {
              for (int64_t t = tb; t < te; ++t)
                out[t * out_stride + r + i] = dot_float_scalar(type, wrow, x + t * x_stride, k);
            }
          }
          continue;
        }
        const uint8_t* wrows[kMaxR];
        for (int i = 0; i < rr; ++i) wrows[i] = wbase + (r + i) * wstride;
        const UnpackedK* urows[kMaxR];
        if (int_path && is_kquant(type)) {
          const int64_t nb = k / 256;
          const int64_t blk_bytes = row_bytes / nb;
          unpacked.resize(static_cast<size_t>(nb * kMaxR));
          for (int i = 0; i < rr; ++i) {
            for (int64_t b = 0; b < nb; ++b) unpack_k_avx2(type, wrows[i] + b * blk_bytes, &unpacked[i * nb + b]);
            urows[i] = unpacked.data() + i * nb;
          }
        }
        // F16/BF16 rows shared by several token tiles: convert them to f32 once (exact, so the
        // F32 kernel gives the same bits as the F16/BF16 kernel would).
        const bool f16_rows_as_f32 =
            deq_rows || ((type == GgmlType::F16 || type == GgmlType::BF16) && te - tb > shape.t);
        const uint8_t* f32rows[kMaxR];
        if (deq_rows) {
          for (int i = 0; i < rr; ++i)
            f32rows[i] = reinterpret_cast<const uint8_t*>(deq_chunk.data() + (r + i - r0) * k);
        } else if (f16_rows_as_f32) {
          thread_local std::vector<float> conv;
          conv.resize(static_cast<size_t>(k * kMaxR));
          for (int i = 0; i < rr; ++i) {
            convert_row_avx2(type, wrows[i], conv.data() + i * k, k);
            f32rows[i] = reinterpret_cast<const uint8_t*>(conv.data() + i * k);
          }
        }
        for (int64_t t = tb; t < te; t += shape.t) {
          const int tt = static_cast<int>(std::min<int64_t>(shape.t, te - t));
          float* o = out + t * out_stride + r;
          if (int_path && is_legacy(type)) {
            const ActQ8* arows[kMaxT];
            const float* srows[kMaxT];
            for (int j = 0; j < tt; ++j) {
              arows[j] = reinterpret_cast<const ActQ8*>(abuf + (t + j) * act_row_bytes);
              srows[j] = reinterpret_cast<const float*>(arows[j] + k / 32);
            }
            legacy_fn(type, rr, tt)(wrows, arows, srows, k / 32, o, out_stride);
          } else if (int_path) {
            const ActQ8K* arows[kMaxT];
            for (int j = 0; j < tt; ++j) arows[j] = reinterpret_cast<const ActQ8K*>(abuf + (t + j) * act_row_bytes);
            k_fn(rr, tt)(urows, arows, k / 256, o, out_stride);
          } else {
            const float* xrows[kMaxT];
            for (int j = 0; j < tt; ++j) xrows[j] = x + (t + j) * x_stride;
            if (f16_rows_as_f32) {
              float_fn(GgmlType::F32, rr, tt)(f32rows, xrows, k, o, out_stride);
            } else {
              float_fn(type, rr, tt)(wrows, xrows, k, o, out_stride);
            }
          }
        }
      }
    }
  });
  add_bias();
}

}  // namespace assay
