#include "harness/price_table.h"

#include <cmath>
#include <cstdlib>

#include "assay_builtin_prices.h"
#include "harness/csv.h"
#include "harness/json_write.h"
#include "harness/jsonl.h"

namespace json = boost::json;

namespace assay {
namespace {

constexpr const char* kBuiltinPath = "builtin:config/prices.json";

bool is_comment_key(std::string_view k) { return k == "note" || (!k.empty() && k[0] == '_'); }

std::string describe(const json::value& v) {
  std::string s = json_dumps(v, -1);
  return s.size() > 40 ? s.substr(0, 40) + "..." : s;
}

Result<std::optional<double>> price_field(const json::object& o, const char* k, bool required,
                                          const std::string& where) {
  const json::value* v = o.if_contains(k);
  if (!v) {
    if (required) return invalid_argument(where + "." + k + ": missing (USD per million tokens)");
    return std::optional<double>();
  }
  double d = 0;
  if (v->is_double())
    d = v->get_double();
  else if (v->is_int64())
    d = static_cast<double>(v->get_int64());
  else if (v->is_uint64())
    d = static_cast<double>(v->get_uint64());
  else
    return invalid_argument(where + "." + k + ": expected a number >= 0, got " + describe(*v));
  if (!std::isfinite(d) || d < 0) {
    return invalid_argument(where + "." + k + ": expected a number >= 0, got " + describe(*v));
  }
  return std::optional<double>(d);
}

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

}  // namespace

std::string strip_snapshot_date(const std::string& name) {
  // -YYYY-MM-DD (OpenAI snapshots)
  if (name.size() > 11) {
    std::string_view t = std::string_view(name).substr(name.size() - 11);
    if (t[0] == '-' && all_digits(t.substr(1, 4)) && t[5] == '-' && all_digits(t.substr(6, 2)) &&
        t[8] == '-' && all_digits(t.substr(9, 2))) {
      return name.substr(0, name.size() - 11);
    }
  }
  // -YYYYMMDD (Anthropic snapshots)
  if (name.size() > 9) {
    std::string_view t = std::string_view(name).substr(name.size() - 9);
    if (t[0] == '-' && all_digits(t.substr(1)) && (t[1] == '1' || t[1] == '2')) {
      return name.substr(0, name.size() - 9);
    }
  }
  return name;
}

double usage_cost(const TokenUsage& u, const ModelPrice& p) {
  const double cached = static_cast<double>(u.cached_prompt_tokens.value_or(0));
  const double written = static_cast<double>(u.cache_write_tokens.value_or(0));
  // Servers that count cache parts outside prompt_tokens would make this negative; never let a
  // bad count earn money back.
  const double plain = std::max(0.0, static_cast<double>(u.prompt_tokens) - cached - written);
  const double in = p.input_per_mtok;
  return (plain * in + cached * p.cached_input_per_mtok.value_or(in) +
          written * p.cache_write_per_mtok.value_or(in) +
          static_cast<double>(u.completion_tokens) * p.output_per_mtok) /
         1e6;
}

Result<PriceTable> PriceTable::parse(std::string_view json_text, const std::string& source) {
  auto parsed = parse_json_exact(json_text);
  if (!parsed.ok()) return invalid_argument(source + ": " + parsed.status().message());
  if (!parsed->is_object()) return invalid_argument(source + ": expected a JSON object at the top");
  const json::object& root = parsed->get_object();
  PriceTable t;
  t.path_ = source;
  for (const auto& kv : root) {
    std::string_view k = kv.key();
    if (k != "version" && k != "currency" && k != "models" && k != "as_of" && !is_comment_key(k)) {
      return invalid_argument(source + ": unknown field '" + std::string(k) +
                              "' (known: version, currency, models, as_of, note)");
    }
  }
  const json::value* v = root.if_contains("version");
  if (!v || !v->is_string() || v->get_string().empty()) {
    return invalid_argument(source + ": version: missing or not a non-empty string");
  }
  t.version_ = std::string(v->get_string());
  const json::value* c = root.if_contains("currency");
  if (!c || !c->is_string()) return invalid_argument(source + ": currency: missing (\"USD\")");
  t.currency_ = std::string(c->get_string());
  if (t.currency_ != "USD") {
    return invalid_argument(source + ": currency: \"" + t.currency_ +
                            "\" is not supported; prices must be in USD");
  }
  const json::value* m = root.if_contains("models");
  if (!m || !m->is_object()) return invalid_argument(source + ": models: missing or not an object");
  for (const auto& kv : m->get_object()) {
    const std::string key(kv.key());
    const std::string where = source + ": models." + json_quote(key);
    if (key.empty()) return invalid_argument(source + ": models: an entry has an empty name");
    if (!kv.value().is_object()) return invalid_argument(where + ": expected an object of prices");
    const json::object& e = kv.value().get_object();
    for (const auto& f : e) {
      std::string_view fk = f.key();
      if (fk != "input_per_mtok" && fk != "output_per_mtok" && fk != "cached_input_per_mtok" &&
          fk != "cache_write_per_mtok" && !is_comment_key(fk)) {
        return invalid_argument(where + ": unknown field '" + std::string(fk) +
                                "' (known: input_per_mtok, output_per_mtok, "
                                "cached_input_per_mtok, cache_write_per_mtok, note)");
      }
    }
    ModelPrice p;
    p.key = key;
    ASSAY_ASSIGN_OR_RETURN(auto in, price_field(e, "input_per_mtok", true, where));
    ASSAY_ASSIGN_OR_RETURN(auto out, price_field(e, "output_per_mtok", true, where));
    ASSAY_ASSIGN_OR_RETURN(p.cached_input_per_mtok,
                           price_field(e, "cached_input_per_mtok", false, where));
    ASSAY_ASSIGN_OR_RETURN(p.cache_write_per_mtok,
                           price_field(e, "cache_write_per_mtok", false, where));
    p.input_per_mtok = *in;
    p.output_per_mtok = *out;
    t.models_[key] = std::move(p);
  }
  return t;
}

Result<PriceTable> PriceTable::load(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return invalid_argument("price table " + text.status().message());
  return parse(*text, path);
}

PriceTable PriceTable::builtin() {
  auto t = parse(kAssayBuiltinPrices, kBuiltinPath);
  // config/prices.json is checked by a test; a broken one must not reach a release.
  ASSAY_CHECK_MSG(t.ok(), t.status().message());
  return std::move(t).value();
}

Result<PriceTable> PriceTable::resolve(const std::string& flag_path) {
  if (!flag_path.empty()) return load(flag_path);
  if (const char* env = std::getenv("ASSAY_PRICES"); env && *env) {
    auto t = load(env);
    if (!t.ok()) return t.status().with_prefix("$ASSAY_PRICES");
    return t;
  }
  return builtin();
}

std::optional<ModelPrice> PriceTable::find_key(const std::string& name) const {
  if (name.empty()) return std::nullopt;
  if (auto it = models_.find(name); it != models_.end()) return it->second;
  std::string undated = strip_snapshot_date(name);
  if (undated != name) {
    if (auto it = models_.find(undated); it != models_.end()) return it->second;
  }
  return std::nullopt;
}

std::optional<ModelPrice> PriceTable::find(const ModelInfo& info) const {
  // The backend-qualified id first: a --model-args model=... override changes the id, not the spec.
  if (info.backend == "openai" || info.backend == "anthropic") {
    if (auto p = find_key(info.backend + ":" + info.id)) return p;
  }
  if (auto p = find_key(info.spec)) return p;
  return find_key(info.id);
}

}  // namespace assay
