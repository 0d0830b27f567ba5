// The CUDA backend's weight decoders and GEMV lane steps, run on the host. cuda_quants.cuh is
// __host__ __device__, so this checks, without a GPU (here and in CI), the block layouts every
// weight-reading kernel relies on: each 8-value chunk against quants.cpp's dequantization bit for
// bit, every position covered once, and the Q4_K 32-value steps summed as a warp sums them.
// Built with -ffp-contract=off (see the host intrinsics in cuda_quants.cuh).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <memory>
#include <numeric>
#include <vector>

#include "engines/local/cpu/cpu_ops.h"
#include "engines/local/cpu/quants.h"
#include "engines/local/sampler.h"
#include "engines/local/cuda/cuda_quants.cuh"
#include "engines/local/cuda/cuda_sampling.cuh"
#include "engines/local/cuda/flash_prefill.cuh"
#include "engines/local/cuda/gemv_q8.cuh"
#include "tests/engines/local/cpu/cpu_test_util.h"

namespace assay {
namespace {

using testing_cpu::make_weights;
using testing_cpu::random_floats;

std::string tname(GgmlType t) { return std::string(ggml_type_name(t)); }

// Random bytes as blocks, with their F16 scales set to finite values of either sign: every bit
// pattern of the packed quants and 6-bit scales, which quantize_row alone may not produce.
std::vector<uint8_t> random_blocks(GgmlType type, int64_t n_blocks, uint32_t seed) {
  const auto* tr = ggml_type_traits(static_cast<uint32_t>(type));
  std::mt19937 rng(seed);
  std::vector<uint8_t> b(static_cast<size_t>(tr->block_bytes * n_blocks));
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  std::vector<int> halves;  // byte offsets of the F16 fields in a block
  switch (type) {
    case GgmlType::Q4_0: case GgmlType::Q8_0: halves = {0}; break;
    case GgmlType::Q4_1: case GgmlType::Q4_K: case GgmlType::Q5_K: halves = {0, 2}; break;
    case GgmlType::Q6_K: halves = {208}; break;
    default: break;
  }
  for (int64_t k = 0; k < n_blocks; ++k) {
    for (int off : halves) {
      const uint16_t h = static_cast<uint16_t>(0x2400 | (rng() & 0x0FFF) | ((rng() & 1) << 15));
      std::memcpy(&b[static_cast<size_t>(k * tr->block_bytes + off)], &h, 2);
    }
  }
  return b;
}

template <class D>
void check_chunks(GgmlType type, const uint8_t* row, size_t row_bytes, int64_t k, const std::string& what) {
  std::vector<float> ref(static_cast<size_t>(k));
  dequantize_row(type, row, ref.data(), k);
  std::vector<int> covered(static_cast<size_t>(k), 0);
  const bool vec_ok = (reinterpret_cast<uintptr_t>(row) & 15) == 0 && row_bytes % 16 == 0;
  const int64_t nch = cuda::chunks_per_row<D>(k);
  for (int64_t i = 0; i < nch; ++i) {
    float v[8];
    int p0 = -1, p1 = -1;
    const int n = cuda::get_chunk<D>(row, i, k, vec_ok, v, &p0, &p1);
    ASSERT_GE(n, 1) << what;
    for (int j = 0; j < n; ++j) {
      const int64_t pos = j < 4 ? p0 + j : p1 + j - 4;
      ASSERT_TRUE(pos >= 0 && pos < k) << what << ": chunk " << i << " value " << j << " at " << pos;
      ++covered[static_cast<size_t>(pos)];
      ASSERT_EQ(std::bit_cast<uint32_t>(v[j]), std::bit_cast<uint32_t>(ref[static_cast<size_t>(pos)]))
          << what << ": chunk " << i << " value " << j << " (position " << pos << "): " << v[j]
          << " vs " << ref[static_cast<size_t>(pos)];
    }
  }
  for (int64_t p = 0; p < k; ++p) ASSERT_EQ(covered[static_cast<size_t>(p)], 1) << what << ": position " << p;
}

void check_type(GgmlType type, const uint8_t* row, size_t row_bytes, int64_t k, const std::string& what) {
  switch (type) {
    case GgmlType::F32: return check_chunks<cuda::DqF32>(type, row, row_bytes, k, what);
    case GgmlType::F16: return check_chunks<cuda::DqF16>(type, row, row_bytes, k, what);
    case GgmlType::BF16: return check_chunks<cuda::DqBF16>(type, row, row_bytes, k, what);
    case GgmlType::Q4_0: return check_chunks<cuda::DqQ4_0>(type, row, row_bytes, k, what);
    case GgmlType::Q4_1: return check_chunks<cuda::DqQ4_1>(type, row, row_bytes, k, what);
    case GgmlType::Q8_0: return check_chunks<cuda::DqQ8_0>(type, row, row_bytes, k, what);
    case GgmlType::Q4_K: return check_chunks<cuda::DqQ4_K>(type, row, row_bytes, k, what);
    case GgmlType::Q5_K: return check_chunks<cuda::DqQ5_K>(type, row, row_bytes, k, what);
    case GgmlType::Q6_K: return check_chunks<cuda::DqQ6_K>(type, row, row_bytes, k, what);
    default: FAIL() << "no decoder for " << tname(type);
  }
}

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                              GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

TEST(CudaDecodersOnHost, EveryChunkIsTheDequantizedValueBitForBit) {
  for (GgmlType type : kAllTypes) {
    const bool plain = testing_cpu::block_elems(type) == 1;
    // Plain rows: a partial last chunk (203) and whole vector chunks (256).
    for (int64_t k : plain ? std::vector<int64_t>{203, 256} : std::vector<int64_t>{512}) {
      const auto w = make_weights(type, 3, k, 5);
      for (int64_t r = 0; r < 3; ++r)
        check_type(type, w.row(r), w.row_bytes, k, tname(type) + " k=" + std::to_string(k) + " row " + std::to_string(r));
      if (!plain) {
        const auto b = random_blocks(type, k / testing_cpu::block_elems(type), 6);
        check_type(type, b.data(), b.size(), k, tname(type) + " random blocks");
      }
    }
  }
}

// A warp's step-wise GEMV over 4 rows: step(i, acc) for every step i, each lane taking steps
// round robin as the kernels do; returns per row and token the lane partials summed in the warp's
// butterfly order.
template <int NT, class Step>
void warp_steps(int64_t steps, float out[4][NT], Step step) {
  float part[32][4][NT] = {};
  for (int lane = 0; lane < 32; ++lane)
    for (int64_t i = lane; i < steps; i += 32) step(i, part[lane]);
  for (int o = 16; o > 0; o >>= 1) {
    float next[32][4][NT];
    for (int lane = 0; lane < 32; ++lane)
      for (int r = 0; r < 4; ++r)
        for (int t = 0; t < NT; ++t) next[lane][r][t] = part[lane][r][t] + part[lane ^ o][r][t];
    std::memcpy(part, next, sizeof(part));
  }
  std::memcpy(out, part[0], sizeof(float) * 4 * NT);
}

// gemv_q4k_kernel's warp.
template <int NT>
void q4k_warp(const uint8_t* const* rows, int64_t k, const float* x, int64_t xs, float out[4][NT]) {
  warp_steps<NT>(k / 256 * cuda::Q4KWide::kStepsPerBlock, out,
                 [&](int64_t i, float (*acc)[NT]) { cuda::q4k_wide_step<4, NT>(rows, i, x, xs, acc); });
}

// One-hot activations: each step's result is exactly one dequantized value (or 0), so the warp's
// sum is exactly that value: every position maps to the right quant, scale and min.
TEST(CudaDecodersOnHost, Q4KWideStepsReadEveryPositionExactly) {
  for (int64_t k : {256, 1024, 1280}) {
    for (bool random : {false, true}) {
      const auto w = make_weights(GgmlType::Q4_K, 4, k, 21);
      const std::vector<uint8_t> data = random ? random_blocks(GgmlType::Q4_K, 4 * k / 256, 22) : w.data;
      const size_t rb = w.row_bytes;
      const uint8_t* rows[4] = {data.data(), data.data() + rb, data.data() + 2 * rb, data.data() + 3 * rb};
      std::vector<float> ref(static_cast<size_t>(4 * k));
      for (int r = 0; r < 4; ++r) dequantize_row(GgmlType::Q4_K, rows[r], ref.data() + r * k, k);
      std::vector<float> x(static_cast<size_t>(k), 0.0f);
      for (int64_t p = 0; p < k; ++p) {
        x[static_cast<size_t>(p)] = 1.0f;
        float out[4][1];
        q4k_warp<1>(rows, k, x.data(), k, out);
        x[static_cast<size_t>(p)] = 0.0f;
        // Exact float equality (a -0 value sums to +0).
        for (int r = 0; r < 4; ++r)
          ASSERT_EQ(out[r][0], ref[static_cast<size_t>(r * k + p)])
              << "k=" << k << (random ? " random blocks" : "") << " row " << r << " position " << p << ": "
              << out[r][0] << " vs " << ref[static_cast<size_t>(r * k + p)];
      }
    }
  }
}

// Several tokens with a row stride: each token's sums against a double-precision dot product.
TEST(CudaDecodersOnHost, Q4KWideStepsGiveTheDotProductForEveryToken) {
  constexpr int NT = 3;
  const int64_t k = 2048, xs = k + 4;
  const auto w = make_weights(GgmlType::Q4_K, 4, k, 31);
  const uint8_t* rows[4] = {w.row(0), w.row(1), w.row(2), w.row(3)};
  const auto x = random_floats(static_cast<size_t>(NT * xs), 32);
  float out[4][NT];
  q4k_warp<NT>(rows, k, x.data(), xs, out);
  std::vector<float> ref(static_cast<size_t>(k));
  for (int r = 0; r < 4; ++r) {
    dequantize_row(GgmlType::Q4_K, rows[r], ref.data(), k);
    for (int t = 0; t < NT; ++t) {
      double dot = 0.0, mag = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        dot += static_cast<double>(ref[static_cast<size_t>(i)]) * x[static_cast<size_t>(t * xs + i)];
        mag += std::abs(static_cast<double>(ref[static_cast<size_t>(i)]) * x[static_cast<size_t>(t * xs + i)]);
      }
      EXPECT_NEAR(out[r][t], dot, 1e-6 * mag) << "row " << r << " token " << t;
    }
  }
}

// ---- 8-bit-activation GEMV (gemv_q8.cuh): the quantizer's lanes and the dp4a lane steps ----

// quantize_q8k_kernel's arithmetic for tokens [0, nt) of x, warp by warp: the block's amax (a
// warp max: order-free), each lane's 8 quants, each pair of lanes' sum.
std::vector<uint8_t> quantize_q8k_as_the_kernel(const float* x, int64_t xs, int nt, int64_t k) {
  const int64_t as = cuda::ActQ8KRow::bytes(k);
  std::vector<uint8_t> out(static_cast<size_t>(as * nt), 0);
  for (int t = 0; t < nt; ++t) {
    uint8_t* a = out.data() + t * as;
    for (int64_t blk = 0; blk < k / 256; ++blk) {
      const float* xb = x + t * xs + blk * 256;
      float amax = 0.0f;
      for (int j = 0; j < 256; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
      float d, id;
      cuda::q8k_scales(amax, &d, &id);
      int lane_sum[32];
      for (int lane = 0; lane < 32; ++lane)
        lane_sum[lane] = cuda::quantize_run<8>(xb + 8 * lane, id, reinterpret_cast<int8_t*>(a + blk * 256 + 8 * lane));
      for (int g = 0; g < 16; ++g) {
        const auto s = static_cast<int16_t>(lane_sum[2 * g] + lane_sum[2 * g + 1]);
        std::memcpy(a + cuda::ActQ8KRow::bsums_offset(k) + 2 * (blk * 16 + g), &s, 2);
      }
      std::memcpy(a + cuda::ActQ8KRow::d_offset(k) + 4 * blk, &d, 4);
    }
  }
  return out;
}

// The activations the engine quantizes for weights of `type`, computed as its kernels do.
std::vector<uint8_t> quantize_as_the_kernel(GgmlType type, const float* x, int64_t xs, int nt, int64_t k) {
  if (type == GgmlType::Q4_K || type == GgmlType::Q5_K || type == GgmlType::Q6_K)
    return quantize_q8k_as_the_kernel(x, xs, nt, k);
  const int64_t as = cuda::ActQ8Row::bytes(k);
  std::vector<uint8_t> out(static_cast<size_t>(as * nt), 0);
  bool q8_1 = false;  // as launch_quantize_act takes it: from the weight type's step
  const bool ok = ASSAY_CUDA_Q8_DISPATCH(type, { q8_1 = S::kQ8_1; });
  EXPECT_TRUE(ok) << tname(type);
  for (int t = 0; t < nt; ++t)
    for (int64_t b = 0; b < k / 32; ++b) cuda::q8_quantize_block(x + t * xs + 32 * b, out.data() + t * as, k, b, q8_1);
  return out;
}

// The CPU backend's ActQ8K of the same rows, moved into the device layout.
std::vector<uint8_t> cpu_act_q8k_rows(const float* x, int64_t xs, int nt, int64_t k) {
  const int64_t as = cuda::ActQ8KRow::bytes(k);
  std::vector<uint8_t> out(static_cast<size_t>(as * nt), 0);
  std::vector<ActQ8K> blocks(static_cast<size_t>(k / 256));
  for (int t = 0; t < nt; ++t) {
    quantize_act_q8k_scalar(x + t * xs, blocks.data(), k);
    uint8_t* a = out.data() + t * as;
    for (int64_t b = 0; b < k / 256; ++b) {
      std::memcpy(a + 256 * b, blocks[b].qs, 256);
      std::memcpy(a + cuda::ActQ8KRow::d_offset(k) + 4 * b, &blocks[b].d, 4);
      std::memcpy(a + cuda::ActQ8KRow::bsums_offset(k) + 32 * b, blocks[b].bsums, 32);
    }
  }
  return out;
}

TEST(Q8GemvOnHost, QuantizerLanesGiveTheCpuActivationBytes) {
  const int64_t k = 1024, xs = k + 8;
  const int nt = 3;
  // Token 1: a block of zeros and a block of exact ties (x * id = m + 0.5: round to even).
  const auto x = testing_cpu::activation_probe_rows(nt, xs, 41);
  const auto got = quantize_q8k_as_the_kernel(x.data(), xs, nt, k);
  const auto want = cpu_act_q8k_rows(x.data(), xs, nt, k);
  const int64_t used = cuda::ActQ8KRow::bsums_offset(k) + 2 * (k / 16);
  ASSERT_EQ(cuda::ActQ8KRow::bytes(k) % 16, 0);
  for (int t = 0; t < nt; ++t)
    for (int64_t i = 0; i < used; ++i)
      ASSERT_EQ(got[static_cast<size_t>(t * cuda::ActQ8KRow::bytes(k) + i)],
                want[static_cast<size_t>(t * cuda::ActQ8KRow::bytes(k) + i)])
          << "token " << t << " byte " << i;
  // The ties went to even: 0.5 -> 0, 1.5 -> 2, -0.5 -> -0, -1.5 -> -2.
  const auto* q = reinterpret_cast<const int8_t*>(got.data() + cuda::ActQ8KRow::bytes(k) + 256);
  EXPECT_EQ(q[25], 0);   // 0.5
  EXPECT_EQ(q[26], 2);   // 1.5
  EXPECT_EQ(q[24], 0);   // -0.5
  EXPECT_EQ(q[23], -2);  // -1.5
}

// ActQ8 (weights Q4_0, Q8_0; Q4_1 with Q8_1's rounded sums): the block function against the CPU's.
TEST(Q8GemvOnHost, LegacyQuantizerGivesTheCpuActivations) {
  const int64_t k = 640;
  auto x = random_floats(static_cast<size_t>(k), 42, -3.0f, 3.0f);
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // a block of zeros
  for (bool q8_1 : {false, true}) {
    const auto got = quantize_as_the_kernel(q8_1 ? GgmlType::Q4_1 : GgmlType::Q8_0, x.data(), k, 1, k);
    std::vector<ActQ8> want(static_cast<size_t>(k / 32));
    quantize_act_q8_scalar(x.data(), want.data(), k, q8_1);
    for (int64_t b = 0; b < k / 32; ++b) {
      ASSERT_EQ(std::memcmp(got.data() + 32 * b, want[b].qs, 32), 0) << "block " << b << (q8_1 ? " q8_1" : "");
      float d, sum;
      std::memcpy(&d, got.data() + cuda::ActQ8Row::d_offset(k) + 4 * b, 4);
      std::memcpy(&sum, got.data() + cuda::ActQ8Row::s_offset(k) + 4 * b, 4);
      ASSERT_EQ(std::bit_cast<uint32_t>(d), std::bit_cast<uint32_t>(want[b].d)) << "block " << b;
      ASSERT_EQ(std::bit_cast<uint32_t>(sum), std::bit_cast<uint32_t>(want[b].s8 * 8.0f)) << "block " << b;
    }
  }
}

// A warp's 8-bit-activation GEMV over 4 rows, lane by lane as gemv_q8_kernel runs it.
template <class S, int NT>
void q8_warp(const uint8_t* const* rows, int64_t k, const uint8_t* act, float out[4][NT]) {
  const int64_t as = S::kActK ? cuda::ActQ8KRow::bytes(k) : cuda::ActQ8Row::bytes(k);
  warp_steps<NT>(S::steps(k), out, [&](int64_t i, float (*acc)[NT]) { S::template step<4, NT>(rows, i, act, as, k, acc); });
}

template <int NT>
void q8_warp_for(GgmlType type, const uint8_t* const* rows, int64_t k, const uint8_t* act, float out[4][NT]) {
  const bool ok = ASSAY_CUDA_Q8_DISPATCH(type, q8_warp<S, NT>(rows, k, act, out));
  ASSERT_TRUE(ok) << tname(type);
}

const GgmlType kQ8Types[] = {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,
                             GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0};

// Several tokens, quantized weights and random bytes, rows of 4 and 9 K-blocks (32 and 72 steps:
// lanes with 1, 2 and 3 steps; legacy blocks: 32 and 72 steps too): the warp's sums against CpuOps' integer kernels on the same activations, to
// float rounding of the sums over blocks (1e-5 of the sum of |w x|; a value read at the wrong
// position or with the wrong scale is off by far more).
TEST(Q8GemvOnHost, LaneStepsGiveTheCpuBackendsDotProducts) {
  constexpr int NT = 3;
  for (GgmlType type : kQ8Types) {
    for (int64_t k : {1024, 2304}) {
      for (bool random : {false, true}) {
        const auto w = make_weights(type, 4, k, 51);
        const std::vector<uint8_t> data = random ? random_blocks(type, 4 * k / testing_cpu::block_elems(type), 52) : w.data;
        const uint8_t* rows[4] = {data.data(), data.data() + w.row_bytes, data.data() + 2 * w.row_bytes,
                                  data.data() + 3 * w.row_bytes};
        const int64_t xs = k + 4;
        const auto x = random_floats(static_cast<size_t>(NT * xs), 53, -2.0f, 2.0f);
        const auto act = quantize_as_the_kernel(type, x.data(), xs, NT, k);
        float got[4][NT];
        q8_warp_for<NT>(type, rows, k, act.data(), got);
        std::vector<float> want(static_cast<size_t>(NT * 4));
        CpuOps cpu;
        cpu.matmul(x.data(), NT, TensorRef{data.data(), type, k, 4, w.row_bytes}, nullptr, want.data(), xs, 4);
        std::vector<float> deq(static_cast<size_t>(k));
        for (int r = 0; r < 4; ++r) {
          dequantize_row(type, rows[r], deq.data(), k);
          for (int t = 0; t < NT; ++t) {
            double mag = 0.0;
            for (int64_t i = 0; i < k; ++i) mag += std::abs(static_cast<double>(deq[i]) * x[static_cast<size_t>(t * xs + i)]);
            EXPECT_NEAR(got[r][t], want[static_cast<size_t>(t * 4 + r)], 1e-5 * mag)
                << tname(type) << " k=" << k << (random ? " random blocks" : "") << " row " << r << " token " << t;
          }
        }
      }
    }
  }
}

// One-hot activations: the result is one weight value times the token's scale, so every position
// must map to its quant, scale (and min) exactly as the CPU backend reads it.
TEST(Q8GemvOnHost, LaneStepsReadEveryPositionAsTheCpuBackend) {
  const int64_t k = 512;
  for (GgmlType type : kQ8Types) {
    const auto w = make_weights(type, 4, k, 61);
    const uint8_t* rows[4] = {w.row(0), w.row(1), w.row(2), w.row(3)};
    std::vector<float> x(static_cast<size_t>(k), 0.0f), want(4);
    std::vector<float> deq(static_cast<size_t>(4 * k));
    float row_max[4] = {};
    for (int r = 0; r < 4; ++r) {
      dequantize_row(type, rows[r], deq.data() + r * k, k);
      for (int64_t i = 0; i < k; ++i) row_max[r] = std::max(row_max[r], std::abs(deq[static_cast<size_t>(r * k + i)]));
    }
    CpuOps cpu;
    for (int64_t p = 0; p < k; ++p) {
      x[static_cast<size_t>(p)] = 0.75f;
      const auto act = quantize_as_the_kernel(type, x.data(), k, 1, k);
      float got[4][1];
      q8_warp_for<1>(type, rows, k, act.data(), got);
      cpu.matmul(x.data(), 1, TensorRef{w.data.data(), type, k, 4, w.row_bytes}, nullptr, want.data(), k, 4);
      x[static_cast<size_t>(p)] = 0.0f;
      for (int r = 0; r < 4; ++r) {
        // d * sum - dmin * corr may cancel: rounding relative to the row's largest value.
        const float tol = 1e-6f * row_max[r];
        ASSERT_NEAR(got[r][0], want[static_cast<size_t>(r)], tol) << tname(type) << " row " << r << " position " << p;
        // and not by accident: the CPU's value is the dequantized weight times 0.75 (0.75
        // quantizes to 127 at scale 0.75 / 127: exactly for ActQ8K, to that scale's F16
        // rounding for ActQ8).
        const bool k_act = type == GgmlType::Q4_K || type == GgmlType::Q5_K || type == GgmlType::Q6_K;
        ASSERT_NEAR(want[static_cast<size_t>(r)], 0.75f * deq[static_cast<size_t>(r * k + p)],
                    k_act ? 4 * tol : 1e-3f * row_max[r])
            << tname(type) << " row " << r << " position " << p;
      }
    }
  }
}

// ---- flash prefill attention (flash_prefill.cuh), its block function run thread by thread ----

// Every (query tile, head) block of one run, as the kernel's grid would run them. Shared memory
// starts as NaN and is reused by the next block without clearing, as on the device: a read of
// anything a phase did not write first shows up as NaN in the output.
template <int HD>
void flash_on_host(const cuda::FlashArgs& f) {
  auto sm = std::make_unique<cuda::FlashSmem<HD>>();
  std::memset(static_cast<void*>(sm.get()), 0xFF, sizeof(*sm));
  for (int64_t qt = 0; qt * cuda::kFlashBQ < f.n; ++qt)
    for (int h = 0; h < f.attn.n_head; ++h) cuda::flash_prefill_block<HD>(f, *sm, static_cast<int>(qt), h);
}

struct FlashCase {
  int n_head, n_head_kv, head_dim;
  GgmlType kv;
  int prefix;       // cache rows before the run (a shared prompt prefix)
  int n;            // queries in the run
  bool causal;      // n_kv = prefix + i + 1; else any prefix length in [1, prefix + n]
};

void check_flash_case(const FlashCase& c, uint32_t seed) {
  const int hd = c.head_dim;
  const int64_t kvw = static_cast<int64_t>(c.n_head_kv) * hd, qw = static_cast<int64_t>(c.n_head) * hd;
  const int64_t len = c.prefix + c.n, n_cache = len + 37;
  std::mt19937 rng(seed);
  // The sequence's rows are scattered over the cache, as pages of a prefix-shared cache are.
  std::vector<int32_t> perm(static_cast<size_t>(n_cache));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  const std::vector<int32_t> rows(perm.begin(), perm.begin() + len);
  std::vector<int32_t> n_kv(static_cast<size_t>(c.n)), token_seq(static_cast<size_t>(c.n), 0);
  for (int i = 0; i < c.n; ++i)
    n_kv[i] = c.causal ? c.prefix + i + 1 : 1 + static_cast<int32_t>(rng() % static_cast<uint32_t>(len));
  const std::vector<int32_t> offsets = {0, static_cast<int32_t>(len)};
  const size_t rb = static_cast<size_t>(ggml_row_bytes(c.kv, kvw));
  std::vector<uint8_t> kc(rb * static_cast<size_t>(n_cache)), vc(kc.size());
  const auto kf = random_floats(static_cast<size_t>(n_cache * kvw), seed + 1);
  const auto vf = random_floats(static_cast<size_t>(n_cache * kvw), seed + 2);
  for (int64_t i = 0; i < n_cache * kvw; ++i) {
    if (c.kv == GgmlType::F16) {
      const uint16_t kh = __half_as_ushort(__float2half_rn(kf[i])), vh = __half_as_ushort(__float2half_rn(vf[i]));
      std::memcpy(&kc[2 * i], &kh, 2);
      std::memcpy(&vc[2 * i], &vh, 2);
    } else {
      std::memcpy(&kc[4 * i], &kf[i], 4);
      std::memcpy(&vc[4 * i], &vf[i], 4);
    }
  }
  const int64_t qs = qw + 3, os = qw + 4;
  const auto q = random_floats(static_cast<size_t>(c.n * qs), seed + 3, -2.0f, 2.0f);
  const TensorRef kt{kc.data(), c.kv, kvw, n_cache, rb}, vt{vc.data(), c.kv, kvw, n_cache, rb};
  const AttentionParams p{c.n_head, c.n_head_kv, hd, 0.0f};
  std::vector<float> want(static_cast<size_t>(c.n * os), NAN), got(want.size(), NAN);
  CpuOps cpu;
  cpu.attention(q.data(), kt, vt, AttentionLayout{rows, offsets, token_seq, n_kv}, p, want.data(), qs, os);

  // The run as it sits in a whole attention call: after other tokens (NaN queries, which must
  // not be read) and after another sequence's cache rows (rows outside this sequence).
  constexpr int64_t kLeadTokens = 3, kLeadRows = 5;
  std::vector<float> call_q(static_cast<size_t>(kLeadTokens * qs), NAN);
  call_q.insert(call_q.end(), q.begin(), q.end());
  std::vector<int32_t> call_n_kv(kLeadTokens, 1), call_rows(perm.end() - kLeadRows, perm.end());
  call_n_kv.insert(call_n_kv.end(), n_kv.begin(), n_kv.end());
  call_rows.insert(call_rows.end(), rows.begin(), rows.end());
  std::vector<float> call_out(static_cast<size_t>((kLeadTokens + c.n) * os), NAN);
  cuda::AttnLaunch a{};
  a.q = call_q.data();
  a.q_stride = qs;
  a.k = kc.data();
  a.k_row_bytes = rb;
  a.k_f16 = c.kv == GgmlType::F16;
  a.v = vc.data();
  a.v_row_bytes = rb;
  a.v_f16 = a.k_f16;
  a.rows = call_rows.data();
  a.token_n_kv = call_n_kv.data();
  a.n_head = c.n_head;
  a.n_head_kv = c.n_head_kv;
  a.head_dim = hd;
  a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  a.out = call_out.data();
  a.out_stride = os;
  const cuda::FlashArgs f{a, kLeadTokens, c.n, kLeadRows};
  if (hd == 64) flash_on_host<64>(f);
  else flash_on_host<128>(f);
  for (int64_t i = 0; i < kLeadTokens * os; ++i) ASSERT_TRUE(std::isnan(call_out[i])) << "wrote before the run";
  std::copy(call_out.begin() + kLeadTokens * os, call_out.end(), got.begin());

  const std::string what = "heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) + " d" +
                           std::to_string(hd) + " " + tname(c.kv) + " prefix " + std::to_string(c.prefix) +
                           " n " + std::to_string(c.n) + (c.causal ? " causal" : " any n_kv");
  for (int64_t t = 0; t < c.n; ++t) {
    for (int64_t i = 0; i < qw; ++i) {
      const float g = got[t * os + i], w = want[t * os + i];
      ASSERT_TRUE(std::isfinite(g)) << what << ": token " << t << " elem " << i << " not written";
      // F16 q, k, v as CpuOps (and an F16 rounding of p it does not make): a few 1e-4 here.
      ASSERT_NEAR(g, w, 3e-3f) << what << ": token " << t << " elem " << i;
    }
    for (int64_t i = qw; i < os; ++i) ASSERT_TRUE(std::isnan(got[t * os + i])) << what << ": wrote into the stride gap";
  }
}

TEST(FlashPrefillOnHost, MatchesCpuAttentionOverPagedCaches) {
  uint32_t seed = 100;
  for (GgmlType kv : {GgmlType::F16, GgmlType::F32}) {
    // Runs shorter than, equal to and longer than a tile, after no prefix and after one that
    // does not end on a tile boundary.
    for (int n : {1, 63, 64, 65, 150}) {
      for (int prefix : {0, 50}) {
        check_flash_case(FlashCase{8, 2, 64, kv, prefix, n, true}, seed++);
        if (HasFatalFailure()) return;
      }
    }
    check_flash_case(FlashCase{4, 1, 128, kv, 70, 130, true}, seed++);
    if (HasFatalFailure()) return;
    check_flash_case(FlashCase{2, 2, 128, kv, 0, 64, true}, seed++);
    if (HasFatalFailure()) return;
  }
}

TEST(FlashPrefillOnHost, MasksByEachQuerysOwnKeyCount) {
  // Not causal: each query attends to its own number of leading rows, so whole steps are masked
  // for some rows of a tile and not others.
  check_flash_case(FlashCase{4, 2, 64, GgmlType::F16, 40, 140, false}, 7);
  if (HasFatalFailure()) return;
  check_flash_case(FlashCase{2, 1, 128, GgmlType::F32, 0, 100, false}, 8);
}

// ---- sampling (cuda_sampling.cuh), its block function run thread by thread ----

// Rows with the shapes sampling meets: smooth logits, many exact ties (logits on a coarse grid,
// so thresholds fall inside runs of equal values), masked (-inf) and NaN entries, -0 beside +0.
std::vector<float> sampling_row(int64_t n, int kind, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> row(static_cast<size_t>(n));
  for (auto& x : row) {
    x = nd(rng);
    if (kind == 1) x = std::round(x);           // ties
    if (kind == 2 && rng() % 4 == 0) x = -INFINITY;
    if (kind == 2 && rng() % 50 == 0) x = NAN;
    if (kind == 3) x = (rng() % 3 == 0) ? -0.0f : (rng() % 2 ? 0.0f : std::round(x / 4));
  }
  return row;
}

TEST(SamplingOnHost, DrawsTheSamplersTokenForTheSameUnit) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Sampler sampler;
  cuda::SampleSmem sm;
  struct Setting {
    double temperature;
    int32_t top_k;
    double top_p;
  };
  const Setting settings[] = {{1.0, 0, 1.0},  {0.7, 0, 1.0},   {1.0, 40, 1.0}, {1.3, 1, 1.0},  {1.0, 0, 0.9},
                              {0.6, 0, 0.5},  {1.0, 50, 0.95}, {1.0, 7, 0.3},  {1.0, 0, 1e-9}, {1.0, 0, 0.0},
                              {1.0, 5000, 0.99}};
  int checked = 0;
  for (int64_t n : {1, 2, 7, 300, 5000}) {
    for (int kind = 0; kind < 4; ++kind) {
      const auto row = sampling_row(n, kind, rng);
      for (const Setting& st : settings) {
        for (int draw = 0; draw < 3; ++draw) {
          const cuda::SampleArgs p{st.temperature, st.top_p, unit(rng), st.top_k, 0};
          const int32_t want = sampler.sample(row, SamplingParams{st.temperature, st.top_k, st.top_p}, p.unit);
          std::vector<uint32_t> keys(static_cast<size_t>(n));
          std::vector<double> weights(static_cast<size_t>(n));
          const int32_t got = cuda::sample_block(row.data(), n, p, sm, keys.data(), weights.data());
          ASSERT_EQ(got, want) << "n " << n << " kind " << kind << " T " << st.temperature << " top_k " << st.top_k
                               << " top_p " << st.top_p << " unit " << p.unit;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 5 * 4 * 11 * 3);
}

TEST(SamplingOnHost, AVocabularySizedRowAndTheArgmax) {
  std::mt19937 rng(12);
  const int64_t n = 49152;  // SmolLM2's vocabulary
  Sampler sampler;
  cuda::SampleSmem sm;
  std::vector<uint32_t> keys(static_cast<size_t>(n));
  std::vector<double> weights(static_cast<size_t>(n));
  for (int kind = 0; kind < 3; ++kind) {
    const auto row = sampling_row(n, kind, rng);
    for (const auto& [top_k, top_p] : {std::pair<int32_t, double>{0, 1.0}, {50, 0.9}, {0, 0.95}}) {
      const cuda::SampleArgs p{0.8, top_p, 0.37 + 0.2 * kind, top_k, 0};
      ASSERT_EQ(cuda::sample_block(row.data(), n, p, sm, keys.data(), weights.data()),
                sampler.sample(row, SamplingParams{0.8, top_k, top_p}, p.unit))
          << "kind " << kind << " top_k " << top_k << " top_p " << top_p;
    }
    // temperature 0: the argmax as Ops::sample_tokens' host path gives it (lowest id of ties).
    CpuOps cpu;
    int32_t want = -1;
    const SampleRow greedy{0.0, 1.0, 0.5, 0, 0};
    cpu.sample_tokens(row.data(), 1, n, std::span<const SampleRow>(&greedy, 1), &want);
    EXPECT_EQ(cuda::sample_block(row.data(), n, cuda::SampleArgs{0.0, 1.0, 0.5, 0, 0}, sm, keys.data(), weights.data()),
              want)
        << "kind " << kind;
  }
  const std::vector<float> masked(100, -INFINITY);
  EXPECT_EQ(cuda::sample_block(masked.data(), 100, cuda::SampleArgs{1.0, 0.5, 0.5, 3, 0}, sm, keys.data(), weights.data()), 0);
}

}  // namespace
}  // namespace assay
