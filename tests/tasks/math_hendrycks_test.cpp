// hendrycks is_equiv parity: tests/tasks/testdata/math_hendrycks.jsonl holds every MATH test gold
// answer (the last \boxed{} of each of the 5,000 solutions) plus perturbed candidates, with
// Python's _strip_string output for both versions, and candidate/gold pairs with is_equiv.
#include <gtest/gtest.h>

#include "tasks/common/answer_extract.h"
#include "tasks/math/hendrycks_equiv.h"
#include "tests/tasks/math_test_util.h"

namespace assay {
namespace {

using testing::for_each_row;
using testing::opt_str;
using testing::str;

struct Fixture {
  std::vector<std::string> strings;
  std::vector<std::optional<std::string>> strip_original, strip_lmeval;
  std::vector<int64_t> self_equiv;
  struct Pair {
    int64_t i, j;
    bool original, lmeval;
  };
  std::vector<Pair> pairs;
  struct Boxed {
    std::string text;
    std::optional<std::string> last, removed;
  };
  std::vector<Boxed> boxed;
};

const Fixture& fixture() {
  static Fixture* f = [] {
    auto* f = new Fixture();
    for_each_row("math_hendrycks.jsonl", [&](simdjson::dom::array row) {
      std::string kind = str(row.at(0).value());
      if (kind == "s") {
        std::string s = str(row.at(1).value());
        simdjson::dom::element o = row.at(2).value(), l = row.at(3).value();
        std::optional<std::string> so = o.is_int64() ? std::optional<std::string>(s) : opt_str(o);
        std::optional<std::string> sl = l.is_int64() ? so : opt_str(l);
        f->strings.push_back(s);
        f->strip_original.push_back(so);
        f->strip_lmeval.push_back(sl);
        f->self_equiv.push_back(row.at(4).get_int64().value());
      } else if (kind == "p") {
        f->pairs.push_back({row.at(1).get_int64().value(), row.at(2).get_int64().value(),
                            row.at(3).get_int64().value() != 0,
                            row.at(4).get_int64().value() != 0});
      } else if (kind == "b") {
        f->boxed.push_back(
            {str(row.at(1).value()), opt_str(row.at(2).value()), opt_str(row.at(3).value())});
      }
    });
    return f;
  }();
  return *f;
}

TEST(HendrycksEquiv, FixtureCoversAllGoldAnswers) {
  // 5,000 golds (with duplicates merged) plus candidates; guards against a truncated fixture.
  EXPECT_GT(fixture().strings.size(), 6000u);
  EXPECT_GT(fixture().pairs.size(), 5000u);
}

TEST(HendrycksEquiv, StripStringMatchesPythonOriginal) {
  const auto& f = fixture();
  size_t agree = 0;
  for (size_t i = 0; i < f.strings.size(); ++i) {
    auto got = hendrycks_strip_string(f.strings[i], HendrycksFlavor::kOriginal);
    if (got == f.strip_original[i]) {
      ++agree;
    } else {
      ADD_FAILURE() << "input [" << f.strings[i] << "] got [" << got.value_or("<raise>")
                    << "] want [" << f.strip_original[i].value_or("<raise>") << "]";
    }
  }
  EXPECT_EQ(agree, f.strings.size());
}

TEST(HendrycksEquiv, StripStringMatchesPythonLmEval) {
  const auto& f = fixture();
  size_t agree = 0;
  for (size_t i = 0; i < f.strings.size(); ++i) {
    auto got = hendrycks_strip_string(f.strings[i], HendrycksFlavor::kLmEval);
    if (got == f.strip_lmeval[i]) {
      ++agree;
    } else {
      ADD_FAILURE() << "input [" << f.strings[i] << "] got [" << got.value_or("<raise>")
                    << "] want [" << f.strip_lmeval[i].value_or("<raise>") << "]";
    }
  }
  EXPECT_EQ(agree, f.strings.size());
}

TEST(HendrycksEquiv, SelfEquivalenceMatchesPython) {
  const auto& f = fixture();
  for (size_t i = 0; i < f.strings.size(); ++i) {
    EXPECT_EQ(hendrycks_is_equiv(f.strings[i], f.strings[i], HendrycksFlavor::kOriginal),
              (f.self_equiv[i] & 2) != 0);
    EXPECT_EQ(hendrycks_is_equiv(f.strings[i], f.strings[i], HendrycksFlavor::kLmEval),
              (f.self_equiv[i] & 1) != 0);
  }
}

TEST(HendrycksEquiv, PairsMatchPython) {
  const auto& f = fixture();
  size_t agree_original = 0, agree_lmeval = 0, flavors_differ = 0;
  for (const auto& p : f.pairs) {
    const std::string& a = f.strings[p.i];
    const std::string& b = f.strings[p.j];
    bool o = hendrycks_is_equiv(a, b, HendrycksFlavor::kOriginal);
    bool l = hendrycks_is_equiv(a, b, HendrycksFlavor::kLmEval);
    agree_original += o == p.original;
    agree_lmeval += l == p.lmeval;
    flavors_differ += p.original != p.lmeval;
    EXPECT_EQ(o, p.original) << "original [" << a << "] vs [" << b << "]";
    EXPECT_EQ(l, p.lmeval) << "lm-eval [" << a << "] vs [" << b << "]";
  }
  EXPECT_EQ(agree_original, f.pairs.size());
  EXPECT_EQ(agree_lmeval, f.pairs.size());
  EXPECT_GT(flavors_differ, 50u);  // the fixture exercises the two versions' differences
}

TEST(HendrycksEquiv, BoxedExtractionMatchesPython) {
  for (const auto& b : fixture().boxed) {
    auto last = last_boxed_only_string(b.text);
    EXPECT_EQ(last, b.last) << b.text;
    if (last) EXPECT_EQ(remove_boxed(*last), b.removed) << b.text;
  }
}

TEST(HendrycksEquiv, HandCheckedCases) {
  // The classic normalizations.
  EXPECT_TRUE(hendrycks_is_equiv("\\dfrac{1}{2}", "0.5"));
  EXPECT_TRUE(hendrycks_is_equiv("\\frac12", "\\frac{1}{2}"));
  EXPECT_TRUE(hendrycks_is_equiv("3/4", "\\frac{3}{4}"));
  EXPECT_TRUE(hendrycks_is_equiv("x = 5", "5"));
  EXPECT_TRUE(hendrycks_is_equiv("\\left( 1, 2 \\right)", "(1,2)"));
  EXPECT_TRUE(hendrycks_is_equiv("90^\\circ", "90"));
  EXPECT_TRUE(hendrycks_is_equiv("5 \\text{ cm}", "5"));
  EXPECT_FALSE(hendrycks_is_equiv("0.50", "\\frac{1}{2}"));
  EXPECT_FALSE(hendrycks_is_equiv("2", "3"));
  // The two versions: bare '%' and a non-integer side of '/'.
  EXPECT_TRUE(hendrycks_is_equiv("50%", "50", HendrycksFlavor::kOriginal));
  EXPECT_FALSE(hendrycks_is_equiv("50%", "50", HendrycksFlavor::kLmEval));
  EXPECT_EQ(hendrycks_strip_string("x/2", HendrycksFlavor::kOriginal), "x/2");
  EXPECT_EQ(hendrycks_strip_string("x/2", HendrycksFlavor::kLmEval), std::nullopt);
  EXPECT_EQ(hendrycks_strip_string("2\\sqrt"), std::nullopt);
  // None handling.
  EXPECT_TRUE(hendrycks_is_equiv_opt(std::optional<std::string>(), std::optional<std::string>()));
  EXPECT_FALSE(
      hendrycks_is_equiv_opt(std::optional<std::string>("1"), std::optional<std::string>()));
}

TEST(HendrycksEquiv, ExtractAnswerBetweenFirstAndLastDollar) {
  EXPECT_EQ(hendrycks_extract_answer("The answer is $\\frac{1}{2}$."), "\\frac{1}{2}");
  EXPECT_EQ(hendrycks_extract_answer("$a$ and $b$"), "a$ and $b");
  EXPECT_EQ(hendrycks_extract_answer("costs $5"), "costs $5");
  EXPECT_EQ(hendrycks_extract_answer("42"), "42");
}

}  // namespace
}  // namespace assay
