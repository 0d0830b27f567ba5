// The local engine's sampler against a brute-force reference (sort everything, cut, normalise):
// which tokens can be drawn under top-k / top-p, and how often (chi-square on fixed seeds).
#include "engines/local/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

namespace assay {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Reference distribution: token -> probability over the kept set.
std::map<int32_t, double> reference(const std::vector<float>& logits, const SamplingParams& p) {
  std::vector<std::pair<double, int32_t>> c;
  for (size_t v = 0; v < logits.size(); ++v)
    c.emplace_back(static_cast<double>(logits[v] / static_cast<float>(p.temperature)), static_cast<int32_t>(v));
  std::sort(c.begin(), c.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < c.size()) c.resize(static_cast<size_t>(p.top_k));
  std::vector<double> w;
  for (auto& [x, id] : c) w.push_back(std::exp(x - c[0].first));
  const double z = std::accumulate(w.begin(), w.end(), 0.0);
  size_t keep = c.size();
  if (p.top_p < 1.0) {
    double acc = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      acc += w[i] / z;
      if (acc >= p.top_p) { keep = i + 1; break; }
    }
  }
  const double total = std::accumulate(w.begin(), w.begin() + static_cast<long>(keep), 0.0);
  std::map<int32_t, double> out;
  for (size_t i = 0; i < keep; ++i) out[c[i].second] = w[i] / total;
  return out;
}

// Draws n tokens; fails on a token outside the reference's support; returns the chi-square
// statistic over the support (cells of expected count < 5 pooled) and its degrees of freedom.
std::pair<double, int> draw_and_test(const std::vector<float>& logits, const SamplingParams& p, int n, uint64_t seed) {
  const auto ref = reference(logits, p);
  Sampler s;
  std::mt19937_64 rng(seed);
  std::map<int32_t, int> got;
  for (int i = 0; i < n; ++i) {
    const int32_t t = s.sample(logits, p, rng);
    EXPECT_TRUE(ref.count(t)) << "drew token " << t << " outside the kept set";
    ++got[t];
  }
  double chi = 0, pooled_e = 0, pooled_o = 0;
  int cells = 0;
  for (auto& [t, pr] : ref) {
    const double e = pr * n, o = got.count(t) ? got[t] : 0;
    if (e < 5) { pooled_e += e; pooled_o += o; continue; }
    chi += (o - e) * (o - e) / e;
    ++cells;
  }
  if (pooled_e > 0) { chi += (pooled_o - pooled_e) * (pooled_o - pooled_e) / std::max(pooled_e, 1.0); ++cells; }
  return {chi, std::max(cells - 1, 1)};
}

// Chi-square bound at p = 0.001 (Wilson-Hilferty): a fixed seed under a correct sampler stays
// below it; a misweighted or shifted distribution over tens of thousands of draws does not.
double chi_bound(int df) {
  const double z = 3.09, a = 2.0 / (9.0 * df);
  return df * std::pow(1 - a + z * std::sqrt(a), 3);
}

std::vector<float> random_logits(size_t n, uint32_t seed, float scale) {
  std::mt19937 r(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(r);
  return v;
}

TEST(Sampler, TemperatureOnlyFollowsTheSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 2.0f, 0.0f};
  for (double t : {0.5, 1.0, 2.0}) {
    auto [chi, df] = draw_and_test(logits, {t, 0, 1.0}, 60000, 11);
    EXPECT_LT(chi, chi_bound(df)) << "temperature " << t;
  }
}

TEST(Sampler, TopKKeepsTheKMostLikelyAndRenormalises) {
  const auto logits = random_logits(1000, 3, 2.0f);
  for (int k : {1, 2, 10, 100}) {
    auto [chi, df] = draw_and_test(logits, {0.8, k, 1.0}, 40000, 12 + k);
    EXPECT_LT(chi, chi_bound(df)) << "top_k " << k;
  }
}

TEST(Sampler, TopPKeepsTheNucleusAlsoWhenItIsLarge) {
  // Peaked (a nucleus of a few tokens) and flat (hundreds: the partial sort has to grow).
  for (float scale : {3.0f, 0.05f}) {
    const auto logits = random_logits(1200, 4, scale);
    for (double top_p : {0.3, 0.9}) {
      const auto ref = reference(logits, {1.0, 0, top_p});
      auto [chi, df] = draw_and_test(logits, {1.0, 0, top_p}, 20000, 21);
      EXPECT_LT(chi, chi_bound(df)) << "scale " << scale << " top_p " << top_p << ", nucleus of " << ref.size();
    }
  }
  // Both cuts: top-p within the top-k set.
  const auto logits = random_logits(2000, 5, 1.0f);
  auto [chi, df] = draw_and_test(logits, {1.2, 50, 0.7}, 40000, 22);
  EXPECT_LT(chi, chi_bound(df));
}

TEST(Sampler, CutsToOneTokenAreTheArgmaxWithTiesToTheLowerId) {
  std::vector<float> logits = random_logits(300, 6, 1.0f);
  logits[17] = 9.0f;
  logits[200] = 9.0f;  // tie: id 17 wins
  Sampler s;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(s.sample(logits, {1.0, 1, 1.0}, rng), 17);
    EXPECT_EQ(s.sample(logits, {0.7, 0, 1e-9}, rng), 17);
  }
}

TEST(Sampler, MaskedTokensAreNeverDrawn) {
  std::vector<float> logits(1000, -kInf);
  for (int v : {3, 400, 998}) logits[static_cast<size_t>(v)] = 0.0f;
  logits[999] = std::numeric_limits<float>::quiet_NaN();  // counts as -inf
  Sampler s;
  std::mt19937_64 rng(2);
  std::map<int32_t, int> got;
  for (int i = 0; i < 30000; ++i) ++got[s.sample(logits, {1.0, 0, 1.0}, rng)];
  EXPECT_EQ(got.size(), 3u);
  for (int v : {3, 400, 998}) EXPECT_NEAR(got[v], 10000, 500) << v;
  // Degenerate rows: all masked gives the first id, an infinite logit wins.
  std::vector<float> none(10, -kInf);
  EXPECT_EQ(s.sample(none, {1.0, 0, 1.0}, rng), 0);
  none[6] = kInf;
  none[8] = kInf;
  EXPECT_EQ(s.sample(none, {1.0, 0, 0.5}, rng), 6);
}

TEST(Sampler, OneDrawPerCallSoSeededSequencesRepeat) {
  const auto logits = random_logits(4000, 7, 1.0f);
  const SamplingParams ps[] = {{1.0, 0, 1.0}, {0.9, 40, 1.0}, {1.1, 0, 0.8}, {1.0, 1, 1.0}};
  Sampler s1, s2;
  std::mt19937_64 a(5), b(5);
  std::vector<int32_t> first, second;
  for (int i = 0; i < 100; ++i) {
    const SamplingParams& p = ps[i % 4];
    std::mt19937_64 before = a;
    first.push_back(s1.sample(logits, p, a));
    before.discard(1);  // generate_canonical<double, 53> takes one 64-bit word
    EXPECT_TRUE(before == a) << "call " << i << " consumed other than one draw";
    second.push_back(s2.sample(logits, p, b));
  }
  EXPECT_EQ(first, second);
}

// The kept set is walked in id order: a draw near 0 takes the lowest kept id, near 1 the
// highest, whatever their probabilities; ties at the cut keep the lowest ids.
TEST(Sampler, KeptTokensAreWalkedInIdOrder) {
  Sampler s;
  const std::vector<float> logits = {2.0f, 3.0f, 1.0f, -5.0f};
  EXPECT_EQ(s.sample(logits, {1.0, 2, 1.0}, 1e-12), 0);  // kept {0, 1}: 0 is the less likely
  EXPECT_EQ(s.sample(logits, {1.0, 2, 1.0}, 1.0 - 1e-12), 1);
  EXPECT_EQ(s.sample(logits, {1.0, 0, 0.5}, 1e-12), 1);   // top-p 0.5 keeps only the max
  // Ties at the cut: of the three 2s, top-k 2 keeps ids 1 and 2 (with the 1 at id 0 cut).
  const std::vector<float> ties = {1.0f, 2.0f, 2.0f, 2.0f};
  std::mt19937_64 rng(3);
  std::map<int32_t, int> got;
  for (int i = 0; i < 2000; ++i) ++got[s.sample(ties, {1.0, 2, 1.0}, rng)];
  EXPECT_EQ(got.size(), 2u);
  EXPECT_GT(got[1], 800);
  EXPECT_GT(got[2], 800);
  // The rng overload is the unit overload with one draw_unit.
  std::mt19937_64 a(9), b(9);
  const auto row = random_logits(500, 4, 1.0f);
  for (int i = 0; i < 50; ++i) {
    const SamplingParams p{0.8, i % 3 == 0 ? 20 : 0, i % 2 ? 0.9 : 1.0};
    EXPECT_EQ(s.sample(row, p, a), s.sample(row, p, Sampler::draw_unit(b))) << i;
  }
}

}  // namespace
}  // namespace assay
