// Token accounting: sums of TokenUsage over requests (per task, per group, per run) and their
// results.json form with the cost from a price table (harness/price_table.h).
//
// A run counts each unique request once (the evaluator deduplicates requests across tasks), and
// counts requests answered from the write-ahead log too: their usage was stored with them, so a
// resumed run reports what its results cost in total, the same as an uninterrupted one. A task's
// (or group's) totals count the unique requests it used, so tasks that share a request both count
// it and their sum may exceed the run's.
//
// Thread safety: values.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "harness/price_table.h"
#include "harness/request.h"
#include "harness/task.h"

namespace assay {

// The usage a response carries (every kind has one).
const TokenUsage& response_usage(const Response& r);

struct UsageTotals {
  int64_t requests = 0;                // answered requests
  int64_t requests_without_usage = 0;  // answered, but nobody reported their tokens
  int64_t failed_requests = 0;         // infrastructure failures (no tokens known)
  TokenUsage tokens;                   // sums; optional parts present when any request had them

  void add(const TokenUsage& u);
  void add_failed() { ++failed_requests; }
  void add(const Response& r);  // answered or failed, from r.error
};

// How a run's tokens become money.
struct Pricing {
  bool local = false;               // the local engine: cost 0
  std::optional<ModelPrice> price;  // remote with a price; nullopt (and not local): cost null
  std::string table_path, table_version;
  std::string no_price_reason;  // why price is missing, for results.json and the summary
};

// Pricing for a model: the local engine (identity "local:...") costs nothing; remote models
// look up the table.
Pricing pricing_for(const ModelInfo& info, const PriceTable& table);

// nullopt when the model has no price.
std::optional<double> usage_cost(const UsageTotals& t, const Pricing& p);

// {"requests", "requests_without_usage", "failed_requests", "prompt_tokens",
//  "completion_tokens", ["cached_prompt_tokens", "cache_write_tokens", "reasoning_tokens"],
//  "cost_usd": number | null}
boost::json::object usage_totals_json(const UsageTotals& t, const Pricing& p);
// One request's usage for the sample log: {"prompt_tokens", "completion_tokens", [parts],
// "cost_usd"}, or null when nothing was reported.
boost::json::value request_usage_json(const TokenUsage& u, const Pricing& p);
// The run's "assay.usage": usage_totals_json plus "price": {"model": key, per-mtok prices} or
// null with "no_price": reason, and "price_table": {"path", "version", "currency"}.
boost::json::object run_usage_json(const UsageTotals& t, const Pricing& p);

// One line for the terminal summary: "Usage: 80 requests, 12,345 tokens in (120 cached), 80
// tokens out; cost $0.0312 (prices: PATH, version V)".
std::string usage_summary_line(const UsageTotals& t, const Pricing& p);

}  // namespace assay
