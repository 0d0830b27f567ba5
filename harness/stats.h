// Statistics for evaluation results: lm-evaluation-harness's standard errors, group aggregates,
// bootstrap intervals and the paired tests the regression gate uses.
//
// Parity: mean_stderr, pooled_sample_stderr, unweighted_mean_stderr and aggregate_subtasks follow
// lm_eval/api/metrics.py and lm_eval/api/group.py (lm-eval 0.4.x) formula for formula, so a
// number assay prints next to an lm-eval number is computed the same way. The fixture
// scripts/fixtures/stats_reference.py reproduces the expected values in
// tests/harness/stats_test.cpp with lm-eval and scipy.
//
// Conventions: values are plain doubles; "N/A" in lm-eval's output (e.g. the stderr of a single
// sample) is std::nullopt here. Inputs that are programmer errors (mismatched span lengths,
// alpha outside (0,1)) abort through ASSAY_CHECK.
//
// Thread safety: every function is pure and may be called concurrently. The bootstrap functions
// run in parallel on TBB's pool but their results depend only on (inputs, iterations, seed),
// never on the number of threads.
//
// Fields are named std_error, not stderr: <cstdio> defines stderr as a macro.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

namespace assay {

// Arithmetic mean; NaN for an empty input.
double mean(std::span<const double> xs);

// Bessel-corrected standard deviation sqrt(Σ(x − x̄)² / (n − 1)); NaN when n < 2.
double sample_stddev(std::span<const double> xs);

// lm-eval's `mean_stderr`: sample_stddev / sqrt(n). nullopt ("N/A") when n < 2.
std::optional<double> mean_stderr(std::span<const double> xs);

// lm-eval's `pooled_sample_stderr` (group stderr when weight_by_size is true):
//   pooled_var = Σ (n_i − 1)·s_i²·n_i / (N − k),   stderr = sqrt(pooled_var / N),  N = Σ n_i.
// Only within-subtask variance is pooled; differences between subtask means are ignored.
// nullopt when any stderr is NaN, when k == 0 or when N <= k (the formula divides by zero).
std::optional<double> pooled_sample_stderr(std::span<const double> stderrs,
                                           std::span<const std::uint64_t> sizes);

// lm-eval's `unweighted_mean_stderr` (group stderr when weight_by_size is false):
// sqrt(Σ s_i²) / k. nullopt when k == 0 or any stderr is NaN.
std::optional<double> unweighted_mean_stderr(std::span<const double> stderrs);

// One subtask's contribution to a group.
struct SubtaskScore {
  double value = 0;                 // the subtask's metric (e.g. acc)
  std::optional<double> std_error;  // nullopt = "N/A"
  std::uint64_t n = 0;              // number of documents scored
};

struct GroupScore {
  double value = 0;
  std::optional<double> std_error;  // nullopt when any subtask stderr is N/A (as lm-eval)
  std::uint64_t n = 0;              // Σ n_i
};

// Micro average: Σ v_i·n_i / Σ n_i (lm-eval's weight_by_size: true, = total correct / total docs
// for accuracy). Macro average: unweighted mean of the subtask values (OLMES, lighteval,
// OpenCompass's default MMLU number). NaN for no subtasks (or Σ n_i == 0 for micro).
double micro_average(std::span<const SubtaskScore> subtasks);
double macro_average(std::span<const SubtaskScore> subtasks);

// A group's value and stderr exactly as lm-eval's group aggregation computes them:
// weight_by_size → micro_average + pooled_sample_stderr; otherwise macro_average +
// unweighted_mean_stderr.
GroupScore aggregate_subtasks(std::span<const SubtaskScore> subtasks, bool weight_by_size);

// A two-sided interval.
struct Interval {
  double low = 0;
  double high = 0;
};

// Two-sided standard-normal quantile z for a confidence level (0.95 → 1.959963984540054).
double normal_quantile_two_sided(double confidence);

// Wilson score interval for a binomial proportion (no continuity correction), matching
// scipy.stats.binomtest(k, n).proportion_ci(confidence, method="wilson"). n must be > 0.
Interval wilson_interval(std::uint64_t successes, std::uint64_t n, double confidence = 0.95);

// Normal (Wald) interval estimate ± z·stderr.
Interval normal_interval(double estimate, double std_error, double confidence = 0.95);

struct BootstrapOptions {
  std::uint32_t iterations = 10000;
  std::uint64_t seed = 1234;
  double confidence = 0.95;
};

struct BootstrapResult {
  double estimate = 0;   // statistic on the original sample
  double std_error = 0;  // Bessel-corrected SD of the replicates (as lm-eval's bootstrap_stderr)
  Interval ci;           // percentile interval (numpy's default "linear" percentile)
  std::uint32_t iterations = 0;
};

// Nonparametric bootstrap of an arbitrary statistic: `iterations` resamples of xs with
// replacement. Replicate i draws from its own std::mt19937_64 seeded from (seed, i / 1000), in
// blocks of 1000 like lm-eval's chunks, so the result is reproducible for a seed regardless of the
// thread count. `statistic` is called concurrently from several threads and must be thread safe.
// xs must be non-empty and iterations >= 2.
BootstrapResult bootstrap(std::span<const double> xs,
                          const std::function<double(std::span<const double>)>& statistic,
                          const BootstrapOptions& options = {});

// Exact McNemar test on paired 0/1 outcomes. `only_a` counts pairs where A was right and B
// wrong, `only_b` the reverse. Under H0 each discordant pair is a fair coin, so
//   p = min(1, 2 · P[X <= min(only_a, only_b)]),  X ~ Binomial(only_a + only_b, 1/2),
// which equals scipy.stats.binomtest(min, n, 0.5).pvalue (two-sided) and statsmodels' exact
// mcnemar. Computed in log space with a ratio recurrence, so it is stable for n in the millions.
// No discordant pairs → p = 1.
struct McNemarResult {
  std::uint64_t only_a = 0;
  std::uint64_t only_b = 0;
  double p_value = 1;
};
McNemarResult mcnemar_exact(std::uint64_t only_a, std::uint64_t only_b);

// Lower tail P[X <= k] for X ~ Binomial(n, 1/2), stable for large n.
double binomial_half_cdf(std::uint64_t k, std::uint64_t n);

struct PairedBootstrapResult {
  double diff = 0;       // mean(b) − mean(a)
  double std_error = 0;  // SD of the replicate differences
  Interval ci;           // percentile interval of the difference
  // Two-sided bootstrap p-value for H0: diff = 0,
  //   p = min(1, 2 · min((1 + #{d* <= 0}) / (B + 1), (1 + #{d* >= 0}) / (B + 1))).
  // The +1 keeps p > 0 (a bootstrap with B replicates cannot show p < 1/(B+1)).
  double p_value = 1;
  std::uint32_t iterations = 0;
};

// Paired bootstrap of a mean difference: resamples pair indices (same index for a and b) with
// replacement. a and b must have the same non-zero length. Deterministic for a seed like
// bootstrap().
PairedBootstrapResult paired_bootstrap_mean_diff(std::span<const double> a,
                                                 std::span<const double> b,
                                                 const BootstrapOptions& options = {});

// Percentile of sorted data with linear interpolation (numpy.percentile's default), q in [0,100].
double percentile_sorted(std::span<const double> sorted, double q);

}  // namespace assay
