// Next-token sampling on the device: one block per row of logits draws the token the host
// Sampler (engines/local/sampler.cpp) draws for the same unit, without sorting the vocabulary.
//
// The Sampler keeps a prefix of the vocabulary sorted by scaled logit (descending, ties by id):
// top-k keeps k, top-p then the shortest prefix of those whose mass reaches top_p of theirs. Such
// a prefix is "every key above T, and the r lowest ids whose key is T" for a threshold key T.
// Here T is found by bisection over the 32 bits of an order-preserving integer key (counts for
// top-k, masses for top-p: 32 passes over the row each), r by arithmetic; then the kept tokens
// are walked in id order, as the Sampler walks them, with the row split into contiguous chunks.
// Keys and weights are computed once into scratch; the passes read them (from L2 on a GPU).
//
// Sums run in double over a fixed tree (block_reduce), so a row's token does not depend on the
// run; they are ordered differently from the Sampler's, so a unit within ~1e-16 of a boundary
// between two tokens may pick the other one. Written as phases (block_phases.cuh) so the host
// tests run this very function against the Sampler.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "engines/local/cuda/block_phases.cuh"
#include "engines/local/cuda/cuda_kernels.h"

namespace assay::cuda {

constexpr int kSampleThreads = 256;

struct SampleSmem {
  double d[kSampleThreads];
  float f[kSampleThreads];
  int32_t i[kSampleThreads];
  int32_t idx[kSampleThreads];
  int32_t result;
};

// The Sampler's scaled logit: NaN counts as -inf; -0 becomes +0 so that equal values have equal
// keys.
__host__ __device__ __forceinline__ float sample_x(const float* row, int64_t v, float t) {
  const float x = row[v] / t;
  return x != x ? -INFINITY : x + 0.0f;
}

// Larger x, larger key; no x maps to key 0.
__host__ __device__ __forceinline__ uint32_t sample_key(float x) {
  uint32_t b;
#if defined(__CUDA_ARCH__)
  b = __float_as_uint(x);
#else
  std::memcpy(&b, &x, 4);
#endif
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__host__ __device__ __forceinline__ float sample_key_value(uint32_t k) {
  const uint32_t b = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(b);
#else
  float x;
  std::memcpy(&x, &b, 4);
  return x;
#endif
}

// The row's token (every thread gets it). row: n logits; p as Ops::sample_tokens' SampleRow;
// keys, weights: scratch for n values each (global memory on the device), where the row's keys
// and exp(x - max) are computed once instead of in each of the ~70 passes.
__host__ __device__ inline int32_t sample_block(const float* row, int64_t n, const SampleArgs& p, SampleSmem& sm,
                                                uint32_t* keys, double* weights) {
  constexpr int N = kSampleThreads;
  const bool greedy = !(p.temperature > 0);
  const float temp = greedy ? 1.0f : static_cast<float>(p.temperature);

  // Max, and its lowest id (the argmax, and the answer when the max is not finite).
  block_phase<N>([&](int t) {
    float m = -INFINITY;
    int32_t at = -1;
    for (int64_t v = t; v < n; v += N) {
      const float x = sample_x(row, v, temp);
      if (at < 0 || x > m) m = x, at = static_cast<int32_t>(v);
    }
    sm.f[t] = m;
    sm.idx[t] = at;
  });
  for (int s = N / 2; s > 0; s >>= 1)
    block_phase<N>([&](int t) {
      if (t >= s) return;
      const int32_t ia = sm.idx[t], ib = sm.idx[t + s];
      if (ib < 0) return;
      if (ia < 0 || sm.f[t + s] > sm.f[t] || (sm.f[t + s] == sm.f[t] && ib < ia)) sm.f[t] = sm.f[t + s], sm.idx[t] = ib;
    });
  const float mx = sm.f[0];
  const int32_t argmax = sm.idx[0];
  block_phase<N>([](int) {});
  if (greedy || !(mx > -INFINITY && mx < INFINITY)) return argmax;

  block_phase<N>([&](int t) {
    for (int64_t v = t; v < n; v += N) {
      const float x = sample_x(row, v, temp);
      keys[v] = sample_key(x);
      weights[v] = exp(static_cast<double>(x) - mx);
    }
  });
  const auto plus_d = [](double a, double b) { return a + b; };
  const auto plus_i = [](int32_t a, int32_t b) { return a + b; };
  // Mass of the tokens whose key passes `keep`.
  auto mass = [&](auto keep) {
    block_phase<N>([&](int t) {
      double s = 0;
      for (int64_t v = t; v < n; v += N)
        if (keep(keys[v])) s += weights[v];
      sm.d[t] = s;
    });
    return block_reduce<N>(sm.d, plus_d);
  };
  auto count = [&](auto keep) {
    block_phase<N>([&](int t) {
      int32_t c = 0;
      for (int64_t v = t; v < n; v += N) c += keep(keys[v]) ? 1 : 0;
      sm.i[t] = c;
    });
    return block_reduce<N>(sm.i, plus_i);
  };
  const auto weight_of = [&](uint32_t key) { return exp(static_cast<double>(sample_key_value(key)) - mx); };

  // The top-k set: keys above tk, and the first rk ids with key tk (everything: tk = 0).
  const bool top_k = p.top_k > 0 && p.top_k < n;
  uint32_t tk = 0;
  int64_t rk = n;
  if (top_k) {
    for (int bit = 31; bit >= 0; --bit) {
      const uint32_t c = tk | (1u << bit);
      if (count([c](uint32_t k) { return k >= c; }) >= p.top_k) tk = c;
    }
    rk = p.top_k - count([tk](uint32_t k) { return k > tk; });
  }
  uint32_t tf = tk;
  int64_t rf = rk;
  if (p.top_p < 1.0) {
    const double z = mass([tk](uint32_t k) { return k > tk; }) + (top_k ? static_cast<double>(rk) * weight_of(tk) : 0.0);
    const double need = p.top_p * z;
    // The largest threshold whose prefix (within the top-k set) still reaches `need` and is not
    // empty (top_p <= 0 keeps the first token, as the Sampler does).
    uint32_t tp = 0;
    for (int bit = 31; bit >= 0; --bit) {
      const uint32_t c = tp | (1u << bit);
      if (c <= tk) {
        tp = c;
        continue;
      }
      const double m = mass([c](uint32_t k) { return k >= c; });
      if (m >= need && m > 0) tp = c;
    }
    // Of the ties at tp, as many (in id order) as it takes to reach `need`.
    const double above = mass([tp](uint32_t k) { return k > tp; });
    const int64_t avail = tp == tk ? rk : count([tp](uint32_t k) { return k == tp; });
    const double w = weight_of(tp);
    int64_t r = w > 0 ? static_cast<int64_t>(ceil((need - above) / w)) : avail;
    tf = tp;
    rf = r < 1 ? 1 : (r > avail ? avail : r);
  }

  // The draw: the kept tokens in id order, over contiguous chunks of the row.
  const int64_t chunk = (n + N - 1) / N;
  block_phase<N>([&](int t) {
    int32_t c = 0;
    for (int64_t v = t * chunk; v < n && v < (t + 1) * chunk; ++v) c += keys[v] == tf;
    sm.i[t] = c;
  });
  block_phase<N>([&](int t) {  // ties before each chunk
    if (t != 0) return;
    int32_t acc = 0;
    for (int c = 0; c < N; ++c) {
      const int32_t here = sm.i[c];
      sm.i[c] = acc;
      acc += here;
    }
  });
  const auto kept = [&](uint32_t key, int64_t tie_rank) { return key > tf || (key == tf && tie_rank < rf); };
  block_phase<N>([&](int t) {
    double s = 0;
    int64_t rank = sm.i[t];
    for (int64_t v = t * chunk; v < n && v < (t + 1) * chunk; ++v) {
      if (kept(keys[v], rank)) s += weights[v];
      rank += keys[v] == tf;
    }
    sm.d[t] = s;
  });
  block_phase<N>([&](int t) {
    if (t != 0) return;
    double total = 0;
    for (int c = 0; c < N; ++c) total += sm.d[c];
    double u = p.unit * total;
    int last_chunk = -1, pick = -1;
    for (int c = 0; c < N; ++c) {
      if (sm.d[c] > 0) last_chunk = c;
      if (u - sm.d[c] <= 0 && sm.d[c] > 0) {
        pick = c;
        break;
      }
      u -= sm.d[c];
    }
    // Past the end by rounding: the last kept token of positive weight, as the Sampler does.
    const bool overshoot = pick < 0;
    if (overshoot) pick = last_chunk;
    if (pick < 0) {  // nothing of positive weight kept: cannot happen (the max always is)
      sm.result = argmax;
      return;
    }
    int64_t rank = sm.i[pick];
    int32_t result = -1;
    for (int64_t v = pick * chunk; v < n && v < (pick + 1) * chunk; ++v) {
      const bool in = kept(keys[v], rank);
      rank += keys[v] == tf;
      if (!in) continue;
      const double w = weights[v];
      if (w <= 0) continue;
      result = static_cast<int32_t>(v);
      if (overshoot) continue;
      u -= w;
      if (u <= 0) break;
    }
    sm.result = result;
  });
  return sm.result;
}

}  // namespace assay::cuda
