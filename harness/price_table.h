// PriceTable: what a token costs, per model, from a versioned user-editable JSON file
// (config/prices.json is the shipped one, compiled into the binary). Costs are always computed
// from the raw token counts a run stored (harness/usage.h), never stored in their place, so a run
// can be re-priced with another table.
//
// File format (every price in USD per million tokens):
//   {"version": "2025-10-01", "currency": "USD", "note": "...",
//    "models": {"openai:gpt-4o": {"input_per_mtok": 2.5, "output_per_mtok": 10,
//                                 "cached_input_per_mtok": 1.25},
//               "anthropic:claude-sonnet-4-5": {"input_per_mtok": 3, "output_per_mtok": 15,
//                                               "cached_input_per_mtok": 0.3,
//                                               "cache_write_per_mtok": 3.75}, ...}}
// version, currency ("USD") and models are required; each model needs input_per_mtok and
// output_per_mtok (finite, >= 0); cached_input_per_mtok and cache_write_per_mtok are optional
// (absent: those tokens cost the input price). "note" fields and keys starting with "_" are
// comments. Anything else is an error naming the file and the field, so a typo cannot silently
// drop a price.
//
// Lookup (find): model keys are compared exactly against, in order, "<backend>:<id>" for the
// openai and anthropic backends, the spec as the user wrote it, and the bare model id; then the
// same with a dated snapshot suffix removed ("gpt-4o-2024-08-06" -> "gpt-4o",
// "claude-3-5-haiku-20241022" -> "claude-3-5-haiku"). Nothing looser: "gpt-4o-mini" never takes
// "gpt-4o"'s price. No match: no price (the run's cost is null, never a guess).
//
// Thread safety: immutable after construction.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "harness/model.h"
#include "harness/request.h"
#include "harness/status.h"

namespace assay {

struct ModelPrice {
  std::string key;  // the table entry that matched
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  std::optional<double> cached_input_per_mtok;
  std::optional<double> cache_write_per_mtok;
};

// USD for the tokens in u at price p: uncached input, cached input, cache writes and output each
// at their rate (cached/cache-write at the input rate when the entry has no rate for them).
double usage_cost(const TokenUsage& u, const ModelPrice& p);

class PriceTable {
 public:
  // `source` names the file in error messages ("config/prices.json: models.\"x\".input_per_mtok:
  // expected a number >= 0").
  static Result<PriceTable> parse(std::string_view json_text, const std::string& source);
  static Result<PriceTable> load(const std::string& path);
  // The table compiled in from config/prices.json.
  static PriceTable builtin();
  // --prices FILE when given, else $ASSAY_PRICES when set, else builtin().
  static Result<PriceTable> resolve(const std::string& flag_path);

  std::optional<ModelPrice> find(const ModelInfo& info) const;
  std::optional<ModelPrice> find_key(const std::string& name) const;  // exact, then undated

  const std::string& path() const { return path_; }  // file, or "builtin:config/prices.json"
  const std::string& version() const { return version_; }
  const std::string& currency() const { return currency_; }
  size_t size() const { return models_.size(); }

 private:
  std::string path_, version_, currency_;
  std::map<std::string, ModelPrice> models_;
};

// "gpt-4o-2024-08-06" -> "gpt-4o", "claude-3-5-haiku-20241022" -> "claude-3-5-haiku"; other
// names unchanged.
std::string strip_snapshot_date(const std::string& name);

}  // namespace assay
