// The explicit table of every task assay has. A new task: one folder, one line here, a test.
#include "harness/registry.h"
#include "tasks/gsm8k/gsm8k_task.h"
#include "tasks/math/math_tasks.h"
#include "tasks/mmlu/mmlu.h"

namespace assay {

void register_tasks(TaskRegistry& registry) {
  register_mmlu(registry);
  register_gsm8k(registry);
  register_math(registry);
}

}  // namespace assay
