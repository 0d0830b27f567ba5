#include "harness/stats.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "harness/status.h"

namespace assay {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Replicates per RNG stream. Each block of replicates gets its own generator, so blocks can run
// on any thread in any order and still produce the same numbers.
constexpr std::uint32_t kBootstrapBlock = 1000;

// Unbiased index in [0, n) by rejection. std::uniform_int_distribution would do, but its
// algorithm is implementation-defined; this keeps a seed's results identical across standard
// libraries.
std::uint64_t uniform_index(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the biased low values
  for (;;) {
    const std::uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

// std::seed_seq's mixing is fully specified by the standard, so this is portable too.
std::mt19937_64 block_rng(std::uint64_t seed, std::uint64_t block) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32)};
  return std::mt19937_64(seq);
}

void check_options(const BootstrapOptions& options) {
  ASSAY_CHECK_MSG(options.iterations >= 2, "bootstrap needs at least 2 iterations");
  ASSAY_CHECK_MSG(options.confidence > 0 && options.confidence < 1, "confidence must be in (0, 1)");
}

Interval percentile_interval(std::vector<double>& replicates, double confidence) {
  std::sort(replicates.begin(), replicates.end());
  const double tail = (1 - confidence) / 2 * 100;
  return {percentile_sorted(replicates, tail), percentile_sorted(replicates, 100 - tail)};
}

}  // namespace

double mean(std::span<const double> xs) {
  if (xs.empty()) return kNaN;
  double sum = 0;
  for (double x : xs) sum += x;
  return sum / static_cast<double>(xs.size());
}

double sample_stddev(std::span<const double> xs) {
  if (xs.size() < 2) return kNaN;
  const double mu = mean(xs);
  double ss = 0;
  for (double x : xs) ss += (x - mu) * (x - mu);
  return std::sqrt(ss / static_cast<double>(xs.size() - 1));
}

std::optional<double> mean_stderr(std::span<const double> xs) {
  if (xs.size() < 2) return std::nullopt;
  return sample_stddev(xs) / std::sqrt(static_cast<double>(xs.size()));
}

std::optional<double> pooled_sample_stderr(std::span<const double> stderrs,
                                           std::span<const std::uint64_t> sizes) {
  ASSAY_CHECK_MSG(stderrs.size() == sizes.size(), "one size per stderr");
  const std::size_t k = stderrs.size();
  if (k == 0) return std::nullopt;
  double total = 0;
  double numerator = 0;
  for (std::size_t i = 0; i < k; ++i) {
    if (std::isnan(stderrs[i])) return std::nullopt;
    const double n = static_cast<double>(sizes[i]);
    numerator += (n - 1) * stderrs[i] * stderrs[i] * n;
    total += n;
  }
  if (total <= static_cast<double>(k)) return std::nullopt;
  const double pooled_var = numerator / (total - static_cast<double>(k));
  return std::sqrt(pooled_var / total);
}

std::optional<double> unweighted_mean_stderr(std::span<const double> stderrs) {
  if (stderrs.empty()) return std::nullopt;
  double ss = 0;
  for (double s : stderrs) {
    if (std::isnan(s)) return std::nullopt;
    ss += s * s;
  }
  return std::sqrt(ss) / static_cast<double>(stderrs.size());
}

double micro_average(std::span<const SubtaskScore> subtasks) {
  double num = 0;
  double den = 0;
  for (const auto& s : subtasks) {
    num += s.value * static_cast<double>(s.n);
    den += static_cast<double>(s.n);
  }
  return den > 0 ? num / den : kNaN;
}

double macro_average(std::span<const SubtaskScore> subtasks) {
  if (subtasks.empty()) return kNaN;
  double sum = 0;
  for (const auto& s : subtasks) sum += s.value;
  return sum / static_cast<double>(subtasks.size());
}

GroupScore aggregate_subtasks(std::span<const SubtaskScore> subtasks, bool weight_by_size) {
  GroupScore g;
  std::vector<double> stderrs;
  std::vector<std::uint64_t> sizes;
  bool all_stderrs = true;
  for (const auto& s : subtasks) {
    g.n += s.n;
    sizes.push_back(s.n);
    if (s.std_error) {
      stderrs.push_back(*s.std_error);
    } else {
      all_stderrs = false;
    }
  }
  if (weight_by_size) {
    g.value = micro_average(subtasks);
    if (all_stderrs) g.std_error = pooled_sample_stderr(stderrs, sizes);
  } else {
    g.value = macro_average(subtasks);
    if (all_stderrs) g.std_error = unweighted_mean_stderr(stderrs);
  }
  return g;
}

double normal_quantile_two_sided(double confidence) {
  ASSAY_CHECK_MSG(confidence > 0 && confidence < 1, "confidence must be in (0, 1)");
  return boost::math::quantile(boost::math::normal_distribution<double>(), 0.5 + confidence / 2);
}

Interval wilson_interval(std::uint64_t successes, std::uint64_t n, double confidence) {
  ASSAY_CHECK_MSG(n > 0 && successes <= n, "wilson_interval needs 0 <= successes <= n, n > 0");
  // Same arrangement as scipy's _binom_wilson_conf_int, so the two agree to rounding.
  const double z = normal_quantile_two_sided(confidence);
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nn;
  const double denom = 2 * (nn + z * z);
  const double center = (2 * nn * p + z * z) / denom;
  const double delta = z * std::sqrt(4 * nn * p * (1 - p) + z * z) / denom;
  return {std::max(0.0, center - delta), std::min(1.0, center + delta)};
}

Interval normal_interval(double estimate, double std_error, double confidence) {
  const double z = normal_quantile_two_sided(confidence);
  return {estimate - z * std_error, estimate + z * std_error};
}

double percentile_sorted(std::span<const double> sorted, double q) {
  ASSAY_CHECK_MSG(!sorted.empty(), "percentile of an empty sample");
  ASSAY_CHECK_MSG(q >= 0 && q <= 100, "percentile q must be in [0, 100]");
  const double h = static_cast<double>(sorted.size() - 1) * q / 100;
  const std::size_t lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

BootstrapResult bootstrap(std::span<const double> xs,
                          const std::function<double(std::span<const double>)>& statistic,
                          const BootstrapOptions& options) {
  check_options(options);
  ASSAY_CHECK_MSG(!xs.empty(), "bootstrap of an empty sample");
  const std::uint32_t iters = options.iterations;
  const std::uint64_t n = xs.size();
  std::vector<double> replicates(iters);
  const std::uint32_t blocks = (iters + kBootstrapBlock - 1) / kBootstrapBlock;
  tbb::parallel_for(std::uint32_t{0}, blocks, [&](std::uint32_t block) {
    std::mt19937_64 rng = block_rng(options.seed, block);
    std::vector<double> resample(n);
    const std::uint32_t end = std::min(iters, (block + 1) * kBootstrapBlock);
    for (std::uint32_t r = block * kBootstrapBlock; r < end; ++r) {
      for (auto& v : resample) v = xs[uniform_index(rng, n)];
      replicates[r] = statistic(resample);
    }
  });
  BootstrapResult result;
  result.estimate = statistic(xs);
  result.std_error = sample_stddev(replicates);
  result.iterations = iters;
  result.ci = percentile_interval(replicates, options.confidence);
  return result;
}

PairedBootstrapResult paired_bootstrap_mean_diff(std::span<const double> a,
                                                 std::span<const double> b,
                                                 const BootstrapOptions& options) {
  check_options(options);
  ASSAY_CHECK_MSG(a.size() == b.size() && !a.empty(), "paired samples need equal, non-zero sizes");
  const std::uint64_t n = a.size();
  std::vector<double> d(n);
  for (std::uint64_t i = 0; i < n; ++i) d[i] = b[i] - a[i];

  const std::uint32_t iters = options.iterations;
  std::vector<double> replicates(iters);
  const std::uint32_t blocks = (iters + kBootstrapBlock - 1) / kBootstrapBlock;
  tbb::parallel_for(std::uint32_t{0}, blocks, [&](std::uint32_t block) {
    std::mt19937_64 rng = block_rng(options.seed, block);
    const std::uint32_t end = std::min(iters, (block + 1) * kBootstrapBlock);
    for (std::uint32_t r = block * kBootstrapBlock; r < end; ++r) {
      double sum = 0;
      for (std::uint64_t i = 0; i < n; ++i) sum += d[uniform_index(rng, n)];
      replicates[r] = sum / static_cast<double>(n);
    }
  });

  PairedBootstrapResult result;
  result.diff = mean(d);
  result.std_error = sample_stddev(replicates);
  result.iterations = iters;
  std::uint64_t at_or_below = 0;
  std::uint64_t at_or_above = 0;
  for (double r : replicates) {
    if (r <= 0) ++at_or_below;
    if (r >= 0) ++at_or_above;
  }
  const double denom = static_cast<double>(iters) + 1;
  const double tail = std::min((1.0 + static_cast<double>(at_or_below)) / denom,
                               (1.0 + static_cast<double>(at_or_above)) / denom);
  result.p_value = std::min(1.0, 2 * tail);
  result.ci = percentile_interval(replicates, options.confidence);
  return result;
}

double binomial_half_cdf(std::uint64_t k, std::uint64_t n) {
  if (k >= n) return 1.0;
  // Boost evaluates the binomial CDF through the regularized incomplete beta function, with
  // asymptotic expansions for large arguments: accurate in relative terms for n in the
  // millions and far into the tail (scipy.stats.binom uses the same Boost code).
  // The error policy makes underflow return 0 instead of raising.
  using Policy = boost::math::policies::policy<
      boost::math::policies::underflow_error<boost::math::policies::ignore_error>,
      boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
      boost::math::policies::domain_error<boost::math::policies::ignore_error>,
      boost::math::policies::evaluation_error<boost::math::policies::ignore_error>>;
  boost::math::binomial_distribution<double, Policy> dist(static_cast<double>(n), 0.5);
  return boost::math::cdf(dist, static_cast<double>(k));
}

McNemarResult mcnemar_exact(std::uint64_t only_a, std::uint64_t only_b) {
  McNemarResult r;
  r.only_a = only_a;
  r.only_b = only_b;
  const std::uint64_t n = only_a + only_b;
  if (n == 0) return r;
  r.p_value = std::min(1.0, 2 * binomial_half_cdf(std::min(only_a, only_b), n));
  return r;
}

}  // namespace assay
