// Expected values come from scripts/fixtures/stats_reference.py (lm-eval 0.4.13's
// lm_eval.api.metrics, scipy 1.17.1, numpy 2.4.6) unless a comment derives them by hand.
#include "harness/stats.h"

#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>
#include <random>
#include <vector>

namespace assay {
namespace {

// Relative closeness for reference values that span many orders of magnitude.
void expect_rel_near(double actual, double expected, double rel) {
  EXPECT_NEAR(actual, expected, std::abs(expected) * rel) << "expected " << expected;
}

const std::vector<double> kScores = {0.1, 0.7, 0.3, 1.0, 0.0, 0.45, 0.95, 0.2};
const std::vector<double> kAcc = {1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1};

TEST(StatsTest, MeanAndMeanStderrMatchLmEval) {
  EXPECT_DOUBLE_EQ(mean(kScores), 0.4625);
  ASSERT_TRUE(mean_stderr(kScores).has_value());
  EXPECT_NEAR(*mean_stderr(kScores), 0.13520817282989958, 1e-15);
  EXPECT_NEAR(*mean_stderr(kAcc), 0.14083575804390605, 1e-15);
}

TEST(StatsTest, BinaryStderrEqualsClosedForm) {
  // For 0/1 scores s/sqrt(n) = sqrt(p(1-p) n/(n-1)) / sqrt(n) (reference §4.1).
  const double p = 8.0 / 11.0;
  const double n = 11;
  EXPECT_NEAR(*mean_stderr(kAcc), std::sqrt(p * (1 - p) * n / (n - 1)) / std::sqrt(n), 1e-15);
}

TEST(StatsTest, SingleSampleStderrIsNotAvailable) {
  const std::vector<double> one = {1.0};
  EXPECT_FALSE(mean_stderr(one).has_value());
  EXPECT_TRUE(std::isnan(mean(std::span<const double>())));
}

std::vector<SubtaskScore> three_subtasks() {
  const std::vector<std::vector<double>> docs = {
      {1, 0, 1, 1, 0},
      {1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1},
      {0, 0, 1, 0, 1, 1, 0, 0},
  };
  std::vector<SubtaskScore> out;
  for (const auto& d : docs) out.push_back({mean(d), mean_stderr(d), d.size()});
  return out;
}

TEST(StatsTest, GroupAggregatesMatchLmEval) {
  const auto subtasks = three_subtasks();
  EXPECT_NEAR(*subtasks[0].std_error, 0.24494897427831783, 1e-15);
  EXPECT_NEAR(*subtasks[1].std_error, 0.14213381090374028, 1e-15);
  EXPECT_NEAR(*subtasks[2].std_error, 0.18298126367784995, 1e-15);

  EXPECT_NEAR(micro_average(subtasks), 0.56, 1e-15);  // 14 correct / 25 docs
  EXPECT_NEAR(macro_average(subtasks), 0.5472222222222222, 1e-15);

  const GroupScore micro = aggregate_subtasks(subtasks, /*weight_by_size=*/true);
  EXPECT_NEAR(micro.value, 0.56, 1e-15);
  ASSERT_TRUE(micro.std_error.has_value());
  EXPECT_NEAR(*micro.std_error, 0.10217335239383084, 1e-15);
  EXPECT_EQ(micro.n, 25u);

  const GroupScore macro = aggregate_subtasks(subtasks, /*weight_by_size=*/false);
  EXPECT_NEAR(macro.value, 0.5472222222222222, 1e-15);
  EXPECT_NEAR(*macro.std_error, 0.11239027392635155, 1e-15);
}

TEST(StatsTest, PooledStderrIsNotAvailableWhenAnySubtaskIsNot) {
  auto subtasks = three_subtasks();
  subtasks[1].std_error.reset();
  EXPECT_FALSE(aggregate_subtasks(subtasks, true).std_error.has_value());
  EXPECT_FALSE(aggregate_subtasks(subtasks, false).std_error.has_value());
  // N == k divides by zero in lm-eval; here it is N/A.
  const std::vector<double> s = {0.1, 0.2};
  const std::vector<std::uint64_t> n = {1, 1};
  EXPECT_FALSE(pooled_sample_stderr(s, n).has_value());
}

TEST(StatsTest, McNemarMatchesScipyBinomtest) {
  struct Case {
    std::uint64_t a, b;
    double p;
  };
  // (a, b) → scipy.stats.binomtest(min(a, b), a + b, 0.5).pvalue.
  const Case cases[] = {
      {1, 9, 0.021484375},
      {7, 3, 0.34375},
      {5, 5, 1.0},
      {0, 30, 1.862645149230957e-09},
      {12, 28, 0.01658900337497471},
      {480, 520, 0.2174482932041415},
      {1000, 0, 1.8665272370064378e-301},
      {49000, 51000, 2.5887160383468943e-10},
      {50500, 49500, 0.0015823598788515154},
      {49900, 50100, 0.5291572940801981},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.a << " vs " << c.b);
    const McNemarResult r = mcnemar_exact(c.a, c.b);
    expect_rel_near(r.p_value, c.p, 1e-9);
    EXPECT_EQ(r.only_a, c.a);
    EXPECT_EQ(r.only_b, c.b);
  }
  EXPECT_EQ(mcnemar_exact(0, 0).p_value, 1.0);
}

TEST(StatsTest, McNemarStaysInRangeForHugeCounts) {
  // Far tails underflow to 0 rather than producing NaN or negative values; symmetric counts give
  // exactly 1.
  for (std::uint64_t n : {1000ull, 100000ull, 1000000ull, 10000000ull}) {
    for (double frac : {0.0, 0.3, 0.49, 0.4999, 0.5}) {
      const auto a = static_cast<std::uint64_t>(frac * static_cast<double>(n));
      const double p = mcnemar_exact(a, n - a).p_value;
      EXPECT_TRUE(p >= 0 && p <= 1) << a << "/" << n << " p=" << p;
      EXPECT_EQ(mcnemar_exact(a, n - a).p_value, mcnemar_exact(n - a, a).p_value);
    }
    EXPECT_EQ(mcnemar_exact(n / 2, n / 2).p_value, 1.0);
  }
}

TEST(StatsTest, McNemarAgreesWithDirectSumForSmallN) {
  // Independent check: P[X <= k] summed term by term from exact binomial coefficients.
  for (std::uint64_t n = 1; n <= 40; ++n) {
    for (std::uint64_t k = 0; k <= n; ++k) {
      double cdf = 0;
      double coef = 1;  // C(n, i)
      for (std::uint64_t i = 0; i <= k; ++i) {
        cdf += coef;
        coef = coef * static_cast<double>(n - i) / static_cast<double>(i + 1);
      }
      cdf = std::ldexp(cdf, -static_cast<int>(n));
      ASSERT_NEAR(binomial_half_cdf(k, n), cdf, 1e-12 * std::max(cdf, 1e-300)) << k << "/" << n;
    }
  }
}

TEST(StatsTest, WilsonMatchesScipy) {
  struct Case {
    std::uint64_t k, n;
    double confidence, low, high;
  };
  const Case cases[] = {
      {0, 10, 0.95, 0.0, 0.27753279986288926},
      {7, 10, 0.95, 0.39677814746114526, 0.892208732593699},
      {500, 1000, 0.95, 0.4690696003681042, 0.5309303996318958},
      {1, 1, 0.95, 0.20654931437723745, 1.0},
      {813, 1319, 0.95, 0.5898317726705348, 0.6422444129924764},
      {70, 100, 0.99, 0.572572381123576, 0.8025393437900948},
  };
  for (const auto& c : cases) {
    const Interval ci = wilson_interval(c.k, c.n, c.confidence);
    EXPECT_NEAR(ci.low, c.low, 1e-13) << c.k << "/" << c.n;
    EXPECT_NEAR(ci.high, c.high, 1e-13) << c.k << "/" << c.n;
  }
}

TEST(StatsTest, NormalQuantileAndInterval) {
  EXPECT_NEAR(normal_quantile_two_sided(0.95), 1.959963984540054, 1e-14);
  EXPECT_NEAR(normal_quantile_two_sided(0.99), 2.5758293035489004, 1e-14);
  const Interval ci = normal_interval(0.5, 0.01);
  EXPECT_NEAR(ci.low, 0.5 - 0.01959963984540054, 1e-14);
  EXPECT_NEAR(ci.high, 0.5 + 0.01959963984540054, 1e-14);
}

TEST(StatsTest, PercentileMatchesNumpyLinear) {
  const std::vector<double> sorted = {1.0, 1.5, 2.6, 3.0, 4.0, 5.0, 9.0};
  EXPECT_DOUBLE_EQ(percentile_sorted(sorted, 0), 1.0);
  EXPECT_NEAR(percentile_sorted(sorted, 2.5), 1.075, 1e-14);
  EXPECT_DOUBLE_EQ(percentile_sorted(sorted, 50), 3.0);
  EXPECT_NEAR(percentile_sorted(sorted, 97.5), 8.399999999999999, 1e-14);
  EXPECT_DOUBLE_EQ(percentile_sorted(sorted, 100), 9.0);
}

std::vector<double> bernoulli(std::size_t n, double p, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution coin(p);
  std::vector<double> out(n);
  for (auto& x : out) x = coin(rng) ? 1.0 : 0.0;
  return out;
}

double mean_of(std::span<const double> xs) { return mean(xs); }

constexpr double kPinnedBootstrapStderr = 0x1.67f8edfe90ad6p-6;  // 0.021971...

TEST(StatsTest, BootstrapIsReproducibleAndThreadCountIndependent) {
  // Built without <random> distributions (their algorithms are implementation-defined).
  std::vector<double> xs(500);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = (i * 7) % 10 < 6 ? 1.0 : 0.0;
  BootstrapOptions options;
  options.iterations = 5000;
  options.seed = 42;
  BootstrapResult many;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 8);
    many = bootstrap(xs, mean_of, options);
  }
  BootstrapResult one;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
    one = bootstrap(xs, mean_of, options);
  }
  EXPECT_EQ(many.std_error, one.std_error);
  // Pinned: mt19937_64, seed_seq and the rejection sampler are fully specified, so a change here
  // means the resampling scheme changed and old runs' intervals are no longer reproducible.
  // (Near, not equal: a compiler may contract a*b+c into an FMA on other targets.)
  EXPECT_NEAR(many.std_error, kPinnedBootstrapStderr, 1e-14) << std::hexfloat << many.std_error;
  EXPECT_EQ(many.ci.low, one.ci.low);
  EXPECT_EQ(many.ci.high, one.ci.high);

  options.seed = 43;
  const BootstrapResult other = bootstrap(xs, mean_of, options);
  EXPECT_NE(other.std_error, many.std_error);
}

TEST(StatsTest, BootstrapStderrOfMeanApproachesClosedForm) {
  // The bootstrap SD of the mean estimates sqrt((n-1)/n) * s / sqrt(n); with 20,000 replicates
  // its Monte Carlo error is about 0.5%, so 3% is a loose but failing-capable bound.
  const auto xs = bernoulli(800, 0.3, 11);
  BootstrapOptions options;
  options.iterations = 20000;
  const BootstrapResult r = bootstrap(xs, mean_of, options);
  const double n = static_cast<double>(xs.size());
  const double expected = *mean_stderr(xs) * std::sqrt((n - 1) / n);
  EXPECT_NEAR(r.std_error, expected, 0.03 * expected);
  EXPECT_DOUBLE_EQ(r.estimate, mean(xs));
  EXPECT_LT(r.ci.low, r.estimate);
  EXPECT_GT(r.ci.high, r.estimate);
  // Percentile CI ≈ normal CI for a mean of 800 Bernoulli draws.
  const Interval normal = normal_interval(r.estimate, expected);
  EXPECT_NEAR(r.ci.low, normal.low, 0.006);
  EXPECT_NEAR(r.ci.high, normal.high, 0.006);
}

TEST(StatsTest, BootstrapOfMedianWorksForArbitraryStatistic) {
  const std::vector<double> xs = {5, 5, 5, 5, 5};
  const BootstrapResult r = bootstrap(xs,
                                      [](std::span<const double> s) {
                                        std::vector<double> v(s.begin(), s.end());
                                        std::sort(v.begin(), v.end());
                                        return v[v.size() / 2];
                                      },
                                      {});
  EXPECT_EQ(r.estimate, 5);
  EXPECT_EQ(r.std_error, 0);
  EXPECT_EQ(r.ci.low, 5);
  EXPECT_EQ(r.ci.high, 5);
}

TEST(StatsTest, PairedBootstrapDetectsPlantedDropAndNotNoise) {
  const auto a = bernoulli(1000, 0.7, 3);
  // Candidate: same answers except 30 previously correct answers become wrong.
  auto b = a;
  int flipped = 0;
  for (std::size_t i = 0; i < b.size() && flipped < 30; ++i) {
    if (b[i] == 1.0) {
      b[i] = 0.0;
      ++flipped;
    }
  }
  const PairedBootstrapResult drop = paired_bootstrap_mean_diff(a, b);
  EXPECT_NEAR(drop.diff, -0.03, 1e-12);
  EXPECT_LT(drop.p_value, 0.001);
  EXPECT_LT(drop.ci.high, 0);
  // Paired SD of the difference: d is -1 on 30 docs, 0 elsewhere.
  const double p = 0.03;
  EXPECT_NEAR(drop.std_error, std::sqrt(p * (1 - p) / 1000), 0.1 * std::sqrt(p * (1 - p) / 1000));

  const PairedBootstrapResult same = paired_bootstrap_mean_diff(a, a);
  EXPECT_EQ(same.diff, 0);
  EXPECT_EQ(same.p_value, 1.0);

  // Balanced noise: 15 flips each way leaves the mean unchanged and p large.
  auto c = a;
  int down = 0;
  int up = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c[i] == 1.0 && down < 15) {
      c[i] = 0.0;
      ++down;
    } else if (c[i] == 0.0 && up < 15) {
      c[i] = 1.0;
      ++up;
    }
  }
  const PairedBootstrapResult noise = paired_bootstrap_mean_diff(a, c);
  EXPECT_NEAR(noise.diff, 0, 1e-12);
  EXPECT_GT(noise.p_value, 0.5);
}

}  // namespace
}  // namespace assay
