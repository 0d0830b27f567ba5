// GSM8K (Cobbe et al. 2021) as lm-evaluation-harness builds `gsm8k` and `gsm8k_cot`
// (lm_eval/tasks/gsm8k/gsm8k.yaml, gsm8k-cot.yaml; both version 3.0):
//
//   gsm8k      "Question: {question}\nAnswer:", target the full answer (with its "#### n" line),
//              5-shot from the train split with lm-eval's default sampler: one
//              random.Random(fewshot_seed) per task, Random.sample(train, k) once per document in
//              document order (emulated bit for bit by PythonRandom);
//              until ["Question:", "</s>", "<|im_end|>"].
//   gsm8k_cot  "Q: {question}\nA:", 8-shot from the fixed chain-of-thought exemplars of the YAML
//              (first_n), target the number after "####"; until ["Q:", "</s>", "<|im_end|>"].
// Both: target delimiter " ", few-shot delimiter "\n\n", greedy, max_gen_toks 256 (lm-eval's
// default), filters strict-match / flexible-extract (tasks/gsm8k/answer_filters.h) and
// exact_match with lm-eval's ignore settings.
//
// Data: DATA/gsm8k/test.jsonl ({question, answer}). Few-shot train split for `gsm8k`:
//   * DATA/gsm8k/train.jsonl (the 7,473 train questions in order): lm-eval's prompts exactly;
//   * else DATA/weak_to_strong/gsm8k/train_2.jsonl, whose "gsm8k_<i>" rows are train question i
//     (3,737 of the 7,473). The sampler still draws from the full 7,473 so that its choices are
//     lm-eval's; a drawn question that is missing is replaced by the next present question not
//     already chosen (wrapping). Documents whose draws are all present get lm-eval's prompt
//     byte for byte; config() reports how many documents that is.
// Chat mode (apply_chat_template): requests carry messages (system instruction, few-shot as one
// user turn or, with fewshot_as_multiturn, as user/assistant turns) as lm-eval builds them; the
// engine applies its template with add_generation_prompt.
#pragma once

#include <string>
#include <vector>

#include "harness/registry.h"

namespace assay {

inline constexpr int64_t kGsm8kTrainSize = 7473;

// The fixed exemplars of gsm8k-cot.yaml (question, target), in order.
struct Gsm8kExemplar {
  const char* question;
  const char* target;
};
const std::vector<Gsm8kExemplar>& gsm8k_cot_exemplars();

// The train indices lm-eval's default sampler picks for each of the first n_docs documents
// (population kGsm8kTrainSize, k shots, seed): PythonRandom(seed).sample once per document.
std::vector<std::vector<int64_t>> gsm8k_fewshot_indices(int64_t n_docs, int k, uint64_t seed,
                                                        int64_t population = kGsm8kTrainSize);

void register_gsm8k(TaskRegistry& registry);

}  // namespace assay
