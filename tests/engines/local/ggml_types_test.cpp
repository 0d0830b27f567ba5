#include "engines/local/ggml_types.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "tests/support/tiny_model_writer.h"

namespace assay {
namespace {

// Block sizes from ggml src/ggml-common.h static_asserts (reference §4).
TEST(GgmlTypes, BlockGeometryMatchesGgml) {
  struct Want {
    GgmlType t;
    const char* name;
    int64_t elems, bytes;
    bool supported;
  };
  const Want want[] = {
      {GgmlType::F32, "F32", 1, 4, true},        {GgmlType::F16, "F16", 1, 2, true},
      {GgmlType::BF16, "BF16", 1, 2, true},      {GgmlType::Q8_0, "Q8_0", 32, 34, true},
      {GgmlType::Q4_0, "Q4_0", 32, 18, true},    {GgmlType::Q4_1, "Q4_1", 32, 20, true},
      {GgmlType::Q5_0, "Q5_0", 32, 22, false},   {GgmlType::Q5_1, "Q5_1", 32, 24, false},
      {GgmlType::Q8_1, "Q8_1", 32, 36, false},   {GgmlType::Q2_K, "Q2_K", 256, 84, false},
      {GgmlType::Q3_K, "Q3_K", 256, 110, false}, {GgmlType::Q4_K, "Q4_K", 256, 144, true},
      {GgmlType::Q5_K, "Q5_K", 256, 176, true},  {GgmlType::Q6_K, "Q6_K", 256, 210, true},
      {GgmlType::Q8_K, "Q8_K", 256, 292, false},
  };
  for (const Want& w : want) {
    const GgmlTypeTraits* t = ggml_type_traits(w.t);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->name, w.name);
    EXPECT_EQ(t->block_elems, w.elems) << w.name;
    EXPECT_EQ(t->block_bytes, w.bytes) << w.name;
    EXPECT_EQ(t->supported, w.supported) << w.name;
  }
  EXPECT_EQ(ggml_type_traits(4u), nullptr);   // removed Q4_2
  EXPECT_EQ(ggml_type_traits(5u), nullptr);   // removed Q4_3
  EXPECT_EQ(ggml_type_traits(31u), nullptr);  // removed Q4_0_4_4
  EXPECT_EQ(ggml_type_traits(1000u), nullptr);
  EXPECT_EQ(ggml_type_traits(0xFFFFFFFFu), nullptr);
}

TEST(GgmlTypes, RowBytes) {
  EXPECT_EQ(ggml_row_bytes(GgmlType::F32, 576), 2304);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_1, 576), 18 * 20);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q8_0, 576), 18 * 34);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_K, 4096), 16 * 144);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_K, 576), -1);  // not a multiple of 256
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q8_0, 33), -1);
  EXPECT_EQ(ggml_row_bytes(static_cast<GgmlType>(99), 32), -1);
}

TEST(GgmlTypes, Fp16KnownValues) {
  // Expected bit patterns are numpy.float16(x).view(np.uint16).
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // rounds up to inf
  EXPECT_EQ(fp32_to_fp16(0.1f), 0x2E66);
  EXPECT_EQ(fp32_to_fp16(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even
  EXPECT_EQ(fp32_to_fp16(3e-8f), 0x0001);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(INFINITY), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie, even stays
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie, rounds up to even
  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_to_fp32(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0xFC00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
}

TEST(GgmlTypes, Fp16AgreesWithIndependentEncoderAndRoundTrips) {
  // Every half value round-trips exactly.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;  // NaNs
    ASSERT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h) << std::hex << h;
    ASSERT_EQ(tiny_fp16_to_fp32(static_cast<uint16_t>(h)), fp16_to_fp32(static_cast<uint16_t>(h)));
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exp(-30, 17);
  for (int i = 0; i < 200000; ++i) {
    const float x = std::ldexp(1.0f + (rng() % 0x800000) / 8388608.0f, static_cast<int>(exp(rng))) *
                    ((rng() & 1) ? -1.f : 1.f);
    ASSERT_EQ(fp32_to_fp16(x), tiny_fp32_to_fp16(x)) << x;
    ASSERT_EQ(fp32_to_bf16(x), tiny_fp32_to_bf16(x)) << x;
  }
}

TEST(GgmlTypes, Bf16KnownValues) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(3.14159274f), 0x4049);
  float tie_even, tie_odd;
  uint32_t b1 = 0x3F808000, b2 = 0x3F818000;
  std::memcpy(&tie_even, &b1, 4);
  std::memcpy(&tie_odd, &b2, 4);
  EXPECT_EQ(fp32_to_bf16(tie_even), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(tie_odd), 0x3F82);
  EXPECT_EQ(bf16_to_fp32(0xC000), -2.0f);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

TEST(GgmlTypes, DequantizeHandMadeBlocks) {
  // Q8_0: d = 0.5, qs = -16..15.
  uint8_t q8[34];
  const uint16_t half = 0x3800;
  std::memcpy(q8, &half, 2);
  for (int j = 0; j < 32; ++j) q8[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  float y[32];
  ASSERT_TRUE(dequantize_row_reference(GgmlType::Q8_0, q8, y, 32));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * (j - 16));
  // Q4_0: d = 2; byte j low nibble = value j, high nibble = value j+16 (reference §4.1).
  uint8_t q4[18];
  const uint16_t two = 0x4000;
  std::memcpy(q4, &two, 2);
  for (int j = 0; j < 16; ++j) q4[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  ASSERT_TRUE(dequantize_row_reference(GgmlType::Q4_0, q4, y, 32));
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * (j - 8));
    EXPECT_EQ(y[j + 16], 2.0f * (15 - j - 8));
  }
  // Q4_1: d = 0.5, m = -1: y = q*d + m, unsigned q.
  uint8_t q41[20];
  const uint16_t m = 0xBC00;
  std::memcpy(q41, &half, 2);
  std::memcpy(q41 + 2, &m, 2);
  for (int j = 0; j < 16; ++j) q41[4 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  ASSERT_TRUE(dequantize_row_reference(GgmlType::Q4_1, q41, y, 32));
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * j - 1.0f);
    EXPECT_EQ(y[j + 16], 0.5f * (15 - j) - 1.0f);
  }
  EXPECT_FALSE(dequantize_row_reference(GgmlType::Q4_K, q4, y, 256));
  EXPECT_FALSE(dequantize_row_reference(GgmlType::Q8_0, q8, y, 31));
}

TEST(GgmlTypes, WriterQuantizersRoundTripWithinStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> x(256);
  for (float& v : x) v = nd(rng);
  std::vector<float> y(256);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    std::vector<uint8_t> enc = tiny_encode_row(t, x.data(), 256);
    ASSERT_EQ(static_cast<int64_t>(enc.size()), ggml_row_bytes(t, 256));
    ASSERT_TRUE(dequantize_row_reference(t, enc.data(), y.data(), 256));
    for (int b = 0; b < 8; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      const float step = t == GgmlType::Q8_0 ? amax / 127 : amax / 8;
      // Q4_0 maps -max to 16, clamped to 15: a full step at one end.
      const float bound = (t == GgmlType::Q8_0 ? 0.5f : 1.0f) * step + 2e-3f * amax;
      for (int j = 0; j < 32; ++j) {
        EXPECT_LE(std::fabs(x[b * 32 + j] - y[b * 32 + j]), bound)
            << ggml_type_name(t) << " " << b * 32 + j;
      }
    }
  }
}

}  // namespace
}  // namespace assay
