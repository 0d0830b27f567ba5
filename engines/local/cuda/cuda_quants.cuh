// Device-side GGUF block decoding shared by embed, the fused GEMV and the BF16 dequantizer.
//
// Every type is read in "chunks" of 8 values that one thread decodes: values v[0..4) belong at
// row positions p0..p0+3 and v[4..8) at p1..p1+3. The chunk shapes follow each format's nibble
// layout so that the 32 lanes of a warp read consecutive bytes of a block (coalesced), and the
// positions always come in aligned runs of 4 so activations can be read as float4.
// Products are rounded separately (fmul_rn) where ggml's reference does "d * q - m" so that
// nvcc's FMA contraction does not make dequantized values differ from quants.cpp.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

// `#pragma unroll` for the device pass only: the host compiler (these functions are also host
// code) warns about it.
#if defined(__CUDA_ARCH__)
#define ASSAY_UNROLL _Pragma("unroll")
#else
#define ASSAY_UNROLL
#endif

namespace assay::cuda {

// The device intrinsics, and their IEEE meaning in host code: tests/engines/local/cuda/
// cuda_host_test.cpp runs the decoders and the GEMV lane steps on the CPU, where CI can check
// them (built with -ffp-contract=off, so products stay separately rounded as on the device).
__host__ __device__ __forceinline__ float fmul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
__host__ __device__ __forceinline__ float fadd_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
__host__ __device__ __forceinline__ float fsub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
__host__ __device__ __forceinline__ float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
#endif
}

template <class T>
__host__ __device__ __forceinline__ T ldg(const T* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}

__host__ __device__ __forceinline__ float h2f(const uint8_t* p) {
  const uint16_t u = static_cast<uint16_t>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(u));
}

__host__ __device__ __forceinline__ void scale_min_k4(int j, const uint8_t* q, int* d, int* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Quantized formats: kQK values per block of kBytes, kChunks chunks per block.
struct DqQ4_0 {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 18, kChunks = 4;
  __host__ __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b);
    const uint8_t* qs = b + 2 + 4 * c;
    ASSAY_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int q = qs[i];
      v[i] = static_cast<float>((q & 15) - 8) * d;
      v[4 + i] = static_cast<float>((q >> 4) - 8) * d;
    }
    *p0 = 4 * c;
    *p1 = 16 + 4 * c;
  }
};

struct DqQ4_1 {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 20, kChunks = 4;
  __host__ __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b), m = h2f(b + 2);
    const uint32_t qs = *reinterpret_cast<const uint32_t*>(b + 4 + 4 * c);
    ASSAY_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int q = (qs >> (8 * i)) & 0xFF;
      v[i] = fadd_rn(fmul_rn(static_cast<float>(q & 15), d), m);
      v[4 + i] = fadd_rn(fmul_rn(static_cast<float>(q >> 4), d), m);
    }
    *p0 = 4 * c;
    *p1 = 16 + 4 * c;
  }
};

struct DqQ8_0 {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 34, kChunks = 4;
  __host__ __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b);
    const uint16_t* qs = reinterpret_cast<const uint16_t*>(b + 2 + 8 * c);
    ASSAY_UNROLL
    for (int i = 0; i < 4; ++i) {
      const uint16_t u = qs[i];
      v[2 * i] = static_cast<float>(static_cast<int8_t>(u & 0xFF)) * d;
      v[2 * i + 1] = static_cast<float>(static_cast<int8_t>(u >> 8)) * d;
    }
    *p0 = 8 * c;
    *p1 = 8 * c + 4;
  }
};

struct DqQ4_K {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 256, kBytes = 144, kChunks = 32;
  __host__ __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b), dmin = h2f(b + 2);
    const int c4 = c >> 3, l0 = 4 * (c & 7);
    int sc0, m0, sc1, m1;
    scale_min_k4(2 * c4, b + 4, &sc0, &m0);
    scale_min_k4(2 * c4 + 1, b + 4, &sc1, &m1);
    const float d1 = d * sc0, mm1 = dmin * m0, d2 = d * sc1, mm2 = dmin * m1;
    const uint32_t qs = *reinterpret_cast<const uint32_t*>(b + 16 + 32 * c4 + l0);
    ASSAY_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int q = (qs >> (8 * i)) & 0xFF;
      v[i] = fsub_rn(fmul_rn(d1, static_cast<float>(q & 15)), mm1);
      v[4 + i] = fsub_rn(fmul_rn(d2, static_cast<float>(q >> 4)), mm2);
    }
    *p0 = 64 * c4 + l0;
    *p1 = 64 * c4 + 32 + l0;
  }
};

struct DqQ5_K {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 256, kBytes = 176, kChunks = 32;
  __host__ __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b), dmin = h2f(b + 2);
    const int c4 = c >> 3, l0 = 4 * (c & 7);
    int sc0, m0, sc1, m1;
    scale_min_k4(2 * c4, b + 4, &sc0, &m0);
    scale_min_k4(2 * c4 + 1, b + 4, &sc1, &m1);
    const float d1 = d * sc0, mm1 = dmin * m0, d2 = d * sc1, mm2 = dmin * m1;
    const uint32_t qh = *reinterpret_cast<const uint32_t*>(b + 16 + l0);
    const uint32_t qs = *reinterpret_cast<const uint32_t*>(b + 48 + 32 * c4 + l0);
    ASSAY_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int q = (qs >> (8 * i)) & 0xFF;
      const int h = (qh >> (8 * i)) & 0xFF;
      const int lo = (q & 15) + ((h >> (2 * c4)) & 1 ? 16 : 0);
      const int hi = (q >> 4) + ((h >> (2 * c4 + 1)) & 1 ? 16 : 0);
      v[i] = fsub_rn(fmul_rn(d1, static_cast<float>(lo)), mm1);
      v[4 + i] = fsub_rn(fmul_rn(d2, static_cast<float>(hi)), mm2);
    }
    *p0 = 64 * c4 + l0;
    *p1 = 64 * c4 + 32 + l0;
  }
};

struct DqQ6_K {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 256, kBytes = 210, kChunks = 32;
  __host__ __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b + 208);
    const int h = c >> 4, k = c & 15, g = k >> 3, l0 = 4 * (k & 7);
    const uint8_t* ql = b + 64 * h + 32 * g + l0;
    const uint8_t* qh = b + 128 + 32 * h + l0;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * h;
    const int e0 = 32 * g + l0;  // position within the 128-half of the low-nibble run
    const float s0 = d * static_cast<float>(sc[e0 / 16]);
    const float s1 = d * static_cast<float>(sc[(e0 + 64) / 16]);
    ASSAY_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int lb = ql[i], hb = qh[i];
      const int q0 = ((lb & 15) | (((hb >> (2 * g)) & 3) << 4)) - 32;
      const int q1 = ((lb >> 4) | (((hb >> (2 * g + 4)) & 3) << 4)) - 32;
      v[i] = s0 * static_cast<float>(q0);
      v[4 + i] = s1 * static_cast<float>(q1);
    }
    *p0 = 128 * h + e0;
    *p1 = 128 * h + e0 + 64;
  }
};

// Plain formats: a chunk is 8 consecutive values; the last chunk of a row may be partial.
struct DqF32 {
  static constexpr bool kPlain = true;
  static constexpr int kElem = 4;
  __host__ __device__ static float one(const uint8_t* p) { return *reinterpret_cast<const float*>(p); }
  __host__ __device__ static void eight(const uint8_t* p, float v[8]) {
    const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 16);
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
  }
};
struct DqF16 {
  static constexpr bool kPlain = true;
  static constexpr int kElem = 2;
  __host__ __device__ static float one(const uint8_t* p) { return h2f(p); }
  __host__ __device__ static void eight(const uint8_t* p, float v[8]) {
#if defined(__CUDA_ARCH__)
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const __half2* h = reinterpret_cast<const __half2*>(&u);
    ASSAY_UNROLL
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      v[2 * i] = f.x;
      v[2 * i + 1] = f.y;
    }
#else  // the type pun above is not defined behaviour for g++, which folded it to zeros
    for (int i = 0; i < 8; ++i) v[i] = h2f(p + 2 * i);
#endif
  }
};
struct DqBF16 {
  static constexpr bool kPlain = true;
  static constexpr int kElem = 2;
  __host__ __device__ static float one(const uint8_t* p) {
    return bits_to_float(static_cast<uint32_t>(*reinterpret_cast<const uint16_t*>(p)) << 16);
  }
  __host__ __device__ static void eight(const uint8_t* p, float v[8]) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
    ASSAY_UNROLL
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = bits_to_float(w[i] << 16);
      v[2 * i + 1] = bits_to_float(w[i] & 0xFFFF0000u);
    }
  }
};

// Decodes chunk i of a row (all types). Returns the number of valid values (8 except in the
// tail chunk of a plain row whose length is not a multiple of 8). `vec_ok`: plain rows are
// 16-byte aligned, so full chunks may use vector loads.
template <class D>
__host__ __device__ __forceinline__ int get_chunk(const uint8_t* row, int64_t i, int64_t ne0, bool vec_ok,
                                         float v[8], int* p0, int* p1) {
  if constexpr (D::kPlain) {
    const int64_t e = 8 * i;
    *p0 = static_cast<int>(e);
    *p1 = static_cast<int>(e + 4);
    const uint8_t* p = row + e * D::kElem;
    if (vec_ok && e + 8 <= ne0) {
      D::eight(p, v);
      return 8;
    }
    const int n = static_cast<int>(ne0 - e < 8 ? ne0 - e : 8);
    ASSAY_UNROLL
    for (int k = 0; k < 8; ++k) v[k] = k < n ? D::one(p + k * D::kElem) : 0.0f;
    return n;
  } else {
    const int64_t blk = i / D::kChunks;
    const int c = static_cast<int>(i % D::kChunks);
    D::get(row + blk * D::kBytes, c, v, p0, p1);
    *p0 += static_cast<int>(blk * D::kQK);
    *p1 += static_cast<int>(blk * D::kQK);
    return 8;
  }
}

template <class D>
__host__ __device__ constexpr int64_t chunks_per_row(int64_t ne0) {
  if constexpr (D::kPlain) return (ne0 + 7) / 8;
  else return ne0 / D::kQK * D::kChunks;
}

// Q4_K in the GEMV, 32 values of one row per lane step: one 16-byte load of quants and three
// words of scales. Through the 8-value chunks above a lane spends about 11 load instructions on
// every 4 bytes of quants (the half scales and the packed 6-bit scales byte by byte), which made
// the Q4_K GEMV instruction-bound: as slow as BF16 on the H200 with 3.6x fewer bytes.
// Step i of a row: block i / 8; sub-blocks 2 c4 (low nibbles) and 2 c4 + 1 (high) with
// c4 = (i / 2) % 4; quant bytes 16 hh .. 16 hh + 15 of that pair's 32 (hh = i % 2). Values are
// those of DqQ4_K::get (same rounding), summed in another order.
struct Q4KWide {
  static constexpr int kStepsPerBlock = 8;
};

__host__ __device__ __forceinline__ int byte_of3(uint32_t s0, uint32_t s1, uint32_t s2, int k) {
  const uint32_t w = k < 4 ? s0 : (k < 8 ? s1 : s2);
  return static_cast<int>((w >> (8 * (k & 3))) & 0xFF);
}

// scale_min_k4 for sub-blocks j = 2 c4 and 2 c4 + 1, from the 12 scale bytes of a Q4_K/Q5_K
// block loaded as three words.
__host__ __device__ __forceinline__ void k4_pair_scales(uint32_t s0, uint32_t s1, uint32_t s2, int c4, int* sc0,
                                                        int* mn0, int* sc1, int* mn1) {
  const int j = 2 * c4;
  if (c4 < 2) {
    *sc0 = byte_of3(s0, s1, s2, j) & 63;
    *mn0 = byte_of3(s0, s1, s2, j + 4) & 63;
    *sc1 = byte_of3(s0, s1, s2, j + 1) & 63;
    *mn1 = byte_of3(s0, s1, s2, j + 5) & 63;
  } else {
    *sc0 = (byte_of3(s0, s1, s2, j + 4) & 0xF) | ((byte_of3(s0, s1, s2, j - 4) >> 6) << 4);
    *mn0 = (byte_of3(s0, s1, s2, j + 4) >> 4) | ((byte_of3(s0, s1, s2, j) >> 6) << 4);
    *sc1 = (byte_of3(s0, s1, s2, j + 5) & 0xF) | ((byte_of3(s0, s1, s2, j - 3) >> 6) << 4);
    *mn1 = (byte_of3(s0, s1, s2, j + 5) >> 4) | ((byte_of3(s0, s1, s2, j + 1) >> 6) << 4);
  }
}

// acc[r][t] += sum over step i's 32 values of row wr[r] times x[t * xs + position].
// Rows must be 16-byte aligned (blocks are 144 bytes), as must x rows (xs % 4 == 0).
template <int R, int NT>
__host__ __device__ __forceinline__ void q4k_wide_step(const uint8_t* const* wr, int64_t i,
                                                       const float* x, int64_t xs,
                                                       float (*acc)[NT]) {
  const int64_t blk = i >> 3;
  const int c4 = static_cast<int>((i >> 1) & 3), hh = static_cast<int>(i & 1);
  uint4 q[R];
  float d1[R], m1[R], d2[R], m2[R];
  ASSAY_UNROLL
  for (int r = 0; r < R; ++r) {
    const uint8_t* b = wr[r] + blk * 144;
    q[r] = ldg(reinterpret_cast<const uint4*>(b + 16 + 32 * c4 + 16 * hh));
    const uint32_t dm = ldg(reinterpret_cast<const uint32_t*>(b));
    const uint32_t s0 = ldg(reinterpret_cast<const uint32_t*>(b + 4));
    const uint32_t s1 = ldg(reinterpret_cast<const uint32_t*>(b + 8));
    const uint32_t s2 = ldg(reinterpret_cast<const uint32_t*>(b + 12));
    const float d = __half2float(__ushort_as_half(static_cast<unsigned short>(dm & 0xFFFF)));
    const float dmin = __half2float(__ushort_as_half(static_cast<unsigned short>(dm >> 16)));
    int sc0, mn0, sc1, mn1;
    k4_pair_scales(s0, s1, s2, c4, &sc0, &mn0, &sc1, &mn1);
    d1[r] = d * sc0;
    m1[r] = dmin * mn0;
    d2[r] = d * sc1;
    m2[r] = dmin * mn1;
  }
  const int64_t pos = blk * 256 + 64 * c4 + 16 * hh;
  ASSAY_UNROLL
  for (int g = 0; g < 4; ++g) {
    ASSAY_UNROLL
    for (int t = 0; t < NT; ++t) {
      const float4 a = ldg(reinterpret_cast<const float4*>(x + t * xs + pos + 4 * g));
      const float4 b = ldg(reinterpret_cast<const float4*>(x + t * xs + pos + 32 + 4 * g));
      ASSAY_UNROLL
      for (int r = 0; r < R; ++r) {
        const uint32_t w = g == 0 ? q[r].x : g == 1 ? q[r].y : g == 2 ? q[r].z : q[r].w;
        float lo[4], hi[4];
        ASSAY_UNROLL
        for (int k = 0; k < 4; ++k) {
          const int qb = static_cast<int>((w >> (8 * k)) & 0xFF);
          lo[k] = fsub_rn(fmul_rn(d1[r], static_cast<float>(qb & 15)), m1[r]);
          hi[k] = fsub_rn(fmul_rn(d2[r], static_cast<float>(qb >> 4)), m2[r]);
        }
        acc[r][t] += lo[0] * a.x + lo[1] * a.y + lo[2] * a.z + lo[3] * a.w +
                     hi[0] * b.x + hi[1] * b.y + hi[2] * b.z + hi[3] * b.w;
      }
    }
  }
}

// Runs `body` with D bound to the decoder of `type`; returns false for unsupported types.
#define ASSAY_CUDA_DISPATCH(type, ...)                             \
  [&]() -> bool {                                                     \
    switch (type) {                                                   \
      case GgmlType::F32: { using D = DqF32; __VA_ARGS__; return true; }     \
      case GgmlType::F16: { using D = DqF16; __VA_ARGS__; return true; }     \
      case GgmlType::BF16: { using D = DqBF16; __VA_ARGS__; return true; }   \
      case GgmlType::Q4_0: { using D = DqQ4_0; __VA_ARGS__; return true; }   \
      case GgmlType::Q4_1: { using D = DqQ4_1; __VA_ARGS__; return true; }   \
      case GgmlType::Q8_0: { using D = DqQ8_0; __VA_ARGS__; return true; }   \
      case GgmlType::Q4_K: { using D = DqQ4_K; __VA_ARGS__; return true; }   \
      case GgmlType::Q5_K: { using D = DqQ5_K; __VA_ARGS__; return true; }   \
      case GgmlType::Q6_K: { using D = DqQ6_K; __VA_ARGS__; return true; }   \
      default: return false;                                          \
    }                                                                 \
  }()

}  // namespace assay::cuda
