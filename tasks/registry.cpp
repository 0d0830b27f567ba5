// The explicit table of every task assay has. A new task: one folder, one line here, a test.
#include "harness/registry.h"
#include "tasks/mmlu/mmlu.h"

namespace assay {

void register_tasks(TaskRegistry& registry) {
  register_mmlu(registry);
}

}  // namespace assay
