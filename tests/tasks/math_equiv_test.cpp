// math_equiv on hand-checked pairs. Each line says why the pair is (not) equivalent.
#include "tasks/math/math_equiv.h"

#include <gtest/gtest.h>

namespace assay {
namespace {

struct Case {
  const char* a;
  const char* b;
  bool equiv;
};

const Case kCases[] = {
    // Numbers and fractions.
    {"\\frac{1}{2}", "0.5", true},                   // decimal form of 1/2
    {"\\dfrac12", "\\frac{1}{2}", true},             // dfrac + shorthand arguments
    {"\\tfrac{3}{4}", "3/4", true},                  // slash fraction
    {"0.333", "\\frac13", false},                    // rounded decimal is not 1/3
    {"0.3333333333", "\\frac{1}{3}", true},          // within 1e-6 relative
    {"-\\frac{2}{3}", "\\frac{-2}{3}", true},        // sign placement
    {"-\\frac{2}{3}", "\\frac{2}{3}", false},        // sign matters
    {"\\frac{6}{8}", "\\frac{3}{4}", true},          // unreduced fraction, same value
    {"12\\frac{3}{5}", "\\frac{63}{5}", true},       // mixed number (MATH convention)
    {"2\\frac{\\pi}{3}", "\\frac{2\\pi}{3}", true},  // not a mixed number: a product
    {"1,000", "1000", true},                         // thousands separator
    {"1{,}000{,}000", "1000000", true},              // braced thousands separator
    {"1,\\!000", "1000", true},                      // \! thousands separator
    {"10", "10.0", true},                            // trailing zero
    {"10", "10.01", false},                          // 0.1% off
    {"1011_2", "11", true},                          // base-2 subscript
    {"43_8", "35", true},                            // base-8 subscript
    {"2", "3", false},                               // plainly different
    {"", "", false},                                 // empty answer never matches
    // Roots, powers, constants.
    {"\\sqrt{8}", "2\\sqrt{2}", true},                       // simplified radical
    {"\\sqrt2", "\\sqrt{2}", true},                          // shorthand argument
    {"\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt3", true},   // reordered product
    {"\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}", true},  // rationalized denominator
    {"\\sqrt[3]{27}", "3", true},                            // cube root
    {"\\sqrt[3]{-8}", "-2", true},                           // odd root of a negative stays real
    {"2^{10}", "1024", true},                                // power
    {"2^10", "1024", true},                                  // unbraced multi-digit exponent
    {"4\\pi", "4 \\pi", true},                               // spacing
    {"4\\pi", "12.566370614", true},                         // numeric value of 4 pi
    {"4\\pi", "12.57", false},                               // too coarse
    {"\\pi r^2", "r^2\\pi", true},                           // commutativity with a variable
    {"e^2", "e^{2}", true},                                  // Euler's number
    {"5!", "120", true},                                     // factorial
    {"\\binom{5}{2}", "10", true},                           // binomial coefficient
    {"|-3|", "3", true},                                     // absolute value
    {"\\lfloor 2.7 \\rfloor", "2", true},                    // floor
    {"\\sin^2 x + \\cos^2 x", "1", true},                    // identity in a variable
    {"\\log_2 8", "3", true},                                // log with base
    {"\\ln(e^3)", "3", true},                                // natural log
    // Complex numbers.
    {"1+2i", "2i+1", true},                                     // i is the imaginary unit
    {"\\frac{1}{5} + \\frac{3}{5}i", "\\frac{1+3i}{5}", true},  // combined fraction
    {"1-2i", "1+2i", false},                                    // conjugate differs
    // Polynomials and expressions in variables.
    {"3x^2 - 7x + 4", "(3x-4)(x-1)", true},  // factored form
    {"x^2+2x+1", "(x+1)^2", true},           // square
    {"x^2+2x+1", "(x-1)^2", false},          // wrong sign
    {"\\frac{3x^2}{2}", "1.5x^2", true},     // fraction of a monomial
    {"2x+3", "y = 2x + 3", true},            // "y =" prefix dropped
    {"x+y=3", "y=3-x", true},                // same equation rearranged
    {"\\sqrt{x^2}", "x", false},             // differs for negative x
    {"|x|", "\\sqrt{x^2}", true},            // equal everywhere
    {"a^2b", "ba^2", true},                  // commutative product
    {"ab", "a b", true},                     // two-letter product vs spaced
    {"x_1 + x_2", "x_2 + x_1", true},        // subscripted variables
    {"x_1", "x_2", false},                   // different subscripts
    // Units, degrees, percent, text.
    {"5\\text{ inches}", "5", true},       // unit dropped
    {"5 \\text{ cm}^2", "5", true},        // squared unit dropped
    {"2\\pi \\text{ cm}", "2\\pi", true},  // unit after an expression
    {"90^\\circ", "90", true},             // degrees
    {"45^{\\circ}", "45 degrees", true},   // both degree spellings
    {"50\\%", "50", true},                 // percent sign
    {"\\$18.90", "18.9", true},            // dollars
    {"\\text{(A)}", "A", true},            // answer letter in text
    {"\\text{(A)}", "(B)", false},         // different choice
    {"\\text{East}", "east", true},        // word answer, case-insensitive
    {"\\text{Devon}", "Devno", false},     // different words
    {"x", "X", false},                     // variables keep their case
    // Tuples, intervals, sets, lists.
    {"(1, 4\\sqrt3)", "\\left(1,4\\sqrt{3}\\right)", true},  // \left( \right) and shorthand
    {"(1,2)", "(2,1)", false},                               // ordered pair order matters
    {"[2,5)", "[2, 5)", true},                               // interval spacing
    {"[2,5)", "[2,5]", false},                               // closed vs open end
    {"(2,5)", "[2,5)", false},                               // open vs closed start
    {"(-\\infty, 0)", "(-\\infty,0)", true},                 // infinity endpoint
    {"(-\\infty, 0)", "(\\infty, 0)", false},                // sign of infinity
    {"(-\\infty,-8)\\cup (8,\\infty)", "(8,\\infty)\\cup(-\\infty,-8)", true},  // union order
    {"1, 2, 3", "3, 2, 1", true},                                // unordered answer list
    {"1, 2, 3", "1, 2", false},                                  // missing element
    {"\\{1,2\\}", "\\{2, 1\\}", true},                           // set order
    {"12\\text{ and }13", "12, 13", true},                       // "and" separates answers
    {"\\frac{1}{2}, -\\frac{1}{12}", "-\\frac1{12},0.5", true},  // list of fractions
    {"1 \\pm \\sqrt{2}", "1+\\sqrt2, 1-\\sqrt2", true},          // plus-minus expands to two roots
    {"(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", true},  // polar coordinates
    // Matrices.
    {"\\begin{pmatrix} 3 & 6 \\\\ 2 & 7 \\end{pmatrix}", "\\begin{pmatrix}3&6\\\\2&7\\end{pmatrix}",
     true},  // spacing inside a matrix
    {"\\begin{pmatrix} 1/5 \\\\ -3/5 \\end{pmatrix}",
     "\\begin{pmatrix} 0.2 \\\\ -0.6 \\end{pmatrix}", true},  // vector entries as decimals
    {"\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", false},
    {"\\begin{pmatrix} 1 & 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", false},
    // Relations.
    {"x \\le 3", "x\\leq 3", true},                  // \le and \leq
    {"x < 3", "3 > x", true},                        // flipped inequality
    {"x < 3", "x \\le 3", false},                    // strict vs non-strict
    {"3:1", "6:2", false},                           // ratios compare term by term
    {"3:1", "3 : 1", true},                          // ratio spacing
    {"7, -2, \\text{ and } -5", "-5, -2, 7", true},  // "and" after a comma
    // Wrappers and malformed input.
    {"\\boxed{\\frac{1}{2}}", "\\frac12", true},  // boxed answer
    {"$\\frac{1}{2}$", "0.5", true},              // dollar-delimited
    {"\\frac{1}{2", "\\frac{1}{2}", false},       // unbalanced braces do not parse
    {"\\frac", "\\frac", true},                   // identical strings still match
    {"x = 5", "5", true},                         // variable prefix
    {"The answer is 159", "159", true},           // leading phrase
    {"(2{,}-1)", "(2,-1)", true},                 // {,} as a plain comma
    {"1,\\!2", "12", false},                      // ,\! before one digit is a comma
    {"(2,-1) degrees", "(2,-1)", true},           // trailing unit word after a tuple
    {"90^ {\\circ}", "90", true},                 // spaced degree mark
    {"0.\\overline{3}", "\\frac13", true},        // repeating decimal
    {"x=2 \\text{ or } x=3", "3, 2", true},       // "or" list with prefixes per item
    {"8-2\\\\pi", "8-2\\pi", true},               // over-escaped backslash
    {"5.", "5", true},                            // sentence period
};

TEST(MathEquiv, HandCheckedPairs) {
  int checked = 0;
  for (const auto& c : kCases) {
    EXPECT_EQ(math_equiv(c.a, c.b), c.equiv) << "[" << c.a << "] vs [" << c.b << "]";
    // Equivalence is symmetric.
    EXPECT_EQ(math_equiv(c.b, c.a), c.equiv) << "[" << c.b << "] vs [" << c.a << "]";
    ++checked;
  }
  EXPECT_GE(checked, 60);
}

TEST(MathEquiv, DeepNestingIsRejectedNotACrash) {
  std::string deep(100000, '(');
  deep += "1";
  deep += std::string(100000, ')');
  EXPECT_FALSE(math_equiv(deep, "1"));
  EXPECT_TRUE(math_equiv("((((1))))", "1"));
  EXPECT_TRUE(math_equiv(std::string(100000, '-') + "1", "1"));  // even count: +1, no recursion
  EXPECT_FALSE(math_equiv(std::string(99999, '-') + "1", "1"));  // odd count: -1
  EXPECT_TRUE(math_equiv("--1", "1"));                           // double negation
  std::string nested_sin;
  for (int i = 0; i < 50000; ++i) nested_sin += "\\sin ";
  EXPECT_FALSE(math_equiv(nested_sin + "x", "x"));
}

TEST(MathEquiv, NormalizeIsLight) {
  EXPECT_EQ(math_equiv_normalize("$x = \\dfrac{1}{2}$."), "\\frac{1}{2}");
  EXPECT_EQ(math_equiv_normalize("\\left( 1, 2 \\right)"), "(1,2)");
  EXPECT_EQ(math_equiv_normalize("5\\text{ cm}"), "5");
}

}  // namespace
}  // namespace assay

// Over the real MATH test golds: every gold must match its own hendrycks- and minerva-normalized
// forms (they only rewrite notation), and distinct golds must almost never match each other.
#include <simdjson.h>

#include <cstdlib>
#include <fstream>

#include "tasks/common/answer_extract.h"
#include "tasks/math/hendrycks_equiv.h"
#include "tasks/math/minerva_answer.h"

namespace assay {
namespace {

std::vector<std::string> math_golds() {
  const char* env = std::getenv("ASSAY_DATA");
  std::string path = std::string(env ? env : "/work/shared/data") + "/math/test_5000.jsonl";
  std::ifstream in(path);
  std::vector<std::string> golds;
  if (!in) return golds;
  simdjson::dom::parser parser;
  std::string line;
  while (std::getline(in, line)) {
    simdjson::dom::element doc = parser.parse(line).value();
    auto gold = last_boxed_content(std::string_view(doc["solution"].get_string().value()));
    if (gold) golds.push_back(*gold);
  }
  return golds;
}

TEST(MathEquiv, ParsesNearlyAllMathGolds) {
  auto golds = math_golds();
  if (golds.empty()) FAIL() << "MATH data not found (set ASSAY_DATA)";
  ASSERT_EQ(golds.size(), 5000u);
  size_t parsed = 0;
  for (const auto& g : golds) {
    if (math_equiv_parses(g)) {
      ++parsed;
    } else {
      std::cerr << "unparsed: " << g << "\n";
    }
  }
  std::cerr << "parsed " << parsed << "/5000 MATH golds\n";
  EXPECT_GE(parsed, 4900u);
}

// The minerva gold (normalize_final_answer of the boxed answer) must still match the boxed
// answer, except where that normalizer damages it, which the threshold allows for (about 90
// golds): matrix row breaks "\\ " lose "\ ", "\frac9{5}" becomes "\frac{9}{{}5}", equations keep
// only the text after the last "=", "81\text{ teachers}" becomes "81teachers".
TEST(MathEquiv, MathGoldsMatchTheirMinervaForms) {
  auto golds = math_golds();
  if (golds.empty()) FAIL() << "MATH data not found (set ASSAY_DATA)";
  size_t ok = 0, shown = 0;
  for (const auto& g : golds) {
    bool m = math_equiv(g, minerva_normalize_final_answer(g, MinervaFlavor::kLmEval0413));
    ok += m;
    if (!m && shown++ < 8) {  // a few examples, not all ~90
      std::cerr << "miss: [" << g << "] vs ["
                << minerva_normalize_final_answer(g, MinervaFlavor::kLmEval0413) << "]\n";
    }
  }
  std::cerr << "minerva forms " << ok << "/5000\n";
  EXPECT_GE(ok, 4900u);
}

TEST(MathEquiv, DistinctMathGoldsRarelyMatch) {
  auto golds = math_golds();
  if (golds.empty()) FAIL() << "MATH data not found (set ASSAY_DATA)";
  size_t pairs = 0, matched = 0;
  for (size_t i = 0; i + 1 < golds.size(); ++i) {
    const auto& a = golds[i];
    const auto& b = golds[i + 1];
    if (hendrycks_is_equiv(a, b)) continue;
    ++pairs;
    if (math_equiv(a, b)) {
      ++matched;
      std::cerr << "match: [" << a << "] [" << b << "]\n";
    }
  }
  std::cerr << matched << " of " << pairs << " distinct neighbour pairs matched\n";
  EXPECT_LE(matched, pairs / 200);
}

}  // namespace
}  // namespace assay
