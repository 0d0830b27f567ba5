#include "reports/run_reader.h"

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <regex>
#include <set>
#include <system_error>

#include "harness/jsonl.h"

namespace assay {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;
using simdjson::dom::element_type;

std::string where_line(const std::string& path, std::int64_t line) {
  return path + ":" + std::to_string(line);
}

Status field_error(const std::string& where, std::string_view field, std::string_view expected) {
  return corrupt(where + ": field '" + std::string(field) + "': expected " + std::string(expected));
}

// Optional string field: absent or null leaves `out` untouched.
Status optional_string(element obj, std::string_view field, const std::string& where,
                       std::string* out) {
  element v;
  if (obj[field].get(v) || v.is_null()) return Status::OK();
  std::string_view s;
  if (v.get_string().get(s)) return field_error(where, field, "a string");
  out->assign(s);
  return Status::OK();
}

// A number or bool as double; nullopt for anything else.
std::optional<double> as_number(element v) {
  switch (v.type()) {
    case element_type::DOUBLE:
      return v.get_double().value_unsafe();
    case element_type::INT64:
      return static_cast<double>(v.get_int64().value_unsafe());
    case element_type::UINT64:
      return static_cast<double>(v.get_uint64().value_unsafe());
    case element_type::BOOL:
      return v.get_bool().value_unsafe() ? 1.0 : 0.0;
    default:
      return std::nullopt;
  }
}

Result<SampleRecord> parse_sample(element obj, const std::string& where,
                                  const SampleReadOptions& options) {
  if (obj.type() != element_type::OBJECT) return corrupt(where + ": expected a JSON object");
  SampleRecord r;
  element v;
  if (obj["doc_id"].get(v)) return corrupt(where + ": missing field 'doc_id'");
  if (v.get_int64().get(r.doc_id)) return field_error(where, "doc_id", "an integer");

  ASSAY_RETURN_IF_ERROR(optional_string(obj, "doc_hash", where, &r.doc_hash));
  ASSAY_RETURN_IF_ERROR(optional_string(obj, "prompt_hash", where, &r.prompt_hash));
  ASSAY_RETURN_IF_ERROR(optional_string(obj, "target_hash", where, &r.target_hash));
  if (!obj["filter"].get(v) && !v.is_null()) {
    std::string_view s;
    if (v.get_string().get(s)) return field_error(where, "filter", "a string");
    r.filter.assign(s);
    r.has_filter = true;
  }

  if (!obj["target"].get(v) && !v.is_null()) {
    std::string_view s;
    if (!v.get_string().get(s)) {
      r.target.assign(s);
    } else {
      r.target = json_to_string(v);
    }
  }

  if (!obj["error"].get(v) && !v.is_null()) {
    std::string_view s;
    if (!v.get_string().get(s)) {
      if (!s.empty()) r.error = std::string(s);
    } else {
      r.error = json_to_string(v);  // an error object is still an error
    }
  }

  if (!obj["metrics"].get(v) && !v.is_null()) {
    simdjson::dom::array names;
    if (v.get_array().get(names)) return field_error(where, "metrics", "a list of metric names");
    for (element name : names) {
      std::string_view s;
      if (name.get_string().get(s)) return field_error(where, "metrics", "a list of strings");
      r.metric_names.emplace_back(s);
    }
  }
  // Each listed metric's value is a key of its own; read only those, so "doc_id" or a numeric
  // "target" is never mistaken for a metric.
  for (const std::string& name : r.metric_names) {
    if (obj[name].get(v)) continue;
    if (auto d = as_number(v)) r.metrics[name] = *d;
  }

  if (options.keep_raw) {
    if (!obj["arguments"].get(v)) r.arguments = json_to_string(v);
    if (!obj["resps"].get(v)) r.resps = json_to_string(v);
    if (!obj["filtered_resps"].get(v)) r.filtered_resps = json_to_string(v);
  }
  return r;
}

// lm-eval's date_id: datetime.now().isoformat().replace(":", "-"), e.g. 2024-05-13T14-59-12.123456.
const std::regex& dated_samples_re() {
  static const std::regex re(R"(^samples_(.+)_(\d{4}-\d{2}-\d{2}T[0-9.:-]+)\.jsonl$)");
  return re;
}
const std::regex& plain_samples_re() {
  static const std::regex re(R"(^samples_(.+)\.jsonl$)");
  return re;
}
const std::regex& dated_results_re() {
  static const std::regex re(R"(^results_(.+)\.json$)");
  return re;
}

struct Located {
  std::optional<std::string> results_path;
  std::map<std::string, std::string> sample_files;
};

Located scan_dir(const fs::path& dir) {
  Located out;
  std::string newest_results_stamp;
  bool plain_results = false;
  std::map<std::string, std::string> sample_stamp;  // task → stamp of the chosen file
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const std::string name = entry.path().filename().string();
    std::smatch m;
    if (name == "results.json") {
      // An undated results.json (assay's own name) takes precedence over dated ones.
      out.results_path = entry.path().string();
      plain_results = true;
    } else if (std::regex_match(name, m, dated_results_re())) {
      if (!plain_results && m[1].str() > newest_results_stamp) {
        newest_results_stamp = m[1].str();
        out.results_path = entry.path().string();
      }
    } else if (std::regex_match(name, m, dated_samples_re())) {
      const std::string task = m[1].str();
      const std::string stamp = m[2].str();
      auto it = sample_stamp.find(task);
      if (it == sample_stamp.end() || stamp > it->second) {
        sample_stamp[task] = stamp;
        out.sample_files[task] = entry.path().string();
      }
    } else if (std::regex_match(name, m, plain_samples_re())) {
      const std::string task = m[1].str();
      // An undated file sorts before any dated one for the same task.
      if (!sample_stamp.count(task)) {
        sample_stamp[task] = "";
        out.sample_files[task] = entry.path().string();
      }
    }
  }
  return out;
}

void read_string_map(element obj, std::string_view key, std::map<std::string, std::string>* out) {
  simdjson::dom::object o;
  if (obj[key].get_object().get(o)) return;
  for (auto field : o) {
    std::string_view s;
    if (!field.value.get_string().get(s)) {
      (*out)[std::string(field.key)] = std::string(s);
    } else {
      (*out)[std::string(field.key)] = json_to_string(field.value);
    }
  }
}

Status read_task_results(element obj, std::string_view key, const std::string& path,
                         std::map<std::string, TaskResult>* out) {
  element v;
  if (obj[key].get(v) || v.is_null()) return Status::OK();
  simdjson::dom::object tasks;
  if (v.get_object().get(tasks)) {
    return corrupt(path + ": '" + std::string(key) + "': expected an object of tasks");
  }
  for (auto task : tasks) {
    simdjson::dom::object fields;
    if (task.value.get_object().get(fields)) {
      return corrupt(path + ": '" + std::string(key) + "." + std::string(task.key) +
                     "': expected an object");
    }
    TaskResult r;
    for (auto f : fields) {
      if (f.key == "alias") {
        std::string_view s;
        if (!f.value.get_string().get(s)) r.alias = std::string(s);
        continue;
      }
      r.values[std::string(f.key)] = as_number(f.value);
    }
    (*out)[std::string(task.key)] = std::move(r);
  }
  return Status::OK();
}

}  // namespace

Result<std::vector<SampleRecord>> read_samples_jsonl(const std::string& path,
                                                     const SampleReadOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return not_found(path + ": no such samples file");
  std::vector<SampleRecord> records;
  Status st = for_each_jsonl(path, [&](int64_t line, element value) -> Status {
    const std::string where = where_line(path, line);
    Result<SampleRecord> r = parse_sample(value, where, options);
    if (!r.ok()) return r.status();
    r->line = line;
    records.push_back(std::move(r).value());
    return Status::OK();
  });
  if (!st.ok()) return st;
  return records;
}

std::optional<double> TaskResult::value(const std::string& metric,
                                        const std::string& filter) const {
  auto it = values.find(metric + "," + filter);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::optional<double> TaskResult::std_error(const std::string& metric,
                                            const std::string& filter) const {
  return value(metric + "_stderr", filter);
}

std::vector<std::string> RunResults::leaf_tasks(const std::string& name) const {
  std::vector<std::string> out;
  std::set<std::string> seen;  // guards against a cyclic group_subtasks
  std::function<void(const std::string&)> visit = [&](const std::string& n) {
    if (!seen.insert(n).second) return;
    auto it = group_subtasks.find(n);
    if (it == group_subtasks.end()) {
      out.push_back(n);
      return;
    }
    for (const auto& child : it->second) visit(child);
  };
  visit(name);
  return out;
}

Result<RunResults> read_results_json(const std::string& path) {
  simdjson::dom::parser parser;
  ASSAY_ASSIGN_OR_RETURN(element root, parse_json_file(path, parser));
  if (root.type() != element_type::OBJECT) return corrupt(path + ": expected a JSON object");
  RunResults r;
  r.path = path;
  ASSAY_RETURN_IF_ERROR(read_task_results(root, "results", path, &r.results));
  ASSAY_RETURN_IF_ERROR(read_task_results(root, "groups", path, &r.groups));

  simdjson::dom::object o;
  if (!root["group_subtasks"].get_object().get(o)) {
    for (auto g : o) {
      simdjson::dom::array arr;
      if (g.value.get_array().get(arr)) {
        return corrupt(path + ": 'group_subtasks." + std::string(g.key) + "': expected a list");
      }
      auto& list = r.group_subtasks[std::string(g.key)];
      for (element e : arr) {
        std::string_view s;
        if (e.get_string().get(s)) {
          return corrupt(path + ": 'group_subtasks." + std::string(g.key) +
                         "': expected a list of task names");
        }
        list.emplace_back(s);
      }
    }
  }
  // lm-eval lists leaf tasks in group_subtasks with an empty list; they are not groups.
  for (auto it = r.group_subtasks.begin(); it != r.group_subtasks.end();) {
    it = it->second.empty() ? r.group_subtasks.erase(it) : std::next(it);
  }

  read_string_map(root, "versions", &r.versions);
  if (!root["n-shot"].get_object().get(o)) {
    for (auto f : o) {
      if (auto d = as_number(f.value)) r.n_shot[std::string(f.key)] = static_cast<int64_t>(*d);
    }
  }
  if (!root["n-samples"].get_object().get(o)) {
    for (auto f : o) {
      SampleCounts c;
      element v;
      if (!f.value["original"].get(v)) {
        if (auto d = as_number(v)) c.original = static_cast<int64_t>(*d);
      }
      if (!f.value["effective"].get(v)) {
        if (auto d = as_number(v)) c.effective = static_cast<int64_t>(*d);
      }
      r.n_samples[std::string(f.key)] = c;
    }
  }
  if (!root["higher_is_better"].get_object().get(o)) {
    for (auto task : o) {
      simdjson::dom::object metrics;
      if (task.value.get_object().get(metrics)) continue;
      for (auto m : metrics) {
        bool b;
        if (!m.value.get_bool().get(b))
          r.higher_is_better[std::string(task.key)][std::string(m.key)] = b;
      }
    }
  }
  if (!root["configs"].get_object().get(o)) {
    for (auto f : o) r.configs[std::string(f.key)] = json_to_string(f.value);
  }
  element v;
  r.config = "{}";
  if (!root["config"].get(v) && !v.is_null()) r.config = json_to_string(v);
  std::string_view s;
  if (!root["git_hash"].get_string().get(s)) r.git_hash = std::string(s);
  if (!root["model_name"].get_string().get(s)) {
    r.model_name = std::string(s);
  } else if (!root["config"]["model"].get_string().get(s)) {
    r.model_name = std::string(s);
  }
  return r;
}

Result<RunFolder> open_run(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found(dir + ": no such run folder");
  Located here = scan_dir(dir);
  RunFolder folder;
  folder.dir = dir;
  if (!here.results_path && here.sample_files.empty()) {
    // lm-eval writes into <output_path>/<model_name_sanitized>/: accept exactly one such child.
    std::vector<std::pair<fs::path, Located>> found;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (!entry.is_directory(ec)) continue;
      Located child = scan_dir(entry.path());
      if (child.results_path || !child.sample_files.empty()) {
        found.emplace_back(entry.path(), std::move(child));
      }
    }
    if (found.size() > 1) {
      return invalid_argument(dir + ": holds several runs (" + found[0].first.filename().string() +
                              ", " + found[1].first.filename().string() +
                              ", ...); name one of them");
    }
    if (found.empty()) {
      return not_found(dir + ": no results.json, results_*.json or samples_*.jsonl found");
    }
    folder.dir = found[0].first.string();
    here = std::move(found[0].second);
  }
  folder.results_path = here.results_path;
  folder.sample_files = std::move(here.sample_files);
  return folder;
}

Result<std::vector<SampleRecord>> LoadedRun::read_samples(const std::string& task,
                                                          const SampleReadOptions& options) const {
  auto it = folder.sample_files.find(task);
  if (it == folder.sample_files.end()) {
    return not_found(folder.dir + ": no samples file for task '" + task +
                     "' (was the run made with --log-samples?)");
  }
  return read_samples_jsonl(it->second, options);
}

Result<LoadedRun> read_run(const std::string& dir) {
  LoadedRun run;
  ASSAY_ASSIGN_OR_RETURN(run.folder, open_run(dir));
  if (run.folder.results_path) {
    ASSAY_ASSIGN_OR_RETURN(run.results, read_results_json(*run.folder.results_path));
  }
  return run;
}

}  // namespace assay
