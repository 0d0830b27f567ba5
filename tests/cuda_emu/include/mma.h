// cuda-emu (see cuda_emu.h): WMMA. Every lane holds the whole tile (a real fragment holds a
// lane's share) and computes all of it. Loads and stores are warp-collective, as on the device:
// every lane of the warp reaches them before any goes on, so a tile loaded from where the warp
// stores it again (o += P V) is read whole before it is written; each lane stores its share.
// Writes of other warps still need __syncthreads.
#pragma once

#include "cuda_emu.h"
#include "cuda_fp16.h"

namespace nvcuda::wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int kRows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int kCols = std::is_same_v<Use, matrix_a> ? K : N;
  static constexpr int num_elements = kRows * kCols;
  T x[num_elements];  // the tile, row-major
};

namespace detail {
inline void converge() { ::emu::warp_barrier(); }
inline bool mine(int e) { return e % 32 == ::emu::cur->lane; }
inline float to_f(float v) { return v; }
inline float to_f(__half v) { return __half2float(v); }
}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const T* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, Layout>;
  static_assert(!std::is_same_v<Use, accumulator>, "accumulators load with a layout_t");
  detail::converge();
  for (int r = 0; r < F::kRows; ++r)
    for (int c = 0; c < F::kCols; ++c)
      f.x[r * F::kCols + c] = std::is_same_v<Layout, row_major> ? p[r * ldm + c] : p[c * ldm + r];
}
template <int M, int N, int K, class T>
void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm, layout_t l) {
  detail::converge();
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) f.x[r * N + c] = l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
}
template <int M, int N, int K, class T>
void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm, layout_t l) {
  detail::converge();
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c)
      if (detail::mine(r * N + c)) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
}
template <class Use, int M, int N, int K, class T, class Layout, class V>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, const V& v) {
  for (auto& e : f.x) e = static_cast<T>(v);
}
// A warp-collective, as on the device; lanes hold equal fragments (loaded whole after a warp
// barrier), so one lane computes the product and the others take its result.
template <int M, int N, int K, class TA, class LA, class TB, class LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
              const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  void* scratch;
  float* out;
  if (::emu::warp_first(&scratch, sizeof(float) * M * N)) {
    out = static_cast<float*>(scratch);
    float bt[N][K];
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < N; ++j) bt[j][k] = detail::to_f(b.x[k * N + j]);
    for (int i = 0; i < M; ++i) {
      float ai[K];
      for (int k = 0; k < K; ++k) ai[k] = detail::to_f(a.x[i * K + k]);
      for (int j = 0; j < N; ++j) {
        float s = c.x[i * N + j];
        for (int k = 0; k < K; ++k) s += ai[k] * bt[j][k];
        out[i * N + j] = s;
      }
    }
  }
  out = static_cast<float*>(scratch);
  std::memcpy(d.x, out, sizeof(float) * M * N);
}

}  // namespace nvcuda::wmma
