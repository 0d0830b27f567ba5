// Task: a benchmark. It owns its documents, builds every request up front, scores one document
// from its responses, and declares its metrics. Tasks never talk to models: the evaluator
// collects all requests, deduplicates them, hands each kind to the model in one call and
// scatters the responses back. Because every request is known before any runs, engines are free
// to sort, batch and share prefixes.
//
// Thread safety: after construction a Task is immutable; requests() and score() are called from
// many threads at once.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "harness/request.h"
#include "harness/status.h"

namespace assay {

enum class RequestKind { kLoglikelihood, kRolling, kGenerate };
const char* request_kind_name(RequestKind k);  // "loglikelihood", "loglikelihood_rolling", ...

struct Request {
  RequestKind kind = RequestKind::kLoglikelihood;
  LoglikelihoodRequest ll;
  RollingRequest rolling;
  GenerateRequest gen;
  // Canonical JSON text of everything that determines the answer (dedup and cache key).
  std::string canonical() const;
  // lm-eval's per-sample "arguments" entry.
  boost::json::value arguments_json() const;
};

// [{"role": ..., "content": ...}, ...]: the canonical form and the log form of a conversation.
boost::json::array messages_json(const std::vector<ChatMessage>& messages);

// One answered (or failed) request.
struct Response {
  RequestKind kind = RequestKind::kLoglikelihood;
  Status error;  // non-OK: the request failed (infrastructure), not a model answer
  LoglikelihoodResponse ll;
  RollingResponse rolling;
  GenerateResponse gen;
  boost::json::value to_json() const;  // for logs and the write-ahead log (not errors)
  static Result<Response> from_json(RequestKind kind, const boost::json::value& v);
  // lm-eval's "resps" entry: [logprob, is_greedy] / [logprob] / text.
  boost::json::value resps_json() const;
};

struct MetricSpec {
  std::string name;              // "acc", "exact_match"
  std::string filter = "none";   // lm-eval filter name: "none", "strict-match", ...
  bool higher_is_better = true;
  std::string key() const { return name + "," + filter; }
};

// The outcome of one document.
struct DocResult {
  std::map<std::string, double> values;  // MetricSpec::key() -> value for this doc
  boost::json::value target;             // gold, as lm-eval logs it
  boost::json::array filtered_resps;     // per filter/choice, as lm-eval logs it
  std::string filter = "none";
  // Further filters' filtered responses, in the order of metrics(): lm-eval logs one sample
  // line per filter, and filter/filtered_resps above are the first.
  std::vector<std::pair<std::string, boost::json::array>> other_filters;
  boost::json::object extra;             // task-specific fields for the sample log
};

// --gen-kwargs: only the keys the user gave. Each replaces the task's own value and the rest stay
// (lm-eval updates the task's generation_kwargs dict key by key).
struct GenOverrides {
  std::optional<std::vector<std::string>> until;
  std::optional<int32_t> max_gen_toks;
  std::optional<bool> do_sample;
  std::optional<double> temperature;
  std::optional<int32_t> top_k;
  std::optional<double> top_p;
  std::optional<uint64_t> seed;
  bool empty() const {
    return !until && !max_gen_toks && !do_sample && !temperature && !top_k && !top_p && !seed;
  }
  GenParams apply(GenParams p) const;
};

// What the user asked for that every task may need.
struct TaskOptions {
  std::string data_dir;
  std::optional<int> num_fewshot;  // nullopt: the task's default
  bool apply_chat_template = false;
  bool fewshot_as_multiturn = false;
  std::string system_instruction;
  uint64_t fewshot_seed = 1234;
  bool strip_think = false;        // remove <think>...</think> before answer extraction
  GenOverrides gen_overrides;      // --gen-kwargs
};

class Task {
 public:
  virtual ~Task() = default;
  virtual const std::string& name() const = 0;
  virtual std::string version() const = 0;  // lm-eval's task version, e.g. "1.0"
  virtual int num_fewshot() const = 0;
  virtual int64_t size() const = 0;         // number of documents
  virtual std::vector<Request> requests(int64_t doc) const = 0;
  // responses[i] answers requests(doc)[i]; none of them has an error.
  virtual DocResult score(int64_t doc, std::span<const Response> responses) const = 0;
  virtual std::vector<MetricSpec> metrics() const = 0;
  // The document as logged in samples (lm-eval's "doc").
  virtual boost::json::object doc_json(int64_t doc) const = 0;
  // The task's configuration for results.json "configs".
  virtual boost::json::object config() const = 0;
};

using TaskFactory = std::function<Result<std::unique_ptr<Task>>(const TaskOptions&)>;

}  // namespace assay
