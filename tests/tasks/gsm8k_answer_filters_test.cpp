// GSM8K filter and exact_match parity: tests/tasks/testdata/gsm8k_filters.jsonl holds lm-eval's
// RegexFilter output (strict-match, flexible-extract, gsm8k_cot and gsm8k_cot_llama strict-match)
// for ~550 texts and
// exact_match_hf_evaluate for ~600 (prediction, reference) pairs.
#include <gtest/gtest.h>

#include "tasks/gsm8k/answer_filters.h"
#include "tests/tasks/math_test_util.h"

namespace assay {
namespace {

using testing::for_each_row;
using testing::str;

TEST(Gsm8kAnswerFilters, FiltersMatchLmEval) {
  size_t rows = 0, agree = 0;
  for_each_row("gsm8k_filters.jsonl", [&](simdjson::dom::array row) {
    if (str(row.at(0).value()) != "f") return;
    ++rows;
    std::string text = str(row.at(1).value());
    std::string strict = gsm8k_strict_match(text);
    std::string flexible = gsm8k_flexible_extract(text);
    std::string cot = gsm8k_cot_strict_match(text);
    std::string llama = gsm8k_cot_llama_strict_match(text);
    bool ok = strict == str(row.at(2).value()) && flexible == str(row.at(3).value()) &&
              cot == str(row.at(4).value()) && llama == str(row.at(5).value());
    agree += ok;
    EXPECT_EQ(strict, str(row.at(2).value())) << "strict [" << text << "]";
    EXPECT_EQ(flexible, str(row.at(3).value())) << "flexible [" << text << "]";
    EXPECT_EQ(cot, str(row.at(4).value())) << "cot [" << text << "]";
    EXPECT_EQ(llama, str(row.at(5).value())) << "cot_llama [" << text << "]";
  });
  EXPECT_GT(rows, 400u);
  EXPECT_EQ(agree, rows);
}

TEST(Gsm8kAnswerFilters, ExactMatchMatchesLmEval) {
  size_t rows = 0, agree = 0, hits = 0;
  for_each_row("gsm8k_filters.jsonl", [&](simdjson::dom::array row) {
    if (str(row.at(0).value()) != "m") return;
    ++rows;
    std::string p = str(row.at(1).value());
    std::string r = str(row.at(2).value());
    bool want = row.at(3).get_int64().value() != 0;
    bool got = gsm8k_exact_match(p, r);
    agree += got == want;
    hits += want;
    EXPECT_EQ(got, want) << "[" << p << "] vs [" << r << "]";
  });
  EXPECT_GT(rows, 500u);
  EXPECT_GT(hits, 50u);
  EXPECT_EQ(agree, rows);
}

TEST(Gsm8kAnswerFilters, HandCheckedCases) {
  EXPECT_EQ(gsm8k_strict_match("so 9 * 2 = 18\n#### 18"), "18");
  EXPECT_EQ(gsm8k_strict_match("The answer is 18."), "[invalid]");
  // flexible-extract takes the last number-like run.
  EXPECT_EQ(gsm8k_flexible_extract("She pays $5 and then 7 more, total $12."), "$12.");
  EXPECT_EQ(gsm8k_flexible_extract("x is 7"), "7");
  EXPECT_EQ(gsm8k_flexible_extract("none"), "[invalid]");
  EXPECT_EQ(gsm8k_cot_strict_match("The answer is 1,234."), "1,234");
  EXPECT_EQ(gsm8k_cot_llama_strict_match("The final answer is 7. The final answer is $8"), "$8");
  EXPECT_TRUE(gsm8k_exact_match("$12.", "blah\n#### 12"));
  EXPECT_TRUE(gsm8k_exact_match("1,000", "#### 1000"));
  EXPECT_FALSE(gsm8k_exact_match("12.0", "#### 12"));
  EXPECT_FALSE(gsm8k_exact_match("[invalid]", "#### 12"));
}

}  // namespace
}  // namespace assay
