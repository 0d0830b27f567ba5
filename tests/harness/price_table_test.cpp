#include "harness/price_table.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "harness/csv.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

const char* kTable = R"({
  "version": "test-1", "currency": "USD", "note": "for tests",
  "models": {
    "openai:gpt-4o": {"input_per_mtok": 2.5, "cached_input_per_mtok": 1.25, "output_per_mtok": 10},
    "anthropic:claude-3-5-haiku": {"input_per_mtok": 0.8, "cached_input_per_mtok": 0.08,
                                   "cache_write_per_mtok": 1.0, "output_per_mtok": 4},
    "http://127.0.0.1:8000/v1": {"input_per_mtok": 0, "output_per_mtok": 0},
    "my-llama": {"input_per_mtok": 0.2, "output_per_mtok": 0.2, "_comment": "bare model id"}
  }
})";

ModelInfo remote(std::string spec, std::string id, std::string backend) {
  ModelInfo m;
  m.spec = std::move(spec);
  m.id = std::move(id);
  m.backend = std::move(backend);
  return m;
}

PriceTable table() {
  auto t = PriceTable::parse(kTable, "prices.json");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(t).value();
}

TEST(PriceTable, ParsesVersionCurrencyAndEntries) {
  PriceTable t = table();
  EXPECT_EQ(t.version(), "test-1");
  EXPECT_EQ(t.currency(), "USD");
  EXPECT_EQ(t.path(), "prices.json");
  EXPECT_EQ(t.size(), 4u);
  auto p = t.find_key("anthropic:claude-3-5-haiku");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, "anthropic:claude-3-5-haiku");
  EXPECT_DOUBLE_EQ(p->input_per_mtok, 0.8);
  EXPECT_DOUBLE_EQ(p->output_per_mtok, 4);
  EXPECT_DOUBLE_EQ(*p->cached_input_per_mtok, 0.08);
  EXPECT_DOUBLE_EQ(*p->cache_write_per_mtok, 1.0);
  EXPECT_FALSE(t.find_key("openai:gpt-4o")->cache_write_per_mtok.has_value());
}

TEST(PriceTable, ExactThenDatedSnapshotLookup) {
  PriceTable t = table();
  auto p = t.find(remote("openai:gpt-4o", "gpt-4o", "openai"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, "openai:gpt-4o");
  p = t.find(remote("openai:gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "openai"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, "openai:gpt-4o");
  p = t.find(
      remote("anthropic:claude-3-5-haiku-20241022", "claude-3-5-haiku-20241022", "anthropic"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, "anthropic:claude-3-5-haiku");
  // --model-args model=... changes the id, not the spec: the id decides.
  p = t.find(remote("openai:whatever", "gpt-4o-2024-11-20", "openai"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->key, "openai:gpt-4o");
  // A server URL as the user wrote it, and a bare model id for an OpenAI-compatible server.
  EXPECT_EQ(t.find(remote("http://127.0.0.1:8000/v1", "x", "openai-compatible"))->key,
            "http://127.0.0.1:8000/v1");
  EXPECT_EQ(t.find(remote("http://10.0.0.1/v1", "my-llama", "openai-compatible"))->key, "my-llama");
}

TEST(PriceTable, NeverGuessesASiblingModelsPrice) {
  PriceTable t = table();
  // Prefixes of a known name are other models, with other prices: no price at all.
  EXPECT_FALSE(t.find(remote("openai:gpt-4o-mini", "gpt-4o-mini", "openai")));
  EXPECT_FALSE(t.find(remote("openai:gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", "openai")));
  EXPECT_FALSE(t.find(remote("openai:gpt-4", "gpt-4", "openai")));
  EXPECT_FALSE(
      t.find(remote("anthropic:claude-3-5-haiku-latest", "claude-3-5-haiku-latest", "anthropic")));
  // A bare "gpt-4o" from a third-party server is not OpenAI's gpt-4o.
  EXPECT_FALSE(t.find(remote("http://proxy/v1", "gpt-4o", "openai-compatible")));
  EXPECT_FALSE(t.find(remote("openai:unknown", "unknown", "openai")));
}

TEST(PriceTable, SnapshotDateStripping) {
  EXPECT_EQ(strip_snapshot_date("gpt-4o-2024-08-06"), "gpt-4o");
  EXPECT_EQ(strip_snapshot_date("claude-sonnet-4-5-20250929"), "claude-sonnet-4-5");
  EXPECT_EQ(strip_snapshot_date("gpt-4o"), "gpt-4o");
  EXPECT_EQ(strip_snapshot_date("o4-mini"), "o4-mini");
  EXPECT_EQ(strip_snapshot_date("model-2024-8-6"), "model-2024-8-6");
  EXPECT_EQ(strip_snapshot_date("-2024-08-06"), "-2024-08-06");
}

struct Bad {
  const char* json;
  const char* want;  // must appear in the message
};

TEST(PriceTable, MalformedTablesNameTheFileAndTheField) {
  const Bad cases[] = {
      {"{not json", "my/prices.json: invalid JSON"},
      {"[]", "my/prices.json: expected a JSON object"},
      {R"({"currency":"USD","models":{}})", "my/prices.json: version"},
      {R"({"version":"1","models":{}})", "my/prices.json: currency"},
      {R"({"version":"1","currency":"EUR","models":{}})", "currency: \"EUR\" is not supported"},
      {R"({"version":"1","currency":"USD"})", "my/prices.json: models"},
      {R"({"version":"1","currency":"USD","models":[]})", "my/prices.json: models"},
      {R"({"version":"1","currency":"USD","modles":{}})", "unknown field 'modles'"},
      {R"({"version":"1","currency":"USD","models":{"openai:x":{"input_per_mtok":"2.5","output_per_mtok":1}}})",
       "my/prices.json: models.\"openai:x\".input_per_mtok: expected a number >= 0, got \"2.5\""},
      {R"({"version":"1","currency":"USD","models":{"openai:x":{"input_per_mtok":-1,"output_per_mtok":1}}})",
       "models.\"openai:x\".input_per_mtok: expected a number >= 0, got -1"},
      {R"({"version":"1","currency":"USD","models":{"openai:x":{"input_per_mtok":1}}})",
       "models.\"openai:x\".output_per_mtok: missing"},
      {R"({"version":"1","currency":"USD","models":{"openai:x":{"input_per_mtok":1,"output_per_mtok":1,"cached_input_per_mtok":null}}})",
       "models.\"openai:x\".cached_input_per_mtok: expected a number"},
      {R"({"version":"1","currency":"USD","models":{"openai:x":{"input_per_mtok":1,"output_per_mtok":1,"input_per_mtoks":2}}})",
       "models.\"openai:x\": unknown field 'input_per_mtoks'"},
      {R"({"version":"1","currency":"USD","models":{"openai:x":3}})",
       "models.\"openai:x\": expected an object"},
  };
  for (const Bad& b : cases) {
    auto t = PriceTable::parse(b.json, "my/prices.json");
    ASSERT_FALSE(t.ok()) << b.json;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << b.json;
    EXPECT_NE(t.status().message().find(b.want), std::string::npos)
        << "message: " << t.status().message() << "\nwanted: " << b.want;
  }
}

TEST(PriceTable, CostFromRawCounts) {
  PriceTable t = table();
  TokenUsage u;
  u.reported = true;
  u.prompt_tokens = 1'000'000;
  u.completion_tokens = 500'000;
  EXPECT_DOUBLE_EQ(usage_cost(u, *t.find_key("openai:gpt-4o")), 2.5 + 5.0);
  // Cached tokens are part of prompt_tokens and cost their own rate.
  u.cached_prompt_tokens = 400'000;
  EXPECT_DOUBLE_EQ(usage_cost(u, *t.find_key("openai:gpt-4o")), 0.6 * 2.5 + 0.4 * 1.25 + 5.0);
  // Anthropic: reads, writes and plain input each at their rate.
  u.cache_write_tokens = 100'000;
  EXPECT_DOUBLE_EQ(usage_cost(u, *t.find_key("anthropic:claude-3-5-haiku")),
                   0.5 * 0.8 + 0.4 * 0.08 + 0.1 * 1.0 + 0.5 * 4);
  // No cached rate in the entry: cached tokens cost the input price (never less).
  EXPECT_DOUBLE_EQ(usage_cost(u, *t.find_key("my-llama")), 1.0 * 0.2 + 0.5 * 0.2);
  // Reasoning tokens are inside completion_tokens: not charged twice.
  TokenUsage r;
  r.reported = true;
  r.completion_tokens = 1'000'000;
  r.reasoning_tokens = 900'000;
  EXPECT_DOUBLE_EQ(usage_cost(r, *t.find_key("openai:gpt-4o")), 10.0);
}

TEST(PriceTable, BuiltinIsTheShippedFile) {
  PriceTable b = PriceTable::builtin();
  EXPECT_EQ(b.path(), "builtin:config/prices.json");
  auto text = read_file(testing::source_dir() + "/config/prices.json");
  ASSERT_TRUE(text.ok()) << text.status().message();
  auto shipped = PriceTable::parse(*text, "config/prices.json");
  ASSERT_TRUE(shipped.ok()) << shipped.status().message();
  EXPECT_EQ(b.version(), shipped->version()) << "rebuild: the compiled-in table is stale";
  EXPECT_EQ(b.size(), shipped->size());
  EXPECT_GE(b.size(), 10u);
  for (const char* k : {"openai:gpt-4o", "openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5"}) {
    EXPECT_TRUE(b.find_key(k)) << k;
  }
  // The shipped table must say that its prices are dated.
  EXPECT_NE(text->find("\"as_of\""), std::string::npos);
  EXPECT_NE(text->find("check"), std::string::npos);
}

TEST(PriceTable, ResolveFlagThenEnvThenBuiltin) {
  testing::TempDir dir;
  testing::write_text(dir.file("a.json"), kTable);
  testing::write_text(dir.file("bad.json"),
                      R"({"version":"1","currency":"USD","models":{"m":{}}})");
  ::unsetenv("ASSAY_PRICES");
  EXPECT_EQ(PriceTable::resolve("")->path(), "builtin:config/prices.json");
  ::setenv("ASSAY_PRICES", dir.file("a.json").c_str(), 1);
  EXPECT_EQ(PriceTable::resolve("")->version(), "test-1");
  ::setenv("ASSAY_PRICES", dir.file("bad.json").c_str(), 1);
  auto bad = PriceTable::resolve("");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("$ASSAY_PRICES"), std::string::npos);
  EXPECT_NE(bad.status().message().find("bad.json: models.\"m\".input_per_mtok: missing"),
            std::string::npos)
      << bad.status().message();
  // The flag wins over the variable.
  EXPECT_EQ(PriceTable::resolve(dir.file("a.json"))->path(), dir.file("a.json"));
  auto missing = PriceTable::resolve(dir.file("nope.json"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.json"), std::string::npos);
  ::unsetenv("ASSAY_PRICES");
}

}  // namespace
}  // namespace assay
