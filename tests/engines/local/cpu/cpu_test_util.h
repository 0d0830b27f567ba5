// Shared helpers for the CPU backend tests: random data and spec-level reference decoders written
// from docs (../shared/reference/gguf-and-quantization.md §4), independent of quants.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engines/local/cpu/quants.h"
#include "engines/local/ggml_types.h"

namespace assay::testing_cpu {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// nt activation rows of stride xs (k >= 512 used values each) for testing activation quantizers:
// random values in [-3, 3], except that row 1 starts with a block of 256 zeros (scale 0) and then
// 256 values whose products with the inverse scale land on m + 0.5 exactly (their amax is 127, so
// the scale is 1 for 256-blocks and for the 32-block holding the 127): those must round to even.
inline std::vector<float> activation_probe_rows(int nt, int64_t xs, uint32_t seed) {
  std::vector<float> x = random_floats(static_cast<size_t>(nt * xs), seed, -3.0f, 3.0f);
  if (nt < 2) return x;
  std::fill(x.begin() + xs, x.begin() + xs + 256, 0.0f);
  for (int j = 0; j < 256; ++j)
    x[static_cast<size_t>(xs + 256 + j)] = j == 7 ? 127.0f : static_cast<float>(j % 50 - 25) + 0.5f;
  return x;
}

inline std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng() & 0xFF);
  return v;
}

// Spec-level f16 decode: sign * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
inline float ref_half(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 0) {
    v = std::ldexp(static_cast<double>(m), -24);
  } else if (e == 31) {
    v = m ? NAN : INFINITY;
  } else {
    v = std::ldexp(1.0 + m / 1024.0, e - 15);
  }
  return static_cast<float>(s ? -v : v);
}

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Value v (0..255) of a Q4_K/Q5_K block, decoded straight from the spec tables.
inline void ref_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Reference dequantization of one row of k values (bytes as stored in GGUF).
inline std::vector<float> ref_dequant(GgmlType type, const uint8_t* row, int64_t k) {
  std::vector<float> y(static_cast<size_t>(k));
  switch (type) {
    case GgmlType::F32: std::memcpy(y.data(), row, static_cast<size_t>(k) * 4); break;
    case GgmlType::F16:
      for (int64_t i = 0; i < k; ++i) y[i] = ref_half(rd16(row + 2 * i));
      break;
    case GgmlType::BF16:
      for (int64_t i = 0; i < k; ++i) {
        uint32_t u = static_cast<uint32_t>(rd16(row + 2 * i)) << 16;
        std::memcpy(&y[i], &u, 4);
      }
      break;
    case GgmlType::Q4_0:
    case GgmlType::Q4_1: {
      const bool one = type == GgmlType::Q4_1;
      const int bb = one ? 20 : 18;
      for (int64_t b = 0; b < k / 32; ++b) {
        const uint8_t* p = row + b * bb;
        const float d = ref_half(rd16(p));
        const float m = one ? ref_half(rd16(p + 2)) : 0.0f;
        const uint8_t* qs = p + (one ? 4 : 2);
        for (int v = 0; v < 32; ++v) {
          const int q = v < 16 ? (qs[v] & 15) : (qs[v - 16] >> 4);
          y[b * 32 + v] = one ? q * d + m : (q - 8) * d;
        }
      }
      break;
    }
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < k / 32; ++b) {
        const uint8_t* p = row + b * 34;
        const float d = ref_half(rd16(p));
        for (int v = 0; v < 32; ++v) y[b * 32 + v] = static_cast<int8_t>(p[2 + v]) * d;
      }
      break;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K: {
      const bool five = type == GgmlType::Q5_K;
      const int bb = five ? 176 : 144;
      for (int64_t b = 0; b < k / 256; ++b) {
        const uint8_t* p = row + b * bb;
        const float d = ref_half(rd16(p)), dmin = ref_half(rd16(p + 2));
        const uint8_t* scales = p + 4;
        const uint8_t* qh = p + 16;
        const uint8_t* qs = p + (five ? 48 : 16);
        for (int v = 0; v < 256; ++v) {
          const int c = v / 64, w = v % 64, l = w % 32, hi = w >= 32;
          const int j = 2 * c + hi;
          int q = hi ? (qs[32 * c + l] >> 4) : (qs[32 * c + l] & 15);
          if (five && ((qh[l] >> (2 * c + hi)) & 1)) q += 16;
          int sc, m;
          ref_scale_min(scales, j, &sc, &m);
          const float d1 = d * sc, m1 = dmin * m;
          y[b * 256 + v] = d1 * q - m1;
        }
      }
      break;
    }
    case GgmlType::Q6_K:
      for (int64_t b = 0; b < k / 256; ++b) {
        const uint8_t* p = row + b * 210;
        const uint8_t* ql = p;
        const uint8_t* qh = p + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192);
        const float d = ref_half(rd16(p + 208));
        for (int v = 0; v < 256; ++v) {
          const int h = v / 128, w = v % 128, part = w / 32, l = w % 32;
          const uint8_t qlb = ql[64 * h + l + (part & 1) * 32];
          const int lo = (part < 2) ? (qlb & 15) : (qlb >> 4);
          const int hb = (qh[32 * h + l] >> (2 * part)) & 3;
          const int q = (lo | (hb << 4)) - 32;
          y[b * 256 + v] = d * sc[8 * h + w / 16] * q;
        }
      }
      break;
    default: break;
  }
  return y;
}

inline int64_t block_elems(GgmlType t) {
  return ggml_type_traits(static_cast<uint32_t>(t))->block_elems;
}

// A random weight matrix [n rows, k] of `type`: random floats quantized with quantize_row.
struct Weights {
  GgmlType type;
  int64_t k, n;
  size_t row_bytes;
  std::vector<uint8_t> data;
  const uint8_t* row(int64_t r) const { return data.data() + r * row_bytes; }
};

inline Weights make_weights(GgmlType type, int64_t n, int64_t k, uint32_t seed) {
  Weights w{type, k, n, static_cast<size_t>(ggml_row_bytes(type, k)), {}};
  w.data.resize(w.row_bytes * static_cast<size_t>(n));
  auto f = random_floats(static_cast<size_t>(n * k), seed);
  for (int64_t r = 0; r < n; ++r) quantize_row(type, f.data() + r * k, w.data.data() + r * w.row_bytes, k);
  return w;
}

}  // namespace assay::testing_cpu
