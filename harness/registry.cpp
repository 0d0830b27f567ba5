#include "harness/registry.h"

#include <algorithm>
#include <functional>
#include <set>

#include "harness/suggest.h"

namespace assay {

void TaskRegistry::add_task(const std::string& name, TaskFactory factory) {
  ASSAY_CHECK_MSG(!tasks_.count(name) && !groups_.count(name), "duplicate task " + name);
  tasks_[name] = std::move(factory);
}

void TaskRegistry::add_group(GroupSpec group) {
  ASSAY_CHECK_MSG(!tasks_.count(group.name) && !groups_.count(group.name),
                  "duplicate group " + group.name);
  std::string n = group.name;
  groups_[n] = std::move(group);
}

const GroupSpec* TaskRegistry::group(const std::string& name) const {
  auto it = groups_.find(name);
  return it == groups_.end() ? nullptr : &it->second;
}

const TaskFactory* TaskRegistry::task(const std::string& name) const {
  auto it = tasks_.find(name);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::vector<std::string> TaskRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : tasks_) out.push_back(k);
  for (const auto& [k, v] : groups_) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

Status TaskRegistry::expand(const std::vector<std::string>& requested,
                            std::vector<std::string>* leaf_tasks,
                            std::vector<std::string>* groups) const {
  std::set<std::string> seen_tasks, seen_groups;
  std::function<Status(const std::string&, int)> visit = [&](const std::string& n, int depth) {
    if (depth > 16) return invalid_argument("task group nesting too deep at " + n);
    if (tasks_.count(n)) {
      if (seen_tasks.insert(n).second) leaf_tasks->push_back(n);
      return Status::OK();
    }
    auto g = groups_.find(n);
    if (g == groups_.end()) {
      return invalid_argument("unknown task '" + n + "'" + did_you_mean(n, names()) +
                              " (all names: assay run --list-tasks)");
    }
    if (seen_groups.insert(n).second) groups->push_back(n);
    for (const auto& s : g->second.subtasks) ASSAY_RETURN_IF_ERROR(visit(s, depth + 1));
    return Status::OK();
  };
  for (const auto& r : requested) ASSAY_RETURN_IF_ERROR(visit(r, 0));
  return Status::OK();
}

}  // namespace assay
