// Device-side GGUF block decoding shared by embed, the fused GEMV and the BF16 dequantizer.
//
// Every type is read in "chunks" of 8 values that one thread decodes: values v[0..4) belong at
// row positions p0..p0+3 and v[4..8) at p1..p1+3. The chunk shapes follow each format's nibble
// layout so that the 32 lanes of a warp read consecutive bytes of a block (coalesced), and the
// positions always come in aligned runs of 4 so activations can be read as float4.
// Products are rounded separately (__fmul_rn) where ggml's reference does "d * q - m" so that
// nvcc's FMA contraction does not make dequantized values differ from quants.cpp.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace assay::cuda {

__device__ __forceinline__ float h2f(const uint8_t* p) {
  const uint16_t u = static_cast<uint16_t>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(u));
}

__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* q, int* d, int* m) {
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
  __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b);
    const uint8_t* qs = b + 2 + 4 * c;
#pragma unroll
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
  __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b), m = h2f(b + 2);
    const uint32_t qs = *reinterpret_cast<const uint32_t*>(b + 4 + 4 * c);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int q = (qs >> (8 * i)) & 0xFF;
      v[i] = __fadd_rn(__fmul_rn(static_cast<float>(q & 15), d), m);
      v[4 + i] = __fadd_rn(__fmul_rn(static_cast<float>(q >> 4), d), m);
    }
    *p0 = 4 * c;
    *p1 = 16 + 4 * c;
  }
};

struct DqQ8_0 {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 32, kBytes = 34, kChunks = 4;
  __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b);
    const uint16_t* qs = reinterpret_cast<const uint16_t*>(b + 2 + 8 * c);
#pragma unroll
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
  __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b), dmin = h2f(b + 2);
    const int c4 = c >> 3, l0 = 4 * (c & 7);
    int sc0, m0, sc1, m1;
    scale_min_k4(2 * c4, b + 4, &sc0, &m0);
    scale_min_k4(2 * c4 + 1, b + 4, &sc1, &m1);
    const float d1 = d * sc0, mm1 = dmin * m0, d2 = d * sc1, mm2 = dmin * m1;
    const uint32_t qs = *reinterpret_cast<const uint32_t*>(b + 16 + 32 * c4 + l0);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int q = (qs >> (8 * i)) & 0xFF;
      v[i] = __fsub_rn(__fmul_rn(d1, static_cast<float>(q & 15)), mm1);
      v[4 + i] = __fsub_rn(__fmul_rn(d2, static_cast<float>(q >> 4)), mm2);
    }
    *p0 = 64 * c4 + l0;
    *p1 = 64 * c4 + 32 + l0;
  }
};

struct DqQ5_K {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 256, kBytes = 176, kChunks = 32;
  __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b), dmin = h2f(b + 2);
    const int c4 = c >> 3, l0 = 4 * (c & 7);
    int sc0, m0, sc1, m1;
    scale_min_k4(2 * c4, b + 4, &sc0, &m0);
    scale_min_k4(2 * c4 + 1, b + 4, &sc1, &m1);
    const float d1 = d * sc0, mm1 = dmin * m0, d2 = d * sc1, mm2 = dmin * m1;
    const uint32_t qh = *reinterpret_cast<const uint32_t*>(b + 16 + l0);
    const uint32_t qs = *reinterpret_cast<const uint32_t*>(b + 48 + 32 * c4 + l0);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int q = (qs >> (8 * i)) & 0xFF;
      const int h = (qh >> (8 * i)) & 0xFF;
      const int lo = (q & 15) + ((h >> (2 * c4)) & 1 ? 16 : 0);
      const int hi = (q >> 4) + ((h >> (2 * c4 + 1)) & 1 ? 16 : 0);
      v[i] = __fsub_rn(__fmul_rn(d1, static_cast<float>(lo)), mm1);
      v[4 + i] = __fsub_rn(__fmul_rn(d2, static_cast<float>(hi)), mm2);
    }
    *p0 = 64 * c4 + l0;
    *p1 = 64 * c4 + 32 + l0;
  }
};

struct DqQ6_K {
  static constexpr bool kPlain = false;
  static constexpr int kQK = 256, kBytes = 210, kChunks = 32;
  __device__ static void get(const uint8_t* b, int c, float v[8], int* p0, int* p1) {
    const float d = h2f(b + 208);
    const int h = c >> 4, k = c & 15, g = k >> 3, l0 = 4 * (k & 7);
    const uint8_t* ql = b + 64 * h + 32 * g + l0;
    const uint8_t* qh = b + 128 + 32 * h + l0;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * h;
    const int e0 = 32 * g + l0;  // position within the 128-half of the low-nibble run
    const float s0 = d * static_cast<float>(sc[e0 / 16]);
    const float s1 = d * static_cast<float>(sc[(e0 + 64) / 16]);
#pragma unroll
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
  __device__ static float one(const uint8_t* p) { return *reinterpret_cast<const float*>(p); }
  __device__ static void eight(const uint8_t* p, float v[8]) {
    const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 16);
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
  }
};
struct DqF16 {
  static constexpr bool kPlain = true;
  static constexpr int kElem = 2;
  __device__ static float one(const uint8_t* p) {
    return __half2float(*reinterpret_cast<const __half*>(p));
  }
  __device__ static void eight(const uint8_t* p, float v[8]) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      v[2 * i] = f.x;
      v[2 * i + 1] = f.y;
    }
  }
};
struct DqBF16 {
  static constexpr bool kPlain = true;
  static constexpr int kElem = 2;
  __device__ static float one(const uint8_t* p) {
    return __uint_as_float(static_cast<uint32_t>(*reinterpret_cast<const uint16_t*>(p)) << 16);
  }
  __device__ static void eight(const uint8_t* p, float v[8]) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = __uint_as_float(w[i] << 16);
      v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
    }
  }
};

// Decodes chunk i of a row (all types). Returns the number of valid values (8 except in the
// tail chunk of a plain row whose length is not a multiple of 8). `vec_ok`: plain rows are
// 16-byte aligned, so full chunks may use vector loads.
template <class D>
__device__ __forceinline__ int get_chunk(const uint8_t* row, int64_t i, int64_t ne0, bool vec_ok,
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
#pragma unroll
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
