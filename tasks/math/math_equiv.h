// math_equiv: assay's own mathematical answer equivalence, replacing lm-eval's sympy is_equiv.
//
// Decides whether two final answers (LaTeX as MATH writes it, e.g. "\frac{\sqrt3}{2}",
// "[2,5)", "\begin{pmatrix}1\\2\end{pmatrix}", "x^2+2x", "12\text{ inches}") denote the same
// mathematical object:
//   1. identical after light normalization (whitespace, $, \boxed, \left/\right, \dfrac,
//      \text{} units, degrees, percent, "x =" prefixes, thousands commas); word answers
//      ("\text{East}" and "east") compare without case;
//   2. otherwise both sides are parsed into a value: an expression tree (numbers, + - * / ^,
//      implicit multiplication, \frac \sqrt[n]{} \pi \infty, trig/log functions, |x|, n!,
//      \binom, mixed numbers like 2\frac{1}{2}, base subscripts like 1011_2, variables), a tuple
//      or interval (bracket kinds must match), an unordered list or \{set\}, a \cup of intervals,
//      a matrix, or an (in)equation;
//   3. expressions compare numerically in complex arithmetic: constants directly, expressions
//      with variables at several deterministic pseudo-random points; two values agree when
//      |a-b| <= 1e-6 * max(|a|,|b|) (or both below 1e-12); infinities by sign.
// Unparseable input on either side is "not equivalent" unless step 1 matched.
//
// This is not byte-compatible with lm-eval's sympy check (which fails on tuples, intervals and
// matrices); it aims to be right.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace assay {

bool math_equiv(std::string_view a, std::string_view b);

// The light normalization of step 1 (exposed for tests and for logging what was compared).
std::string math_equiv_normalize(std::string_view s);

// Whether step 2 understands s (for coverage reports; math_equiv does not need it first).
bool math_equiv_parses(std::string_view s);

}  // namespace assay
