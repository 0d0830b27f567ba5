#include "harness/usage.h"

#include <cstdio>

namespace json = boost::json;

namespace assay {
namespace {

void add_part(std::optional<int64_t>& sum, const std::optional<int64_t>& part) {
  if (part) sum = sum.value_or(0) + *part;
}

void put_parts(json::object& o, const TokenUsage& u) {
  if (u.cached_prompt_tokens) o["cached_prompt_tokens"] = *u.cached_prompt_tokens;
  if (u.cache_write_tokens) o["cache_write_tokens"] = *u.cache_write_tokens;
  if (u.reasoning_tokens) o["reasoning_tokens"] = *u.reasoning_tokens;
}

json::value cost_json(std::optional<double> c) {
  return c ? json::value(*c) : json::value(nullptr);
}

std::string grouped(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string money(double usd) {
  char b[48];
  // Small evals cost fractions of a cent; keep enough digits to see them.
  std::snprintf(b, sizeof b, usd != 0 && usd < 0.01 ? "$%.6f" : "$%.4f", usd);
  return b;
}

}  // namespace

const TokenUsage& response_usage(const Response& r) {
  switch (r.kind) {
    case RequestKind::kLoglikelihood:
      return r.ll.usage;
    case RequestKind::kRolling:
      return r.rolling.usage;
    case RequestKind::kGenerate:
      return r.gen.usage;
  }
  return r.gen.usage;
}

void UsageTotals::add(const TokenUsage& u) {
  ++requests;
  if (!u.reported) {
    ++requests_without_usage;
    return;
  }
  tokens.reported = true;
  tokens.prompt_tokens += u.prompt_tokens;
  tokens.completion_tokens += u.completion_tokens;
  add_part(tokens.cached_prompt_tokens, u.cached_prompt_tokens);
  add_part(tokens.cache_write_tokens, u.cache_write_tokens);
  add_part(tokens.reasoning_tokens, u.reasoning_tokens);
}

void UsageTotals::add(const Response& r) {
  if (r.error.ok())
    add(response_usage(r));
  else
    add_failed();
}

Pricing pricing_for(const ModelInfo& info, const PriceTable& table) {
  Pricing p;
  p.table_path = table.path();
  p.table_version = table.version();
  // The local engine runs on the user's own hardware: no per-token price applies. Its identity
  // is "local:<weights sha256>" whatever its backend ("cpu-avx2", "cuda", ...).
  // An `assay serve` found by its /v1/models card ("…|assay-serve:local:<sha256>|…") is that
  // engine over HTTP: the same, unless the price table names the model.
  if (info.identity.rfind("local:", 0) == 0) {
    p.local = true;
    return p;
  }
  p.price = table.find(info);
  if (!p.price && info.identity.find("|assay-serve:local:") != std::string::npos) {
    p.local = true;
    return p;
  }
  if (!p.price) {
    p.no_price_reason =
        "no price for " + info.spec +
        (info.id.empty() || info.id == info.spec ? "" : " (model " + info.id + ")") + " in " +
        table.path() + "; add it to a copy and pass --prices FILE";
  }
  return p;
}

std::optional<double> usage_cost(const UsageTotals& t, const Pricing& p) {
  if (p.local) return 0.0;
  if (!p.price) return std::nullopt;
  return usage_cost(t.tokens, *p.price);
}

json::object usage_totals_json(const UsageTotals& t, const Pricing& p) {
  json::object o{{"requests", t.requests},
                 {"requests_without_usage", t.requests_without_usage},
                 {"failed_requests", t.failed_requests},
                 {"prompt_tokens", t.tokens.prompt_tokens},
                 {"completion_tokens", t.tokens.completion_tokens}};
  put_parts(o, t.tokens);
  o["cost_usd"] = cost_json(usage_cost(t, p));
  return o;
}

json::value request_usage_json(const TokenUsage& u, const Pricing& p) {
  if (!u.reported) return nullptr;
  json::object o{{"prompt_tokens", u.prompt_tokens}, {"completion_tokens", u.completion_tokens}};
  put_parts(o, u);
  if (p.local)
    o["cost_usd"] = 0.0;
  else
    o["cost_usd"] = p.price ? json::value(usage_cost(u, *p.price)) : json::value(nullptr);
  return o;
}

json::object run_usage_json(const UsageTotals& t, const Pricing& p) {
  json::object o = usage_totals_json(t, p);
  if (p.local) {
    o["price"] = json::object{{"model", "local engine"}};
  } else if (p.price) {
    json::object pr{{"model", p.price->key},
                    {"input_per_mtok", p.price->input_per_mtok},
                    {"output_per_mtok", p.price->output_per_mtok}};
    if (p.price->cached_input_per_mtok)
      pr["cached_input_per_mtok"] = *p.price->cached_input_per_mtok;
    if (p.price->cache_write_per_mtok) pr["cache_write_per_mtok"] = *p.price->cache_write_per_mtok;
    o["price"] = pr;
  } else {
    o["price"] = nullptr;
    o["no_price"] = p.no_price_reason;
  }
  o["price_table"] =
      json::object{{"path", p.table_path}, {"version", p.table_version}, {"currency", "USD"}};
  return o;
}

std::string usage_summary_line(const UsageTotals& t, const Pricing& p) {
  std::string s = "Usage: " + grouped(t.requests) + " requests, " +
                  grouped(t.tokens.prompt_tokens) + " tokens in";
  if (t.tokens.cached_prompt_tokens)
    s += " (" + grouped(*t.tokens.cached_prompt_tokens) + " cached)";
  s += ", " + grouped(t.tokens.completion_tokens) + " tokens out";
  if (t.tokens.reasoning_tokens) s += " (" + grouped(*t.tokens.reasoning_tokens) + " reasoning)";
  if (t.requests_without_usage > 0) {
    s += ", " + grouped(t.requests_without_usage) + " requests without usage reported";
  }
  if (t.failed_requests > 0) s += ", " + grouped(t.failed_requests) + " failed";
  auto c = usage_cost(t, p);
  if (p.local)
    s += "; cost $0 (local engine)";
  else if (c)
    s += "; cost " + money(*c) + " (prices: " + p.table_path + ", version " + p.table_version + ")";
  else
    s += "; cost: " + p.no_price_reason;
  return s + "\n";
}

}  // namespace assay
