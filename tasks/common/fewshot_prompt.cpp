#include "tasks/common/fewshot_prompt.h"

namespace assay {

GenerateRequest fewshot_generate_request(const TaskOptions& opts, std::span<const FewShot> shots,
                                         const std::string& question, const GenParams& params) {
  GenerateRequest g;
  g.params = params;
  std::string joined;
  for (const auto& [q, t] : shots) joined += q + " " + t + "\n\n";
  if (!opts.apply_chat_template) {
    g.context = opts.system_instruction + joined + question;
    return g;
  }
  auto& m = g.messages;
  if (!opts.system_instruction.empty()) m.push_back({"system", opts.system_instruction});
  if (opts.fewshot_as_multiturn) {
    for (const auto& [q, t] : shots) {
      m.push_back({"user", q});
      m.push_back({"assistant", t});
    }
    m.push_back({"user", question});
  } else {
    m.push_back({"user", joined + question});
  }
  return g;
}

}  // namespace assay
