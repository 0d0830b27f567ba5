// minerva_math parity: tests/tasks/testdata/math_minerva.jsonl holds Python's
// normalize_final_answer (lm-eval 0.4.12 = appendix D, and 0.4.13) for every string of the
// hendrycks fixture, and get_unnormalized_answer for a few hundred generations.
#include <gtest/gtest.h>

#include "tasks/math/minerva_answer.h"
#include "tests/tasks/math_test_util.h"

namespace assay {
namespace {

using testing::for_each_row;
using testing::str;

TEST(MinervaAnswer, NormalizeMatchesPythonBothVersions) {
  size_t rows = 0, agree_d = 0, agree_13 = 0, versions_differ = 0;
  for_each_row("math_minerva.jsonl", [&](simdjson::dom::array row) {
    if (str(row.at(0).value()) != "n") return;
    ++rows;
    std::string s = str(row.at(1).value());
    std::string want_d = str(row.at(2).value());
    std::string want_13 = str(row.at(3).value());
    std::string got_d = minerva_normalize_final_answer(s, MinervaFlavor::kAppendixD);
    std::string got_13 = minerva_normalize_final_answer(s, MinervaFlavor::kLmEval0413);
    agree_d += got_d == want_d;
    agree_13 += got_13 == want_13;
    versions_differ += want_d != want_13;
    EXPECT_EQ(got_d, want_d) << "appendix D [" << s << "]";
    EXPECT_EQ(got_13, want_13) << "0.4.13 [" << s << "]";
  });
  EXPECT_GT(rows, 6000u);
  EXPECT_EQ(agree_d, rows);
  EXPECT_EQ(agree_13, rows);
  EXPECT_GT(versions_differ, 20u);
}

TEST(MinervaAnswer, UnnormalizedAnswerMatchesPython) {
  size_t rows = 0, agree = 0;
  for_each_row("math_minerva.jsonl", [&](simdjson::dom::array row) {
    if (str(row.at(0).value()) != "g") return;
    ++rows;
    std::string text = str(row.at(1).value());
    std::string want = str(row.at(2).value());
    std::string got = minerva_get_unnormalized_answer_or_invalid(text);
    agree += got == want;
    EXPECT_EQ(got, want) << "[" << text << "]";
  });
  EXPECT_GT(rows, 250u);
  EXPECT_EQ(agree, rows);
}

TEST(MinervaAnswer, HandCheckedCases) {
  EXPECT_EQ(minerva_get_unnormalized_answer(
                "so x=2.\nFinal Answer: The final answer is $[2,5)$. I hope it is correct."),
            "$[2,5)$");
  EXPECT_EQ(minerva_get_unnormalized_answer("The answer is 5."), std::nullopt);
  EXPECT_EQ(minerva_get_unnormalized_answer_or_invalid("nothing"), "[invalidanswer]");
  EXPECT_EQ(minerva_normalize_final_answer("$-\\frac{2}{3}$"), "-\\frac{2}{3}");
  EXPECT_EQ(minerva_normalize_final_answer("x = \\dfrac12"), "\\dfrac{1}{2}");
  EXPECT_EQ(minerva_normalize_final_answer("10,000 dollars"), "10000");
  EXPECT_EQ(minerva_normalize_final_answer("\\text{(B)}"), "(B)");
  EXPECT_EQ(minerva_normalize_final_answer("\\sqrt3"), "\\sqrt{3}");
  // The two versions: "ft" inside "\left", and a bare tuple "0,1".
  EXPECT_EQ(minerva_normalize_final_answer("\\left(1,2\\right)", MinervaFlavor::kAppendixD),
            "\\le(1,2\\right)");
  EXPECT_EQ(minerva_normalize_final_answer("\\left(1,2\\right)", MinervaFlavor::kLmEval0413),
            "\\left(1,2\\right)");
  EXPECT_EQ(minerva_normalize_final_answer("0,1", MinervaFlavor::kAppendixD), "01");
  EXPECT_EQ(minerva_normalize_final_answer("0,1", MinervaFlavor::kLmEval0413), "0,1");
  EXPECT_EQ(minerva_gold_answer("so $\\boxed{\\frac{1}{2}}$."), "\\frac{1}{2}");
  EXPECT_EQ(minerva_gold_answer("no box"), std::nullopt);
  EXPECT_TRUE(
      minerva_exact_match("Final Answer: The final answer is $24$. I hope it is correct.", "24"));
  EXPECT_FALSE(minerva_exact_match("The answer is 24.", "24"));
}

}  // namespace
}  // namespace assay
