// MATH (Hendrycks et al. 2021) tasks as lm-evaluation-harness builds them, plus MATH-500.
//
//   minerva_math_<subset>  (lm_eval/tasks/minerva_math, version 3.1 in lm-eval 0.4.13) 7 subtasks
//   and
//                          the group `minerva_math`: "Problem:\n{problem}\n\nSolution:",
//                          4-shot from the fixed Minerva exemplars (first_n, target = the full
//                          solution), target delimiter " ", few-shot delimiter "\n\n",
//                          until ["Problem:"], greedy, max_gen_toks 256.
//                          exact_match: the "Final Answer" line normalized (normalize_final_answer)
//                          equals the normalized gold string (lm-eval asks sympy here; this is
//                          the string-equality part of it); math_equiv: assay's equivalence
//                          (math_equiv.h) of the extracted answer and the boxed gold, replacing
//                          lm-eval's math_verify.
//   hendrycks_math_<subset> (lm_eval/tasks/hendrycks_math, version 1.0) 7 subtasks and the group
//                          `hendrycks_math`: "Problem: {problem}\nAnswer:", 0-shot,
//                          until ["Problem:"]; exact_match: hendrycks is_equiv (lm-eval flavour) of
//                          the text between the first and last '$' and the boxed gold.
//   minerva_math500, hendrycks_math500  lm-eval's MATH-500 tasks (HuggingFaceH4/MATH-500): the
//                          same formats over the 500 problems; gold from the solution's box.
//   math500                assay's short name for minerva_math500.
// Subsets: algebra, counting_and_prob, geometry, intermediate_algebra, num_theory, prealgebra,
// precalc (MATH "type" Algebra, Counting & Probability, ...). Groups aggregate micro
// (weight_by_size), as lm-eval does.
//
// Data: DATA/math/test_5000.jsonl ({problem, level, type, solution, idx}) for minerva and
// hendrycks (documents of a subset in file order), DATA/math/math500_test.jsonl for the MATH-500
// tasks. Few-shot beyond the fixed exemplars would need the MATH train split, which assay does not
// have: hendrycks_math with --num-fewshot > 0 and minerva with more than 4 shots are refused.
#pragma once

#include <string>
#include <vector>

#include "harness/registry.h"

namespace assay {

struct MathSubset {
  const char* name;  // lm-eval config name: "algebra", "counting_and_prob", ...
  const char* type;  // MATH "type" field: "Algebra", "Counting & Probability", ...
};
const std::vector<MathSubset>& math_subsets();

// The four Minerva exemplars (lm_eval/tasks/minerva_math/utils.py list_fewshot_samples).
struct MinervaExemplar {
  const char* problem;
  const char* solution;
};
const std::vector<MinervaExemplar>& minerva_exemplars();

void register_math(TaskRegistry& registry);

}  // namespace assay
