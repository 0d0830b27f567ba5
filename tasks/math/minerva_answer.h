// minerva_math answer extraction and normalization, as lm-evaluation-harness does it
// (lm_eval/tasks/minerva_math/utils.py: get_unnormalized_answer, normalize_final_answer).
//
// normalize_final_answer has two published versions:
//   * kAppendixD: Lewkowycz et al. (2022) appendix D, as shipped by lm-eval up to 0.4.12 and in
//     upstream EleutherAI/lm-evaluation-harness at the parity commit (docs: lm-eval-parity.md
//     section 2.4). Plain substring deletions ("ft" also leaves "\left" as "\le"), every
//     comma dropped when the rest is digits.
//   * kLmEval0413: lm-eval 0.4.13. Unit words are deleted only as whole words and never inside a
//     LaTeX command name, "\sqrt[3]a" becomes "\sqrt[3]{a}", and commas are dropped only from
//     true thousands groups ("1,000" but not "0,1").
// Both are byte-for-byte ports; tests/tasks/math_minerva_test.cpp checks them against Python.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace assay {

enum class MinervaFlavor { kAppendixD, kLmEval0413 };

// What get_unnormalized_answer returns when the generation has no "Final Answer" line.
inline constexpr std::string_view kMinervaInvalidAnswer = "[invalidanswer]";

// The text X of the first "Final Answer: The final answer is X. I hope it is correct." (the
// generation gets "I hope it is correct." appended first, the '.' before " I hope" is any
// character, and X may not span lines), stripped; nullopt when there is none.
std::optional<std::string> minerva_get_unnormalized_answer(std::string_view generation);

// get_unnormalized_answer exactly: the answer or "[invalidanswer]".
std::string minerva_get_unnormalized_answer_or_invalid(std::string_view generation);

// normalize_final_answer.
std::string minerva_normalize_final_answer(std::string_view answer,
                                           MinervaFlavor flavor = MinervaFlavor::kAppendixD);

// lm-eval process_docs' gold:
// normalize_final_answer(remove_boxed(last_boxed_only_string(solution))). nullopt when the solution
// has no usable box (Python raises there).
std::optional<std::string> minerva_gold_answer(std::string_view solution,
                                               MinervaFlavor flavor = MinervaFlavor::kAppendixD);

// exact_match as in our minerva task: the normalized generation answer equals the normalized
// gold string. (lm-eval then asks sympy; use math_equiv for the symbolic step.)
bool minerva_exact_match(std::string_view generation, std::string_view normalized_gold,
                         MinervaFlavor flavor = MinervaFlavor::kAppendixD);

}  // namespace assay
