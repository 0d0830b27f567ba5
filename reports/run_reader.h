// Reading a run folder written by `assay run` (or by lm-evaluation-harness with --log_samples).
//
// Layout (lm-eval's, see docs of the parity reference §5):
//   DIR/results.json                  or the newest DIR/results_<date>.json
//   DIR/samples_<task>_<date>.jsonl   or DIR/samples_<task>.jsonl; the newest date wins per task
// lm-eval nests these under DIR/<model_name_sanitized>/; open_run() descends into that folder when
// DIR itself holds no results file and exactly one subfolder does.
//
// The structs mirror the files; every field that lm-eval may omit is optional or empty here, so a
// reader written for today's files keeps working on tomorrow's. Unknown keys are ignored.
//
// Errors (Result): kNotFound when the folder or a file is missing; kCorrupt for malformed content,
// with "path:line: ..." for sample lines, e.g.
//   "run/samples_gsm8k.jsonl:14: field 'doc_id': expected an integer".
// Thread safety: plain values; the functions share nothing and may run concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/status.h"

namespace assay {

// One line of samples_<task>.jsonl.
struct SampleRecord {
  std::int64_t doc_id = -1;
  std::string doc_hash;         // empty when absent
  std::string prompt_hash;      // empty when absent
  std::string target_hash;      // empty when absent
  std::string target;           // the string itself, or compact JSON for a non-string target
  std::string filter = "none";  // lm-eval's default filter name when absent
  bool has_filter = false;      // "filter" was present (a failed request may lack it)
  std::vector<std::string> metric_names;  // the "metrics" list, in file order
  // Numeric per-sample metric values by name (true/false read as 1/0). Values that are not
  // numbers (f1's [gold, pred] pairs, bleu's tuples) are left out: they only aggregate.
  std::map<std::string, double> metrics;
  // Set when the request failed for infrastructure reasons (assay's own field); null or an empty
  // string counts as absent.
  std::optional<std::string> error;
  // Compact JSON of "arguments", "resps", "filtered_resps"; filled only with keep_raw.
  std::string arguments;
  std::string resps;
  std::string filtered_resps;
  std::int64_t line = 0;  // 1-based line number in its file
};

struct SampleReadOptions {
  bool keep_raw = false;  // keep arguments/resps/filtered_resps (large for generation tasks)
};

// Reads every line of a samples JSONL file. Requires "doc_id" (integer) on each line; all other
// fields are optional but must have the right type when present.
Result<std::vector<SampleRecord>> read_samples_jsonl(const std::string& path,
                                                     const SampleReadOptions& options = {});

// One entry of "results" or "groups".
struct TaskResult {
  std::string alias;
  // "<metric>,<filter>" → value, including the "<metric>_stderr,<filter>" entries. nullopt for
  // "N/A" and other non-numbers.
  std::map<std::string, std::optional<double>> values;

  std::optional<double> value(const std::string& metric, const std::string& filter = "none") const;
  std::optional<double> std_error(const std::string& metric,
                                  const std::string& filter = "none") const;
};

struct SampleCounts {
  std::int64_t original = 0;
  std::int64_t effective = 0;
};

struct RunResults {
  std::string path;
  std::map<std::string, TaskResult> results;  // tasks and groups alike, as lm-eval writes them
  std::map<std::string, TaskResult> groups;
  std::map<std::string, std::vector<std::string>> group_subtasks;
  std::map<std::string, std::string> versions;  // compact JSON (1.0, "2", ...)
  std::map<std::string, std::int64_t> n_shot;
  std::map<std::string, SampleCounts> n_samples;
  std::map<std::string, std::map<std::string, bool>> higher_is_better;  // task → metric → bool
  std::map<std::string, std::string> configs;  // task → compact JSON of its config
  std::string config;                          // compact JSON of "config" ("{}" when absent)
  std::string git_hash;
  std::string model_name;  // "model_name", else config.model, else empty

  // Leaf tasks under `name` (recursively through group_subtasks), in listed order; {name} itself
  // when it is not a group.
  std::vector<std::string> leaf_tasks(const std::string& name) const;
  bool is_group(const std::string& name) const { return group_subtasks.count(name) > 0; }
};

Result<RunResults> read_results_json(const std::string& path);

// A located run folder. Samples are read on demand: gating three tasks of a 60-task run should
// not parse the other 57 files.
struct RunFolder {
  std::string dir;                                  // the folder that holds the files
  std::optional<std::string> results_path;          // absent when the run wrote no results file
  std::map<std::string, std::string> sample_files;  // task → newest samples file

  bool has_samples(const std::string& task) const { return sample_files.count(task) > 0; }
};

// Locates the files of a run. kNotFound when `dir` does not exist or holds neither a results file
// nor any samples file.
Result<RunFolder> open_run(const std::string& dir);

// A located and loaded run: its results (when present) and a way to read a task's samples.
struct LoadedRun {
  RunFolder folder;
  std::optional<RunResults> results;

  Result<std::vector<SampleRecord>> read_samples(const std::string& task,
                                                 const SampleReadOptions& options = {}) const;
};

// open_run + read_results_json.
Result<LoadedRun> read_run(const std::string& dir);

}  // namespace assay
