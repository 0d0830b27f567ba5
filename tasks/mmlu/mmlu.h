// MMLU (Hendrycks et al. 2021) as lm-evaluation-harness's `mmlu` (default variant) builds it:
// 57 subject tasks `mmlu_<subject>` under the groups mmlu_{stem,other,social_sciences,humanities}
// and `mmlu`; few-shot examples are the first N of the subject's dev split; one loglikelihood
// request per choice with continuations " A".." D"; metric acc (argmax of the summed
// log-likelihoods, ties to the first). Data: DATA/mmlu/{dev,test}/<subject>_{dev,test}.csv in the
// original headerless layout (question, A, B, C, D, answer letter).
#pragma once

#include <string>
#include <vector>

#include "harness/registry.h"

namespace assay {

struct MmluSubject {
  const char* name;
  const char* category;  // stem, other, social_sciences, humanities
};
const std::vector<MmluSubject>& mmlu_subjects();

void register_mmlu(TaskRegistry& registry);

}  // namespace assay
