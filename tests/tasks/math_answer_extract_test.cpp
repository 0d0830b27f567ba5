// tasks/common/answer_extract: think-tag stripping, boxed extraction, Python-compatible strip.
#include <gtest/gtest.h>

#include "tasks/common/answer_extract.h"

namespace assay {
namespace {

TEST(AnswerExtract, StripThink) {
  EXPECT_EQ(strip_think("no tags"), "no tags");
  EXPECT_EQ(strip_think("<think>hmm 5?</think>The answer is 6."), "The answer is 6.");
  EXPECT_EQ(strip_think("a<think>x</think>b<think>y</think>c"), "abc");
  // Unterminated: the model was still thinking; keep only what came before.
  EXPECT_EQ(strip_think("pre <think>still going 42"), "pre ");
  EXPECT_EQ(strip_think("<think>still going 42"), "");
  // Opening tag was in the prompt: drop everything through the first close tag.
  EXPECT_EQ(strip_think("reasoning 41</think>Answer: 42"), "Answer: 42");
  EXPECT_EQ(strip_think("r</think>a<think>b</think>c"), "ac");
  EXPECT_EQ(strip_think("a<think>b</think>c<think>d"), "ac");
}

TEST(AnswerExtract, LastBoxed) {
  EXPECT_EQ(last_boxed_only_string("so $\\boxed{\\frac{1}{2}}$."), "\\boxed{\\frac{1}{2}}");
  EXPECT_EQ(last_boxed_content("\\boxed{1} then \\boxed{2}"), "2");
  EXPECT_EQ(last_boxed_only_string("\\boxed 5$ ok"), "\\boxed 5");
  EXPECT_EQ(last_boxed_content("\\boxed 5$ ok"), "5");
  EXPECT_EQ(last_boxed_only_string("\\fbox{7}"), "\\fbox{7}");
  EXPECT_EQ(last_boxed_content("\\fbox{7}"), std::nullopt);  // remove_boxed asserts "\boxed{"
  EXPECT_EQ(last_boxed_only_string("\\boxed{unclosed"), std::nullopt);
  EXPECT_EQ(last_boxed_only_string("nothing"), std::nullopt);
}

TEST(AnswerExtract, PythonStrip) {
  EXPECT_EQ(python_strip("  a b \n"), "a b");
  EXPECT_EQ(python_strip("\u00a0x\u3000"), "x");
  EXPECT_EQ(python_strip("\x1fx\x1c"), "x");
  EXPECT_EQ(python_strip(" \t "), "");
  EXPECT_EQ(utf8_length("a\u00e9\u4e2d"), 3u);
}

}  // namespace
}  // namespace assay
