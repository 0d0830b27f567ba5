// TaskRegistry: an explicit table of tasks and groups (register_tasks() fills it), not
// self-registering statics, which a static library's linker would drop.
//
// A group names subtasks (tasks or other groups) and how its metrics aggregate: micro
// (weight_by_size, lm-eval's default and its `mmlu` number) plus macro, reported beside it.
// Unknown names are answered with the closest known names.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "harness/task.h"

namespace assay {

struct GroupSpec {
  std::string name;
  std::vector<std::string> subtasks;  // tasks or groups, in display order
  std::vector<std::string> metrics;   // aggregated metric keys, e.g. "acc,none"
  bool weight_by_size = true;
  std::string version = "2";
};

class TaskRegistry {
 public:
  void add_task(const std::string& name, TaskFactory factory);
  void add_group(GroupSpec group);
  bool has_task(const std::string& name) const { return tasks_.count(name) > 0; }
  const GroupSpec* group(const std::string& name) const;
  const TaskFactory* task(const std::string& name) const;
  std::vector<std::string> names() const;  // tasks and groups, sorted
  // Expands names (comma list already split) into leaf task names (in order, no duplicates) and
  // the groups involved (outermost first). Unknown names: InvalidArgument with suggestions.
  Status expand(const std::vector<std::string>& requested, std::vector<std::string>* leaf_tasks,
                std::vector<std::string>* groups) const;

 private:
  std::map<std::string, TaskFactory> tasks_;
  std::map<std::string, GroupSpec> groups_;
};

// Fills the registry with every task assay has (tasks/registry.cpp).
void register_tasks(TaskRegistry& registry);

}  // namespace assay
