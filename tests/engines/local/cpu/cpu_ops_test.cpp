#include "engines/local/cpu/cpu_ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engines/local/cpu/quants.h"
#include "tests/engines/local/cpu/cpu_test_util.h"

namespace assay {
namespace {

using testing_cpu::make_weights;
using testing_cpu::random_floats;
using testing_cpu::ref_dequant;

// Every op is run on: scalar 1 thread, scalar 2 threads, AVX2 1 thread, AVX2 2 threads.
struct Backend {
  std::string name;
  std::unique_ptr<CpuOps> ops;
};
std::vector<Backend> backends() {
  std::vector<Backend> v;
  v.push_back({"scalar1", std::make_unique<CpuOps>(CpuOpsOptions{1, false})});
  v.push_back({"scalar2", std::make_unique<CpuOps>(CpuOpsOptions{2, false})});
  if (cpu_has_avx2()) {
    v.push_back({"avx2_1", std::make_unique<CpuOps>(CpuOpsOptions{1, true})});
    v.push_back({"avx2_2", std::make_unique<CpuOps>(CpuOpsOptions{2, true})});
  }
  return v;
}

void expect_bit_identical(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << what << ": thread count changed bits";
}

TEST(CpuOps, AllocUploadDownload) {
  CpuOps ops(CpuOpsOptions{1, true});
  EXPECT_TRUE(ops.host_memory_is_device());
  std::vector<float> src = random_floats(100, 1), dst(100);
  void* d = ops.alloc(400);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 64, 0u);
  ops.upload(d, src.data(), 400);
  ops.download(dst.data(), d, 400);
  EXPECT_EQ(src, dst);
  ops.fill_zero(d, 400);
  ops.download(dst.data(), d, 400);
  EXPECT_EQ(dst, std::vector<float>(100, 0.0f));
  ops.free(d);
  EXPECT_TRUE(ops.supports_type(GgmlType::Q4_1));
  EXPECT_FALSE(ops.supports_type(GgmlType::Q5_0));
}

TEST(CpuOps, EmbedDequantizesTheRequestedRows) {
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_1, GgmlType::F16, GgmlType::Q6_K}) {
    const int64_t n_embd = 256, n_vocab = 11;
    const auto w = make_weights(type, n_vocab, n_embd, 9);
    const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
    for (auto& b : backends()) {
      std::vector<float> out(ids.size() * n_embd);
      b.ops->embed(TensorRef{w.data.data(), type, n_embd, n_vocab, w.row_bytes}, ids, out.data());
      for (size_t t = 0; t < ids.size(); ++t) {
        const auto want = ref_dequant(type, w.row(ids[t]), n_embd);
        for (int64_t i = 0; i < n_embd; ++i) ASSERT_EQ(out[t * n_embd + i], want[i]) << b.name;
      }
    }
  }
}

TEST(CpuOps, RmsNormMatchesDoubleReference) {
  for (int64_t n : {576, 13}) {
    const int64_t rows = 5;
    const auto x = random_floats(rows * n, 2, -3.0f, 3.0f);
    const auto w = random_floats(n, 3, 0.5f, 1.5f);
    std::vector<float> first;
    for (auto& b : backends()) {
      std::vector<float> out(rows * n);
      b.ops->rms_norm(x.data(), w.data(), out.data(), rows, n, 1e-5f);
      for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
        const double scale = 1.0 / std::sqrt(ss / n + 1e-5);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_NEAR(out[r * n + i], x[r * n + i] * scale * w[i], 1e-5 * std::fabs(x[r * n + i] * scale * w[i]) + 1e-6) << b.name;
      }
      // In place, no weight.
      std::vector<float> inplace = x;
      b.ops->rms_norm(inplace.data(), nullptr, inplace.data(), rows, n, 1e-5f);
      for (int64_t i = 0; i < n; ++i) {
        double ss = 0;
        for (int64_t j = 0; j < n; ++j) ss += double(x[j]) * x[j];
        ASSERT_NEAR(inplace[i], x[i] / std::sqrt(ss / n + 1e-5), 1e-5);
      }
    }
  }
}

// RoPE reference in double from the definition: pair i of a head rotates by
// theta_i = freq_scale * p * base^(-2i / n_rot) / freq_factor_i.
void ref_rope(std::vector<double>& v, int n_head, int head_dim, int pos, const RopeParams& p) {
  for (int h = 0; h < n_head; ++h) {
    double* x = v.data() + h * head_dim;
    for (int i = 0; i < p.n_rot / 2; ++i) {
      double theta = pos * std::pow(double(p.freq_base), -2.0 * i / p.n_rot);
      if (p.freq_factors) theta /= p.freq_factors[i];
      theta *= p.freq_scale;
      const int a = p.style == RopeStyle::kNorm ? 2 * i : i;
      const int b = p.style == RopeStyle::kNorm ? 2 * i + 1 : i + p.n_rot / 2;
      const double x0 = x[a], x1 = x[b];
      x[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
      x[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
    }
  }
}

TEST(CpuOps, RopeNormNeoxScalingAndFreqFactors) {
  const int n_head = 3, head_dim = 16;
  // Late positions too: an angle computed by repeated float multiplication (ggml's way) drifts
  // with position; computed in double it stays within float rounding everywhere.
  const std::vector<int32_t> pos = {0, 1, 7, 300, 2, 4000, 30000};
  std::vector<float> factors = {1.0f, 1.0f, 1.5f, 2.5f, 4.0f, 8.0f};  // n_rot = 12 -> 6 pairs
  for (RopeStyle style : {RopeStyle::kNorm, RopeStyle::kNeox}) {
    for (int variant = 0; variant < 3; ++variant) {
      RopeParams p;
      p.style = style;
      p.n_rot = variant == 2 ? 12 : head_dim;  // partial rotation leaves dims 12..15 untouched
      p.freq_base = variant == 0 ? 10000.0f : 500000.0f;
      p.freq_scale = variant == 1 ? 0.25f : 1.0f;
      p.freq_factors = variant == 2 ? factors.data() : nullptr;
      const auto x = random_floats(pos.size() * n_head * head_dim, 4);
      std::vector<float> first;
      for (auto& b : backends()) {
        std::vector<float> y = x;
        b.ops->rope(y.data(), static_cast<int64_t>(pos.size()), n_head, head_dim, pos, p);
        for (size_t t = 0; t < pos.size(); ++t) {
          std::vector<double> r(x.begin() + t * n_head * head_dim, x.begin() + (t + 1) * n_head * head_dim);
          ref_rope(r, n_head, head_dim, pos[t], p);
          for (int i = 0; i < n_head * head_dim; ++i)
            ASSERT_NEAR(y[t * n_head * head_dim + i], r[i], 2e-6)
                << "style " << int(style) << " variant " << variant << " t " << t << " i " << i;
        }
        if (first.empty()) first = y; else expect_bit_identical(first, y, b.name);
      }
    }
  }
}

TEST(CpuOps, RopeNormRotatesAdjacentPairsNeoxRotatesHalves) {
  // Unit vector e0 at position 1 with one pair's frequency 1: NORM moves it into x[1], NEOX into
  // x[n_rot/2]. Guards against two kernels that agree with each other but pair the wrong dims.
  RopeParams p;
  p.n_rot = 4;
  p.freq_base = 10000.0f;
  CpuOps ops(CpuOpsOptions{1, true});
  std::vector<int32_t> pos = {1};
  std::vector<float> v = {1, 0, 0, 0};
  p.style = RopeStyle::kNorm;
  ops.rope(v.data(), 1, 1, 4, pos, p);
  EXPECT_NEAR(v[0], std::cos(1.0), 1e-6);
  EXPECT_NEAR(v[1], std::sin(1.0), 1e-6);
  EXPECT_EQ(v[2], 0.0f);
  v = {1, 0, 0, 0};
  p.style = RopeStyle::kNeox;
  ops.rope(v.data(), 1, 1, 4, pos, p);
  EXPECT_NEAR(v[0], std::cos(1.0), 1e-6);
  EXPECT_EQ(v[1], 0.0f);
  EXPECT_NEAR(v[2], std::sin(1.0), 1e-6);
}

// Naive attention in double: for each token and head, softmax(scale * q.K^T) V over its rows.
std::vector<double> ref_attention(const std::vector<float>& q, const std::vector<float>& kc,
                                  const std::vector<float>& vc, const AttentionLayout& L,
                                  int n_head, int n_head_kv, int hd) {
  const int64_t nt = static_cast<int64_t>(L.token_seq.size());
  std::vector<double> out(nt * n_head * hd, 0.0);
  const int kvw = n_head_kv * hd;
  for (int64_t t = 0; t < nt; ++t) {
    const int32_t* rows = L.rows.data() + L.seq_offsets[L.token_seq[t]];
    const int n = L.token_n_kv[t];
    for (int h = 0; h < n_head; ++h) {
      const int g = h / (n_head / n_head_kv);
      std::vector<double> s(n);
      for (int j = 0; j < n; ++j) {
        double d = 0;
        for (int i = 0; i < hd; ++i) d += double(q[t * n_head * hd + h * hd + i]) * kc[rows[j] * kvw + g * hd + i];
        s[j] = d / std::sqrt(double(hd));
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < hd; ++i) out[t * n_head * hd + h * hd + i] += s[j] / sum * vc[rows[j] * kvw + g * hd + i];
    }
  }
  return out;
}

void run_attention_case(int n_head, int n_head_kv, int hd, GgmlType cache_type) {
  // A paged cache of 40 rows; two sequences whose row lists share a 5-row prefix (prefix
  // sharing) and are scattered (paging). Tokens: the last 3 of seq 0 (causal prefill), one
  // decode token of seq 1, and a token attending to exactly one row.
  const int64_t n_rows = 40, kvw = int64_t(n_head_kv) * hd;
  std::vector<int32_t> seq0 = {7, 3, 30, 12, 0, 21, 22, 5, 39, 17, 18, 19, 33, 34, 35, 36, 37, 1, 2, 4};
  std::vector<int32_t> seq1 = {7, 3, 30, 12, 0, 9, 8};
  std::vector<int32_t> rows = seq0;
  rows.insert(rows.end(), seq1.begin(), seq1.end());
  const std::vector<int32_t> offsets = {0, int32_t(seq0.size()), int32_t(seq0.size() + seq1.size())};
  const std::vector<int32_t> token_seq = {0, 0, 0, 1, 1};
  const std::vector<int32_t> token_n_kv = {18, 19, 20, 7, 1};
  AttentionLayout L{rows, offsets, token_seq, token_n_kv};
  const int64_t nt = static_cast<int64_t>(token_seq.size());

  auto kf = random_floats(n_rows * kvw, 10, -2.0f, 2.0f);
  auto vf = random_floats(n_rows * kvw, 11);
  const auto q = random_floats(nt * n_head * hd, 12, -2.0f, 2.0f);
  const size_t esz = cache_type == GgmlType::F16 ? 2 : 4;
  std::vector<uint8_t> kbytes(n_rows * kvw * esz), vbytes(n_rows * kvw * esz);
  CpuOps writer(CpuOpsOptions{1, false});
  std::vector<int32_t> all_rows(n_rows);
  std::iota(all_rows.begin(), all_rows.end(), 0);
  const size_t rb = kvw * esz;
  writer.store_rows(kf.data(), all_rows, MutableTensorRef{kbytes.data(), cache_type, kvw, n_rows, rb});
  writer.store_rows(vf.data(), all_rows, MutableTensorRef{vbytes.data(), cache_type, kvw, n_rows, rb});
  if (cache_type == GgmlType::F16) {  // the reference sees the f16-rounded cache
    for (auto& x : kf) x = fp16_to_fp32(fp32_to_fp16(x));
    for (auto& x : vf) x = fp16_to_fp32(fp32_to_fp16(x));
  }
  // Against an F16 K cache the queries are rounded to fp16 too (as ggml does).
  auto qr = q;
  if (cache_type == GgmlType::F16)
    for (auto& x : qr) x = fp16_to_fp32(fp32_to_fp16(x));
  const auto want = ref_attention(qr, kf, vf, L, n_head, n_head_kv, hd);
  AttentionParams p{n_head, n_head_kv, hd, 0.0f};
  std::vector<float> first_scalar, first_avx;
  for (auto& b : backends()) {
    std::vector<float> out(nt * n_head * hd);
    b.ops->attention(q.data(), TensorRef{kbytes.data(), cache_type, kvw, n_rows, rb},
                     TensorRef{vbytes.data(), cache_type, kvw, n_rows, rb}, L, p, out.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 2e-5) << b.name << " i=" << i;
    auto& first = b.name.rfind("scalar", 0) == 0 ? first_scalar : first_avx;
    if (first.empty()) first = out; else expect_bit_identical(first, out, b.name);
  }
}

TEST(CpuOps, AttentionGqaPagedPrefixSharedF32) { run_attention_case(6, 2, 64, GgmlType::F32); }
TEST(CpuOps, AttentionSmolLmShapeF16Cache) { run_attention_case(9, 3, 64, GgmlType::F16); }
TEST(CpuOps, AttentionOddHeadDimUsesScalarPath) { run_attention_case(4, 4, 12, GgmlType::F32); }

TEST(CpuOps, AttentionSingleRowReturnsThatValueRow) {
  // With one visible row the softmax weight is exactly 1: out = V row, whatever q is.
  const int hd = 64;
  std::vector<float> k = random_floats(hd, 1), v = random_floats(hd, 2), q = random_floats(hd, 3, -50, 50);
  std::vector<int32_t> rows = {0}, off = {0, 1}, seq = {0}, nkv = {1};
  for (auto& b : backends()) {
    std::vector<float> out(hd);
    b.ops->attention(q.data(), TensorRef{k.data(), GgmlType::F32, hd, 1, hd * 4},
                     TensorRef{v.data(), GgmlType::F32, hd, 1, hd * 4}, AttentionLayout{rows, off, seq, nkv},
                     AttentionParams{1, 1, hd, 0.0f}, out.data());
    for (int i = 0; i < hd; ++i) EXPECT_FLOAT_EQ(out[i], v[i]) << b.name;
  }
}

TEST(CpuOps, AttentionLongPrefillIsBatchInvariant) {
  // 40 query tokens at positions 110..149 over a 150-row paged cache: several token tiles and
  // several V chunks. Each token computed alone must give the same bits as in the batch.
  const int n_head = 6, n_head_kv = 2, hd = 64, n_rows = 150, nt = 40;
  const int64_t kvw = n_head_kv * hd;
  std::vector<int32_t> rows(n_rows);
  for (int i = 0; i < n_rows; ++i) rows[i] = (i * 37) % n_rows;  // a permutation (37 coprime)
  std::vector<int32_t> off = {0, n_rows}, seq(nt, 0), nkv(nt);
  for (int t = 0; t < nt; ++t) nkv[t] = 111 + t;
  const auto kf = random_floats(n_rows * kvw, 31, -2.0f, 2.0f);
  const auto vf = random_floats(n_rows * kvw, 32);
  const auto q = random_floats(nt * n_head * hd, 33, -2.0f, 2.0f);
  const TensorRef kr{kf.data(), GgmlType::F32, kvw, n_rows, size_t(kvw * 4)};
  const TensorRef vr{vf.data(), GgmlType::F32, kvw, n_rows, size_t(kvw * 4)};
  const AttentionParams p{n_head, n_head_kv, hd, 0.0f};
  const auto want = ref_attention(q, kf, vf, AttentionLayout{rows, off, seq, nkv}, n_head, n_head_kv, hd);
  std::vector<float> first;
  for (auto& b : backends()) {
    std::vector<float> out(nt * n_head * hd), single(nt * n_head * hd);
    b.ops->attention(q.data(), kr, vr, AttentionLayout{rows, off, seq, nkv}, p, out.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 2e-5) << b.name << " i=" << i;
    for (int t = 0; t < nt; ++t) {
      std::vector<int32_t> s1 = {0}, n1 = {nkv[t]};
      b.ops->attention(q.data() + t * n_head * hd, kr, vr, AttentionLayout{rows, off, s1, n1}, p,
                       single.data() + t * n_head * hd);
    }
    expect_bit_identical(out, single, b.name + " batch vs single");
    if (b.name == "scalar1" || b.name == "avx2_1") first = out; else expect_bit_identical(first, out, b.name);
  }
}

TEST(CpuOps, SwigluAddGather) {
  const int64_t rows = 3, n = 37;
  const auto g = random_floats(rows * n, 1, -20.0f, 20.0f);
  const auto u = random_floats(rows * n, 2);
  for (auto& b : backends()) {
    std::vector<float> out(rows * n);
    b.ops->swiglu(g.data(), u.data(), out.data(), rows, n);
    for (int64_t i = 0; i < rows * n; ++i) {
      const double want = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
      ASSERT_NEAR(out[i], want, 1e-6 * (1 + std::fabs(want))) << b.name;
    }
    std::vector<float> sum(rows * n);
    b.ops->add(g.data(), u.data(), sum.data(), rows * n);
    for (int64_t i = 0; i < rows * n; ++i) ASSERT_EQ(sum[i], g[i] + u[i]);
    std::vector<int32_t> pick = {2, 0};
    std::vector<float> gathered(2 * 5);
    b.ops->gather_rows(g.data(), n, pick, 5, gathered.data());
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(gathered[i], g[2 * n + i]);
      EXPECT_EQ(gathered[5 + i], g[i]);
    }
  }
}

TEST(CpuOps, StoreRowsF16RoundsToNearestEven) {
  std::vector<float> src = random_floats(2 * 24, 5, -100, 100);
  std::vector<uint16_t> cache(4 * 24, 0);
  std::vector<int32_t> rows = {3, 1};
  for (auto& b : backends()) {
    std::fill(cache.begin(), cache.end(), 0);
    b.ops->store_rows(src.data(), rows, MutableTensorRef{cache.data(), GgmlType::F16, 24, 4, 48});
    for (int i = 0; i < 24; ++i) {
      EXPECT_EQ(cache[3 * 24 + i], fp32_to_fp16(src[i])) << b.name;
      EXPECT_EQ(cache[1 * 24 + i], fp32_to_fp16(src[24 + i])) << b.name;
      EXPECT_EQ(cache[0 * 24 + i], 0);
    }
  }
}

TEST(CpuOps, TokenLogprobsMatchDoubleLogSoftmax) {
  const int64_t rows = 4, n_vocab = 49152 + 3;
  auto logits = random_floats(rows * n_vocab, 21, -15.0f, 15.0f);
  logits[1 * n_vocab + 777] = 40.0f;   // clear argmax
  logits[2 * n_vocab + 5] = 30.0f;     // tie: lowest index wins
  logits[2 * n_vocab + 9000] = 30.0f;
  const std::vector<int32_t> targets = {0, 777, 9000, -1};
  std::vector<float> first;
  for (auto& b : backends()) {
    std::vector<float> lp(rows), lse(rows);
    std::vector<int32_t> am(rows);
    b.ops->token_logprobs(logits.data(), rows, n_vocab, targets, lp.data(), am.data(), lse.data());
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = logits.data() + r * n_vocab;
      const double mx = *std::max_element(x, x + n_vocab);
      double s = 0;
      for (int64_t i = 0; i < n_vocab; ++i) s += std::exp(double(x[i]) - mx);
      const double want_lse = mx + std::log(s);
      EXPECT_NEAR(lse[r], want_lse, 1e-5 * std::fabs(want_lse)) << b.name;
      EXPECT_EQ(am[r], int32_t(std::max_element(x, x + n_vocab) - x)) << b.name;
      if (targets[r] >= 0) {
        EXPECT_NEAR(lp[r], x[targets[r]] - want_lse, 2e-5) << b.name;
      } else {
        EXPECT_TRUE(std::isnan(lp[r]));
      }
    }
    EXPECT_EQ(am[2], 5);
    std::vector<float> all = lp;
    all.insert(all.end(), lse.begin(), lse.end());
    all[3] = 0;  // NaN != NaN bitwise is fine, but keep the comparison simple
    if (b.name == "scalar1" || b.name == "avx2_1") first = all; else expect_bit_identical(first, all, b.name);
  }
}

// A miniature transformer block through the Ops interface, checked against a scalar f32
// re-implementation: catches ops that are right alone but wired with mismatched layouts.
TEST(CpuOps, MiniBlockEndToEnd) {
  const int n_embd = 64, n_head = 4, n_head_kv = 2, hd = 16, nt = 6;
  const auto wq = make_weights(GgmlType::F32, n_head * hd, n_embd, 1);
  const auto wk = make_weights(GgmlType::F32, n_head_kv * hd, n_embd, 2);
  const auto wv = make_weights(GgmlType::F32, n_head_kv * hd, n_embd, 3);
  const auto x = random_floats(nt * n_embd, 4);
  auto tr = [](const testing_cpu::Weights& w) { return TensorRef{w.data.data(), w.type, w.k, w.n, w.row_bytes}; };
  std::vector<int32_t> pos(nt), rows(nt), off = {0, nt}, seq(nt, 0), nkv(nt);
  for (int t = 0; t < nt; ++t) { pos[t] = t; rows[t] = t; nkv[t] = t + 1; }
  RopeParams rp;
  rp.n_rot = hd;
  std::vector<std::vector<float>> results;
  for (auto& b : backends()) {
    Ops& ops = *b.ops;
    std::vector<float> q(nt * n_head * hd), k(nt * n_head_kv * hd), v(nt * n_head_kv * hd), o(nt * n_head * hd);
    ops.matmul(x.data(), nt, tr(wq), nullptr, q.data());
    ops.matmul(x.data(), nt, tr(wk), nullptr, k.data());
    ops.matmul(x.data(), nt, tr(wv), nullptr, v.data());
    ops.rope(q.data(), nt, n_head, hd, pos, rp);
    ops.rope(k.data(), nt, n_head_kv, hd, pos, rp);
    std::vector<float> kc(nt * n_head_kv * hd), vc(nt * n_head_kv * hd);
    MutableTensorRef kref{kc.data(), GgmlType::F32, n_head_kv * hd, nt, size_t(n_head_kv * hd * 4)};
    MutableTensorRef vref{vc.data(), GgmlType::F32, n_head_kv * hd, nt, size_t(n_head_kv * hd * 4)};
    ops.store_rows(k.data(), rows, kref);
    ops.store_rows(v.data(), rows, vref);
    ops.attention(q.data(), kref.view(), vref.view(), AttentionLayout{rows, off, seq, nkv},
                  AttentionParams{n_head, n_head_kv, hd, 0.0f}, o.data());
    // Reference: same math in double from the f32 weights.
    std::vector<float> qr(q.size()), kr(k.size());
    for (int t = 0; t < nt; ++t) {
      for (int j = 0; j < n_head * hd; ++j) {
        double s = 0;
        for (int i = 0; i < n_embd; ++i) s += double(x[t * n_embd + i]) * reinterpret_cast<const float*>(wq.row(j))[i];
        qr[t * n_head * hd + j] = float(s);
      }
      for (int j = 0; j < n_head_kv * hd; ++j) {
        double s = 0;
        for (int i = 0; i < n_embd; ++i) s += double(x[t * n_embd + i]) * reinterpret_cast<const float*>(wk.row(j))[i];
        kr[t * n_head_kv * hd + j] = float(s);
      }
      std::vector<double> qd(qr.begin() + t * n_head * hd, qr.begin() + (t + 1) * n_head * hd);
      ref_rope(qd, n_head, hd, t, rp);
      for (int j = 0; j < n_head * hd; ++j) qr[t * n_head * hd + j] = float(qd[j]);
      std::vector<double> kd(kr.begin() + t * n_head_kv * hd, kr.begin() + (t + 1) * n_head_kv * hd);
      ref_rope(kd, n_head_kv, hd, t, rp);
      for (int j = 0; j < n_head_kv * hd; ++j) kr[t * n_head_kv * hd + j] = float(kd[j]);
    }
    const auto want = ref_attention(qr, kr, v, AttentionLayout{rows, off, seq, nkv}, n_head, n_head_kv, hd);
    for (size_t i = 0; i < o.size(); ++i) ASSERT_NEAR(o[i], want[i], 1e-4) << b.name << " " << i;
    results.push_back(o);
  }
}

}  // namespace
}  // namespace assay
