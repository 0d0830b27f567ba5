// GSM8K answer extraction and scoring, as lm-evaluation-harness does it.
//
// Filters are lm-eval's RegexFilter (lm_eval/filters/extraction.py) followed by take_first:
// findall over the response, pick match number group_select (negative counts from the end); a
// pattern with several groups yields the first non-empty group; the result is str.strip()ped;
// no match gives the fallback "[invalid]". Settings come from the task YAMLs:
//   gsm8k      strict-match      "#### (\-?[0-9\.\,]+)"            first match
//   gsm8k      flexible-extract  "(-?[$0-9.,]{2,})|(-?[0-9]+)"     last match
//   gsm8k_cot  strict-match      "The answer is (\-?[0-9\.\,]+)."  first match
//   gsm8k_cot  flexible-extract  same as gsm8k
//   gsm8k_cot_llama strict-match "The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))"  last match
// exact_match is exact_match_hf_evaluate with ignore_case, ignore_punctuation=false and
// regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"] applied to prediction and reference.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace assay {

inline constexpr std::string_view kGsm8kInvalid = "[invalid]";

// RegexFilter.apply for one response. `regex` is a compiled RE2 pattern (RE2 and Python agree on
// the patterns above).
std::string regex_filter(std::string_view response, const re2::RE2& regex, int group_select = 0,
                         std::string_view fallback = kGsm8kInvalid);

std::string gsm8k_strict_match(std::string_view response);
std::string gsm8k_flexible_extract(std::string_view response);
std::string gsm8k_cot_strict_match(std::string_view response);
std::string gsm8k_cot_llama_strict_match(std::string_view response);

// The string exact_match compares: the ignore regexes deleted in order, then lower-cased.
// Lower-casing covers ASCII, Latin-1, Greek and Cyrillic (Python's str.lower does all of
// Unicode; GSM8K answers are numbers).
std::string gsm8k_exact_match_normalize(std::string_view s);

// exact_match for one (filtered prediction, reference) pair; the reference may be the full
// GSM8K answer with its "#### n" line.
bool gsm8k_exact_match(std::string_view prediction, std::string_view reference);

}  // namespace assay
