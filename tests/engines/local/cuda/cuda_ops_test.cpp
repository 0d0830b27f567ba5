// CudaOps against CpuOps (and a double-precision reference for matmul) on fresh random inputs:
// every weight type, odd sizes, row strides, GQA and shared-prefix KV layouts. Outputs are filled
// with NaN first so an element the kernel forgot fails the comparison. Then whole models through
// LocalModel on both backends: logits KL and greedy tokens.
//
// Skips (label gpu) when no CUDA device is present.
#include "engines/local/cuda/cuda_ops.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "engines/local/cpu/cpu_ops.h"
#include "engines/local/cpu/quants.h"
#include "engines/local/cuda/cuda_kernels.h"
#include "engines/local/cuda/gemv_q8.cuh"
#include "engines/local/local_model.h"
#include "harness/model_spec.h"
#include "tests/engines/local/cpu/cpu_test_util.h"
#include "tests/support/default_model.h"
#include "tests/support/test_env.h"
#include "tests/support/tiny_model_writer.h"

namespace assay {
namespace {

using testing_cpu::make_weights;
using testing_cpu::random_floats;
using testing_cpu::ref_dequant;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

class CudaOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_device_available()) GTEST_SKIP() << cuda_device_description();
    gpu_ = make_cuda_ops();
  }
  void TearDown() override {
    if (gpu_)
      for (void* p : bufs_) gpu_->free(p);
  }
  // Device copy of host data (bytes).
  template <class T>
  T* dev(const std::vector<T>& v) {
    void* p = gpu_->alloc(std::max<size_t>(v.size() * sizeof(T), 1));
    gpu_->upload(p, v.data(), v.size() * sizeof(T));
    bufs_.push_back(p);
    return static_cast<T*>(p);
  }
  float* dev_nan(size_t n) { return dev(std::vector<float>(n, kNaN)); }
  std::vector<float> down(const float* p, size_t n) {
    std::vector<float> v(n);
    gpu_->download(v.data(), p, n * 4);
    return v;
  }
  std::unique_ptr<Ops> gpu_;
  CpuOps cpu_{CpuOpsOptions{2, true}};
  std::vector<void*> bufs_;
  // Runs attention on a CudaOps made with `o` and checks every output element against `want`
  // (CpuOps' result, row stride os over qw written elements), and that the stride gap stays NaN.
  void expect_attention(const CudaOpsOptions& o, const float* dq, const TensorRef& dk, const TensorRef& dv,
                        const AttentionLayout& layout, const AttentionParams& p, const std::vector<float>& want,
                        int64_t qw, int64_t os, float tol, const std::string& what) {
    auto ops = make_cuda_ops(o);
    const int64_t n_tok = static_cast<int64_t>(layout.token_seq.size());
    float* gout = dev_nan(n_tok * os);
    ops->attention(dq, dk, dv, layout, p, gout, 0, os);
    ops->synchronize();
    auto got = down(gout, want.size());
    for (int64_t t = 0; t < n_tok; ++t) {
      for (int64_t i = 0; i < qw; ++i) {
        const float g = got[t * os + i], w = want[t * os + i];
        ASSERT_TRUE(std::isfinite(g)) << what << ": token " << t << " elem " << i << " not written";
        ASSERT_NEAR(g, w, tol) << what << ": token " << t << " elem " << i;
      }
      ASSERT_TRUE(std::isnan(got[t * os + qw])) << what << ": wrote into the out stride gap";
    }
  }
};

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float rel,
                  float abs_tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << ": element " << i << " not written";
    ASSERT_NEAR(got[i], want[i], abs_tol + rel * std::abs(want[i])) << what << ": element " << i;
  }
}

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                              GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

std::string tname(GgmlType t) { return std::string(ggml_type_name(t)); }

TEST_F(CudaOpsTest, MemoryRoundTripAndTypes) {
  auto src = random_floats(1000, 1);
  float* d = dev(src);
  EXPECT_EQ(down(d, 1000), src);
  gpu_->fill_zero(d, 400);
  auto z = down(d, 1000);
  EXPECT_EQ(z[0], 0.0f);
  EXPECT_EQ(z[99], 0.0f);
  EXPECT_EQ(z[100], src[100]);
  EXPECT_FALSE(gpu_->host_memory_is_device());
  for (GgmlType t : kAllTypes) EXPECT_TRUE(gpu_->supports_type(t)) << tname(t);
  EXPECT_FALSE(gpu_->supports_type(GgmlType::Q5_0));
}

TEST_F(CudaOpsTest, EmbedMatchesCpuForEveryType) {
  for (GgmlType type : kAllTypes) {
    const int64_t n_embd = testing_cpu::block_elems(type) == 1 ? 77 : 512, n_vocab = 13;
    const auto w = make_weights(type, n_vocab, n_embd, 9);
    const std::vector<int32_t> ids = {3, 0, 12, 3, 7};
    const int64_t stride = n_embd + 5;
    const TensorRef cref{w.data.data(), type, n_embd, n_vocab, w.row_bytes};
    TensorRef gref = cref;
    gref.data = dev(w.data);
    float* out = dev_nan(ids.size() * stride);
    gpu_->embed(gref, ids, out, stride);
    std::vector<float> want(ids.size() * stride, kNaN);
    cpu_.embed(cref, ids, want.data(), stride);
    auto got = down(out, want.size());
    for (size_t t = 0; t < ids.size(); ++t)
      for (int64_t i = 0; i < n_embd; ++i)
        ASSERT_EQ(got[t * stride + i], want[t * stride + i]) << tname(type) << " t=" << t << " i=" << i;
    EXPECT_TRUE(std::isnan(got[n_embd])) << "wrote past the row into the stride gap";
  }
}

// Max over outputs of |got - ref| / sum_i |x_i w_i|: the error relative to the dot's magnitude.
double matmul_error(const std::vector<float>& got, int64_t os, const std::vector<float>& x,
                    int64_t xs, const testing_cpu::Weights& w, int64_t n_tok, const float* bias) {
  double worst = 0;
  for (int64_t j = 0; j < w.n; ++j) {
    const auto wr = ref_dequant(w.type, w.row(j), w.k);
    for (int64_t t = 0; t < n_tok; ++t) {
      double s = 0, mag = 1e-30;
      for (int64_t i = 0; i < w.k; ++i) {
        s += static_cast<double>(x[t * xs + i]) * wr[i];
        mag += std::abs(static_cast<double>(x[t * xs + i]) * wr[i]);
      }
      if (bias) s += bias[j];
      const float g = got[t * os + j];
      if (!std::isfinite(g)) return INFINITY;
      worst = std::max(worst, std::abs(g - s) / mag);
    }
  }
  return worst;
}

TEST_F(CudaOpsTest, MatmulEveryTypeBothPathsMatchesDoubleReference) {
  CudaOpsOptions wide_opt;  // the GEMV up to its 8 tokens
  wide_opt.gemv_max_tokens = 8;
  auto wide = make_cuda_ops(wide_opt);
  for (GgmlType type : kAllTypes) {
    const bool plain = testing_cpu::block_elems(type) == 1;
    const int64_t k = plain ? 203 : 512, n = 37;
    const auto w = make_weights(type, n, k, 11);
    TensorRef gw{dev(w.data), type, k, n, w.row_bytes};
    const auto bias = random_floats(n, 12);
    float* gbias = dev(bias);
    // 5 and 8 tokens both ways: the GEMM path (default options) and the GEMV (wide).
    for (auto [n_tok, gemv_wide] : {std::pair{1, false}, std::pair{2, false}, std::pair{3, false}, std::pair{4, false},
                                   std::pair{5, false}, std::pair{5, true}, std::pair{6, true}, std::pair{7, true},
                                   std::pair{8, true}, std::pair{33, false}}) {
      for (bool strided : {false, true}) {
        const int64_t xs = strided ? k + 3 : k, os = strided ? n + 7 : n;
        const auto x = random_floats(n_tok * xs, 13 + n_tok);
        float* gx = dev(x);
        float* out = dev_nan(n_tok * os);
        const bool with_bias = strided;
        Ops* ops = gemv_wide ? wide.get() : gpu_.get();
        ops->matmul(gx, n_tok, gw, with_bias ? gbias : nullptr, out, strided ? xs : 0, strided ? os : 0);
        ops->synchronize();
        const auto got = down(out, n_tok * os);
        const double err = matmul_error(got, os, x, xs, w, n_tok, with_bias ? bias.data() : nullptr);
        // The GEMV (up to 4 tokens, or 8 on wide): F32 math on exactly dequantized weights.
        // Above: BF16 GEMM (F32 weights: FP32 GEMM).
        const double tol = (n_tok <= 4 || gemv_wide || type == GgmlType::F32) ? 1e-5 : 1e-2;
        EXPECT_LE(err, tol) << tname(type) << " n_tok=" << n_tok << (gemv_wide ? " gemv" : "") << " strided=" << strided;
        if (strided) {
          for (int64_t t = 0; t < n_tok; ++t) {
            ASSERT_TRUE(std::isnan(got[t * os + n])) << tname(type) << ": wrote into the out stride gap";
          }
        }
      }
    }
  }
}

// q8_gemv: quantized GEMVs on 8-bit activations give CpuOps' default (integer-kernel) results: the
// same activation quants and integer sums per block, only the float sums over blocks in another
// order. The float GEMV's results differ from both by the activation rounding, which shows that
// the option took the other path.
TEST_F(CudaOpsTest, Q8GemvMatchesCpuIntegerKernels) {
  unsetenv("ASSAY_CUDA_Q8_GEMV");  // it would override both backends' options
  CudaOpsOptions o;
  o.q8_gemv = true;
  o.gemv_max_tokens = 8;
  auto q8 = make_cuda_ops(o);
  CudaOpsOptions fo;
  fo.gemv_max_tokens = 8;  // the float GEMV, for its distance
  auto flt_ops = make_cuda_ops(fo);
  EXPECT_NE(q8->name().find(" q8"), std::string_view::npos) << q8->name();
  CpuOps cpu_int{CpuOpsOptions{2, true}};
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q4_0, GgmlType::Q4_1,
                        GgmlType::Q8_0}) {
    const int64_t k = 2304, n = 37;  // 9 K-blocks per row; 37 rows: a partial last warp and block
    const auto w = make_weights(type, n, k, 71);
    const TensorRef hw{w.data.data(), type, k, n, w.row_bytes};
    const TensorRef gw{dev(w.data), type, k, n, w.row_bytes};
    const auto bias = random_floats(n, 72);
    float* gbias = dev(bias);
    for (int64_t n_tok : {1, 2, 3, 4, 5, 6, 7, 8}) {
      for (bool strided : {false, true}) {
        const int64_t xs = strided ? k + 3 : k, os = strided ? n + 7 : n;
        const auto x = random_floats(n_tok * xs, 73 + n_tok, -2.0f, 2.0f);
        float* gx = dev(x);
        float* out = dev_nan(n_tok * os);
        const float* b = strided ? gbias : nullptr;
        q8->matmul(gx, n_tok, gw, b, out, xs, os);
        q8->synchronize();
        const auto got = down(out, n_tok * os);
        std::vector<float> want(n_tok * os, kNaN);
        cpu_int.matmul(x.data(), n_tok, hw, strided ? bias.data() : nullptr, want.data(), xs, os);
        float* fout = dev_nan(n_tok * os);
        flt_ops->matmul(gx, n_tok, gw, b, fout, xs, os);
        flt_ops->synchronize();
        const auto flt = down(fout, n_tok * os);
        const std::string what = tname(type) + " n_tok=" + std::to_string(n_tok) + (strided ? " strided" : "");
        float scale = 0.0f, max_diff = 0.0f, max_flt_diff = 0.0f;
        for (int64_t t = 0; t < n_tok; ++t)
          for (int64_t j = 0; j < n; ++j) scale = std::max(scale, std::abs(want[t * os + j]));
        for (int64_t t = 0; t < n_tok; ++t) {
          for (int64_t j = 0; j < n; ++j) {
            ASSERT_TRUE(std::isfinite(got[t * os + j])) << what << ": token " << t << " row " << j << " not written";
            max_diff = std::max(max_diff, std::abs(got[t * os + j] - want[t * os + j]));
            max_flt_diff = std::max(max_flt_diff, std::abs(flt[t * os + j] - want[t * os + j]));
          }
          if (strided) {
            ASSERT_TRUE(std::isnan(got[t * os + n])) << what << ": wrote into the out stride gap";
          }
        }
        EXPECT_LE(max_diff, 2e-5f * scale) << what;
        EXPECT_GT(max_flt_diff, 10 * max_diff) << what << ": the float GEMV is as close; was q8 used?";
      }
    }
  }
}

// The activation quantizers of q8_gemv on the device, byte for byte against the CPU's (the host
// tests check their arithmetic with the host's rounding; this, the device's): random values, a
// block of zeros, and a block whose products land on m + 0.5 exactly (amax 127: scale 1), which
// must round to even. ActQ8K with its sums (K-quant weights), ActQ8 with Q8_0's exact sums and
// Q4_1's F16-rounded ones.
TEST_F(CudaOpsTest, ActivationQuantizersGiveTheCpuBytes) {
  const int64_t k = 1024, xs = k + 8;
  const int nt = 2;
  const auto x = testing_cpu::activation_probe_rows(nt, xs, 81);
  float* gx = dev(x);
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::Q4_1}) {
    const int64_t as = cuda::act_q8_row_bytes(type, k);
    uint8_t* ga = dev(std::vector<uint8_t>(static_cast<size_t>(as * nt), 0xAB));
    cuda::launch_quantize_act(type, gx, xs, nt, k, ga, nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // the launch went to the default stream
    std::vector<uint8_t> got(static_cast<size_t>(as * nt));
    gpu_->download(got.data(), ga, got.size());
    for (int t = 0; t < nt; ++t) {
      const uint8_t* a = got.data() + t * as;
      const std::string what = tname(type) + " token " + std::to_string(t);
      if (type == GgmlType::Q4_K) {
        std::vector<ActQ8K> want(static_cast<size_t>(k / 256));
        quantize_act_q8k_scalar(x.data() + t * xs, want.data(), k);
        for (int64_t b = 0; b < k / 256; ++b) {
          ASSERT_EQ(std::memcmp(a + 256 * b, want[b].qs, 256), 0) << what << " block " << b;
          ASSERT_EQ(std::memcmp(a + cuda::ActQ8KRow::d_offset(k) + 4 * b, &want[b].d, 4), 0) << what << " block " << b;
          ASSERT_EQ(std::memcmp(a + cuda::ActQ8KRow::bsums_offset(k) + 32 * b, want[b].bsums, 32), 0)
              << what << " block " << b;
        }
      } else {
        std::vector<ActQ8> want(static_cast<size_t>(k / 32));
        quantize_act_q8_scalar(x.data() + t * xs, want.data(), k, type == GgmlType::Q4_1);
        for (int64_t b = 0; b < k / 32; ++b) {
          const float sum = want[b].s8 * 8.0f;
          ASSERT_EQ(std::memcmp(a + 32 * b, want[b].qs, 32), 0) << what << " block " << b;
          ASSERT_EQ(std::memcmp(a + cuda::ActQ8Row::d_offset(k) + 4 * b, &want[b].d, 4), 0) << what << " block " << b;
          ASSERT_EQ(std::memcmp(a + cuda::ActQ8Row::s_offset(k) + 4 * b, &sum, 4), 0) << what << " block " << b;
        }
      }
    }
  }
}

TEST_F(CudaOpsTest, RmsNormMatchesCpu) {
  for (int64_t n : {4096, 13}) {
    const int64_t rows = 7;
    const auto x = random_floats(rows * n, 2, -3.0f, 3.0f);
    const auto w = random_floats(n, 3, 0.5f, 1.5f);
    for (bool weighted : {true, false}) {
      std::vector<float> want(rows * n);
      cpu_.rms_norm(x.data(), weighted ? w.data() : nullptr, want.data(), rows, n, 1e-5f);
      float* gx = dev(x);
      gpu_->rms_norm(gx, weighted ? dev(w) : nullptr, gx, rows, n, 1e-5f);  // in place
      expect_close(down(gx, rows * n), want, 1e-5f, 1e-6f, "rms_norm n=" + std::to_string(n));
    }
  }
}

TEST_F(CudaOpsTest, RopeAllVariantsMatchCpu) {
  const int n_head = 5, head_dim = 64;
  const int64_t n_tok = 9, xs = n_head * head_dim + 12;
  const std::vector<int32_t> pos = {0, 1, 2, 17, 100, 511, 4095, 8000, 3};
  const auto ff = random_floats(32, 4, 1.0f, 8.0f);
  for (RopeStyle style : {RopeStyle::kNorm, RopeStyle::kNeox}) {
    for (int n_rot : {64, 32}) {
      for (float freq_scale : {1.0f, 0.25f}) {
        for (bool factors : {false, true}) {
          if (factors && n_rot != 64) continue;
          RopeParams cp{style, n_rot, 500000.0f, freq_scale, factors ? ff.data() : nullptr};
          RopeParams gp = cp;
          gp.freq_factors = factors ? dev(ff) : nullptr;
          auto x = random_floats(n_tok * xs, 5);
          float* gx = dev(x);
          cpu_.rope(x.data(), n_tok, n_head, head_dim, pos, cp, xs);
          gpu_->rope(gx, n_tok, n_head, head_dim, pos, gp, xs);
          // Angles up to ~8000 rad: cos/sin libraries differ by an ulp of the angle's reduction.
          expect_close(down(gx, x.size()), x, 0.0f, 2e-5f,
                       "rope style=" + std::to_string(int(style)) + " n_rot=" + std::to_string(n_rot) +
                           " fs=" + std::to_string(freq_scale) + " ff=" + std::to_string(factors));
        }
      }
    }
  }
}

TEST_F(CudaOpsTest, StoreRowsF32AndF16MatchCpu) {
  const int64_t ne0 = 72, n_rows_cache = 20, src_stride = 80;
  const std::vector<int32_t> rows = {5, 0, 19, 7};
  const auto src = random_floats(rows.size() * src_stride, 6, -70000.0f, 70000.0f);
  for (GgmlType t : {GgmlType::F32, GgmlType::F16}) {
    const size_t rb = static_cast<size_t>(ggml_row_bytes(t, ne0));
    std::vector<uint8_t> cache(rb * n_rows_cache, 0xAB);
    uint8_t* gcache = dev(cache);
    cpu_.store_rows(src.data(), rows, MutableTensorRef{cache.data(), t, ne0, n_rows_cache, rb}, src_stride);
    gpu_->store_rows(dev(src), rows, MutableTensorRef{gcache, t, ne0, n_rows_cache, rb}, src_stride);
    std::vector<uint8_t> got(cache.size());
    gpu_->download(got.data(), gcache, got.size());
    EXPECT_EQ(got, cache) << tname(t);
  }
}

// Three sequences sharing a 40-row prefix (rows scattered over the cache), each with its own
// tail; queries attend to prefixes of various lengths.
// Random K and V caches of n_cache rows of width kvw in type kv (floats from seeds seed, seed + 1).
std::pair<std::vector<uint8_t>, std::vector<uint8_t>> random_kv_cache(GgmlType kv, int64_t n_cache,
                                                                      int64_t kvw, uint32_t seed) {
  const size_t rb = static_cast<size_t>(ggml_row_bytes(kv, kvw));
  std::vector<uint8_t> kc(rb * n_cache), vc(rb * n_cache);
  const auto kf = random_floats(n_cache * kvw, seed), vf = random_floats(n_cache * kvw, seed + 1);
  for (int64_t r = 0; r < n_cache; ++r) {
    quantize_row(kv, kf.data() + r * kvw, kc.data() + r * rb, kvw);
    quantize_row(kv, vf.data() + r * kvw, vc.data() + r * rb, kvw);
  }
  return {std::move(kc), std::move(vc)};
}

TEST_F(CudaOpsTest, AttentionGqaSharedPrefixMatchesCpu) {
  std::mt19937 rng(7);
  struct Shape {
    int n_head, n_head_kv, head_dim;
  };
  for (Shape sh : {Shape{8, 2, 64}, Shape{4, 4, 16}, Shape{6, 3, 128}, Shape{4, 1, 80}}) {
    for (GgmlType kv : {GgmlType::F32, GgmlType::F16}) {
      const int64_t n_cache = 300;
      const int64_t kvw = static_cast<int64_t>(sh.n_head_kv) * sh.head_dim;
      const int64_t qw = static_cast<int64_t>(sh.n_head) * sh.head_dim;
      std::vector<int32_t> perm(n_cache);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      const std::vector<int32_t> prefix(perm.begin(), perm.begin() + 40);
      std::vector<int32_t> rows, offsets = {0};
      const int tails[3] = {0, 70, 150};
      int next = 40;
      for (int s = 0; s < 3; ++s) {
        rows.insert(rows.end(), prefix.begin(), prefix.end());
        for (int i = 0; i < tails[s]; ++i) rows.push_back(perm[next++]);
        offsets.push_back(static_cast<int32_t>(rows.size()));
      }
      std::vector<int32_t> token_seq = {0, 0, 1, 1, 1, 2, 2, 2, 2};
      std::vector<int32_t> token_n_kv = {1, 40, 41, 77, 110, 3, 64, 150, 190};
      const int64_t n_tok = static_cast<int64_t>(token_seq.size());
      const size_t rb = static_cast<size_t>(ggml_row_bytes(kv, kvw));
      const auto [kc, vc] = random_kv_cache(kv, n_cache, kvw, 8);
      const int64_t qs = qw + 8, os = qw + 4;
      const auto q = random_floats(n_tok * qs, 10, -2.0f, 2.0f);
      AttentionLayout layout{rows, offsets, token_seq, token_n_kv};
      AttentionParams p{sh.n_head, sh.n_head_kv, sh.head_dim, 0.0f};
      std::vector<float> want(n_tok * os, kNaN);
      cpu_.attention(q.data(), TensorRef{kc.data(), kv, kvw, n_cache, rb}, TensorRef{vc.data(), kv, kvw, n_cache, rb},
                     layout, p, want.data(), qs, os);
      float* gout = dev_nan(n_tok * os);
      gpu_->attention(dev(q), TensorRef{dev(kc), kv, kvw, n_cache, rb}, TensorRef{dev(vc), kv, kvw, n_cache, rb},
                      layout, p, gout, qs, os);
      auto got = down(gout, want.size());
      for (int64_t t = 0; t < n_tok; ++t) {
        for (int64_t i = 0; i < qw; ++i) {
          const float g = got[t * os + i], w = want[t * os + i];
          ASSERT_TRUE(std::isfinite(g)) << "token " << t << " elem " << i << " not written";
          ASSERT_NEAR(g, w, 2e-5f) << "heads " << sh.n_head << "/" << sh.n_head_kv << " hd " << sh.head_dim
                                   << " " << tname(kv) << " token " << t << " elem " << i;
        }
        ASSERT_TRUE(std::isnan(got[t * os + qw])) << "wrote into the out stride gap";
      }
    }
  }
}

// Split-KV decode (flash-decoding): forced splits, including slices left empty by short
// contexts, and the automatic choice on a long context, against CpuOps.
TEST_F(CudaOpsTest, AttentionSplitKvMatchesCpu) {
  struct Shape {
    int n_head, n_head_kv, head_dim;
  };
  std::mt19937 rng(11);
  for (Shape sh : {Shape{32, 8, 128}, Shape{6, 3, 64}}) {
    for (GgmlType kv : {GgmlType::F16, GgmlType::F32}) {
      const int64_t n_cache = 5000;
      const int64_t kvw = static_cast<int64_t>(sh.n_head_kv) * sh.head_dim;
      const int64_t qw = static_cast<int64_t>(sh.n_head) * sh.head_dim;
      std::vector<int32_t> perm(n_cache);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      // Two sequences sharing 1,000 rows; decode tokens (< 32 per sequence, so no GEMM path).
      std::vector<int32_t> rows(perm.begin(), perm.begin() + 4600), offsets = {0, 4600};
      rows.insert(rows.end(), perm.begin(), perm.begin() + 1000);
      rows.insert(rows.end(), perm.begin() + 4600, perm.end());
      offsets.push_back(static_cast<int32_t>(rows.size()));
      const std::vector<int32_t> token_seq = {0, 1, 0, 1, 0};
      const std::vector<int32_t> token_n_kv = {4600, 1400, 1, 33, 257};
      const int64_t n_tok = static_cast<int64_t>(token_seq.size());
      const size_t rb = static_cast<size_t>(ggml_row_bytes(kv, kvw));
      const auto [kc, vc] = random_kv_cache(kv, n_cache, kvw, 41);
      const int64_t os = qw + 4;
      // Sharp softmaxes (large q) so a misweighted slice shows.
      const auto q = random_floats(n_tok * qw, 43, -4.0f, 4.0f);
      AttentionLayout layout{rows, offsets, token_seq, token_n_kv};
      AttentionParams p{sh.n_head, sh.n_head_kv, sh.head_dim, 0.0f};
      std::vector<float> want(n_tok * os, kNaN);
      cpu_.attention(q.data(), TensorRef{kc.data(), kv, kvw, n_cache, rb}, TensorRef{vc.data(), kv, kvw, n_cache, rb},
                     layout, p, want.data(), 0, os);
      const float* dq = dev(q);
      const TensorRef dk{dev(kc), kv, kvw, n_cache, rb}, dv{dev(vc), kv, kvw, n_cache, rb};
      for (int splits : {0, 1, 2, 3, 7, 40}) {
        CudaOpsOptions o;
        o.attn_splits = splits;
        expect_attention(o, dq, dk, dv, layout, p, want, qw, os, 2e-5f,
                         "splits " + std::to_string(splits) + " heads " + std::to_string(sh.n_head) + "/" +
                             std::to_string(sh.n_head_kv) + " " + tname(kv));
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Prefill-sized runs (>= 32 tokens of one sequence) take the GEMM path or the flash kernel (F16 operands, F32
// accumulation): two long runs sharing a prefix, with a short run of a third sequence between.
TEST_F(CudaOpsTest, AttentionPrefillRunsMatchCpu) {
  unsetenv("ASSAY_CUDA_FLASH_PREFILL");  // it would override both paths' options
  struct Shape {
    int n_head, n_head_kv, head_dim;
  };
  for (Shape sh : {Shape{8, 2, 64}, Shape{4, 1, 128}}) {
    for (GgmlType kv : {GgmlType::F16, GgmlType::F32}) {
      const int64_t n_cache = 400;
      const int64_t kvw = static_cast<int64_t>(sh.n_head_kv) * sh.head_dim;
      const int64_t qw = static_cast<int64_t>(sh.n_head) * sh.head_dim;
      std::vector<int32_t> perm(n_cache);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), std::mt19937(3));
      std::vector<int32_t> rows, offsets = {0}, token_seq, token_n_kv;
      int next = 50;
      const int own[3] = {100, 40, 10};
      for (int s = 0; s < 3; ++s) {
        rows.insert(rows.end(), perm.begin(), perm.begin() + 50);
        for (int i = 0; i < own[s]; ++i) rows.push_back(perm[next++]);
        offsets.push_back(static_cast<int32_t>(rows.size()));
      }
      for (int i = 0; i < 100; ++i) token_seq.push_back(0), token_n_kv.push_back(51 + i);
      for (int i = 0; i < 3; ++i) token_seq.push_back(2), token_n_kv.push_back(55 + 2 * i);
      for (int i = 0; i < 40; ++i) token_seq.push_back(1), token_n_kv.push_back(51 + i);
      const int64_t n_tok = static_cast<int64_t>(token_seq.size());
      const size_t rb = static_cast<size_t>(ggml_row_bytes(kv, kvw));
      const auto [kc, vc] = random_kv_cache(kv, n_cache, kvw, 31);
      const int64_t os = qw + 4;
      const auto q = random_floats(n_tok * qw, 33, -2.0f, 2.0f);
      AttentionLayout layout{rows, offsets, token_seq, token_n_kv};
      AttentionParams p{sh.n_head, sh.n_head_kv, sh.head_dim, 0.0f};
      std::vector<float> want(n_tok * os, kNaN);
      cpu_.attention(q.data(), TensorRef{kc.data(), kv, kvw, n_cache, rb}, TensorRef{vc.data(), kv, kvw, n_cache, rb},
                     layout, p, want.data(), 0, os);
      const float* dq = dev(q);
      const TensorRef dk{dev(kc), kv, kvw, n_cache, rb}, dv{dev(vc), kv, kvw, n_cache, rb};
      // Both prefill paths: gathered K/V through cuBLAS, and the flash-attention kernel.
      // F16 rounding of q, k, p and v: a few 1e-4 on outputs of magnitude <= 1.
      for (bool flash : {false, true}) {
        CudaOpsOptions o;
        o.flash_prefill = flash;
        expect_attention(o, dq, dk, dv, layout, p, want, qw, os, 3e-3f,
                         std::string(flash ? "flash" : "gemm") + " heads " + std::to_string(sh.n_head) + "/" +
                             std::to_string(sh.n_head_kv) + " " + tname(kv));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_F(CudaOpsTest, SwigluAddGatherMatchCpu) {
  const int64_t rows = 6, n = 1001, gs = 1010, us = 1003, os = 1005;
  const auto g = random_floats(rows * gs, 20, -8.0f, 8.0f), u = random_floats(rows * us, 21);
  std::vector<float> want(rows * os, kNaN);
  cpu_.swiglu(g.data(), u.data(), want.data(), rows, n, gs, us, os);
  float* gout = dev_nan(rows * os);
  gpu_->swiglu(dev(g), dev(u), gout, rows, n, gs, us, os);
  auto got = down(gout, want.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(got[r * os + i], want[r * os + i], 1e-5f * (1 + std::abs(want[r * os + i])));

  const auto a = random_floats(12345, 22), b = random_floats(12345, 23);
  std::vector<float> sum(a.size());
  cpu_.add(a.data(), b.data(), sum.data(), 12345);
  float* ga = dev(a);
  gpu_->add(ga, dev(b), ga, 12345);  // aliasing out == a
  EXPECT_EQ(down(ga, a.size()), sum);

  const auto src = random_floats(10 * 37, 24);
  const std::vector<int32_t> idx = {9, 0, 4, 4};
  std::vector<float> gw(idx.size() * 33);
  cpu_.gather_rows(src.data(), 37, idx, 33, gw.data());
  float* gd = dev_nan(gw.size());
  gpu_->gather_rows(dev(src), 37, idx, 33, gd);
  EXPECT_EQ(down(gd, gw.size()), gw);
}

// Sampling on the device draws the host Sampler's token for the same unit (cuda_sampling.cuh;
// its block function is also checked on the host by assay_cuda_host_tests).
TEST_F(CudaOpsTest, SampleTokensMatchCpu) {
  const int64_t n_vocab = 49152, n_rows = 24;
  auto logits = random_floats(n_rows * n_vocab, 61, -12.0f, 12.0f);
  for (int64_t v = 0; v < n_vocab; v += 7) logits[5 * n_vocab + v] = std::round(logits[5 * n_vocab + v]);  // ties
  for (int64_t v = 0; v < n_vocab; v += 3) logits[6 * n_vocab + v] = -INFINITY;                        // masked
  std::vector<SampleRow> rows;
  std::mt19937 rng(62);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const SampleRow kinds[] = {{1.0, 1.0, 0, 0, 0}, {0.7, 0.9, 0, 0, 0}, {1.0, 1.0, 0, 40, 0},
                             {1.2, 0.95, 0, 50, 0}, {0.0, 1.0, 0, 0, 0}, {1.0, 0.5, 0, 3, 0}};
  for (int64_t r = 0; r < n_rows; ++r) {
    SampleRow p = kinds[r % 6];
    p.unit = unit(rng);
    rows.push_back(p);
  }
  std::vector<int32_t> want(n_rows), got(n_rows, -1);
  cpu_.sample_tokens(logits.data(), n_rows, n_vocab, rows, want.data());
  gpu_->sample_tokens(dev(logits), n_rows, n_vocab, rows, got.data());
  for (int64_t r = 0; r < n_rows; ++r) EXPECT_EQ(got[r], want[r]) << "row " << r;
}

TEST_F(CudaOpsTest, TokenLogprobsMatchCpu) {
  const int64_t n_vocab = 50257, rows = 5;
  auto logits = random_floats(rows * n_vocab, 30, -10.0f, 10.0f);
  logits[2 * n_vocab + 100] = 50.0f;  // a tie: the lower index must win
  logits[2 * n_vocab + 40000] = 50.0f;
  logits[4 * n_vocab + n_vocab - 1] = 60.0f;  // maximum at the last index
  const std::vector<int32_t> targets = {0, 17, 100, -1, static_cast<int32_t>(n_vocab - 1)};
  std::vector<float> lp(rows), lse(rows), glp(rows, kNaN), glse(rows, kNaN);
  std::vector<int32_t> am(rows), gam(rows, -7);
  cpu_.token_logprobs(logits.data(), rows, n_vocab, targets, lp.data(), am.data(), lse.data());
  gpu_->token_logprobs(dev(logits), rows, n_vocab, targets, glp.data(), gam.data(), glse.data());
  EXPECT_EQ(gam, am);
  EXPECT_EQ(gam[2], 100);
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_NEAR(glse[r], lse[r], 1e-5f * std::abs(lse[r])) << r;
    if (targets[r] < 0) {
      EXPECT_TRUE(std::isnan(glp[r]));
    } else {
      EXPECT_NEAR(glp[r], lp[r], 1e-4f) << r;
    }
  }
  // Only the argmax asked for.
  std::vector<int32_t> am2(rows, -7);
  gpu_->token_logprobs(dev(logits), rows, n_vocab, {}, nullptr, am2.data(), nullptr);
  EXPECT_EQ(am2, am);
}

// ---- whole models ----

struct ModelPair {
  std::unique_ptr<LocalModel> cpu, gpu;
};

ModelPair load_both(const std::string& path, const CudaOpsOptions& cuda = {}) {
  LocalModelOptions o;
  o.require_tokenizer = false;
  o.n_ctx = 256;
  o.cache_rows = 1024;
  ModelPair mp;
  auto c = LocalModel::load(path, "local:" + path, std::make_unique<CpuOps>(), o);
  EXPECT_TRUE(c.ok()) << c.status().message();
  auto g = LocalModel::load(path, "local:" + path, make_cuda_ops(cuda), o);
  EXPECT_TRUE(g.ok()) << g.status().message();
  if (c.ok()) mp.cpu = std::move(c).value();
  if (g.ok()) mp.gpu = std::move(g).value();
  return mp;
}

// The same file on both backends with precision=f32 (float arithmetic, F32 KV cache).
ModelPair load_f32_pair(const std::string& path, bool require_tokenizer) {
  LocalModelOptions o;
  o.require_tokenizer = require_tokenizer;
  o.n_ctx = 256;
  o.cache_rows = 1024;
  o.kv_type = GgmlType::F32;
  CpuOpsOptions co;
  co.f32_compute = true;
  CudaOpsOptions go;
  go.f32_compute = true;
  ModelPair mp;
  auto c = LocalModel::load(path, "c", std::make_unique<CpuOps>(co), o);
  EXPECT_TRUE(c.ok()) << c.status().message();
  auto g = LocalModel::load(path, "g", make_cuda_ops(go), o);
  EXPECT_TRUE(g.ok()) << g.status().message();
  if (c.ok()) mp.cpu = std::move(c).value();
  if (g.ok()) mp.gpu = std::move(g).value();
  return mp;
}

// Mean over positions of KL(cpu || gpu) of the full next-token distributions.
double mean_kl(const std::vector<float>& a, const std::vector<float>& b, int64_t n_vocab) {
  const int64_t n = static_cast<int64_t>(a.size()) / n_vocab;
  double total = 0;
  for (int64_t r = 0; r < n; ++r) {
    auto lsm = [&](const std::vector<float>& x) {
      double mx = -1e300, z = 0;
      for (int64_t v = 0; v < n_vocab; ++v) mx = std::max<double>(mx, x[r * n_vocab + v]);
      for (int64_t v = 0; v < n_vocab; ++v) z += std::exp(x[r * n_vocab + v] - mx);
      return mx + std::log(z);
    };
    const double la = lsm(a), lb = lsm(b);
    double kl = 0;
    for (int64_t v = 0; v < n_vocab; ++v) {
      const double pa = a[r * n_vocab + v] - la, pb = b[r * n_vocab + v] - lb;
      kl += std::exp(pa) * (pa - pb);
    }
    total += kl;
  }
  return total / static_cast<double>(n);
}

// tie_gap: a greedy step may pick a different token only where the CPU's top two logits are
// closer than this. For quantized weights the CPU multiplies with 8-bit quantized activations
// (its ActQ8 formats) while the GPU uses F32 (decode) or F16/BF16 (prefill) activations, so
// their logits differ by that quantization (~1e-2), and near-ties within it can flip.
void check_model_agrees(const std::string& path, int64_t n_vocab, float tie_gap,
                        const CudaOpsOptions& cuda = {}, double max_kl = 1e-3) {
  ModelPair mp = load_both(path, cuda);
  ASSERT_TRUE(mp.cpu && mp.gpu);
  std::mt19937 rng(5);
  std::vector<int32_t> tokens(100);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % n_vocab);
  // One prefill of 100 tokens (the GEMM path), all positions' logits.
  auto lc = mp.cpu->logits_range(tokens, 0, 99);
  auto lg = mp.gpu->logits_range(tokens, 0, 99);
  ASSERT_TRUE(lc.ok() && lg.ok());
  const double kl = mean_kl(*lc, *lg, n_vocab);
  EXPECT_LE(kl, max_kl) << path;
  // Scoring path (log-probs on the device).
  TokenScoreItem item{tokens, 10, true};
  auto sc = mp.cpu->score_tokens(std::span<const TokenScoreItem>(&item, 1));
  auto sg = mp.gpu->score_tokens(std::span<const TokenScoreItem>(&item, 1));
  ASSERT_TRUE(sc[0].ok() && sg[0].ok());
  EXPECT_NEAR(sg[0]->logprob, sc[0]->logprob, 2e-2 * std::max(1.0, std::abs(sc[0]->logprob))) << path;
  // Greedy decoding one token at a time (the GEMV path); a step may differ only at a near-tie.
  std::vector<int32_t> seq(tokens.begin(), tokens.begin() + 8);
  for (int step = 0; step < 24; ++step) {
    auto c = mp.cpu->last_logits(seq);
    auto g = mp.gpu->last_logits(seq);
    ASSERT_TRUE(c.ok() && g.ok());
    std::vector<float> cs = *c;
    const int32_t ac = static_cast<int32_t>(std::max_element(cs.begin(), cs.end()) - cs.begin());
    const int32_t ag = static_cast<int32_t>(std::max_element(g->begin(), g->end()) - g->begin());
    if (ac != ag) {
      std::nth_element(cs.begin(), cs.begin() + 1, cs.end(), std::greater<float>());
      EXPECT_LT(cs[0] - cs[1], tie_gap) << path << ": greedy token differs at step " << step;
    }
    seq.push_back(ac);
  }
}

TEST_F(CudaOpsTest, TinyModelsAgreeWithCpu) {
  testing::TempDir dir;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
    TinyModelSpec spec;
    spec.gguf_type = t;
    spec.weight_scale = 0.3f;
    const std::string path = dir.file("tiny_" + tname(t) + ".gguf");
    ASSERT_TRUE(write_tiny_gguf_model(spec, path).ok());
    const bool quantized = t == GgmlType::Q8_0 || t == GgmlType::Q4_0;
    check_model_agrees(path, spec.n_vocab, quantized ? 5e-2f : 1e-3f);
  }
  TinyModelSpec qwen;
  qwen.arch = "qwen2";
  qwen.llama3_rope_scaling = false;
  const std::string hf = dir.file("qwen_hf");
  ASSERT_TRUE(write_tiny_hf_model(qwen, hf).ok());
  check_model_agrees(hf, qwen.n_vocab, 1e-3f);
}

// The float64 numpy forward pass of the engine tests (tests/engines/local/engine/testdata):
// each prefix's full next-token distribution, computed one new token at a time (the GEMV path).
TEST_F(CudaOpsTest, NumpyReferenceModelsAgree) {
  for (const char* name : {"llama_gqa", "qwen2_bias", "llama3_scaled_tied"}) {
    const std::string dir = testing::source_dir() + "/tests/engines/local/engine/testdata/" + name;
    LocalModelOptions o;
    o.require_tokenizer = false;
    o.kv_type = GgmlType::F32;
    auto m = LocalModel::load(dir, "local:" + dir, make_cuda_ops(), o);
    ASSERT_TRUE(m.ok()) << m.status().message();
    simdjson::dom::parser parser;
    simdjson::dom::element ref = parser.load(dir + "/reference.json");
    std::vector<int32_t> tokens;
    for (int64_t t : ref["tokens"].get_array()) tokens.push_back(static_cast<int32_t>(t));
    size_t n = 1;
    for (simdjson::dom::element row : ref["logprobs"].get_array()) {
      if (n > tokens.size()) break;
      auto logits = (*m)->last_logits(std::span<const int32_t>(tokens.data(), n));
      ASSERT_TRUE(logits.ok());
      double mx = -1e30, z = 0;
      for (float v : *logits) mx = std::max<double>(mx, v);
      for (float v : *logits) z += std::exp(v - mx);
      size_t v = 0;
      for (double want : row.get_array()) {
        const double got = (*logits)[v] - mx - std::log(z);
        ASSERT_NEAR(got, want, 1e-4 * std::max(1.0, std::abs(want))) << name << " position " << n - 1 << " token " << v;
        ++v;
      }
      ++n;
    }
  }
}

// 4 layers of width 512, head_dim 64, GQA 8/2, llama3 RoPE scaling.
TinyModelSpec mid_size_spec() {
  TinyModelSpec spec;
  spec.n_vocab = 3000;
  spec.n_embd = 512;
  spec.n_layer = 4;
  spec.n_head = 8;
  spec.n_head_kv = 2;
  spec.n_ff = 1408;
  spec.n_ctx_train = 2048;
  spec.llama3_rope_scaling = true;
  spec.weight_scale = 0.05f;
  return spec;
}

TEST_F(CudaOpsTest, MidSizeLlamaShapedModelAgreesWithCpu) {
  unsetenv("ASSAY_CUDA_FLASH_PREFILL");
  testing::TempDir dir;
  TinyModelSpec spec = mid_size_spec();
  for (GgmlType t : {GgmlType::BF16, GgmlType::Q8_0}) {
    spec.gguf_type = t;
    const std::string path = dir.file("mid_" + tname(t) + ".gguf");
    ASSERT_TRUE(write_tiny_gguf_model(spec, path).ok());
    check_model_agrees(path, spec.n_vocab, t == GgmlType::Q8_0 ? 5e-2f : 1e-3f);
    if (t == GgmlType::BF16) {  // head_dim 64: the 100-token prefill through the flash kernel
      CudaOpsOptions flash;
      flash.flash_prefill = true;
      check_model_agrees(path, spec.n_vocab, 1e-3f, flash);
    }
  }
}

// CUDA graphs (CudaOpsOptions::graphs): decode steps recorded and launched as one graph give the
// logits of the same steps run as ops, bit for bit, over 300 steps after a 500-token prompt that
// cross the split-KV thresholds at 512 and 768 rows (the attention gains a merge kernel and more
// blocks, its scratch grows: recordings dropped, a second graph made) with a staging ring small
// enough to wrap and grow; all other steps reuse their executable graph. Then 3 sequences forking
// the cached prefix take one multi-token step. One test per weight type (and q8_gemv), so that
// they run side by side under cuda-emu; on the default model, greedy and seeded generation give
// the same text both ways.
void check_graph_decode(GgmlType t, bool q8) {
  unsetenv("ASSAY_CUDA_GRAPHS");  // it would override both models' options
  testing::TempDir dir;
  TinyModelSpec spec = mid_size_spec();
  LocalModelOptions o;
  o.require_tokenizer = false;
  o.n_ctx = 2048;
  o.cache_rows = 4096;
  unsetenv("ASSAY_CUDA_Q8_GEMV");
  CudaOpsOptions plain, graphs;
  graphs.graphs = true;
  graphs.staging_bytes = 4096;
  plain.q8_gemv = graphs.q8_gemv = q8;
  const std::string what = tname(t) + (q8 ? " q8_gemv" : "");
  spec.gguf_type = t;
  const std::string path = dir.file("graph_" + tname(t) + ".gguf");
  ASSERT_TRUE(write_tiny_gguf_model(spec, path).ok());
  auto gops = make_cuda_ops(graphs);
  const Ops* graph_ops = gops.get();
  auto a = LocalModel::load(path, "a", make_cuda_ops(plain), o);
  auto b = LocalModel::load(path, "b", std::move(gops), o);
  ASSERT_TRUE(a.ok() && b.ok());
  std::mt19937 rng(3);
  std::vector<int32_t> seq(500);
  for (auto& tok : seq) tok = static_cast<int32_t>(rng() % spec.n_vocab);
  constexpr int kSteps = 300;
  for (int step = 0; step < kSteps; ++step) {
    auto la = (*a)->last_logits(seq);
    auto lb = (*b)->last_logits(seq);
    ASSERT_TRUE(la.ok() && lb.ok());
    ASSERT_EQ(*la, *lb) << what << " step " << step;
    seq.push_back(static_cast<int32_t>(std::max_element(la->begin(), la->end()) - la->begin()));
  }
  CudaGraphStats st = cuda_graph_stats(*graph_ops);
  EXPECT_GE(st.launched, kSteps - 10) << what;
  EXPECT_LE(st.instantiated, 4) << what;  // 2 expected: without and with the split-KV merge
  EXPECT_LE(st.dropped, 4) << what;       // 2 expected: the merge's scratch made and grown
  EXPECT_EQ(cuda_graph_stats((*a)->ops()).launched, 0);
  // Each fork scores a token after its own first token, so the step computes the prefix's last
  // token and the 3 fork tokens: 4 tokens of 4 sequences' rows in one recording.
  // That first multi-token recording may be dropped (scratch sized for one token grows: the
  // split-KV partials, q8_gemv's activations) and run as ops. A second set of forks after the
  // now cached prefix (3 tokens) then records and launches.
  for (int round = 0; round < 2; ++round) {
    std::vector<TokenScoreItem> forks;
    for (int i = 0; i < 3; ++i) {
      forks.push_back(TokenScoreItem{seq, static_cast<int32_t>(seq.size()) + 1, true});
      forks.back().tokens.push_back(static_cast<int32_t>((7 + 11 * i + 101 * round) % spec.n_vocab));
      forks.back().tokens.push_back(5);
    }
    const CudaGraphStats before = cuda_graph_stats(*graph_ops);
    auto fa = (*a)->score_tokens(forks);
    auto fb = (*b)->score_tokens(forks);
    for (size_t i = 0; i < forks.size(); ++i) {
      ASSERT_TRUE(fa[i].ok() && fb[i].ok());
      EXPECT_EQ(fa[i]->logprob, fb[i]->logprob) << what << " round " << round << " fork " << i;
    }
    const CudaGraphStats after = cuda_graph_stats(*graph_ops);
    if (round == 0) {
      EXPECT_GT(after.launched + after.dropped, before.launched + before.dropped) << what << ": the forks' step";
    } else {
      EXPECT_GT(after.launched, before.launched) << what << ": the second forks' step, recorded";
    }
  }
}

TEST_F(CudaOpsTest, GraphDecodeStepsEqualPlainStepsBf16) { check_graph_decode(GgmlType::BF16, false); }
TEST_F(CudaOpsTest, GraphDecodeStepsEqualPlainStepsQ8_0) { check_graph_decode(GgmlType::Q8_0, false); }
// q8_gemv: its activation quantizer and dp4a GEMV recorded.
TEST_F(CudaOpsTest, GraphDecodeStepsEqualPlainStepsQ8_0Q8Gemv) { check_graph_decode(GgmlType::Q8_0, true); }

TEST_F(CudaOpsTest, GraphDecodeGenerationOnDefaultModel) {
  unsetenv("ASSAY_CUDA_GRAPHS");
  auto path = default_model_path();
  if (!path.ok()) GTEST_SKIP() << path.status().message();
  LocalModelOptions d;
  CudaOpsOptions plain, graphs;
  graphs.graphs = true;
  auto a = LocalModel::load(*path, "a", make_cuda_ops(plain), d);
  auto b = LocalModel::load(*path, "b", make_cuda_ops(graphs), d);
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<GenerateRequest> g = greedy_and_sampled_requests(48);
  auto ra = (*a)->generate_until(g);
  auto rb = (*b)->generate_until(g);
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_TRUE(ra[i].ok() && rb[i].ok());
    EXPECT_EQ(ra[i]->text, rb[i]->text) << i;
  }
  EXPECT_GT(cuda_graph_stats((*b)->ops()).launched, 0);
}

// precision=f32 on the GPU: FP32 GEMMs on dequantized tiles and F32 attention, against CpuOps'
// f32 compute on the same BF16 and Q8_0 weights: the same arithmetic up to summation order, so
// far closer than the BF16 path (KL <= 1e-3 there).
TEST_F(CudaOpsTest, F32ComputeMatchesCpuF32Compute) {
  testing::TempDir dir;
  TinyModelSpec spec = mid_size_spec();
  for (GgmlType t : {GgmlType::BF16, GgmlType::Q8_0}) {
    spec.gguf_type = t;
    const std::string path = dir.file("f32_" + tname(t) + ".gguf");
    ASSERT_TRUE(write_tiny_gguf_model(spec, path).ok());
    ModelPair mp = load_f32_pair(path, false);
    ASSERT_TRUE(mp.cpu && mp.gpu);
    auto& c = mp.cpu;
    auto& g = mp.gpu;
    EXPECT_NE(g->info().backend.find(" f32"), std::string::npos) << g->info().backend;
    std::mt19937 rng(7);
    std::vector<int32_t> tokens(100);
    for (auto& tok : tokens) tok = static_cast<int32_t>(rng() % spec.n_vocab);
    auto lc = c->logits_range(tokens, 0, 99);  // one 100-token prefill: the GEMM path
    auto lg = g->logits_range(tokens, 0, 99);
    ASSERT_TRUE(lc.ok() && lg.ok());
    EXPECT_LE(mean_kl(*lc, *lg, spec.n_vocab), 1e-7) << tname(t);
    float max_diff = 0;
    for (size_t i = 0; i < lc->size(); ++i) max_diff = std::max(max_diff, std::abs((*lc)[i] - (*lg)[i]));
    EXPECT_LE(max_diff, 1e-3f) << tname(t);
  }
}

// Issue #7 on the default model (SmolLM2-135M Q4_1; it reaches a GPU machine in parts, see
// benchmarks/device/model_parts.sh). The CPU engine's default arithmetic multiplies with 8-bit
// quantized activations (llama.cpp's); CUDA's with F16 (prefill GEMMs) and F32 (decode GEMVs)
// ones, or with q8_gemv the CPU's 8-bit ones in decode. In mean KL from exact (precision=f32)
// arithmetic, measured under cuda-emu (tests/cuda_emu: the F16/BF16 roundings, not nvcc's FMAs):
// the CPU default is 3.8e-3 on text and 6.5e-3 on random tokens, CUDA's default 4.9e-6 and
// 1.1e-5. So CUDA's default is held to the KL <= 1e-3 (with margin: 1e-4) against the
// CPU's exact arithmetic; against the CPU default only to that default's own distance from exact
// (1e-2), with greedy steps differing only at near-ties; precision=f32 on both to KL <= 1e-6.
TEST_F(CudaOpsTest, DefaultModelAgreesWithCpu) {
  auto path = default_model_path();
  if (!path.ok()) GTEST_SKIP() << path.status().message();
  const int64_t n_vocab = 49152;
  check_model_agrees(*path, n_vocab, 0.1f, {}, 1e-2);
  unsetenv("ASSAY_CUDA_Q8_GEMV");
  CudaOpsOptions q8;  // decode (Q4_1, Q8_0 weights) in the CPU's 8-bit-activation arithmetic
  q8.q8_gemv = true;
  check_model_agrees(*path, n_vocab, 0.1f, q8, 1e-2);
  ModelPair f32 = load_f32_pair(*path, true);
  ModelPair def = load_both(*path);
  ASSERT_TRUE(f32.cpu && f32.gpu && def.gpu);
  const std::vector<int32_t> text = f32.cpu->tokenizer().encode(
      "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg "
      "combined movable metal type, oil-based inks and a screw press into a system that could "
      "produce books at a scale the scribes of earlier centuries could not have imagined.",
      true, false);
  std::mt19937 rng(5);
  std::vector<int32_t> random_tokens(100);
  for (auto& t : random_tokens) t = static_cast<int32_t>(rng() % n_vocab);
  for (const auto& [what, tokens] : {std::pair{"text", text}, std::pair{"random tokens", random_tokens}}) {
    const int32_t last = static_cast<int32_t>(tokens.size()) - 1;
    auto exact = f32.cpu->logits_range(tokens, 0, last);
    auto gpu_f32 = f32.gpu->logits_range(tokens, 0, last);
    auto gpu_default = def.gpu->logits_range(tokens, 0, last);
    ASSERT_TRUE(exact.ok() && gpu_f32.ok() && gpu_default.ok());
    EXPECT_LE(mean_kl(*exact, *gpu_f32, n_vocab), 1e-6) << "precision=f32, " << what;
    EXPECT_LE(mean_kl(*exact, *gpu_default, n_vocab), 1e-4) << "CUDA default vs CPU f32, " << what;
  }
}

}  // namespace
}  // namespace assay
