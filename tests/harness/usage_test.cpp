#include "harness/usage.h"

#include <gtest/gtest.h>

#include "harness/json_write.h"
#include "harness/jsonl.h"

namespace assay {
namespace {

namespace json = boost::json;

TokenUsage usage(int64_t pt, int64_t ct) {
  TokenUsage u;
  u.prompt_tokens = pt;
  u.completion_tokens = ct;
  u.reported = true;
  return u;
}

Pricing priced(double in, double out) {
  Pricing p;
  p.price = ModelPrice{"openai:m", in, out, std::nullopt, std::nullopt};
  p.table_path = "t.json";
  p.table_version = "v1";
  return p;
}

TEST(Usage, TotalsSumCountsAndKeepUnreportedAndFailedApart) {
  UsageTotals t;
  t.add(usage(100, 5));
  TokenUsage cached = usage(50, 7);
  cached.cached_prompt_tokens = 20;
  cached.reasoning_tokens = 3;
  t.add(cached);
  t.add(TokenUsage{});  // a server that reported nothing
  Response failed;
  failed.error = unavailable("HTTP 503");
  t.add(failed);
  EXPECT_EQ(t.requests, 3);
  EXPECT_EQ(t.requests_without_usage, 1);
  EXPECT_EQ(t.failed_requests, 1);
  EXPECT_EQ(t.tokens.prompt_tokens, 150);
  EXPECT_EQ(t.tokens.completion_tokens, 12);
  EXPECT_EQ(t.tokens.cached_prompt_tokens, 20);
  EXPECT_EQ(t.tokens.reasoning_tokens, 3);
  EXPECT_FALSE(t.tokens.cache_write_tokens.has_value());

  json::object o = usage_totals_json(t, priced(2.0, 10.0));
  EXPECT_EQ(o.at("requests").as_int64(), 3);
  EXPECT_EQ(o.at("requests_without_usage").as_int64(), 1);
  EXPECT_EQ(o.at("failed_requests").as_int64(), 1);
  EXPECT_EQ(o.at("prompt_tokens").as_int64(), 150);
  EXPECT_EQ(o.at("completion_tokens").as_int64(), 12);
  EXPECT_EQ(o.at("cached_prompt_tokens").as_int64(), 20);
  EXPECT_FALSE(o.contains("cache_write_tokens"));
  // No cached rate: cached input at the input rate.
  EXPECT_DOUBLE_EQ(o.at("cost_usd").as_double(), (150 * 2.0 + 12 * 10.0) / 1e6);
}

TEST(Usage, ResponsesOfEveryKindCarryUsage) {
  UsageTotals t;
  Response ll;
  ll.kind = RequestKind::kLoglikelihood;
  ll.ll.usage = usage(10, 1);
  Response roll;
  roll.kind = RequestKind::kRolling;
  roll.rolling.usage = usage(20, 0);
  Response gen;
  gen.kind = RequestKind::kGenerate;
  gen.gen.usage = usage(30, 4);
  for (const Response* r : {&ll, &roll, &gen}) t.add(*r);
  EXPECT_EQ(t.tokens.prompt_tokens, 60);
  EXPECT_EQ(t.tokens.completion_tokens, 5);
  EXPECT_EQ(t.requests, 3);
}

TEST(Usage, UnknownModelHasNullCostLocalEngineZero) {
  UsageTotals t;
  t.add(usage(1000, 10));
  PriceTable table = PriceTable::builtin();
  ModelInfo remote;
  remote.spec = "http://127.0.0.1:9/v1";
  remote.id = "some-model";
  remote.backend = "openai-compatible";
  Pricing none = pricing_for(remote, table);
  EXPECT_FALSE(none.local);
  EXPECT_FALSE(none.price);
  EXPECT_FALSE(usage_cost(t, none).has_value());
  json::object o = run_usage_json(t, none);
  EXPECT_TRUE(o.at("cost_usd").is_null());
  EXPECT_TRUE(o.at("price").is_null());
  EXPECT_NE(std::string(o.at("no_price").as_string()).find("some-model"), std::string::npos);
  EXPECT_EQ(o.at("price_table").at("path").as_string(), "builtin:config/prices.json");
  EXPECT_EQ(o.at("price_table").at("version").as_string(), table.version());
  EXPECT_NE(usage_summary_line(t, none).find("no price for http://127.0.0.1:9/v1"),
            std::string::npos);

  ModelInfo local;
  local.spec = "default";
  local.backend = "cpu-avx2";
  local.identity = "local:0123abcd";
  Pricing free = pricing_for(local, table);
  EXPECT_TRUE(free.local);
  EXPECT_EQ(usage_cost(t, free), 0.0);
  EXPECT_EQ(run_usage_json(t, free).at("cost_usd").as_double(), 0.0);

  // assay serve over HTTP, known by its card: the local engine, no price warning.
  ModelInfo served = remote;
  served.identity = "openai-compatible|assay-serve:local:0123abcd|some-model";
  EXPECT_TRUE(pricing_for(served, table).local);
  EXPECT_EQ(usage_summary_line(t, pricing_for(served, table)).find("no price"), std::string::npos);

  ModelInfo gpt;
  gpt.spec = "openai:gpt-4o-2024-08-06";
  gpt.id = "gpt-4o-2024-08-06";
  gpt.backend = "openai";
  Pricing p = pricing_for(gpt, table);
  ASSERT_TRUE(p.price);
  EXPECT_EQ(run_usage_json(t, p).at("price").at("model").as_string(), "openai:gpt-4o");
}

TEST(Usage, SummaryLineShowsTokensAndCost) {
  UsageTotals t;
  TokenUsage u = usage(1'234'567, 890);
  u.cached_prompt_tokens = 1000;
  t.add(u);
  t.add_failed();
  std::string line = usage_summary_line(t, priced(1.0, 2.0));
  EXPECT_NE(line.find("1 requests"), std::string::npos) << line;
  EXPECT_NE(line.find("1,234,567 tokens in (1,000 cached)"), std::string::npos) << line;
  EXPECT_NE(line.find("890 tokens out"), std::string::npos) << line;
  EXPECT_NE(line.find("1 failed"), std::string::npos) << line;
  // (1,234,567 * 1 + 890 * 2) / 1e6 = 1.236347
  EXPECT_NE(line.find("cost $1.2363 (prices: t.json, version v1)"), std::string::npos) << line;
}

TEST(Usage, RequestUsageForTheSampleLog) {
  Pricing p = priced(1.0, 2.0);
  json::value v = request_usage_json(usage(1000, 10), p);
  EXPECT_EQ(v.at("prompt_tokens").as_int64(), 1000);
  EXPECT_EQ(v.at("completion_tokens").as_int64(), 10);
  EXPECT_DOUBLE_EQ(v.at("cost_usd").as_double(), 1020 / 1e6);
  EXPECT_TRUE(request_usage_json(TokenUsage{}, p).is_null());
}

// The write-ahead log keeps usage for every kind, so a resumed run keeps the counts.
TEST(Usage, WriteAheadLogRoundTripsUsageOfEveryKind) {
  TokenUsage u = usage(42, 3);
  u.cached_prompt_tokens = 40;
  u.cache_write_tokens = 2;
  u.reasoning_tokens = 1;
  for (RequestKind k :
       {RequestKind::kLoglikelihood, RequestKind::kRolling, RequestKind::kGenerate}) {
    Response r;
    r.kind = k;
    r.ll.usage = r.rolling.usage = r.gen.usage = u;
    const std::string line = json_dumps(r.to_json(), -1);
    auto back = Response::from_json(k, *parse_json_exact(line));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(response_usage(*back), u) << request_kind_name(k) << ": " << line;
    // Nothing reported: nothing written, read back as unreported.
    Response none;
    none.kind = k;
    const std::string bare = json_dumps(none.to_json(), -1);
    EXPECT_EQ(bare.find("\"pt\""), std::string::npos) << bare;
    auto b2 = Response::from_json(k, *parse_json_exact(bare));
    ASSERT_TRUE(b2.ok());
    EXPECT_FALSE(response_usage(*b2).reported);
  }
}

TEST(Usage, OldWriteAheadLogRowsReadAsZero) {
  // Rows written before usage was logged for log-likelihoods.
  auto ll = Response::from_json(RequestKind::kLoglikelihood,
                                *parse_json_exact(R"({"lp": -1.5, "g": true, "n": 2})"));
  ASSERT_TRUE(ll.ok());
  EXPECT_EQ(ll->ll.usage.prompt_tokens, 0);
  EXPECT_FALSE(ll->ll.usage.reported);
  EXPECT_DOUBLE_EQ(ll->ll.logprob, -1.5);
  // Generations always had pt/ct.
  auto gen = Response::from_json(
      RequestKind::kGenerate,
      *parse_json_exact(R"({"text": "x", "finish": "stop", "pt": 12, "ct": 3})"));
  ASSERT_TRUE(gen.ok());
  EXPECT_EQ(gen->gen.usage, usage(12, 3));
}

}  // namespace
}  // namespace assay
