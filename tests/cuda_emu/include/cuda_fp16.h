// cuda-emu (see cuda_emu.h): IEEE half, converted with round-to-nearest-even as the device does.
#pragma once

#include "cuda_emu.h"

struct __half {
  uint16_t __x;
};
struct __attribute__((aligned(4))) __half2 {
  __half x, y;
};
using half = __half;
using half2 = __half2;

inline __half __ushort_as_half(unsigned short u) { return __half{u}; }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }

inline float __half2float(__half h) {
  const uint32_t sign = static_cast<uint32_t>(h.__x & 0x8000u) << 16;
  const uint32_t exp = (h.__x >> 10) & 0x1Fu;
  uint32_t man = h.__x & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int e = 113;
    while (!(man & 0x400u)) {
      man <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e) << 23) | ((man & 0x3FFu) << 13);
  }
  return __uint_as_float(bits);
}

inline __half __float2half_rn(float f) {
  const uint32_t x = __float_as_uint(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return __half{static_cast<uint16_t>(sign | 0x7E00u)};  // NaN
  if (ax >= 0x477FF000u) return __half{static_cast<uint16_t>(sign | 0x7C00u)};  // rounds to inf
  if (ax < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // value = ax as float; subnormal quantum is 2^-24.
    const float a = __uint_as_float(ax);
    const float q = std::nearbyint(a * 16777216.0f);  // in units of 2^-24, ties to even
    return __half{static_cast<uint16_t>(sign | static_cast<uint16_t>(q))};
  }
  // Normal: rebias the exponent and round 13 mantissa bits away, ties to even.
  uint32_t h = ((ax >> 13) - (112u << 10));
  const uint32_t rest = ax & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return __half{static_cast<uint16_t>(sign | h)};
}
inline __half __float2half(float f) { return __float2half_rn(f); }
inline float2 __half22float2(__half2 h) { return float2{__half2float(h.x), __half2float(h.y)}; }
inline __half2 __floats2half2_rn(float a, float b) { return __half2{__float2half_rn(a), __float2half_rn(b)}; }
