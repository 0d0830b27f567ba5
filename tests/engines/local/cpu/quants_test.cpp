#include "engines/local/cpu/quants.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>

#include "engines/local/cpu/cpu_exec.h"
#include "tests/engines/local/cpu/cpu_test_util.h"

namespace assay {
namespace {

using testing_cpu::random_bytes;
using testing_cpu::random_floats;
using testing_cpu::ref_dequant;
using testing_cpu::ref_half;

TEST(Fp16, DecodesEveryHalfExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = fp16_to_fp32(static_cast<uint16_t>(h));
    const float b = ref_half(static_cast<uint16_t>(h));
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a)) << h;
    } else {
      ASSERT_EQ(a, b) << "half 0x" << std::hex << h;
      ASSERT_EQ(std::signbit(a), std::signbit(b)) << h;
    }
  }
}

TEST(Fp16, EncodeRoundTripsEveryFiniteHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    if (((h >> 10) & 31) == 31) continue;
    ASSERT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h) << h;
  }
}

__attribute__((target("f16c"))) uint16_t hw_fp16(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

TEST(Fp16, EncodeMatchesHardwareRoundToNearestEven) {
  if (!cpu_has_avx2()) FAIL() << "no F16C";
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = rng();
    float f;
    std::memcpy(&f, &u, 4);
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), hw_fp16(f)) << f;
  }
  // Halfway cases between two halves round to even.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const float mid = (fp16_to_fp32(static_cast<uint16_t>(h)) + fp16_to_fp32(static_cast<uint16_t>(h + 1))) / 2;
    ASSERT_EQ(fp32_to_fp16(mid), hw_fp16(mid)) << h;
  }
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  EXPECT_EQ(fp32_to_bf16(1.00390625f), 0x3f80);
  // 1 + 3*2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even).
  EXPECT_EQ(fp32_to_bf16(1.01171875f), 0x3f82);
  EXPECT_EQ(bf16_to_fp32(0xc000), -2.0f);
}

// Random bytes with sane f16 scale fields, so every bit pattern of the quants is exercised.
std::vector<uint8_t> random_blocks(GgmlType type, int64_t k, uint32_t seed) {
  const int64_t bytes = ggml_row_bytes(type, k);
  auto data = random_bytes(static_cast<size_t>(bytes), seed);
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  auto put = [&](uint8_t* p) {
    const uint16_t h = fp32_to_fp16(dist(rng));
    p[0] = h & 0xFF;
    p[1] = h >> 8;
  };
  const int64_t be = testing_cpu::block_elems(type);
  const int64_t bb = bytes / (k / be);
  for (int64_t b = 0; b < k / be; ++b) {
    uint8_t* p = data.data() + b * bb;
    switch (type) {
      case GgmlType::Q4_0: case GgmlType::Q8_0: put(p); break;
      case GgmlType::Q4_1: case GgmlType::Q4_K: case GgmlType::Q5_K: put(p); put(p + 2); break;
      case GgmlType::Q6_K: put(p + 208); break;
      default: break;
    }
  }
  if (type == GgmlType::F16) {
    for (int64_t i = 0; i < k; ++i) {
      const uint16_t h = fp32_to_fp16(dist(rng));
      std::memcpy(data.data() + 2 * i, &h, 2);
    }
  }
  if (type == GgmlType::BF16) {
    for (int64_t i = 0; i < k; ++i) {
      const uint16_t h = fp32_to_bf16(dist(rng));
      std::memcpy(data.data() + 2 * i, &h, 2);
    }
  }
  return data;
}

class DequantTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(DequantTest, BitExactWithSpecDecoder) {
  const GgmlType type = GetParam();
  const int64_t k = 1024;
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    auto blocks = random_blocks(type, k, seed);
    std::vector<float> got(k);
    dequantize_row(type, blocks.data(), got.data(), k);
    auto want = ref_dequant(type, blocks.data(), k);
    // Bitwise: random F32/F16 bytes include NaNs, which must come through unchanged too.
    for (int64_t i = 0; i < k; ++i) {
      uint32_t a, b;
      std::memcpy(&a, &got[i], 4);
      std::memcpy(&b, &want[i], 4);
      ASSERT_EQ(a, b) << "i=" << i << " seed=" << seed << " got " << got[i] << " want " << want[i];
    }
  }
}

TEST_P(DequantTest, QuantizeRoundTripIsClose) {
  const GgmlType type = GetParam();
  const int64_t k = 512;
  auto x = random_floats(k, 11);
  std::vector<uint8_t> q(static_cast<size_t>(ggml_row_bytes(type, k)));
  quantize_row(type, x.data(), q.data(), k);
  std::vector<float> y(k);
  dequantize_row(type, q.data(), y.data(), k);
  // Worst-case step per type for inputs in [-1, 1] (with 6/8-bit scale quantization slack).
  float tol = 0.0f;
  switch (type) {
    case GgmlType::F32: tol = 0.0f; break;
    case GgmlType::F16: tol = 1e-3f; break;
    case GgmlType::BF16: tol = 4e-3f; break;
    case GgmlType::Q8_0: tol = 1.0f / 127; break;
    case GgmlType::Q4_0: tol = 1.0f / 8 + 1e-3f; break;
    case GgmlType::Q4_1: tol = 2.0f / 15 / 2 + 2e-3f; break;
    case GgmlType::Q4_K: tol = 0.2f; break;
    case GgmlType::Q5_K: tol = 0.1f; break;
    case GgmlType::Q6_K: tol = 0.05f; break;
    default: break;
  }
  double err2 = 0;
  for (int64_t i = 0; i < k; ++i) {
    EXPECT_LE(std::fabs(x[i] - y[i]), tol) << i;
    err2 += (x[i] - y[i]) * (x[i] - y[i]);
  }
  // And the rms error is far below the worst case (a broken packer scrambles values).
  EXPECT_LT(std::sqrt(err2 / k), 0.6 * tol + 1e-7);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantTest,
                         ::testing::Values(GgmlType::F32, GgmlType::F16, GgmlType::BF16,
                                           GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0,
                                           GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K),
                         [](const auto& info) {
                           return std::string(ggml_type_traits(static_cast<uint32_t>(info.param))->name);
                         });

TEST(QuantizeRef, Q4_0MatchesGgmlOnKnownBlock) {
  // Values -8..7 times 0.25 with the extreme -2.0: d = -2/-8 = 0.25, q = v + 8.
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = ((i % 16) - 8) * 0.25f;
  BlockQ4_0 b;
  quantize_row_q4_0(x, &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 0.25f);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.qs[j], (j) | (j << 4)) << j;
}

TEST(ActQuant, ScalarAndAvx2ProduceIdenticalBytes) {
  if (!cpu_has_avx2()) FAIL() << "no AVX2";
  const int64_t k = 1536;
  auto x = random_floats(k, 3, -4.0f, 4.0f);
  x[5] = 0.0f;
  for (int i = 64; i < 96; ++i) x[i] = 0.0f;  // an all-zero block: d = 0
  x[200] = 127.5f * (4.0f / 127.0f);           // a tie case in some block
  std::vector<ActQ8> a(k / 32), b(k / 32);
  for (bool q8_1 : {false, true}) {
    quantize_act_q8(x.data(), a.data(), k, false, q8_1);
    quantize_act_q8(x.data(), b.data(), k, true, q8_1);
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(ActQ8)), 0) << q8_1;
  }
  std::vector<ActQ8K> c(k / 256), d(k / 256);
  quantize_act_q8k(x.data(), c.data(), k, false);
  quantize_act_q8k(x.data(), d.data(), k, true);
  ASSERT_EQ(std::memcmp(c.data(), d.data(), c.size() * sizeof(ActQ8K)), 0);
}

TEST(ActQuant, ValuesSumsAndErrorBounds) {
  const int64_t k = 512;
  auto x = random_floats(k, 5, -3.0f, 3.0f);
  std::vector<ActQ8> a(k / 32);
  quantize_act_q8_scalar(x.data(), a.data(), k);
  for (int64_t b = 0; b < k / 32; ++b) {
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      // d is rounded to fp16 (as ggml's Q8_0/Q8_1), so allow its relative error on top.
      EXPECT_LE(std::fabs(a[b].qs[j] * a[b].d - x[b * 32 + j]), a[b].d / 2 * 1.0001f + 127 * a[b].d / 2048);
      sum += a[b].qs[j];
    }
    EXPECT_EQ(a[b].d, fp16_to_fp32(fp32_to_fp16(a[b].d)));
    EXPECT_NEAR(a[b].s8 * 8, a[b].d * sum, std::fabs(a[b].d * sum) / 1024 + 1e-6f);
  }
  std::vector<ActQ8K> c(k / 256);
  quantize_act_q8k_scalar(x.data(), c.data(), k);
  for (int64_t b = 0; b < k / 256; ++b) {
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) {
        const int j = 16 * g + l;
        s += c[b].qs[j];
        EXPECT_LE(std::fabs(c[b].qs[j] * c[b].d - x[b * 256 + j]), c[b].d / 2 * 1.0001f);
      }
      EXPECT_EQ(c[b].bsums[g], s);
    }
  }
}

}  // namespace
}  // namespace assay
