// hendrycks/math answer equivalence (modeling/math_equivalence.py), ported byte for byte.
//
// The MATH paper's metric: two answers match when their _strip_string normal forms are equal
// strings. There are two Python versions that disagree on some inputs, so both are offered:
//   * kOriginal: hendrycks/math itself. _fix_a_slash_b swallows every exception and the percent
//     step removes a bare "%".
//   * kLmEval: lm-evaluation-harness's hendrycks_math task (tasks/hendrycks_math/utils.py).
//     _fix_a_slash_b only catches AssertionError, so "x/2" (int("x") raises ValueError) makes
//     strip_string raise and is_equiv falls back to comparing the raw strings; and its percent
//     step is written "\%" (a backslash and a percent), so a bare "%" is kept.
// Use kLmEval to reproduce lm-eval's hendrycks_math exact_match.
//
// Python semantics are kept where they matter: lengths and indices count code points.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace assay {

enum class HendrycksFlavor { kOriginal, kLmEval };

// _strip_string. nullopt where the Python raises (e.g. more than one "\text{ ", a trailing
// "\sqrt" or "\frac", and for kLmEval a non-integer side of a single '/').
std::optional<std::string> hendrycks_strip_string(
    std::string_view s, HendrycksFlavor flavor = HendrycksFlavor::kOriginal);

// is_equiv(str1, str2): strip both and compare; if stripping raises, compare the raw strings.
bool hendrycks_is_equiv(std::string_view a, std::string_view b,
                        HendrycksFlavor flavor = HendrycksFlavor::kOriginal);

// The None-aware form: both absent -> true, exactly one absent -> false.
bool hendrycks_is_equiv_opt(const std::optional<std::string>& a,
                            const std::optional<std::string>& b,
                            HendrycksFlavor flavor = HendrycksFlavor::kOriginal);

// lm-eval hendrycks_math process_results' answer: the text between the first and the last '$'
// of the generation, or the whole generation when it has fewer than two '$'.
std::string hendrycks_extract_answer(std::string_view generation);

}  // namespace assay
