// The regression gate behind `assay gate`: compares a candidate run with a baseline run, task by
// task, on paired per-document scores, and answers with a verdict table and an exit code.
//
//   assay gate --baseline A --candidate B [--max-drop POINTS] [--alpha 0.05] [--tasks a,b]
//              [--metric acc] [--config FILE] [--junit out.xml] [--markdown out.md]
//              [--max-failed-frac 0.01] [--seed N] [--bootstrap-iters N]
//
// THE RULE. For each gated task, with d = 100 · (candidate − baseline) on the task's metric
// (mean over the paired documents; the sign is flipped for metrics whose results.json
// higher_is_better is false), drop = −d, and p the two-sided p-value of the paired test:
//
//     REGRESSION  ⇔  drop > max_drop  AND  p < alpha
//
// so a drop must be both larger than the tolerated number of points and unlikely under "no
// change". A big drop on a handful of documents (not significant) passes, and so does a
// significant drop smaller than max_drop. Points are hundredths of the metric's unit: percentage
// points for accuracy-like metrics in [0, 1].
//
// THE TEST. Documents are paired by (leaf task, doc_id, filter), and a pair must agree on
// prompt_hash (on doc_hash when either record lacks prompt_hash; on nothing more when both lack
// it); a pair that disagrees is a mismatched document (exit 75). If every
// per-document value of the metric in both runs is 0 or 1: exact McNemar (two-sided binomial on the
// discordant pairs, harness/stats.h). Otherwise: paired bootstrap of the mean difference
// (`bootstrap_iters` resamples, seeded by `seed`; reproducible).
//
// A gated name may be a group from results.json's group_subtasks (e.g. "mmlu"): its leaf tasks'
// documents are pooled, i.e. the micro average lm-eval reports. Without --tasks the gate covers the
// baseline's top-level entries: root groups, plus tasks with samples that belong to no group.
//
// THE METRIC. --metric (or config "metric", per task or global) names it, as "acc" or
// "exact_match,strict-match" (metric,filter). Unset: "acc" if the samples carry it, else the first
// name in the first sample's "metrics" list. Without a filter, "none" is used if present, else the
// first filter seen in the file.
//
// INFRASTRUCTURE (exit 75). A task is an infrastructure ERROR, not a verdict, when: it has no
// samples file in either run; either run has more than max_failed_frac of its documents marked
// with "error" (those within the limit are dropped from both sides of the comparison); the two
// runs' documents differ (a key in one run only, e.g. other num_fewshot → other prompt_hash);
// a key repeats within a run; the metric is missing on a document; or a file is unreadable or
// malformed.
//
// EXIT CODES. 0 every task passes; 1 at least one regression (a definite finding, so it wins over
// infrastructure errors elsewhere: retrying will not fix it); 75 (EX_TEMPFAIL) an infrastructure
// error and no regression; 2 usage error (bad option values, unreadable/malformed config file, a
// run folder that does not exist or holds no run, an unwritable --junit/--markdown path).
//
// PRECEDENCE. Per-task config values > command-line flags > config globals > built-in defaults
// (max_drop 1.0, alpha 0.05, max_failed_frac 0.01). Config file:
//   {"max_drop": 1.0, "alpha": 0.05, "max_failed_frac": 0.01, "metric": "acc",
//    "tasks": {"gsm8k": {"max_drop": 2.0, "alpha": 0.01, "metric": "exact_match,strict-match"}}}
// Unknown keys are usage errors (a typo must not silently loosen a gate). When --tasks is absent
// and the config lists tasks, the config's tasks are the gated set.
//
// Thread safety: run_gate and evaluate_gate share nothing and may run concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "harness/status.h"

namespace assay {

inline constexpr int kGateExitPass = 0;
inline constexpr int kGateExitRegression = 1;
inline constexpr int kGateExitUsage = 2;
inline constexpr int kGateExitInfrastructure = 75;

// Already-parsed command-line options. nullopt = not given on the command line.
struct GateOptions {
  std::string baseline;                   // run folder
  std::string candidate;                  // run folder
  std::optional<double> max_drop;         // points
  std::optional<double> alpha;            // in (0, 1)
  std::optional<double> max_failed_frac;  // in [0, 1]
  std::optional<std::string> metric;      // "acc" or "exact_match,strict-match"
  std::vector<std::string> tasks;         // empty = see header comment
  std::optional<std::string> config_path;
  std::optional<std::string> junit_path;
  std::optional<std::string> markdown_path;
  std::uint64_t seed = 1234;
  std::uint32_t bootstrap_iters = 10000;
};

// Settings for one task after applying the precedence rules.
struct GateTaskSettings {
  double max_drop = 1.0;
  double alpha = 0.05;
  double max_failed_frac = 0.01;
  std::optional<std::string> metric;
};

struct GateConfig {
  GateTaskSettings defaults;
  std::map<std::string, GateTaskSettings> tasks;  // per task, already merged over `defaults`
  std::vector<std::string> task_order;            // tasks in config file order
};

// Reads a config file (see header comment) and merges the command-line values into it.
// kInvalidArgument for malformed files, unknown keys and out-of-range values.
Result<GateConfig> resolve_gate_config(const GateOptions& options);

enum class GateOutcome { kPass, kRegression, kError };
const char* gate_outcome_name(GateOutcome outcome);  // "PASS", "REGRESSION", "ERROR"

struct GateTaskVerdict {
  std::string task;
  std::string metric;  // "acc,none"
  GateOutcome outcome = GateOutcome::kPass;
  std::string test;                    // "mcnemar", "bootstrap", or "" when no test ran
  std::uint64_t n = 0;                 // paired documents compared
  std::uint64_t failed_baseline = 0;   // documents with "error" in the baseline
  std::uint64_t failed_candidate = 0;  // ... and in the candidate
  double baseline = 0;                 // metric mean over the paired documents
  double candidate = 0;
  double delta_points = 0;  // 100 · (candidate − baseline); negative = worse when higher is better
  double p_value = 1;
  std::uint64_t only_baseline = 0;   // McNemar: right in baseline only
  std::uint64_t only_candidate = 0;  // McNemar: right in candidate only
  GateTaskSettings settings;
  std::string message;  // why it failed or errored; a short note otherwise
  double seconds = 0;   // time spent on this task (JUnit testcase@time)
};

struct GateReport {
  std::vector<GateTaskVerdict> tasks;
  int exit_code = kGateExitPass;
  std::string baseline_dir;
  std::string candidate_dir;
};

// Runs the comparison without printing or writing anything. Returns a Status only for usage
// errors (exit 2); everything else is in the report.
Result<GateReport> evaluate_gate(const GateOptions& options);

// Fixed-width text table (for terminals and logs) and a Markdown table (for PR comments).
std::string format_gate_text(const GateReport& report);
std::string format_gate_markdown(const GateReport& report);

// evaluate_gate, then prints the text table to `out`, writes --junit / --markdown files, and
// returns the exit code. On a usage error returns kGateExitUsage and sets *error (when non-null)
// to a message for the user; nothing is printed to `out` in that case.
int run_gate(const GateOptions& options, std::ostream& out, std::string* error);

}  // namespace assay
