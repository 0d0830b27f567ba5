#include "harness/jsonl.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <random>

#include "harness/json_write.h"

#include "tests/support/test_env.h"

namespace assay {
namespace {

TEST(Jsonl, ReadsLinesWithNumbersSkippingBlanks) {
  testing::TempDir dir;
  testing::write_text(dir.file("a.jsonl"), "{\"x\": 1}\n\n{\"x\": 2}\r\n   \n{\"x\": 3}");
  std::vector<std::pair<int64_t, int64_t>> got;
  Status st = for_each_jsonl(dir.file("a.jsonl"), [&](int64_t line, simdjson::dom::element e) {
    auto x = json_int_field(e, "x", "t");
    if (!x.ok()) return x.status();
    got.emplace_back(line, *x);
    return Status::OK();
  });
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(got, (std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 2}, {5, 3}}));
}

TEST(Jsonl, MalformedLineNamesPathAndLine) {
  testing::TempDir dir;
  std::string p = dir.file("bad.jsonl");
  testing::write_text(p, "{\"x\": 1}\n{\"x\": 2}\n{\"x\": \n{\"x\": 4}\n");
  int seen = 0;
  Status st = for_each_jsonl(p, [&](int64_t, simdjson::dom::element) {
    ++seen;
    return Status::OK();
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(st.message().rfind(p + ":3: invalid JSON", 0), 0u) << st.message();
}

TEST(Jsonl, MalformedLinesCanBeCollectedAndSkipped) {
  testing::TempDir dir;
  std::string p = dir.file("bad.jsonl");
  testing::write_text(p, "{\"x\": 1}\nnot json\n{\"x\": 3}\n[1,\n");
  std::vector<int64_t> bad, good;
  JsonlOptions opts;
  opts.on_malformed = [&](int64_t line, const Status&) {
    bad.push_back(line);
    return Status::OK();
  };
  Status st = for_each_jsonl(p, [&](int64_t line, simdjson::dom::element) {
    good.push_back(line);
    return Status::OK();
  }, opts);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(good, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(bad, (std::vector<int64_t>{2, 4}));
}

TEST(Jsonl, FieldErrorsNameTheField) {
  simdjson::dom::parser parser;
  simdjson::dom::element e = parser.parse(std::string("{\"q\": 5}"));
  auto s = json_string_field(e, "q", "f.jsonl:7");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "f.jsonl:7: field 'q': expected a string");
  auto m = json_string_field(e, "missing", "f.jsonl:7");
  EXPECT_EQ(m.status().message(), "f.jsonl:7: missing field 'missing'");
}

TEST(Jsonl, LongLinesAndManyLines) {
  // A line far longer than any internal buffer, and enough lines to exercise reuse.
  testing::TempDir dir;
  std::string big(3 << 20, 'z');
  std::string text = "{\"s\": \"" + big + "\"}\n";
  for (int i = 0; i < 20000; ++i) text += "{\"i\": " + std::to_string(i) + "}\n";
  testing::write_text(dir.file("big.jsonl"), text);
  size_t n = 0, big_len = 0;
  Status st = for_each_jsonl(dir.file("big.jsonl"), [&](int64_t line, simdjson::dom::element e) {
    if (line == 1) big_len = json_string_field(e, "s", "t")->size();
    ++n;
    return Status::OK();
  });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(n, 20001u);
  EXPECT_EQ(big_len, big.size());
}

TEST(Jsonl, RealGsm8kTestFile) {
  size_t n = 0;
  Status st = for_each_jsonl(testing::data_dir() + "/gsm8k/test.jsonl",
                             [&](int64_t line, simdjson::dom::element e) {
                               auto a = json_string_field(e, "answer", "gsm8k");
                               if (!a.ok()) return a.status();
                               EXPECT_NE(a->find("#### "), std::string_view::npos) << line;
                               ++n;
                               return Status::OK();
                             });
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(n, 1319u);
}

TEST(Jsonl, MissingFile) {
  Status st = for_each_jsonl("/nonexistent.jsonl", [](int64_t, simdjson::dom::element) {
    return Status::OK();
  });
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace assay

namespace assay {
namespace {

// Every double written the way results and the write-ahead log write them (shortest round-trip
// repr) must read back bit for bit; Boost.JSON 1.81's parser does not guarantee that.
TEST(ParseJsonExact, DoublesRoundTripBitForBit) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> d(-30.0, 0.0);
  int boost_misses = 0;
  for (int i = 0; i < 20000; ++i) {
    const double x = i % 2 ? d(rng) : std::ldexp(d(rng), -(i % 40));
    const std::string text = "{\"lp\":" + python_float_repr(x) + ",\"a\":[1,true,null,\"s\"]}";
    auto v = parse_json_exact(text);
    ASSERT_TRUE(v.ok()) << text;
    ASSERT_EQ(v->at("lp").as_double(), x) << text;
    boost_misses += boost::json::parse(text).at("lp").as_double() != x;
  }
  std::printf("boost::json::parse was off on %d of 20000 doubles\n", boost_misses);
  auto bad = parse_json_exact("{\"lp\": ");
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace assay
