// The evaluator: runs tasks against a Model and writes lm-eval-compatible results.
//
//  1. expands task and group names, loads each task (a task whose data is malformed fails alone);
//  2. refuses, before sending anything, tasks the model cannot serve (log-likelihood tasks on a
//     chat-only endpoint);
//  3. collects every request of every document, removes exact duplicates, and sends each kind to
//     the model in chunks; each answered request is appended to the write-ahead log
//     OUTPUT/requests.wal.jsonl keyed by sha256(model identity, canonical request), so re-running
//     the same command on the same output resumes without repeating work (and a different model
//     never reuses another's answers);
//  4. scores documents in parallel (oneTBB), aggregates means with lm-eval's stderr, groups micro
//     (lm-eval's number) and macro (OLMES/LoLCATs' number) with the pooled stderr;
//  5. writes OUTPUT/results.json (lm-eval layout plus assay's fields) and, with log_samples,
//     OUTPUT/samples_<task>.jsonl, atomically; returns a Markdown table for the terminal.
// Token usage (harness/usage.h) is stored with every logged answer and summed per request
// (samples "usage"), per task and group (results.json "assay.usage_by_task") and per run
// ("assay.usage", with the cost from opts.prices), and ends the terminal summary.
// Failed requests (infrastructure) are counted apart and never scored as model answers.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/model.h"
#include "harness/price_table.h"
#include "harness/registry.h"
#include "harness/task.h"
#include "harness/usage.h"

namespace assay {

struct EvalOptions {
  std::vector<std::string> tasks;
  TaskOptions task_options;
  std::optional<double> limit;  // lm-eval: < 1 a fraction of each task, else a count
  std::string output_dir;       // empty: nothing written, no resume
  bool log_samples = false;
  // Requests per model call: each chunk is logged when done, so this bounds what a crash loses
  // (256 = 64 MMLU questions; the prefix cache carries shared headers across chunks).
  int64_t chunk_size = 256;
  bool show_progress = true;
  // Recorded in results.json "config".
  std::string model_args;
  std::string gen_kwargs;
  int batch_size = 0;
  uint64_t seed = 0;
  std::string command_line;
  // Prices for results.json "assay.usage" cost_usd; nullopt: the built-in table.
  std::optional<PriceTable> prices;
};

struct TaskSummary {
  std::string name;
  Status status;               // non-OK: the task failed (bad data, ...)
  int64_t n_docs = 0;
  int64_t n_scored = 0;
  int64_t n_failed_docs = 0;   // documents with a failed request
  std::map<std::string, double> values;  // "acc,none" -> mean
  std::map<std::string, std::optional<double>> stderrs;
};

struct EvalResult {
  boost::json::object results;  // the results.json document
  std::vector<TaskSummary> tasks;
  std::string markdown;         // lm-eval's terminal tables
  int64_t requests_total = 0;   // unique requests
  int64_t requests_sent = 0;    // sent to the model this run (the rest came from the log)
  int64_t requests_failed = 0;
  int failed_tasks = 0;
  UsageTotals usage;            // every unique request, those answered from the log included
  Pricing pricing;
};

Result<EvalResult> evaluate(Model& model, const TaskRegistry& registry, const EvalOptions& opts);

// lm-eval's hash_string: sha256 hex of the UTF-8 text.
std::string hash_string(std::string_view s);

}  // namespace assay
