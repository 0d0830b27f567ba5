// cuda-emu: the CUDA subset assay's backend uses, run on the CPU, so that CI (which has no GPU)
// runs the GPU tests' logic: every kernel, launch configuration, stream, copy, graph recording
// and cuBLAS call of engines/local/cuda, against the CPU backend.
//
// Each thread of a block is a fiber (Boost.Context) that runs until it must wait: at
// __syncthreads for the whole block, at a warp shuffle for the lane it reads (emu_runtime.cpp),
// at a WMMA operation for its warp. Code that relies on lockstep execution without a barrier
// (reading shared memory another lane wrote since the last __syncthreads/__syncwarp) sees stale
// data here, as it may on a GPU; a barrier only part of a block reaches is reported as a
// deadlock; launch limits (grid and block sizes, shared memory above 48 KiB without the opt-in),
// kernel pointer arguments outside device allocations, copies and GEMM operands that leave their
// allocation, writes past the end of an allocation (a guard zone, checked after each kernel and
// copy) and calls a stream capture forbids all fail as on the device or louder. Streams run
// their work only when the host waits for it, so a missing wait reads stale results. Not
// modelled: timing, data races between barriers, the memory model, nvcc's FMA contraction (every
// product is rounded here), the device's expf and friends, tensor-core summation order, shuffles
// whose masks name only some lanes (reported as an error, though legal), and the alignment and
// launch-bounds rules the code already keeps.
//
// This header replaces cuda_runtime.h & co for the emulated build only (tests/cuda_emu/
// cuda_emu.cmake); the real backend never sees it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __noinline__ __attribute__((noinline))
// One instance per block: blocks of a launch run one at a time on each host thread.
#define __shared__ static thread_local
#define __align__(n) __attribute__((aligned(n)))
#define __constant__ static

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct __attribute__((aligned(8))) float2 {
  float x, y;
};
struct __attribute__((aligned(16))) float4 {
  float x, y, z, w;
};
struct __attribute__((aligned(8))) uint2 {
  unsigned x, y;
};
struct __attribute__((aligned(16))) uint4 {
  unsigned x, y, z, w;
};
struct __attribute__((aligned(8))) int2 {
  int x, y;
};
struct __attribute__((aligned(16))) int4 {
  int x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

namespace emu {

struct Block;
struct Thread {
  uint3 tid;
  int linear, lane, warp;
  Block* block;
};
// The emulated thread running on this host thread (set by the block scheduler).
inline thread_local Thread* cur = nullptr;

struct Block {
  uint3 bid;
  dim3 bdim, gdim;
};

void syncthreads();
// A warp collective: this lane's v for its next collective; returns src_lane's for the same one
// (waiting only for that lane).
uint64_t warp_exchange(unsigned mask, uint64_t v, int src_lane);
// Waits until every running lane of the warp has reached its next collective.
void warp_barrier();
// A warp barrier (every running lane) that returns true to one lane, the first to pass it, and
// gives all a per-warp scratch buffer of `bytes`: the first computes a warp-uniform result there,
// the others copy it (cooperative scheduling: no lane runs until the first reaches a barrier).
bool warp_first(void** scratch, size_t bytes);
unsigned char* dynamic_smem();
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

template <class T>
T shuffle_from(unsigned mask, T v, int src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>);
  uint64_t u = 0;
  std::memcpy(&u, &v, sizeof(T));
  u = warp_exchange(mask, u, src);
  T r;
  std::memcpy(&r, &u, sizeof(T));
  return r;
}

}  // namespace emu

#define threadIdx (::emu::cur->tid)
#define blockIdx (::emu::cur->block->bid)
#define blockDim (::emu::cur->block->bdim)
#define gridDim (::emu::cur->block->gdim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::emu::syncthreads(); }

// Lanes past their group of `width` read their own value (CUDA's rule for xor).
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = ::emu::cur->lane;
  int src = lane ^ lane_mask;
  if (src / width > lane / width || src >= 32) src = lane;
  return ::emu::shuffle_from(mask, v, src);
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  const int lane = ::emu::cur->lane;
  return ::emu::shuffle_from(mask, v, (lane / width) * width + (src_lane % width + width) % width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = ::emu::cur->lane;
  const int src = lane + static_cast<int>(delta);
  return ::emu::shuffle_from(mask, v, src / width == lane / width ? src : lane);
}

// Integer and bit intrinsics.
inline int __dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; ++i) c += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
  return c;
}
inline unsigned __vsub4(unsigned a, unsigned b) {
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) r |= (((a >> (8 * i)) - (b >> (8 * i))) & 0xFFu) << (8 * i);
  return r;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float __int_as_float(int u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline int __float_as_int(float f) {
  int u;
  std::memcpy(&u, &f, 4);
  return u;
}
// Round to nearest even, saturating; NaN gives 0 (as cvt.rni.s32.f32).
inline int __float2int_rn(float x) {
  if (x != x) return 0;
  if (x >= 2147483648.0f) return INT32_MAX;
  if (x <= -2147483648.0f) return INT32_MIN;
  return static_cast<int>(std::nearbyint(x));
}
// Separately rounded float operations (the emulated build uses -ffp-contract=off throughout).
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __expf(float x) { return std::exp(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
template <class T>
T __ldg(const T* p) {
  return *p;
}

// CUDA's global min/max take mixed integer types.
template <class A, class B>
  requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B>
std::common_type_t<A, B> min(A a, B b) {
  return std::min<std::common_type_t<A, B>>(a, b);
}
template <class A, class B>
  requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B>
std::common_type_t<A, B> max(A a, B b) {
  return std::max<std::common_type_t<A, B>>(a, b);
}
