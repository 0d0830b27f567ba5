// Reference block (de)quantization; see quants.h. Dequantizers follow ggml-quants.c line by line.
#include "engines/local/cpu/quants.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "harness/status.h"

namespace assay {

// ---------------------------------------------------------------------------------------------
// Dequantization (ggml-quants.c order of operations).

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t k) {
  const int64_t nb = k / 32;
  for (int64_t i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < 16; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * 32 + j] = x0 * d;
      y[i * 32 + j + 16] = x1 * d;
    }
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t k) {
  const int64_t nb = k / 32;
  for (int64_t i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < 16; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F);
      const int x1 = (x[i].qs[j] >> 4);
      y[i * 32 + j] = x0 * d + m;
      y[i * 32 + j + 16] = x1 * d + m;
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t k) {
  const int64_t nb = k / 32;
  for (int64_t i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < 32; ++j) y[i * 32 + j] = x[i].qs[j] * d;
  }
}

void dequantize_row_q4_k(const BlockQ4_K* x, float* y, int64_t k) {
  const int64_t nb = k / 256;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t* q = x[i].qs;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < 256; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void dequantize_row_q5_k(const BlockQ5_K* x, float* y, int64_t k) {
  const int64_t nb = k / 256;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < 256; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void dequantize_row_q6_k(const BlockQ6_K* x, float* y, int64_t k) {
  const int64_t nb = k / 256;
  for (int64_t i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < 256; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = static_cast<int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = static_cast<int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

void dequantize_row_f16(const uint16_t* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k; ++i) y[i] = fp16_to_fp32(x[i]);
}

void dequantize_row_bf16(const uint16_t* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k; ++i) y[i] = bf16_to_fp32(x[i]);
}

bool cpu_supports_type(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q4_0:
    case GgmlType::Q4_1: case GgmlType::Q8_0: case GgmlType::Q4_K: case GgmlType::Q5_K:
    case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

void dequantize_row(GgmlType type, const void* x, float* y, int64_t k) {
  switch (type) {
    case GgmlType::F32: std::memcpy(y, x, static_cast<size_t>(k) * 4); return;
    case GgmlType::F16: dequantize_row_f16(static_cast<const uint16_t*>(x), y, k); return;
    case GgmlType::BF16: dequantize_row_bf16(static_cast<const uint16_t*>(x), y, k); return;
    case GgmlType::Q4_0: dequantize_row_q4_0(static_cast<const BlockQ4_0*>(x), y, k); return;
    case GgmlType::Q4_1: dequantize_row_q4_1(static_cast<const BlockQ4_1*>(x), y, k); return;
    case GgmlType::Q8_0: dequantize_row_q8_0(static_cast<const BlockQ8_0*>(x), y, k); return;
    case GgmlType::Q4_K: dequantize_row_q4_k(static_cast<const BlockQ4_K*>(x), y, k); return;
    case GgmlType::Q5_K: dequantize_row_q5_k(static_cast<const BlockQ5_K*>(x), y, k); return;
    case GgmlType::Q6_K: dequantize_row_q6_k(static_cast<const BlockQ6_K*>(x), y, k); return;
    default: ASSAY_CHECK_MSG(false, "dequantize_row: unsupported type");
  }
}

// ---------------------------------------------------------------------------------------------
// Quantization. Q4_0/Q4_1/Q8_0: ggml's *_ref quantizers.

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t k) {
  const int64_t nb = k / 32;
  for (int64_t i = 0; i < nb; i++) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
      const float v = x[i * 32 + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
      const float x0 = x[i * 32 + j] * id;
      const float x1 = x[i * 32 + 16 + j] * id;
      const uint8_t xi0 = std::min<int8_t>(15, static_cast<int8_t>(x0 + 8.5f));
      const uint8_t xi1 = std::min<int8_t>(15, static_cast<int8_t>(x1 + 8.5f));
      y[i].qs[j] = xi0 | (xi1 << 4);
    }
  }
}

void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t k) {
  const int64_t nb = k / 32;
  for (int64_t i = 0; i < nb; i++) {
    float min = INFINITY, max = -INFINITY;
    for (int j = 0; j < 32; j++) {
      min = std::min(min, x[i * 32 + j]);
      max = std::max(max, x[i * 32 + j]);
    }
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    for (int j = 0; j < 16; ++j) {
      const float x0 = (x[i * 32 + j] - min) * id;
      const float x1 = (x[i * 32 + 16 + j] - min) * id;
      const uint8_t xi0 = std::min<int8_t>(15, static_cast<int8_t>(x0 + 0.5f));
      const uint8_t xi1 = std::min<int8_t>(15, static_cast<int8_t>(x1 + 0.5f));
      y[i].qs[j] = xi0 | (xi1 << 4);
    }
  }
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t k) {
  const int64_t nb = k / 32;
  for (int64_t i = 0; i < nb; i++) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[i * 32 + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < 32; ++j) y[i].qs[j] = static_cast<int8_t>(std::roundf(x[i * 32 + j] * id));
  }
}

namespace {

// Simple asymmetric K-quant of one 256-block: per 32-sub-block scale s_j = (max-min)/qmax and
// min m_j = -min (min clamped to <= 0), both quantized to 6 bits against the super-block d/dmin.
template <int kQMax>
void quantize_k_asym(const float* x, float* d_out, float* dmin_out, uint8_t sc[8], uint8_t mn[8],
                     uint8_t q[256]) {
  float scales[8], mins[8];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    float lo = 0.0f, hi = 0.0f;  // include 0 so min <= 0 <= max
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * j + l]);
      hi = std::max(hi, x[32 * j + l]);
    }
    scales[j] = (hi - lo) / kQMax;
    mins[j] = -lo;
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float d = fp16_to_fp32(fp32_to_fp16(max_scale / 63.0f));
  const float dmin = fp16_to_fp32(fp32_to_fp16(max_min / 63.0f));
  *d_out = d;
  *dmin_out = dmin;
  for (int j = 0; j < 8; ++j) {
    int s = d > 0 ? static_cast<int>(std::nearbyint(scales[j] / d)) : 0;
    int m = dmin > 0 ? static_cast<int>(std::nearbyint(mins[j] / dmin)) : 0;
    s = std::clamp(s, 0, 63);
    m = std::clamp(m, 0, 63);
    sc[j] = static_cast<uint8_t>(s);
    mn[j] = static_cast<uint8_t>(m);
    const float ds = d * s, dm = dmin * m;
    for (int l = 0; l < 32; ++l) {
      int v = ds > 0 ? static_cast<int>(std::nearbyint((x[32 * j + l] + dm) / ds)) : 0;
      q[32 * j + l] = static_cast<uint8_t>(std::clamp(v, 0, kQMax));
    }
  }
}

// Inverse of get_scale_min_k4.
void pack_scale_min_k4(const uint8_t sc[8], const uint8_t mn[8], uint8_t out[12]) {
  for (int j = 0; j < 4; ++j) {
    out[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
    out[j + 4] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6);
    out[j + 8] = (sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4);
  }
}

}  // namespace

void quantize_row_q4_k(const float* x, BlockQ4_K* y, int64_t k) {
  for (int64_t i = 0; i < k / 256; ++i) {
    float d, dmin;
    uint8_t sc[8], mn[8], q[256];
    quantize_k_asym<15>(x + 256 * i, &d, &dmin, sc, mn, q);
    y[i].d = fp32_to_fp16(d);
    y[i].dmin = fp32_to_fp16(dmin);
    pack_scale_min_k4(sc, mn, y[i].scales);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        y[i].qs[32 * c + l] = q[64 * c + l] | (q[64 * c + 32 + l] << 4);
  }
}

void quantize_row_q5_k(const float* x, BlockQ5_K* y, int64_t k) {
  for (int64_t i = 0; i < k / 256; ++i) {
    float d, dmin;
    uint8_t sc[8], mn[8], q[256];
    quantize_k_asym<31>(x + 256 * i, &d, &dmin, sc, mn, q);
    y[i].d = fp32_to_fp16(d);
    y[i].dmin = fp32_to_fp16(dmin);
    pack_scale_min_k4(sc, mn, y[i].scales);
    std::memset(y[i].qh, 0, 32);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        y[i].qs[32 * c + l] = (lo & 0xF) | ((hi & 0xF) << 4);
        if (lo & 16) y[i].qh[l] |= static_cast<uint8_t>(1 << (2 * c));
        if (hi & 16) y[i].qh[l] |= static_cast<uint8_t>(1 << (2 * c + 1));
      }
    }
  }
}

void quantize_row_q6_k(const float* x, BlockQ6_K* y, int64_t k) {
  for (int64_t i = 0; i < k / 256; ++i) {
    const float* xb = x + 256 * i;
    float gscale[16];
    float max_abs_scale = 0.0f;
    for (int g = 0; g < 16; ++g) {
      float amax = 0.0f, vmax = 0.0f;
      for (int l = 0; l < 16; ++l) {
        if (std::fabs(xb[16 * g + l]) > amax) {
          amax = std::fabs(xb[16 * g + l]);
          vmax = xb[16 * g + l];
        }
      }
      gscale[g] = vmax / -32.0f;  // like Q4_0: the extreme maps to -32
      max_abs_scale = std::max(max_abs_scale, std::fabs(gscale[g]));
    }
    const float d = fp16_to_fp32(fp32_to_fp16(max_abs_scale / 127.0f));
    y[i].d = fp32_to_fp16(d);
    int8_t sc[16];
    uint8_t q[256];
    for (int g = 0; g < 16; ++g) {
      const int s = d > 0 ? std::clamp(static_cast<int>(std::nearbyint(gscale[g] / d)), -127, 127) : 0;
      sc[g] = static_cast<int8_t>(s);
      y[i].scales[g] = sc[g];
      const float ds = d * s;
      for (int l = 0; l < 16; ++l) {
        const int v = ds != 0 ? static_cast<int>(std::nearbyint(xb[16 * g + l] / ds)) : 0;
        q[16 * g + l] = static_cast<uint8_t>(std::clamp(v, -32, 31) + 32);
      }
    }
    // Pack per §4.6: half h, l in 0..31: values l, l+32, l+64, l+96 of the half.
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qq = q + 128 * h;
      uint8_t* ql = y[i].ql + 64 * h;
      uint8_t* qh = y[i].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = (qq[l] & 0xF) | ((qq[l + 64] & 0xF) << 4);
        ql[l + 32] = (qq[l + 32] & 0xF) | ((qq[l + 96] & 0xF) << 4);
        qh[l] = static_cast<uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) |
                                     ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
      }
    }
  }
}

void quantize_row(GgmlType type, const float* x, void* y, int64_t k) {
  switch (type) {
    case GgmlType::F32: std::memcpy(y, x, static_cast<size_t>(k) * 4); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < k; ++i) static_cast<uint16_t*>(y)[i] = fp32_to_fp16(x[i]);
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < k; ++i) static_cast<uint16_t*>(y)[i] = fp32_to_bf16(x[i]);
      return;
    case GgmlType::Q4_0: quantize_row_q4_0(x, static_cast<BlockQ4_0*>(y), k); return;
    case GgmlType::Q4_1: quantize_row_q4_1(x, static_cast<BlockQ4_1*>(y), k); return;
    case GgmlType::Q8_0: quantize_row_q8_0(x, static_cast<BlockQ8_0*>(y), k); return;
    case GgmlType::Q4_K: quantize_row_q4_k(x, static_cast<BlockQ4_K*>(y), k); return;
    case GgmlType::Q5_K: quantize_row_q5_k(x, static_cast<BlockQ5_K*>(y), k); return;
    case GgmlType::Q6_K: quantize_row_q6_k(x, static_cast<BlockQ6_K*>(y), k); return;
    default: ASSAY_CHECK_MSG(false, "quantize_row: unsupported type");
  }
}

// ---------------------------------------------------------------------------------------------
// Activation quantization.

namespace {
// ggml stores the activation block scale (and Q8_1's d * sum) as fp16 and multiplies with the
// rounded values; doing the same is what makes our logits match llama.cpp's (a 5e-4 relative
// difference per block otherwise, which 30 layers grow into KL ~4e-3 on SmolLM2-135M).
// For Q8_0 semantics (Q4_0 weights) the sum term is exact: d (11 significant bits) times the
// integer sum (at most 12 bits) fits a float's mantissa.
inline void set_act_q8_scales(ActQ8* y, float d, int sum, bool q8_1) {
  y->d = fp16_to_fp32(fp32_to_fp16(d));
  y->s8 = (q8_1 ? fp16_to_fp32(fp32_to_fp16(d * static_cast<float>(sum)))
                : y->d * static_cast<float>(sum)) * 0.125f;
}
}  // namespace

void quantize_act_q8_scalar(const float* x, ActQ8* y, int64_t k, bool q8_1) {
  for (int64_t i = 0; i < k / 32; ++i) {
    const float* xb = x + 32 * i;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(xb[j] * id));
      y[i].qs[j] = static_cast<int8_t>(q);
      sum += q;
    }
    set_act_q8_scales(&y[i], d, sum, q8_1);
  }
}

void quantize_act_q8k_scalar(const float* x, ActQ8K* y, int64_t k) {
  for (int64_t i = 0; i < k / 256; ++i) {
    const float* xb = x + 256 * i;
    float amax = 0.0f;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 256; ++j) y[i].qs[j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += y[i].qs[16 * g + l];
      y[i].bsums[g] = static_cast<int16_t>(s);
    }
    y[i].d = d;
  }
}

namespace {

#define ASSAY_AVX2 __attribute__((target("avx2,fma,f16c")))

ASSAY_AVX2 inline float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Quantizes 32 floats with inverse scale id into 32 int8 (returned in one __m256i, in order)
// and returns the per-lane int32 sums of the q's in *sum (8 lanes).
ASSAY_AVX2 inline __m256i quant32(const float* x, __m256 vid, __m256i* sum) {
  __m256i q[4];
  for (int j = 0; j < 4; ++j) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * j), vid);
    v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q[j] = _mm256_cvtps_epi32(v);
  }
  *sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
  // Pack 32-bit -> 16-bit -> 8-bit; packs interleave 128-bit lanes, fix with a permute.
  __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
  __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
  __m256i p = _mm256_packs_epi16(p01, p23);
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

ASSAY_AVX2 inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

ASSAY_AVX2 void quantize_act_q8_avx2(const float* x, ActQ8* y, int64_t k, bool q8_1) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < k / 32; ++i) {
    const float* xb = x + 32 * i;
    __m256 m = _mm256_andnot_ps(sign_mask, _mm256_loadu_ps(xb));
    for (int j = 1; j < 4; ++j) m = _mm256_max_ps(m, _mm256_andnot_ps(sign_mask, _mm256_loadu_ps(xb + 8 * j)));
    const float amax = hmax_ps(m);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    __m256i vsum;
    __m256i q = quant32(xb, _mm256_set1_ps(id), &vsum);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), q);
    set_act_q8_scales(&y[i], d, hsum_epi32(vsum), q8_1);
  }
}

ASSAY_AVX2 void quantize_act_q8k_avx2(const float* x, ActQ8K* y, int64_t k) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < k / 256; ++i) {
    const float* xb = x + 256 * i;
    __m256 m = _mm256_andnot_ps(sign_mask, _mm256_loadu_ps(xb));
    for (int j = 1; j < 32; ++j) m = _mm256_max_ps(m, _mm256_andnot_ps(sign_mask, _mm256_loadu_ps(xb + 8 * j)));
    const float amax = hmax_ps(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    for (int c = 0; c < 8; ++c) {
      __m256i vsum;
      __m256i q = quant32(xb + 32 * c, vid, &vsum);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + 32 * c), q);
    }
    for (int g = 0; g < 16; ++g) {
      // Sum 16 int8 via sign-extension to 16 bit and madd.
      __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[i].qs + 16 * g));
      __m256i w = _mm256_cvtepi8_epi16(b);
      __m256i s = _mm256_madd_epi16(w, _mm256_set1_epi16(1));
      y[i].bsums[g] = static_cast<int16_t>(hsum_epi32(s));
    }
    y[i].d = d;
  }
}

}  // namespace

void quantize_act_q8(const float* x, ActQ8* y, int64_t k, bool use_avx2, bool q8_1) {
  ASSAY_CHECK(k % 32 == 0);
  if (use_avx2) {
    quantize_act_q8_avx2(x, y, k, q8_1);
  } else {
    quantize_act_q8_scalar(x, y, k, q8_1);
  }
}

void quantize_act_q8k(const float* x, ActQ8K* y, int64_t k, bool use_avx2) {
  ASSAY_CHECK(k % 256 == 0);
  if (use_avx2) {
    quantize_act_q8k_avx2(x, y, k);
  } else {
    quantize_act_q8k_scalar(x, y, k);
  }
}

}  // namespace assay
