// The prompt of a few-shot generation task (gsm8k, minerva_math, ...) as lm-eval 0.4.13 builds
// it: plain text ("Q A\n\n" per shot, then the question, after the system instruction with no
// delimiter), or with --apply-chat-template chat messages, the shots in one user turn or, with
// --fewshot-as-multiturn, as user/assistant turns.
#pragma once

#include <span>
#include <string>
#include <utility>

#include "harness/request.h"
#include "harness/task.h"

namespace assay {

using FewShot = std::pair<std::string, std::string>;  // (rendered question, target)

GenerateRequest fewshot_generate_request(const TaskOptions& opts, std::span<const FewShot> shots,
                                         const std::string& question, const GenParams& params);

}  // namespace assay
