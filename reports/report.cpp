#include "reports/report.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "assay_version.h"
#include "harness/atomic_file.h"
#include "harness/stats.h"
#include "reports/report_assets.h"
#include "reports/run_reader.h"

namespace assay {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// Decodes one UTF-8 sequence at s[i]; advances i past it. Returns -1 for an invalid byte
// (advancing by one), rejecting overlong forms, surrogates and code points above U+10FFFF.
std::int32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = 0;
  std::int32_t cp = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0)
    len = 2, cp = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0)
    len = 3, cp = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0)
    len = 4, cp = b0 & 0x07, min = 0x10000;
  else {
    ++i;
    return -1;
  }
  if (i + len > s.size()) {
    ++i;
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += len;
  return cp;
}

constexpr const char* kReplacement = "\xEF\xBF\xBD";

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string basename_of(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  return name.empty() ? dir : name;
}

// Indented JSON of a boost value (arrays on one line), for the provenance block.
std::string pretty(const json::value& v, int indent = 0) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) return "{}";
    std::string out = "{\n";
    std::size_t k = 0;
    for (const auto& kv : o) {
      out += pad + "  " + json::serialize(json::value(kv.key())) + ": " +
             pretty(kv.value(), indent + 2);
      out += ++k < o.size() ? ",\n" : "\n";
    }
    return out + pad + "}";
  }
  if (v.is_array()) {
    const auto& a = v.get_array();
    if (a.empty()) return "[]";
    std::string out = "[";
    for (std::size_t k = 0; k < a.size(); ++k) out += (k ? ", " : "") + pretty(a[k], indent + 2);
    return out + "]";
  }
  return json::serialize(v);
}

const json::value* at_path(const json::value& root, std::initializer_list<const char*> path) {
  const json::value* v = &root;
  for (const char* k : path) {
    if (!v->is_object()) return nullptr;
    v = v->get_object().if_contains(k);
    if (!v) return nullptr;
  }
  return v;
}

std::string scalar_text(const json::value* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

std::optional<double> scalar_number(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_string()) {
    try {
      std::size_t used = 0;
      std::string s(v->get_string());
      double d = std::stod(s, &used);
      if (used == s.size()) return d;
    } catch (...) {
    }
  }
  return std::nullopt;
}

// ---- The model of the report ------------------------------------------------------------------

struct Outcome {
  bool present = false;
  std::optional<double> score;  // the task's primary per-sample metric
  std::string resps;            // JSON fragment (already escaped for the script element)
  std::string pred;             // JSON fragment: continuation index, string or null
  std::optional<std::string> error;
};

struct Doc {
  int task = 0;
  std::int64_t doc_id = 0;
  std::string filter;
  int prefix = -1;     // string table index of the shared prompt head (few-shot context)
  std::string suffix;  // the rest of the prompt
  std::vector<int> args;
  std::string target;  // JSON fragment
};

struct Run {
  std::string dir;
  std::string label;
  LoadedRun loaded;
  json::value raw;  // results.json as parsed by boost (provenance fields the reader skips)
};

struct PairStats {
  std::uint64_t n = 0;
  std::uint64_t unpaired = 0;
  double diff_points = 0;
  Interval ci{0, 0};
  double p_value = 1;
  bool binary = true;
  std::uint64_t right_to_wrong = 0;
  std::uint64_t wrong_to_right = 0;
  std::string test;
};

struct RunValue {
  std::optional<double> value;
  std::optional<double> std_error;
  std::uint64_t n = 0;
};

struct Node {
  std::string name;
  int depth = 0;
  int parent = -1;
  bool group = false;
  std::string metric_key;  // "acc,none"
  bool higher_is_better = true;
  std::vector<RunValue> values;  // per run
  std::vector<PairStats> pairs;  // per run; [0] unused
  std::vector<std::string> leaves;
  std::vector<std::string> other_metrics;  // "acc_norm 0.41" etc. (baseline)
};

struct Model {
  std::vector<Run> runs;
  std::vector<std::string> tasks;  // leaf tasks with samples, in first-seen order
  std::map<std::string, int> task_index;
  std::map<std::string, std::string> task_metric;  // leaf → per-sample metric name
  std::vector<std::string> strings;
  std::unordered_map<std::string, int> string_index;
  std::vector<Doc> docs;
  std::unordered_map<std::string, int> doc_index;
  std::vector<std::vector<Outcome>> outcomes;  // [run][doc]
  std::vector<std::vector<int>> docs_of_task;  // [task] → docs
  std::vector<Node> nodes;                     // the task tree in display order
  std::vector<std::map<std::string, std::uint64_t>> errors_by_task;  // [run]
};

int intern(Model& m, const std::string& s) {
  auto [it, inserted] = m.string_index.emplace(s, static_cast<int>(m.strings.size()));
  if (inserted) m.strings.push_back(s);
  return it->second;
}

// A per-request response in the smallest form the page can show: a log-likelihood as a number,
// a generation as a string, anything else as compact JSON text.
void append_resp(std::string& out, const json::value& r) {
  const json::value* x = &r;
  // lm-eval nests each request's response one level: [[lp, greedy]] or ["text"].
  if (x->is_array() && x->get_array().size() == 1) x = &x->get_array()[0];
  if (x->is_array() && x->get_array().size() == 2) {
    if (auto lp = scalar_number(&x->get_array()[0])) {
      out += std::isfinite(*lp) ? fmt("%.4f", *lp) : "null";
      return;
    }
  }
  if (auto d = scalar_number(x); d && !x->is_string()) {
    out += std::isfinite(*d) ? fmt("%.4f", *d) : "null";
    return;
  }
  if (x->is_null()) {
    out += "null";
    return;
  }
  out +=
      json_string_for_script(x->is_string() ? std::string(x->get_string()) : json::serialize(*x));
}

std::string pred_fragment(const json::value& filtered, std::size_t n_args) {
  if (filtered.is_array()) {
    const auto& a = filtered.get_array();
    // Multiple choice: one [logprob, is_greedy] per option; the answer is the best option.
    if (a.size() == n_args && n_args > 1) {
      int best = -1;
      double best_lp = -INFINITY;
      for (std::size_t i = 0; i < a.size(); ++i) {
        const json::value* lp = &a[i];
        if (lp->is_array() && !lp->get_array().empty()) lp = &lp->get_array()[0];
        auto d = scalar_number(lp);
        if (!d) {
          best = -1;
          break;
        }
        if (best < 0 || *d > best_lp) best = static_cast<int>(i), best_lp = *d;
      }
      if (best >= 0) return std::to_string(best);
    }
    if (a.size() == 1 && a[0].is_string()) return json_string_for_script(a[0].get_string());
  }
  if (filtered.is_string()) return json_string_for_script(filtered.get_string());
  if (filtered.is_null()) return "null";
  return json_string_for_script(json::serialize(filtered));
}

// Splits a prompt at its last blank line: the head (task description and few-shot examples) is
// the same for every document of a task, so the page stores it once.
std::pair<std::string, std::string> split_prompt(const std::string& prompt) {
  std::size_t cut = prompt.rfind("\n\n");
  if (cut == std::string::npos || cut < 64) return {"", prompt};
  return {prompt.substr(0, cut + 2), prompt.substr(cut + 2)};
}

Status add_samples(Model& m, int run_i, const std::string& task) {
  const Run& run = m.runs[run_i];
  SampleReadOptions ro;
  ro.keep_raw = true;
  ASSAY_ASSIGN_OR_RETURN(std::vector<SampleRecord> samples, run.loaded.read_samples(task, ro));
  auto [tit, new_task] = m.task_index.emplace(task, static_cast<int>(m.tasks.size()));
  if (new_task) {
    m.tasks.push_back(task);
    m.docs_of_task.emplace_back();
  }
  const int ti = tit->second;
  if (!m.task_metric.count(task)) {
    std::string metric;
    for (const auto& s : samples) {
      if (s.error) continue;
      for (const auto& name : s.metric_names) {
        if (s.metrics.count(name) && (metric.empty() || name == "acc")) metric = name;
      }
      if (!metric.empty()) break;
    }
    m.task_metric[task] = metric;
  }
  const std::string& metric = m.task_metric[task];
  for (const SampleRecord& s : samples) {
    const std::string key =
        task + '\x1f' + std::to_string(s.doc_id) + '\x1f' + s.filter + '\x1f' + s.prompt_hash;
    json::value args, resps, filtered;
    boost::system::error_code ec;  // the reader re-serialized these, so they parse
    if (!s.arguments.empty()) args = json::parse(s.arguments, ec);
    if (!s.resps.empty()) resps = json::parse(s.resps, ec);
    if (!s.filtered_resps.empty()) filtered = json::parse(s.filtered_resps, ec);

    // Arguments: {"gen_args_0": {"arg_0": prompt, "arg_1": continuation or gen kwargs}, ...}.
    std::string prompt;
    std::vector<std::string> rest;
    if (args.is_object()) {
      for (const auto& kv : args.get_object()) {
        const json::value& a = kv.value();
        const json::value* a0 = a.is_object() ? a.get_object().if_contains("arg_0") : nullptr;
        const json::value* a1 = a.is_object() ? a.get_object().if_contains("arg_1") : nullptr;
        if (a0 && prompt.empty()) prompt = scalar_text(a0);
        if (a1)
          rest.push_back(scalar_text(a1));
        else if (!a0)
          rest.push_back(json::serialize(a));
      }
    }

    auto [dit, new_doc] = m.doc_index.emplace(key, static_cast<int>(m.docs.size()));
    if (new_doc) {
      Doc d;
      d.task = ti;
      d.doc_id = s.doc_id;
      d.filter = s.filter;
      auto [head, tail] = split_prompt(prompt);
      d.prefix = head.empty() ? -1 : intern(m, head);
      d.suffix = std::move(tail);
      for (const auto& r : rest) d.args.push_back(intern(m, r));
      // An integer target that indexes the options (MMLU's answer) shows as that option.
      std::int64_t t = -1;
      const bool numeric = !s.target.empty() &&
                           s.target.find_first_not_of("0123456789") == std::string::npos &&
                           s.target.size() < 9;
      if (numeric) t = std::stoll(s.target);
      d.target = (numeric && t < static_cast<std::int64_t>(d.args.size()) && d.args.size() > 1)
                     ? std::to_string(t)
                     : json_string_for_script(s.target);
      m.docs.push_back(std::move(d));
      m.docs_of_task[ti].push_back(dit->second);
      for (auto& o : m.outcomes) o.emplace_back();
    }
    Outcome& o = m.outcomes[run_i][dit->second];
    o.present = true;
    o.error = s.error;
    if (auto it = s.metrics.find(metric); it != s.metrics.end() && !s.error) o.score = it->second;
    std::string r = "[";
    if (resps.is_array()) {
      bool first = true;
      for (const auto& x : resps.get_array()) {
        if (!first) r += ',';
        first = false;
        append_resp(r, x);
      }
    }
    o.resps = r + "]";
    o.pred = s.error ? "null" : pred_fragment(filtered, rest.size());
    if (s.error) ++m.errors_by_task[run_i][task];
  }
  return Status::OK();
}

std::string primary_key(const TaskResult& r, const std::string& sample_metric) {
  auto usable = [&](const std::string& k) {
    auto it = r.values.find(k);
    return it != r.values.end() && it->second.has_value();
  };
  if (!sample_metric.empty()) {
    for (const auto& [k, v] : r.values) {
      if (k.rfind(sample_metric + ",", 0) == 0 && v) return k;
    }
  }
  if (usable("acc,none")) return "acc,none";
  for (const auto& [k, v] : r.values) {
    if (!v || k.find(',') == std::string::npos) continue;
    const std::string name = k.substr(0, k.find(','));
    if (name.find("_stderr") != std::string::npos || name.find("_macro") != std::string::npos)
      continue;
    return k;
  }
  return "";
}

PairStats compare(const Model& m, const std::vector<int>& docs, int run_k) {
  PairStats ps;
  std::vector<double> a, b, diffs;
  for (int d : docs) {
    const Outcome& x = m.outcomes[0][d];
    const Outcome& y = m.outcomes[run_k][d];
    if (x.present != y.present) {
      ++ps.unpaired;
      continue;
    }
    if (!x.present || !x.score || !y.score) continue;
    a.push_back(*x.score);
    b.push_back(*y.score);
    diffs.push_back(*y.score - *x.score);
    const bool bin = (*x.score == 0 || *x.score == 1) && (*y.score == 0 || *y.score == 1);
    ps.binary = ps.binary && bin;
    if (bin && *x.score == 1 && *y.score == 0) ++ps.right_to_wrong;
    if (bin && *x.score == 0 && *y.score == 1) ++ps.wrong_to_right;
  }
  ps.n = a.size();
  if (a.empty()) return ps;
  ps.diff_points = 100 * mean(diffs);
  if (ps.binary) {
    // The normal interval on the paired differences: var(d) = (b + c − (b − c)²/n)/(n − 1).
    const auto se = mean_stderr(diffs);
    ps.ci = normal_interval(ps.diff_points, se ? 100 * *se : 0);
    ps.p_value = mcnemar_exact(ps.right_to_wrong, ps.wrong_to_right).p_value;
    ps.test = "McNemar";
  } else {
    BootstrapOptions bo;
    bo.iterations = 2000;
    PairedBootstrapResult r = paired_bootstrap_mean_diff(a, b, bo);
    ps.ci = {100 * r.ci.low, 100 * r.ci.high};
    ps.p_value = r.p_value;
    ps.test = "paired bootstrap";
  }
  return ps;
}

void build_tree(Model& m) {
  // Every name any run reports, groups from any run's group_subtasks.
  std::map<std::string, std::vector<std::string>> subtasks;
  std::vector<std::string> order;
  std::set<std::string> seen;
  auto note = [&](const std::string& n) {
    if (seen.insert(n).second) order.push_back(n);
  };
  for (const Run& r : m.runs) {
    if (!r.loaded.results) continue;
    for (const auto& [g, subs] : r.loaded.results->group_subtasks) {
      if (!subtasks.count(g)) subtasks[g] = subs;
      note(g);
    }
    for (const auto& [t, _] : r.loaded.results->results) note(t);
  }
  for (const auto& t : m.tasks) note(t);
  std::set<std::string> is_child;
  for (const auto& [g, subs] : subtasks) is_child.insert(subs.begin(), subs.end());

  std::function<void(const std::string&, int, int)> add = [&](const std::string& name, int depth,
                                                              int parent) {
    Node n;
    n.name = name;
    n.depth = depth;
    n.parent = parent;
    n.group = subtasks.count(name) > 0;
    std::function<void(const std::string&)> leaves = [&](const std::string& x) {
      auto it = subtasks.find(x);
      if (it == subtasks.end())
        n.leaves.push_back(x);
      else
        for (const auto& s : it->second) leaves(s);
    };
    leaves(name);
    const int self = static_cast<int>(m.nodes.size());
    m.nodes.push_back(std::move(n));
    if (subtasks.count(name)) {
      for (const auto& s : subtasks[name]) add(s, depth + 1, self);
    }
  };
  for (const auto& name : order) {
    if (!is_child.count(name)) add(name, 0, -1);
  }

  for (Node& n : m.nodes) {
    std::string sample_metric;
    if (!n.leaves.empty() && m.task_metric.count(n.leaves[0]))
      sample_metric = m.task_metric[n.leaves[0]];
    for (const Run& r : m.runs) {
      if (!r.loaded.results) continue;
      auto it = r.loaded.results->results.find(n.name);
      if (it == r.loaded.results->results.end()) continue;
      n.metric_key = primary_key(it->second, sample_metric);
      if (!n.metric_key.empty()) break;
    }
    if (n.metric_key.empty() && !sample_metric.empty()) n.metric_key = sample_metric + ",none";
    const std::string mname = n.metric_key.substr(0, n.metric_key.find(','));
    const std::string mfilter = n.metric_key.find(',') == std::string::npos
                                    ? "none"
                                    : n.metric_key.substr(n.metric_key.find(',') + 1);
    std::vector<int> docs;
    for (const auto& leaf : n.leaves) {
      auto ti = m.task_index.find(leaf);
      if (ti == m.task_index.end()) continue;
      bool any_filter = false;
      for (int d : m.docs_of_task[ti->second]) any_filter |= m.docs[d].filter == mfilter;
      for (int d : m.docs_of_task[ti->second]) {
        if (!any_filter || m.docs[d].filter == mfilter) docs.push_back(d);
      }
    }
    for (std::size_t ri = 0; ri < m.runs.size(); ++ri) {
      const Run& r = m.runs[ri];
      RunValue v;
      if (r.loaded.results) {
        auto it = r.loaded.results->results.find(n.name);
        if (it != r.loaded.results->results.end()) {
          v.value = it->second.value(mname, mfilter);
          v.std_error = it->second.std_error(mname, mfilter);
          auto hib =
              r.loaded.results->higher_is_better.find(n.leaves.empty() ? n.name : n.leaves[0]);
          if (hib != r.loaded.results->higher_is_better.end() && hib->second.count(mname)) {
            n.higher_is_better = hib->second.at(mname);
          }
          if (ri == 0) {
            for (const auto& [k, x] : it->second.values) {
              if (k == n.metric_key || !x || k.find("_stderr") != std::string::npos) continue;
              n.other_metrics.push_back(k + " " + fmt("%.4f", *x));
            }
          }
        }
      }
      std::vector<double> xs;
      for (int d : docs) {
        const Outcome& o = m.outcomes[ri][d];
        if (o.present && o.score) xs.push_back(*o.score);
      }
      v.n = xs.size();
      if (!v.value && !xs.empty()) {  // no results.json entry: the plain mean of the samples
        v.value = mean(xs);
        v.std_error = mean_stderr(xs);
      }
      n.values.push_back(v);
      n.pairs.push_back(ri == 0 ? PairStats{} : compare(m, docs, static_cast<int>(ri)));
    }
  }
}

Result<Model> load_model(const ReportOptions& options) {
  if (options.runs.empty()) return invalid_argument("assay report: give at least one run folder");
  Model m;
  std::map<std::string, int> label_count;
  for (const auto& dir : options.runs) {
    Run r;
    r.dir = dir;
    ASSAY_ASSIGN_OR_RETURN(r.loaded, read_run(dir));
    r.label = basename_of(dir);
    if (++label_count[r.label] > 1) r.label += " #" + std::to_string(label_count[r.label]);
    if (r.loaded.folder.results_path) {
      std::ifstream f(*r.loaded.folder.results_path, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      boost::system::error_code ec;
      r.raw = json::parse(ss.str(), ec);
      if (ec) return corrupt(*r.loaded.folder.results_path + ": " + ec.message());
    }
    m.runs.push_back(std::move(r));
  }
  m.outcomes.resize(m.runs.size());
  m.errors_by_task.resize(m.runs.size());
  for (std::size_t ri = 0; ri < m.runs.size(); ++ri) {
    for (const auto& [task, path] : m.runs[ri].loaded.folder.sample_files) {
      ASSAY_RETURN_IF_ERROR(add_samples(m, static_cast<int>(ri), task));
    }
  }
  build_tree(m);
  return m;
}

// ---- HTML ---------------------------------------------------------------------------------

std::string esc(std::string_view s) { return html_escape(s); }

std::string pct(std::optional<double> v, const char* f = "%.2f") {
  return v && std::isfinite(*v) ? fmt(f, 100 * *v) : "—";
}

std::string num_attr(std::optional<double> v) {
  return v && std::isfinite(*v) ? fmt("%.10g", *v) : "";
}

std::string run_field(const Run& r, std::initializer_list<const char*> path) {
  return scalar_text(at_path(r.raw, path));
}

void html_provenance(const Model& m, std::string& h) {
  h += "<section id=\"provenance\"><h2>Provenance</h2><div class=\"scroll\"><table class=\"kv\">"
       "<thead><tr><th></th>";
  for (const Run& r : m.runs) h += "<th>" + esc(r.label) + "</th>";
  h += "</tr></thead><tbody>";
  auto row = [&](const std::string& name, auto get) {
    h += "<tr><th>" + esc(name) + "</th>";
    for (const Run& r : m.runs) h += "<td>" + esc(get(r)) + "</td>";
    h += "</tr>";
  };
  row("folder", [](const Run& r) { return r.loaded.folder.dir; });
  row("model spec", [](const Run& r) {
    std::string s = run_field(r, {"assay", "model", "spec"});
    return s.empty() ? run_field(r, {"config", "model"}) : s;
  });
  row("model",
      [](const Run& r) { return r.loaded.results ? r.loaded.results->model_name : std::string(); });
  row("model identity (file hash)", [](const Run& r) {
    return run_field(r, {"assay", "model", "identity"});
  });
  row("architecture", [](const Run& r) {
    return run_field(r, {"assay", "model", "architecture"});
  });
  row("quantization", [](const Run& r) {
    for (const char* k : {"quantization", "file_type", "dtype"}) {
      std::string s = run_field(r, {"assay", "model", k});
      if (!s.empty()) return s;
    }
    return std::string("not recorded");
  });
  row("backend / context", [](const Run& r) {
    std::string b = run_field(r, {"assay", "model", "backend"});
    std::string c = run_field(r, {"assay", "model", "n_ctx"});
    return b + (c.empty() ? "" : " / n_ctx " + c);
  });
  row("harness", [](const Run& r) {
    std::string v = run_field(r, {"assay", "version"});
    std::string g = r.loaded.results ? r.loaded.results->git_hash : "";
    return (v.empty() ? std::string("lm-eval compatible") : "assay " + v) +
           (g.empty() ? "" : " (git " + g + ")");
  });
  row("date", [](const Run& r) {
    std::string s = run_field(r, {"date"});
    std::string e = run_field(r, {"assay", "end_date"});
    return s + (e.empty() ? "" : " → " + e);
  });
  row("hardware", [](const Run& r) {
    std::string cpu = run_field(r, {"assay", "hardware", "cpu"});
    std::string cores = run_field(r, {"assay", "hardware", "cores"});
    std::string gpu = run_field(r, {"assay", "hardware", "gpu"});
    std::string s = cpu + (cores.empty() ? "" : " × " + cores + " cores");
    if (!gpu.empty()) s += "; " + gpu;
    return s.empty() ? std::string("not recorded") : s;
  });
  row("seeds", [](const Run& r) {
    std::string s;
    for (const char* k : {"random_seed", "numpy_seed", "torch_seed", "fewshot_seed"}) {
      std::string v = run_field(r, {"config", k});
      if (!v.empty()) s += (s.empty() ? "" : ", ") + std::string(k) + " " + v;
    }
    return s.empty() ? std::string("not recorded") : s;
  });
  row("few-shot", [](const Run& r) {
    std::set<std::string> shots;
    if (r.loaded.results) {
      for (const auto& [t, n] : r.loaded.results->n_shot) shots.insert(std::to_string(n));
    }
    std::string s;
    for (const auto& x : shots) s += (s.empty() ? "" : ", ") + x;
    return s;
  });
  row("command", [](const Run& r) { return run_field(r, {"assay", "command"}); });
  h += "<tr><th>full config</th>";
  for (const Run& r : m.runs) {
    json::value cfg = json::object{};
    if (r.raw.is_object()) {
      json::object o;
      for (const char* k : {"config", "assay", "n-shot", "versions", "configs"}) {
        if (const auto* v = r.raw.get_object().if_contains(k)) o[k] = *v;
      }
      cfg = o;
    }
    h += "<td><details><summary>config</summary><pre class=\"cfg\">" + esc(pretty(cfg)) +
         "</pre></details></td>";
  }
  h += "</tr></tbody></table></div></section>\n";
}

void html_tasks(const Model& m, std::string& h) {
  const std::size_t R = m.runs.size();
  h += "<section id=\"tasks\"><h2>Tasks</h2>";
  h += "<p class=\"note\">Value ± standard error and the 95% normal interval, in points (percent). "
       "Click a group to fold its subtasks, a column header to sort.";
  if (R > 1) {
    h += " Δ compares each run with <b>" + esc(m.runs[0].label) +
         "</b> on paired documents: the 95% interval of the paired differences, the exact "
         "McNemar p for 0/1 metrics (paired bootstrap otherwise), and flips right→wrong / "
         "wrong→right.";
  }
  h += "</p><div class=\"scroll\"><table id=\"task-table\" class=\"sortable tree\"><thead><tr>"
       "<th data-type=\"text\">Task</th><th data-type=\"text\">Metric</th>";
  for (std::size_t ri = 0; ri < R; ++ri) {
    const std::string l = esc(m.runs[ri].label);
    h += "<th data-type=\"num\" title=\"" + l + "\">" + l +
         "</th><th data-type=\"num\">± stderr</th>"
         "<th data-type=\"num\">95% CI</th><th data-type=\"num\">n</th>";
  }
  for (std::size_t ri = 1; ri < R; ++ri) {
    const std::string l = esc(m.runs[ri].label);
    h += "<th data-type=\"num\" title=\"" + l + " − " + esc(m.runs[0].label) + "\">Δ " + l +
         "</th><th data-type=\"num\">paired 95% CI</th><th data-type=\"num\">p</th>"
         "<th data-type=\"num\">flips ↓/↑</th>";
  }
  h += "</tr></thead><tbody>";
  for (std::size_t i = 0; i < m.nodes.size(); ++i) {
    const Node& n = m.nodes[i];
    h += "<tr data-node=\"" + std::to_string(i) + "\" data-parent=\"" + std::to_string(n.parent) +
         "\" data-depth=\"" + std::to_string(n.depth) + "\"" + (n.group ? " class=\"group\"" : "") +
         "><td data-v=\"" + esc(n.name) +
         "\" style=\"padding-left:" + std::to_string(0.4 + 1.2 * n.depth) + "em\">";
    h += n.group ? "<span class=\"fold\">▾</span> " : "<span class=\"leaf\"></span> ";
    h += esc(n.name) + "</td><td data-v=\"" + esc(n.metric_key) + "\" title=\"" + esc([&] {
           std::string s;
           for (const auto& o : n.other_metrics) s += o + "\n";
           return s;
         }()) +
         "\">" + esc(n.metric_key) + (n.higher_is_better ? " ↑" : " ↓") + "</td>";
    for (std::size_t ri = 0; ri < R; ++ri) {
      const RunValue& v = n.values[ri];
      std::string ci = "—";
      if (v.value && v.std_error) {
        Interval iv = normal_interval(*v.value, *v.std_error);
        ci = fmt("%.2f", 100 * iv.low) + " – " + fmt("%.2f", 100 * iv.high);
      }
      h += "<td class=\"num\" data-v=\"" + num_attr(v.value) + "\">" + pct(v.value) + "</td>";
      h += "<td class=\"num\" data-v=\"" + num_attr(v.std_error) + "\">" + pct(v.std_error) +
           "</td>";
      h += "<td class=\"num\" data-v=\"" + num_attr(v.value) + "\">" + ci + "</td>";
      h += "<td class=\"num\" data-v=\"" + std::to_string(v.n) + "\">" + std::to_string(v.n) +
           "</td>";
    }
    for (std::size_t ri = 1; ri < R; ++ri) {
      const PairStats& p = n.pairs[ri];
      if (p.n == 0) {
        h += "<td class=\"num\" data-v=\"\">—</td><td class=\"num\" data-v=\"\">—</td>"
             "<td class=\"num\" data-v=\"\">—</td><td class=\"num\" data-v=\"\">—</td>";
        continue;
      }
      const bool significant = p.p_value < 0.05;
      const bool worse = n.higher_is_better ? p.diff_points < 0 : p.diff_points > 0;
      const std::string cls = significant ? (worse ? " worse" : " better") : "";
      h += "<td class=\"num" + cls + "\" data-v=\"" + fmt("%.10g", p.diff_points) + "\">" +
           fmt("%+.2f", p.diff_points) + "</td>";
      h += "<td class=\"num\" data-v=\"" + fmt("%.10g", p.ci.low) + "\">" + fmt("%+.2f", p.ci.low) +
           " – " + fmt("%+.2f", p.ci.high) + "</td>";
      h += "<td class=\"num" + cls + "\" data-v=\"" + fmt("%.10g", p.p_value) + "\" title=\"" +
           esc(p.test) + "\">" + fmt(p.p_value < 1e-4 ? "%.1e" : "%.4f", p.p_value) + "</td>";
      std::string flips =
          p.binary ? std::to_string(p.right_to_wrong) + " / " + std::to_string(p.wrong_to_right)
                   : "—";
      if (p.unpaired) flips += " (" + std::to_string(p.unpaired) + " unpaired)";
      h += "<td class=\"num\" data-v=\"" + std::to_string(p.right_to_wrong + p.wrong_to_right) +
           "\">" + esc(flips) + "</td>";
    }
    h += "</tr>";
  }
  h += "</tbody></table></div></section>\n";
}

void html_charts(const Model& m, std::string& h) {
  const std::size_t R = m.runs.size();
  bool any = false;
  for (const Node& n : m.nodes) {
    if (n.depth != 0 || n.leaves.size() < 2) continue;
    if (!any) h += "<section id=\"charts\"><h2>Subtasks</h2>";
    any = true;
    std::vector<int> rows;
    for (std::size_t i = 0; i < m.nodes.size(); ++i) {
      const Node& c = m.nodes[i];
      if (c.group) continue;
      // The leaves of this root, each once.
      int p = c.parent;
      while (p >= 0 && m.nodes[p].parent >= 0) p = m.nodes[p].parent;
      if (p >= 0 && &m.nodes[p] == &n) rows.push_back(static_cast<int>(i));
    }
    std::stable_sort(rows.begin(), rows.end(), [&](int a, int b) {
      return m.nodes[a].values[0].value.value_or(-1) > m.nodes[b].values[0].value.value_or(-1);
    });
    const int label_w = 260, bar_w = 420, bar_h = 11, gap = 5;
    const int row_h = static_cast<int>(R) * bar_h + gap;
    const int height = static_cast<int>(rows.size()) * row_h + 30;
    const int width = label_w + bar_w + 70;
    h += "<figure><figcaption>" + esc(n.name) + ": " + esc(n.metric_key) +
         " by subtask (points)</figcaption><svg class=\"chart\" id=\"chart-" + esc(n.name) +
         "\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
         std::to_string(width) + " " + std::to_string(height) + "\" width=\"" +
         std::to_string(width) + "\" height=\"" + std::to_string(height) + "\">";
    for (int t = 0; t <= 100; t += 25) {
      const int x = label_w + bar_w * t / 100;
      h += "<line class=\"grid\" x1=\"" + std::to_string(x) + "\" y1=\"0\" x2=\"" +
           std::to_string(x) + "\" y2=\"" + std::to_string(height - 18) +
           "\"/><text class=\"axis\" x=\"" + std::to_string(x) + "\" y=\"" +
           std::to_string(height - 4) + "\">" + std::to_string(t) + "</text>";
    }
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const Node& c = m.nodes[rows[k]];
      const int y0 = static_cast<int>(k) * row_h;
      h += "<g class=\"bar\" data-task=\"" + esc(c.name) + "\"><title>" + esc(c.name);
      for (std::size_t ri = 0; ri < R; ++ri)
        h += "\n" + esc(m.runs[ri].label) + ": " + pct(c.values[ri].value);
      h += "</title><text class=\"label\" x=\"" + std::to_string(label_w - 6) + "\" y=\"" +
           std::to_string(y0 + static_cast<int>(R) * bar_h / 2 + 4) + "\">" + esc(c.name) +
           "</text>";
      for (std::size_t ri = 0; ri < R; ++ri) {
        const double v = std::clamp(c.values[ri].value.value_or(0), 0.0, 1.0);
        h += "<rect class=\"r" + std::to_string(ri % 6) + "\" x=\"" + std::to_string(label_w) +
             "\" y=\"" + std::to_string(y0 + static_cast<int>(ri) * bar_h) + "\" width=\"" +
             fmt("%.1f", bar_w * v) + "\" height=\"" + std::to_string(bar_h - 1) + "\"/>";
      }
      h += "<text class=\"val\" x=\"" +
           fmt("%.1f", label_w + bar_w * std::clamp(c.values[0].value.value_or(0), 0.0, 1.0) + 4) +
           "\" y=\"" + std::to_string(y0 + bar_h - 2) + "\">" + pct(c.values[0].value, "%.1f") +
           "</text></g>";
    }
    h += "</svg><div class=\"legend\">";
    for (std::size_t ri = 0; ri < R; ++ri) {
      h += "<span><i class=\"r" + std::to_string(ri % 6) + "\"></i>" + esc(m.runs[ri].label) +
           "</span>";
    }
    h += "</div></figure>";
  }
  if (any) h += "</section>\n";
}

// The "Cost, tokens and timings" table, one row per quantity and one value per run; the HTML and
// the Markdown report both show it.
std::vector<std::pair<std::string, std::vector<std::string>>> cost_rows(const Model& m) {
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  auto row = [&](const std::string& name, auto get) {
    std::vector<std::string> values;
    for (std::size_t ri = 0; ri < m.runs.size(); ++ri) values.push_back(get(ri, m.runs[ri]));
    rows.emplace_back(name, std::move(values));
  };
  auto or_nr = [](std::string s) { return s.empty() ? std::string("not recorded") : s; };
  auto wall = [](const Run& r) { return scalar_number(at_path(r.raw, {"total_evaluation_time_seconds"})); };
  auto logged = [&](std::size_t ri) {
    std::uint64_t n = 0;
    for (const auto& o : m.outcomes[ri]) n += o.present;
    return n;
  };
  row("wall time (s)", [&](std::size_t, const Run& r) {
    auto t = wall(r);
    return t ? fmt("%.1f", *t) : std::string("not recorded");
  });
  row("samples logged", [&](std::size_t ri, const Run&) { return std::to_string(logged(ri)); });
  row("samples / s", [&](std::size_t ri, const Run& r) {
    auto t = wall(r);
    return t && *t > 0 ? fmt("%.1f", logged(ri) / *t) : std::string("—");
  });
  auto field = [&](const std::string& name, std::initializer_list<const char*> path) {
    row(name, [&, path](std::size_t, const Run& r) { return or_nr(run_field(r, path)); });
  };
  field("requests (unique)", {"assay", "requests", "unique"});
  field("requests sent", {"assay", "requests", "sent"});
  field("answered from the request log", {"assay", "requests", "from_log"});
  field("requests failed", {"assay", "requests", "failed"});
  field("prompt tokens", {"assay", "usage", "prompt_tokens"});
  row("cached prompt tokens", [&](std::size_t, const Run& r) {
    // Only APIs with prompt caching report it; a run with usage but no cache part had none.
    if (!at_path(r.raw, {"assay", "usage"})) return std::string("not recorded");
    std::string s = run_field(r, {"assay", "usage", "cached_prompt_tokens"});
    return s.empty() ? std::string("—") : s;
  });
  field("completion tokens", {"assay", "usage", "completion_tokens"});
  row("cost (USD)", [&](std::size_t, const Run& r) {
    const json::value* usage = at_path(r.raw, {"assay", "usage"});
    if (!usage) return std::string("not recorded");
    // null is a recorded answer: the price table had no entry for the model.
    auto c = scalar_number(at_path(*usage, {"cost_usd"}));
    if (!c) return std::string("no price");
    return fmt(*c != 0 && *c < 0.01 ? "%.6f" : "%.4f", *c);
  });
  row("price table", [&](std::size_t, const Run& r) {
    std::string p = run_field(r, {"assay", "usage", "price_table", "path"});
    std::string v = run_field(r, {"assay", "usage", "price_table", "version"});
    return p.empty() ? std::string("not recorded") : p + (v.empty() ? "" : " (version " + v + ")");
  });
  return rows;
}

void html_cost(const Model& m, std::string& h) {
  h += "<section id=\"cost\"><h2>Cost, tokens and timings</h2><div class=\"scroll\"><table "
       "class=\"kv\">"
       "<thead><tr><th></th>";
  for (const Run& r : m.runs) h += "<th>" + esc(r.label) + "</th>";
  h += "</tr></thead><tbody>";
  for (const auto& [name, values] : cost_rows(m)) {
    h += "<tr><th>" + esc(name) + "</th>";
    for (const std::string& v : values) h += "<td class=\"num\">" + esc(v) + "</td>";
    h += "</tr>";
  }
  h += "</tbody></table></div></section>\n";
}

void html_errors(const Model& m, std::string& h) {
  h +=
      "<section id=\"errors\"><h2>Infrastructure errors</h2><p class=\"note\">Requests that failed "
      "(timeouts, HTTP errors, context overflow). Their documents are not scored, are left out "
      "of every number above, and never appear among the model's answers.</p>";
  std::uint64_t total = 0;
  for (const auto& e : m.errors_by_task) {
    for (const auto& [t, n] : e) total += n;
  }
  bool any_message = false;
  for (const Run& r : m.runs) {
    const json::value* e = at_path(r.raw, {"assay", "errors"});
    any_message |= e && e->is_object() && !e->get_object().empty();
  }
  if (total == 0 && !any_message) {
    h += "<p id=\"no-errors\">No infrastructure errors in any run.</p></section>\n";
    return;
  }
  h += "<table class=\"kv\"><thead><tr><th>run</th><th>task</th><th>failed samples</th>"
       "<th>message</th></tr></thead><tbody>";
  for (std::size_t ri = 0; ri < m.runs.size(); ++ri) {
    const json::value* e = at_path(m.runs[ri].raw, {"assay", "errors"});
    std::set<std::string> tasks;
    for (const auto& [t, n] : m.errors_by_task[ri]) tasks.insert(t);
    if (e && e->is_object()) {
      for (const auto& kv : e->get_object()) tasks.insert(std::string(kv.key()));
    }
    for (const auto& t : tasks) {
      auto it = m.errors_by_task[ri].find(t);
      const json::value* msg = e && e->is_object() ? e->get_object().if_contains(t) : nullptr;
      h += "<tr><td>" + esc(m.runs[ri].label) + "</td><td>" + esc(t) + "</td><td class=\"num\">" +
           std::to_string(it == m.errors_by_task[ri].end() ? 0 : it->second) + "</td><td>" +
           esc(scalar_text(msg)) + "</td></tr>";
    }
  }
  h += "</tbody></table><div id=\"error-list\" class=\"list\"></div></section>\n";
}

// The drill-down data, one compact blob; see the page script for how it is read.
std::string data_blob(const Model& m) {
  std::string b;
  b.reserve(1 << 20);
  b += "{\"runs\":[";
  for (std::size_t ri = 0; ri < m.runs.size(); ++ri)
    b += (ri ? "," : "") + json_string_for_script(m.runs[ri].label);
  b += "],\"tasks\":[";
  for (std::size_t t = 0; t < m.tasks.size(); ++t)
    b += (t ? "," : "") + json_string_for_script(m.tasks[t]);
  b += "],\"str\":[";
  for (std::size_t s = 0; s < m.strings.size(); ++s)
    b += (s ? "," : "") + json_string_for_script(m.strings[s]);
  b += "],\"docs\":[";
  for (std::size_t d = 0; d < m.docs.size(); ++d) {
    const Doc& doc = m.docs[d];
    b += d ? ",[" : "[";
    b += std::to_string(doc.task) + "," + std::to_string(doc.doc_id) + "," +
         std::to_string(doc.prefix) + "," + json_string_for_script(doc.suffix) + ",[";
    for (std::size_t a = 0; a < doc.args.size(); ++a)
      b += (a ? "," : "") + std::to_string(doc.args[a]);
    b += "]," + doc.target + "," +
         (doc.filter == "none" ? "0" : json_string_for_script(doc.filter)) + "]";
  }
  b += "],\"out\":[";
  for (std::size_t ri = 0; ri < m.runs.size(); ++ri) {
    b += ri ? ",[" : "[";
    for (std::size_t d = 0; d < m.docs.size(); ++d) {
      const Outcome& o = m.outcomes[ri][d];
      if (d) b += ',';
      if (!o.present) {
        b += '0';
        continue;
      }
      b += '[';
      b += o.score
               ? (*o.score == std::floor(*o.score) ? fmt("%.0f", *o.score) : fmt("%.4g", *o.score))
               : "null";
      b += "," + o.resps + "," + o.pred;
      if (o.error) b += "," + json_string_for_script(*o.error);
      b += ']';
    }
    b += ']';
  }
  b += "]}";
  return b;
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

std::string default_title(const Model& m) {
  std::string t = "assay report:";
  std::set<std::string> seen;
  for (const Run& r : m.runs) {
    std::string name = r.loaded.results ? r.loaded.results->model_name : "";
    if (name.empty()) name = r.label;
    if (seen.insert(name).second) t += (seen.size() > 1 ? ", " : " ") + name;
  }
  return t;
}

std::string render_html(const Model& m, const ReportOptions& options) {
  const std::string title = options.title.empty() ? default_title(m) : options.title;
  std::string h;
  h.reserve(1 << 22);
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
       "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
       esc(title) + "</title>\n<style>" + report_assets::kCss + "</style>\n<script>" +
       report_assets::kHeadJs + "</script>\n</head>\n<body>\n<header><h1>" + esc(title) +
       "</h1><p class=\"meta\">" + std::to_string(m.runs.size()) + " run" +
       (m.runs.size() == 1 ? "" : "s") + ", " + std::to_string(m.docs.size()) +
       " documents · written by assay " + ASSAY_VERSION + " (git " + ASSAY_GIT_HASH + ") on " +
       now_utc() +
       "</p><nav><a href=\"#provenance\">Provenance</a> <a href=\"#tasks\">Tasks</a> "
       "<a href=\"#charts\">Subtasks</a> " +
       (m.runs.size() > 1 ? "<a href=\"#flips\">Flips</a> " : "") +
       "<a href=\"#samples\">Samples</a> <a href=\"#cost\">Cost</a> <a href=\"#errors\">Errors</a>"
       "</nav></header>\n<main>\n";
  html_provenance(m, h);
  html_tasks(m, h);
  html_charts(m, h);
  if (m.runs.size() > 1) {
    h += "<section id=\"flips\"><h2>Flips</h2><p class=\"note\">Documents whose 0/1 score changed "
         "from the baseline <b>" +
         esc(m.runs[0].label) +
         "</b>. ↓ right→wrong, ↑ wrong→right.</p><div id=\"flip-list\" "
         "class=\"list\"></div></section>\n";
  }
  h += "<section id=\"samples\"><h2>Samples</h2><div class=\"controls\" id=\"sample-controls\">"
       "</div><div id=\"sample-list\" class=\"list\"></div><noscript>The per-sample drill-down "
       "needs JavaScript.</noscript></section>\n";
  html_cost(m, h);
  html_errors(m, h);
  h += "</main>\n<script type=\"application/json\" id=\"assay-data\">";
  h += data_blob(m);
  h += "</script>\n<script>";
  h += report_assets::kJs;
  h += "</script>\n</body></html>\n";
  return h;
}

// ---- Markdown -----------------------------------------------------------------------------

std::string render_markdown(const Model& m, const ReportOptions& options) {
  const std::size_t R = m.runs.size();
  std::string md =
      "## " + markdown_cell(options.title.empty() ? default_title(m) : options.title) + "\n\n";
  auto table = [&](const std::vector<int>& rows) {
    std::string t = "| Task | Metric |";
    std::string sep = "|---|---|";
    for (std::size_t ri = 0; ri < R; ++ri) {
      t += " " + markdown_cell(m.runs[ri].label) + " |";
      sep += "---:|";
    }
    for (std::size_t ri = 1; ri < R; ++ri) {
      t += " Δ " + markdown_cell(m.runs[ri].label) + " (95% CI) | p | flips ↓/↑ |";
      sep += "---:|---:|---:|";
    }
    t += "\n" + sep + "\n";
    for (int i : rows) {
      const Node& n = m.nodes[i];
      t += "| " + std::string(n.depth > 0 ? "&nbsp;&nbsp;" : "") + markdown_cell(n.name) + " | " +
           markdown_cell(n.metric_key) + " |";
      for (std::size_t ri = 0; ri < R; ++ri) {
        const RunValue& v = n.values[ri];
        t += " " + pct(v.value) + (v.std_error ? " ± " + pct(v.std_error) : "") + " |";
      }
      for (std::size_t ri = 1; ri < R; ++ri) {
        const PairStats& p = n.pairs[ri];
        if (p.n == 0) {
          t += " — | — | — |";
          continue;
        }
        const bool significant = p.p_value < 0.05;
        const bool worse = n.higher_is_better ? p.diff_points < 0 : p.diff_points > 0;
        t += " " + fmt("%+.2f", p.diff_points) + " (" + fmt("%+.2f", p.ci.low) + ", " +
             fmt("%+.2f", p.ci.high) + ")" + (significant ? (worse ? " 🔻" : " 🔺") : "") + " | " +
             fmt(p.p_value < 1e-4 ? "%.1e" : "%.4f", p.p_value) + " | " +
             (p.binary ? std::to_string(p.right_to_wrong) + " / " + std::to_string(p.wrong_to_right)
                       : "—") +
             " |";
      }
      t += "\n";
    }
    return t;
  };
  std::vector<int> top, rest;
  for (std::size_t i = 0; i < m.nodes.size(); ++i) {
    (m.nodes[i].depth <= 1 ? top : rest).push_back(static_cast<int>(i));
  }
  md += table(top);
  if (!rest.empty()) {
    md += "\n<details><summary>All " + std::to_string(rest.size()) + " subtasks</summary>\n\n" +
          table(rest) + "\n</details>\n";
  }
  if (R > 1) {
    md += "\nValues in points (± standard error). Δ against **" + markdown_cell(m.runs[0].label) +
          "** on paired documents; p: exact McNemar for 0/1 metrics, paired bootstrap otherwise.\n";
  }
  std::uint64_t errors = 0;
  for (const auto& e : m.errors_by_task) {
    for (const auto& [t, n] : e) errors += n;
  }
  if (errors) {
    md += "\n**Infrastructure errors:** " + std::to_string(errors) +
          (errors == 1 ? " sample" : " samples") + " failed (not scored):";
    for (std::size_t ri = 0; ri < R; ++ri) {
      for (const auto& [t, n] : m.errors_by_task[ri]) {
        md += " " + markdown_cell(m.runs[ri].label) + "/" + markdown_cell(t) + " " + std::to_string(n) + ";";
      }
    }
    md.back() = '.';
    md += "\n";
  }
  md += "\n### Cost, tokens and timings\n\n|  |";
  for (const Run& r : m.runs) md += " " + markdown_cell(r.label) + " |";
  md += "\n|---|";
  for (std::size_t ri = 0; ri < R; ++ri) md += "---:|";
  md += "\n";
  for (const auto& [name, values] : cost_rows(m)) {
    md += "| " + markdown_cell(name) + " |";
    for (const std::string& v : values) md += " " + markdown_cell(v) + " |";
    md += "\n";
  }
  return md;
}

}  // namespace

std::string markdown_cell(std::string_view text) {
  std::string out;
  for (char c : html_escape(text)) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    const std::int32_t cp = next_code_point(text, i);
    switch (cp) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (cp < 0 || cp == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
            cp == 0x7F) {
          out += kReplacement;
        } else {
          out.append(text.substr(start, i - start));
        }
    }
  }
  return out;
}

std::string json_string_for_script(std::string_view text) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  auto u = [&](std::uint32_t v) {
    out += "\\u";
    for (int s = 12; s >= 0; s -= 4) out += hex[(v >> s) & 0xF];
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const std::int32_t cp = next_code_point(text, i);
    if (cp < 0) {
      u(0xFFFD);
    } else if (cp == '"') {
      out += "\\\"";
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F || cp == '<' || cp == '>' || cp == '&') {
      u(static_cast<std::uint32_t>(cp));
    } else if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      u(static_cast<std::uint32_t>(cp));
    } else {
      const std::uint32_t v = static_cast<std::uint32_t>(cp) - 0x10000;
      u(0xD800 + (v >> 10));
      u(0xDC00 + (v & 0x3FF));
    }
  }
  out += '"';
  return out;
}

Result<std::string> render_report(const ReportOptions& options) {
  if (options.format != "html" && options.format != "md") {
    return invalid_argument("assay report: --format must be html or md, not '" + options.format +
                            "'");
  }
  ASSAY_ASSIGN_OR_RETURN(Model m, load_model(options));
  return options.format == "md" ? render_markdown(m, options) : render_html(m, options);
}

Status write_report(const ReportOptions& options, const std::string& path) {
  ASSAY_ASSIGN_OR_RETURN(std::string text, render_report(options));
  return write_file_atomic(path, text);
}

}  // namespace assay
