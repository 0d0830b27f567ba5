// Block-level kernels written as phases, so the same code runs on the host.
//
// A phase runs f(thread) for every thread of the block and ends with a barrier. Kernels written
// with phases keep every value that crosses a barrier in shared memory (or compute it alike in
// every thread), so on the host each phase can run its threads one after another: the host tests
// (tests/engines/local/cuda/cuda_host_test.cpp) run such kernels without a GPU, in CI.
#pragma once

namespace assay::cuda {

template <int N, class F>
__host__ __device__ __forceinline__ void block_phase(F&& f) {
#if defined(__CUDA_ARCH__)
  f(static_cast<int>(threadIdx.x));
  __syncthreads();
#else
  for (int t = 0; t < N; ++t) f(t);
#endif
}

// f(warp) once per warp of an N-thread block (on the device by all its lanes together, so f may
// use warp-collective operations such as WMMA), then a barrier.
template <int N, class F>
__host__ __device__ __forceinline__ void warp_phase(F&& f) {
#if defined(__CUDA_ARCH__)
  f(static_cast<int>(threadIdx.x) / 32);
  __syncthreads();
#else
  for (int w = 0; w < N / 32; ++w) f(w);
#endif
}

// v[0] = op over v[0..N) by a fixed tree (the same order on every run and on the host), and the
// result, returned to every thread once all of them have read it.
template <int N, class T, class Op>
__host__ __device__ __forceinline__ T block_reduce(T* v, Op op) {
  static_assert((N & (N - 1)) == 0, "N must be a power of two");
  for (int s = N / 2; s > 0; s >>= 1)
    block_phase<N>([&](int t) {
      if (t < s) v[t] = op(v[t], v[t + s]);
    });
  const T r = v[0];
  block_phase<N>([](int) {});  // nobody overwrites v[0] before every thread has it
  return r;
}

}  // namespace assay::cuda
