#include "engines/local/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "engines/local/cpu/quants.h"
#include "tests/engines/local/cpu/cpu_test_util.h"

namespace assay {
namespace {

using testing_cpu::make_weights;
using testing_cpu::random_floats;
using testing_cpu::ref_dequant;
using testing_cpu::Weights;

bool is_legacy(GgmlType t) { return t == GgmlType::Q4_0 || t == GgmlType::Q4_1 || t == GgmlType::Q8_0; }
bool is_k(GgmlType t) { return t == GgmlType::Q4_K || t == GgmlType::Q5_K || t == GgmlType::Q6_K; }

TensorRef ref_of(const Weights& w) {
  return TensorRef{w.data.data(), w.type, w.k, w.n, w.row_bytes};
}

// The activations the kernel really multiplies: x after the scalar activation quantizer (which
// the AVX2 quantizer matches byte for byte, see quants_test), and the per-block scale d_a.
void quantized_activation(GgmlType type, const float* x, int64_t k, std::vector<double>* xq,
                          std::vector<double>* step) {
  xq->assign(k, 0.0);
  step->assign(k, 0.0);
  if (is_legacy(type)) {
    std::vector<ActQ8> a(k / 32);
    quantize_act_q8_scalar(x, a.data(), k, type == GgmlType::Q4_1);
    for (int64_t i = 0; i < k; ++i) {
      (*xq)[i] = static_cast<double>(a[i / 32].d) * a[i / 32].qs[i % 32];
      (*step)[i] = a[i / 32].d;
    }
  } else if (is_k(type)) {
    std::vector<ActQ8K> a(k / 256);
    quantize_act_q8k_scalar(x, a.data(), k);
    for (int64_t i = 0; i < k; ++i) {
      (*xq)[i] = static_cast<double>(a[i / 256].d) * a[i / 256].qs[i % 256];
      (*step)[i] = a[i / 256].d;
    }
  } else {
    for (int64_t i = 0; i < k; ++i) (*xq)[i] = x[i];
  }
}

struct Case {
  GgmlType type;
  int64_t n_tokens, k, n;
};

std::string case_name(const Case& c) {
  return std::string(ggml_type_traits(static_cast<uint32_t>(c.type))->name) + "_t" +
         std::to_string(c.n_tokens) + "_k" + std::to_string(c.k) + "_n" + std::to_string(c.n);
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  const GgmlType types[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                            GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0,
                            GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
  for (GgmlType t : types) {
    std::vector<int64_t> ks;
    if (is_k(t)) {
      ks = {256, 768};
    } else if (is_legacy(t)) {
      ks = {96, 576};
    } else {
      ks = {20, 576};  // 20: exercises the non-multiple-of-8 tail
    }
    for (int64_t k : ks)
      for (int64_t nt : {1, 2, 5, 67})
        for (int64_t n : {1, 7, 70}) cases.push_back({t, nt, k, n});
  }
  return cases;
}

class MatmulTest : public ::testing::TestWithParam<Case> {};

// Checks out against two references:
//  * tight: the exact product of the dequantized weights with the quantized activations (what
//    the kernel computes, up to f32 rounding);
//  * loose: the exact product with the original f32 activations, within the quantization error
//    bound sum_i |w_i| * step_i / 2.
void check_against_reference(const Case& c, const Weights& w, const std::vector<float>& x,
                             int64_t x_stride, const std::vector<float>& out, int64_t out_stride,
                             const char* what) {
  std::vector<std::vector<float>> wd(c.n);
  for (int64_t j = 0; j < c.n; ++j) wd[j] = ref_dequant(c.type, w.row(j), c.k);
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    std::vector<double> xq, step;
    quantized_activation(c.type, x.data() + t * x_stride, c.k, &xq, &step);
    for (int64_t j = 0; j < c.n; ++j) {
      double tight = 0, exact = 0, mag = 0, qbound = 0;
      for (int64_t i = 0; i < c.k; ++i) {
        const double wi = wd[j][i];
        tight += wi * xq[i];
        exact += wi * x[t * x_stride + i];
        mag += (std::fabs(wi) + 1.0) * std::fabs(xq[i]);
        qbound += std::fabs(wi) * step[i] * 0.5 * 1.0001;
      }
      if (c.type == GgmlType::Q4_1) {
        // The min term multiplies the activation block sum as stored (fp16, as ggml's Q8_1 s),
        // not the exact sum of the quantized values.
        std::vector<ActQ8> a(c.k / 32);
        quantize_act_q8_scalar(x.data() + t * x_stride, a.data(), c.k, true);
        const auto* blocks = reinterpret_cast<const BlockQ4_1*>(w.row(j));
        for (int64_t b = 0; b < c.k / 32; ++b) {
          double exact_sum = 0;
          for (int l = 0; l < 32; ++l) exact_sum += xq[b * 32 + l];
          const double diff = fp16_to_fp32(blocks[b].m) * (a[b].s8 * 8.0 - exact_sum);
          tight += diff;
          qbound += std::fabs(diff);
        }
      }
      const double got = out[t * out_stride + j];
      ASSERT_NEAR(got, tight, 2e-5 * mag + 1e-6) << what << " t=" << t << " j=" << j;
      ASSERT_NEAR(got, exact, qbound + 2e-5 * mag + 1e-6) << what << " t=" << t << " j=" << j;
    }
  }
}

TEST_P(MatmulTest, MatchesReferenceOnBothIsasAndIsDeterministic) {
  const Case c = GetParam();
  const Weights w = make_weights(c.type, c.n, c.k, 1000 + static_cast<uint32_t>(c.n * 7 + c.k));
  const std::vector<float> x = random_floats(static_cast<size_t>(c.n_tokens * c.k), 77);
  std::vector<float> out_scalar(c.n_tokens * c.n), out_avx1(c.n_tokens * c.n),
      out_avx2t(c.n_tokens * c.n), out_single(c.n_tokens * c.n), out_scalar2t(c.n_tokens * c.n);

  CpuExec scalar;  // one thread, scalar
  cpu_matmul(scalar, x.data(), c.n_tokens, 0, ref_of(w), nullptr, out_scalar.data(), 0);
  check_against_reference(c, w, x, c.k, out_scalar, c.n, "scalar");

  tbb::task_arena arena(2);
  CpuExec scalar2{false, &arena, 2};
  cpu_matmul(scalar2, x.data(), c.n_tokens, 0, ref_of(w), nullptr, out_scalar2t.data(), 0);
  ASSERT_EQ(0, std::memcmp(out_scalar.data(), out_scalar2t.data(), out_scalar.size() * 4))
      << "scalar result depends on the thread count";

  if (!cpu_has_avx2()) FAIL() << "no AVX2 on this machine";
  CpuExec avx1{true, nullptr, 1};
  cpu_matmul(avx1, x.data(), c.n_tokens, 0, ref_of(w), nullptr, out_avx1.data(), 0);
  check_against_reference(c, w, x, c.k, out_avx1, c.n, "avx2");

  CpuExec avx2{true, &arena, 2};
  cpu_matmul(avx2, x.data(), c.n_tokens, 0, ref_of(w), nullptr, out_avx2t.data(), 0);
  ASSERT_EQ(0, std::memcmp(out_avx1.data(), out_avx2t.data(), out_avx1.size() * 4))
      << "AVX2 result depends on the thread count";

  // Batch invariance: each token computed alone gives the same bits.
  for (int64_t t = 0; t < c.n_tokens; ++t)
    cpu_matmul(avx2, x.data() + t * c.k, 1, 0, ref_of(w), nullptr, out_single.data() + t * c.n, 0);
  ASSERT_EQ(0, std::memcmp(out_avx1.data(), out_single.data(), out_avx1.size() * 4))
      << "AVX2 result depends on the batch";
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatmulTest, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) { return case_name(info.param); });

TEST(Matmul, BiasAndStridesOnBothIsas) {
  for (GgmlType type : {GgmlType::Q4_1, GgmlType::F32, GgmlType::Q6_K}) {
    const int64_t k = 256, n = 9, nt = 3, xs = k + 5, os = n + 4;
    const Weights w = make_weights(type, n, k, 5);
    const auto x = random_floats(static_cast<size_t>(nt * xs), 6);
    const auto bias = random_floats(n, 8, -10.0f, 10.0f);
    for (bool avx : {false, true}) {
      if (avx && !cpu_has_avx2()) continue;
      CpuExec ex{avx, nullptr, 1};
      std::vector<float> plain(nt * n), strided(nt * os, -123.0f);
      std::vector<float> xpacked(nt * k);
      for (int64_t t = 0; t < nt; ++t)
        std::memcpy(xpacked.data() + t * k, x.data() + t * xs, k * 4);
      cpu_matmul(ex, xpacked.data(), nt, 0, ref_of(w), nullptr, plain.data(), 0);
      cpu_matmul(ex, x.data(), nt, xs, ref_of(w), bias.data(), strided.data(), os);
      for (int64_t t = 0; t < nt; ++t) {
        for (int64_t j = 0; j < n; ++j) EXPECT_EQ(strided[t * os + j], plain[t * n + j] + bias[j]);
        for (int64_t j = n; j < os; ++j) EXPECT_EQ(strided[t * os + j], -123.0f) << "wrote padding";
      }
    }
  }
}

// f32 compute (`precision=f32`): a quantized matmul is the F32 matmul of the dequantized rows,
// bit for bit, on each ISA, any thread count and any batch; and it is the exact product with the
// unquantized activations up to f32 rounding (no 8-bit activation error).
TEST(Matmul, F32ComputeIsTheFloatMatmulOfTheDequantizedRows) {
  tbb::task_arena arena(2);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4_K,
                        GgmlType::Q5_K, GgmlType::Q6_K}) {
    const int64_t k = is_k(type) ? 512 : 576, n = 70;
    const Weights w = make_weights(type, n, k, 31 + static_cast<uint32_t>(type));
    std::vector<float> wf(static_cast<size_t>(n * k));
    for (int64_t j = 0; j < n; ++j) dequantize_row(type, w.row(j), wf.data() + j * k, k);
    const TensorRef f32_ref{wf.data(), GgmlType::F32, k, n, static_cast<size_t>(k * 4)};
    for (int64_t nt : {1, 5, 67}) {
      const auto x = random_floats(static_cast<size_t>(nt * k), 90 + static_cast<uint32_t>(nt));
      for (bool avx : {false, true}) {
        if (avx && !cpu_has_avx2()) FAIL() << "no AVX2 on this machine";
        const std::string what = case_name({type, nt, k, n}) + (avx ? " avx2" : " scalar");
        CpuExec one{avx, nullptr, 1};
        std::vector<float> want(nt * n), got(nt * n), got2t(nt * n), single(nt * n);
        cpu_matmul(one, x.data(), nt, 0, f32_ref, nullptr, want.data(), 0);
        one.f32_compute = true;
        cpu_matmul(one, x.data(), nt, 0, ref_of(w), nullptr, got.data(), 0);
        ASSERT_EQ(0, std::memcmp(want.data(), got.data(), got.size() * 4)) << what;
        CpuExec two{avx, &arena, 2};
        two.f32_compute = true;
        cpu_matmul(two, x.data(), nt, 0, ref_of(w), nullptr, got2t.data(), 0);
        ASSERT_EQ(0, std::memcmp(got.data(), got2t.data(), got.size() * 4)) << what << " threads";
        for (int64_t t = 0; t < nt; ++t)
          cpu_matmul(two, x.data() + t * k, 1, 0, ref_of(w), nullptr, single.data() + t * n, 0);
        ASSERT_EQ(0, std::memcmp(got.data(), single.data(), got.size() * 4)) << what << " batch";
        for (int64_t t = 0; t < nt; ++t) {
          for (int64_t j = 0; j < n; ++j) {
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < k; ++i) {
              exact += static_cast<double>(wf[j * k + i]) * x[t * k + i];
              mag += std::fabs(static_cast<double>(wf[j * k + i]) * x[t * k + i]);
            }
            ASSERT_NEAR(got[t * n + j], exact, 1e-6 * mag + 1e-7) << what << " t=" << t << " j=" << j;
          }
        }
      }
    }
  }
}

TEST(Matmul, RowStrideLargerThanRowBytes) {
  // A TensorRef view with padded rows (e.g. a slice of a bigger tensor).
  const int64_t k = 64, n = 5;
  const Weights w = make_weights(GgmlType::Q8_0, n, k, 3);
  std::vector<uint8_t> padded(n * (w.row_bytes + 6), 0xAB);
  for (int64_t r = 0; r < n; ++r) std::memcpy(padded.data() + r * (w.row_bytes + 6), w.row(r), w.row_bytes);
  const auto x = random_floats(k, 4);
  for (bool avx : {false, true}) {
    if (avx && !cpu_has_avx2()) continue;
    CpuExec ex{avx, nullptr, 1};
    std::vector<float> a(n), b(n);
    cpu_matmul(ex, x.data(), 1, 0, ref_of(w), nullptr, a.data(), 0);
    cpu_matmul(ex, x.data(), 1, 0, TensorRef{padded.data(), GgmlType::Q8_0, k, n, w.row_bytes + 6},
               nullptr, b.data(), 0);
    EXPECT_EQ(a, b);
  }
}

}  // namespace
}  // namespace assay
