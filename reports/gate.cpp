#include "reports/gate.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <unordered_map>

#include "harness/atomic_file.h"
#include "harness/jsonl.h"
#include "harness/stats.h"
#include "reports/junit.h"
#include "reports/report.h"
#include "reports/run_reader.h"

namespace assay {
namespace {

using simdjson::dom::element;

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// ---- config ----------------------------------------------------------------------------------

struct PartialSettings {
  std::optional<double> max_drop;
  std::optional<double> alpha;
  std::optional<double> max_failed_frac;
  std::optional<std::string> metric;
};

Status read_settings(element obj, const std::string& where, bool allow_tasks,
                     PartialSettings* out) {
  simdjson::dom::object o;
  if (obj.get_object().get(o)) return invalid_argument(where + ": expected a JSON object");
  for (auto field : o) {
    const std::string key(field.key);
    const std::string at = where + ": '" + key + "'";
    if (key == "max_drop" || key == "alpha" || key == "max_failed_frac") {
      double d;
      if (field.value.get_double().get(d)) {
        int64_t i;
        if (field.value.get_int64().get(i)) return invalid_argument(at + ": expected a number");
        d = static_cast<double>(i);
      }
      (key == "max_drop" ? out->max_drop : key == "alpha" ? out->alpha : out->max_failed_frac) = d;
    } else if (key == "metric") {
      std::string_view s;
      if (field.value.get_string().get(s)) return invalid_argument(at + ": expected a string");
      out->metric = std::string(s);
    } else if (key == "tasks" && allow_tasks) {
      continue;  // read by the caller
    } else {
      return invalid_argument(at + ": unknown key (expected max_drop, alpha, max_failed_frac, " +
                              std::string(allow_tasks ? "metric, tasks)" : "metric)"));
    }
  }
  return Status::OK();
}

void apply(const PartialSettings& p, GateTaskSettings* s) {
  if (p.max_drop) s->max_drop = *p.max_drop;
  if (p.alpha) s->alpha = *p.alpha;
  if (p.max_failed_frac) s->max_failed_frac = *p.max_failed_frac;
  if (p.metric) s->metric = p.metric;
}

Status validate(const GateTaskSettings& s, const std::string& where) {
  if (!(s.max_drop >= 0) || !std::isfinite(s.max_drop)) {
    return invalid_argument(where + "max_drop must be a number of points >= 0, got " +
                            fmt("%g", s.max_drop));
  }
  if (!(s.alpha > 0 && s.alpha < 1)) {
    return invalid_argument(where + "alpha must be in (0, 1), got " + fmt("%g", s.alpha));
  }
  if (!(s.max_failed_frac >= 0 && s.max_failed_frac <= 1)) {
    return invalid_argument(where + "max_failed_frac must be in [0, 1], got " +
                            fmt("%g", s.max_failed_frac));
  }
  if (s.metric && s.metric->empty()) return invalid_argument(where + "metric must not be empty");
  return Status::OK();
}

// ---- pairing ---------------------------------------------------------------------------------

struct MetricSpec {
  std::string name;
  std::optional<std::string> filter;
};

MetricSpec parse_metric(const std::string& spec) {
  const auto comma = spec.find(',');
  if (comma == std::string::npos) return {spec, std::nullopt};
  return {spec.substr(0, comma), spec.substr(comma + 1)};
}

struct TaggedRecord {
  const std::string* leaf;
  SampleRecord record;
  const std::string* path;
};

struct RunSide {
  std::vector<std::string> leaves;  // owns the strings TaggedRecord points to
  std::vector<std::string> paths;
  std::vector<TaggedRecord> records;
};

// Reads every leaf's samples; an error names the run and the task.
Status load_side(const LoadedRun& run, const std::vector<std::string>& leaves, const char* which,
                 RunSide* side) {
  side->leaves = leaves;
  side->paths.reserve(leaves.size());
  for (const auto& leaf : side->leaves) {
    auto it = run.folder.sample_files.find(leaf);
    if (it == run.folder.sample_files.end()) {
      return not_found("no samples for task '" + leaf + "' in the " + which + " run (" +
                       run.folder.dir + "; was it run with --log-samples?)");
    }
    side->paths.push_back(it->second);
  }
  for (std::size_t i = 0; i < side->leaves.size(); ++i) {
    ASSAY_ASSIGN_OR_RETURN(auto records, read_samples_jsonl(side->paths[i]));
    for (auto& r : records)
      side->records.push_back({&side->leaves[i], std::move(r), &side->paths[i]});
  }
  return Status::OK();
}

// Records of failed requests may carry no filter (assay writes none when nothing was scored);
// they neither choose the filter nor get lost when it is chosen.
bool in_filter(const SampleRecord& r, const std::string& filter) {
  return r.filter == filter || (r.error && !r.has_filter);
}

std::string resolve_filter(const RunSide& side, const MetricSpec& spec) {
  if (spec.filter) return *spec.filter;
  const TaggedRecord* first = nullptr;
  for (const auto& r : side.records) {
    if (!r.record.has_filter && r.record.error) continue;
    if (r.record.filter == "none") return "none";
    if (!first) first = &r;
  }
  return first ? first->record.filter : "none";
}

std::string resolve_metric_name(const RunSide& side, const std::string& filter) {
  for (const auto& r : side.records) {
    if (r.record.filter != filter) continue;
    for (const auto& name : r.record.metric_names) {
      if (name == "acc") return "acc";
    }
  }
  for (const auto& r : side.records) {
    if (r.record.filter == filter && !r.record.metric_names.empty()) {
      return r.record.metric_names.front();
    }
  }
  return "";
}

std::string pair_key(const std::string& leaf, std::int64_t doc_id) {
  return leaf + '\x1f' + std::to_string(doc_id);
}

std::string where(const TaggedRecord& r) { return *r.path + ":" + std::to_string(r.record.line); }

// Checks the two records describe the same document and prompt; empty when they do.
std::string hash_mismatch(const SampleRecord& a, const SampleRecord& b) {
  if (!a.prompt_hash.empty() && !b.prompt_hash.empty()) {
    return a.prompt_hash == b.prompt_hash ? "" : "prompt_hash";
  }
  if (!a.doc_hash.empty() && !b.doc_hash.empty()) {
    return a.doc_hash == b.doc_hash ? "" : "doc_hash";
  }
  return "";
}

struct Indexed {
  std::unordered_map<std::string, std::size_t> by_key;
  std::vector<std::string> order;  // keys in file order (stable messages)
  std::uint64_t total = 0;
  std::uint64_t failed = 0;
};

Status index_side(const RunSide& side, const std::string& filter, const char* which, Indexed* out) {
  for (std::size_t i = 0; i < side.records.size(); ++i) {
    const auto& r = side.records[i];
    if (!in_filter(r.record, filter)) continue;
    std::string key = pair_key(*r.leaf, r.record.doc_id);
    auto [it, inserted] = out->by_key.emplace(key, i);
    if (!inserted) {
      return corrupt(where(r) + ": doc_id " + std::to_string(r.record.doc_id) + " (filter " +
                     filter + ") repeats line " +
                     std::to_string(side.records[it->second].record.line) + " in the " + which +
                     " run");
    }
    out->order.push_back(std::move(key));
    ++out->total;
    if (r.record.error) ++out->failed;
  }
  return Status::OK();
}

std::string describe_key(const std::string& key) {
  std::string s = key;
  std::replace(s.begin(), s.end(), '\x1f', ' ');
  return s.insert(s.find(' ') + 1, "doc_id ");
}

// Fills the verdict for one gated name. Every early return is an infrastructure ERROR.
void gate_one(const std::string& name, const GateTaskSettings& settings, const LoadedRun& base,
              const LoadedRun& cand, const GateOptions& options, GateTaskVerdict* v) {
  v->task = name;
  v->settings = settings;
  v->outcome = GateOutcome::kError;
  const auto fail = [&](const std::string& message) { v->message = message; };

  std::vector<std::string> leaves = {name};
  if (base.results && base.results->is_group(name)) {
    leaves = base.results->leaf_tasks(name);
  } else if (cand.results && cand.results->is_group(name)) {
    leaves = cand.results->leaf_tasks(name);
  }

  RunSide a, b;
  if (Status st = load_side(base, leaves, "baseline", &a); !st.ok()) return fail(st.message());
  if (Status st = load_side(cand, leaves, "candidate", &b); !st.ok()) return fail(st.message());

  const MetricSpec spec = parse_metric(settings.metric.value_or(""));
  const std::string filter = resolve_filter(a, spec);
  const std::string metric = spec.name.empty() ? resolve_metric_name(a, filter) : spec.name;
  if (metric.empty()) {
    return fail("the baseline's samples list no metrics for filter '" + filter +
                "'; name one with --metric");
  }
  v->metric = metric + "," + filter;

  Indexed ia, ib;
  if (Status st = index_side(a, filter, "baseline", &ia); !st.ok()) return fail(st.message());
  if (Status st = index_side(b, filter, "candidate", &ib); !st.ok()) return fail(st.message());
  v->failed_baseline = ia.failed;
  v->failed_candidate = ib.failed;
  if (ia.total == 0) return fail("the baseline has no documents with filter '" + filter + "'");
  if (ib.total == 0) return fail("the candidate has no documents with filter '" + filter + "'");

  const auto too_many_failed = [&](const Indexed& idx, const char* which) -> std::string {
    const double frac = static_cast<double>(idx.failed) / static_cast<double>(idx.total);
    if (frac <= settings.max_failed_frac) return "";
    return std::string(which) + ": " + std::to_string(idx.failed) + " of " +
           std::to_string(idx.total) + " requests failed (" + fmt("%.2f", 100 * frac) +
           "% > max_failed_frac " + fmt("%.2f", 100 * settings.max_failed_frac) + "%)";
  };
  if (auto m = too_many_failed(ia, "baseline"); !m.empty()) return fail(m);
  if (auto m = too_many_failed(ib, "candidate"); !m.empty()) return fail(m);

  // Same documents on both sides?
  std::uint64_t only_in_a = 0, only_in_b = 0;
  std::string first_a, first_b;
  for (const auto& key : ia.order) {
    if (!ib.by_key.count(key) && only_in_a++ == 0) first_a = key;
  }
  for (const auto& key : ib.order) {
    if (!ia.by_key.count(key) && only_in_b++ == 0) first_b = key;
  }
  if (only_in_a || only_in_b) {
    std::string m = "the runs scored different documents:";
    if (only_in_a)
      m += " " + std::to_string(only_in_a) + " only in baseline (first: " + describe_key(first_a) +
           ")";
    if (only_in_a && only_in_b) m += ",";
    if (only_in_b)
      m += " " + std::to_string(only_in_b) + " only in candidate (first: " + describe_key(first_b) +
           ")";
    return fail(m);
  }

  std::vector<double> xa, xb;
  xa.reserve(ia.order.size());
  xb.reserve(ia.order.size());
  std::uint64_t mismatched = 0;
  std::string first_mismatch;
  for (const auto& key : ia.order) {
    const TaggedRecord& ra = a.records[ia.by_key.at(key)];
    const TaggedRecord& rb = b.records[ib.by_key.at(key)];
    if (std::string which = hash_mismatch(ra.record, rb.record); !which.empty()) {
      if (mismatched++ == 0) first_mismatch = describe_key(key) + " (" + which + " differs)";
      continue;
    }
    if (ra.record.error || rb.record.error) continue;  // failed requests, within the limit
    auto va = ra.record.metrics.find(metric);
    if (va == ra.record.metrics.end()) {
      return fail(where(ra) + ": no numeric value for metric '" + metric + "'");
    }
    auto vb = rb.record.metrics.find(metric);
    if (vb == rb.record.metrics.end()) {
      return fail(where(rb) + ": no numeric value for metric '" + metric + "'");
    }
    xa.push_back(va->second);
    xb.push_back(vb->second);
  }
  if (mismatched) {
    return fail("the runs' prompts differ on " + std::to_string(mismatched) +
                " documents (first: " + first_mismatch +
                "); compare runs made with the same task settings");
  }
  if (xa.empty()) return fail("no document was scored in both runs");

  bool higher_is_better = true;
  if (base.results) {
    auto t = base.results->higher_is_better.find(leaves.front());
    if (t == base.results->higher_is_better.end()) t = base.results->higher_is_better.find(name);
    if (t != base.results->higher_is_better.end()) {
      auto m = t->second.find(metric);
      if (m != t->second.end()) higher_is_better = m->second;
    }
  }

  v->n = xa.size();
  v->baseline = mean(xa);
  v->candidate = mean(xb);
  v->delta_points = 100 * (v->candidate - v->baseline);
  const bool binary =
      std::all_of(xa.begin(), xa.end(), [](double x) { return x == 0 || x == 1; }) &&
      std::all_of(xb.begin(), xb.end(), [](double x) { return x == 0 || x == 1; });
  if (binary) {
    std::uint64_t only_a = 0, only_b = 0;
    for (std::size_t i = 0; i < xa.size(); ++i) {
      if (xa[i] == 1 && xb[i] == 0) ++only_a;
      if (xa[i] == 0 && xb[i] == 1) ++only_b;
    }
    const McNemarResult r = mcnemar_exact(only_a, only_b);
    v->test = "mcnemar";
    v->p_value = r.p_value;
    v->only_baseline = only_a;
    v->only_candidate = only_b;
  } else {
    BootstrapOptions bo;
    bo.iterations = options.bootstrap_iters;
    bo.seed = options.seed;
    const PairedBootstrapResult r = paired_bootstrap_mean_diff(xa, xb, bo);
    v->test = "bootstrap";
    v->p_value = r.p_value;
  }

  const double drop = higher_is_better ? -v->delta_points : v->delta_points;
  const bool big = drop > settings.max_drop;
  const bool significant = v->p_value < settings.alpha;
  const std::string p_text = "p = " + fmt("%.3g", v->p_value);
  if (big && significant) {
    v->outcome = GateOutcome::kRegression;
    v->message = "dropped " + fmt("%.2f", drop) + " points (> " + fmt("%.2f", settings.max_drop) +
                 "), " + p_text + " < alpha " + fmt("%g", settings.alpha);
    return;
  }
  v->outcome = GateOutcome::kPass;
  if (big) {
    v->message = "drop of " + fmt("%.2f", drop) + " points is not significant (" + p_text +
                 " >= alpha " + fmt("%g", settings.alpha) + ")";
  } else if (drop > 0) {
    v->message =
        "drop of " + fmt("%.2f", drop) + " points is within " + fmt("%.2f", settings.max_drop);
  } else if (drop < 0) {
    v->message = "improved by " + fmt("%.2f", -drop) + " points (" + p_text + ")";
  } else {
    v->message = "unchanged";
  }
  const std::uint64_t skipped = std::max(ia.failed, ib.failed);
  if (skipped) v->message += "; failed requests left out";
}

// Tasks gated when --tasks is absent: root groups and ungrouped tasks of the baseline.
std::vector<std::string> default_tasks(const LoadedRun& base) {
  std::set<std::string> grouped;  // every name that appears under some group
  std::vector<std::string> out;
  if (base.results) {
    for (const auto& [group, children] : base.results->group_subtasks) {
      for (const auto& c : children) grouped.insert(c);
    }
    for (const auto& [group, children] : base.results->group_subtasks) {
      if (!grouped.count(group)) out.push_back(group);
    }
    // Leaves of the groups count as grouped even when nested deeper.
    for (const auto& g : out) {
      for (const auto& leaf : base.results->leaf_tasks(g)) grouped.insert(leaf);
    }
  }
  for (const auto& [task, path] : base.folder.sample_files) {
    if (!grouped.count(task)) out.push_back(task);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int exit_code_for(const std::vector<GateTaskVerdict>& tasks) {
  bool any_error = false;
  for (const auto& t : tasks) {
    if (t.outcome == GateOutcome::kRegression) return kGateExitRegression;
    if (t.outcome == GateOutcome::kError) any_error = true;
  }
  return any_error ? kGateExitInfrastructure : kGateExitPass;
}

// ---- tables ----------------------------------------------------------------------------------

std::vector<std::string> header_row() {
  return {"Task",      "Metric",  "N",    "Baseline", "Candidate",
          "Delta pts", "p-value", "Test", "Max drop", "Verdict"};
}

std::vector<std::string> verdict_row(const GateTaskVerdict& t) {
  const bool ran = !t.test.empty();
  return {t.task,
          t.metric.empty() ? "-" : t.metric,
          ran ? std::to_string(t.n) : "-",
          ran ? fmt("%.4f", t.baseline) : "-",
          ran ? fmt("%.4f", t.candidate) : "-",
          ran ? fmt("%+.2f", t.delta_points) : "-",
          ran ? fmt("%.3g", t.p_value) : "-",
          ran ? t.test : "-",
          fmt("%.2f", t.settings.max_drop),
          gate_outcome_name(t.outcome)};
}

const char* overall(int exit_code) {
  switch (exit_code) {
    case kGateExitPass:
      return "PASS";
    case kGateExitRegression:
      return "REGRESSION";
    default:
      return "INFRASTRUCTURE ERROR";
  }
}

}  // namespace

const char* gate_outcome_name(GateOutcome outcome) {
  switch (outcome) {
    case GateOutcome::kPass:
      return "PASS";
    case GateOutcome::kRegression:
      return "REGRESSION";
    case GateOutcome::kError:
      return "ERROR";
  }
  return "?";
}

Result<GateConfig> resolve_gate_config(const GateOptions& options) {
  GateConfig config;
  PartialSettings globals;
  std::vector<std::pair<std::string, PartialSettings>> per_task;
  if (options.config_path) {
    const std::string& path = *options.config_path;
    simdjson::dom::parser parser;
    Result<element> root = parse_json_file(path, parser);
    if (!root.ok()) return invalid_argument("--config: " + root.status().message());
    ASSAY_RETURN_IF_ERROR(read_settings(*root, path, /*allow_tasks=*/true, &globals));
    element tasks;
    if (!(*root)["tasks"].get(tasks)) {
      simdjson::dom::object o;
      if (tasks.get_object().get(o)) {
        return invalid_argument(path + ": 'tasks': expected an object of task → settings");
      }
      for (auto t : o) {
        PartialSettings p;
        ASSAY_RETURN_IF_ERROR(read_settings(t.value, path + ": tasks." + std::string(t.key),
                                            /*allow_tasks=*/false, &p));
        per_task.emplace_back(std::string(t.key), p);
      }
    }
  }
  apply(globals, &config.defaults);
  PartialSettings cli;
  cli.max_drop = options.max_drop;
  cli.alpha = options.alpha;
  cli.max_failed_frac = options.max_failed_frac;
  cli.metric = options.metric;
  apply(cli, &config.defaults);
  ASSAY_RETURN_IF_ERROR(validate(config.defaults, ""));
  for (const auto& [task, p] : per_task) {
    GateTaskSettings s = config.defaults;
    apply(p, &s);
    ASSAY_RETURN_IF_ERROR(validate(s, "task '" + task + "': "));
    config.tasks[task] = s;
    config.task_order.push_back(task);
  }
  return config;
}

Result<GateReport> evaluate_gate(const GateOptions& options) {
  if (options.baseline.empty()) return invalid_argument("--baseline is required");
  if (options.candidate.empty()) return invalid_argument("--candidate is required");
  if (options.bootstrap_iters < 2) return invalid_argument("--bootstrap-iters must be >= 2");
  ASSAY_ASSIGN_OR_RETURN(GateConfig config, resolve_gate_config(options));

  GateReport report;
  report.baseline_dir = options.baseline;
  report.candidate_dir = options.candidate;

  LoadedRun runs[2];
  const char* names[2] = {"baseline", "candidate"};
  const std::string* dirs[2] = {&options.baseline, &options.candidate};
  for (int i = 0; i < 2; ++i) {
    Result<LoadedRun> r = read_run(*dirs[i]);
    if (r.ok()) {
      runs[i] = std::move(r).value();
      continue;
    }
    const StatusCode code = r.status().code();
    if (code == StatusCode::kNotFound || code == StatusCode::kInvalidArgument) {
      return invalid_argument(std::string("--") + names[i] + ": " + r.status().message());
    }
    // The folder exists but its results file cannot be read: the run itself is broken.
    GateTaskVerdict v;
    v.task = std::string("(") + names[i] + " run)";
    v.outcome = GateOutcome::kError;
    v.settings = config.defaults;
    v.message = r.status().message();
    report.tasks.push_back(v);
  }
  if (!report.tasks.empty()) {
    report.exit_code = exit_code_for(report.tasks);
    return report;
  }

  std::vector<std::string> tasks;
  for (const auto& t : options.tasks) {
    if (!t.empty()) tasks.push_back(t);  // "a,,b" from the command line
  }
  if (tasks.empty()) tasks = config.task_order;
  if (tasks.empty()) tasks = default_tasks(runs[0]);
  if (tasks.empty()) {
    GateTaskVerdict v;
    v.task = "(baseline run)";
    v.outcome = GateOutcome::kError;
    v.settings = config.defaults;
    v.message = options.baseline + ": no tasks to gate";
    report.tasks.push_back(v);
  }
  std::set<std::string> seen;
  for (const auto& task : tasks) {
    if (!seen.insert(task).second) continue;
    auto it = config.tasks.find(task);
    const GateTaskSettings& settings = it == config.tasks.end() ? config.defaults : it->second;
    GateTaskVerdict v;
    const auto start = std::chrono::steady_clock::now();
    gate_one(task, settings, runs[0], runs[1], options, &v);
    v.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report.tasks.push_back(std::move(v));
  }
  report.exit_code = exit_code_for(report.tasks);
  return report;
}

std::string format_gate_text(const GateReport& report) {
  std::vector<std::vector<std::string>> rows = {header_row()};
  for (const auto& t : report.tasks) rows.push_back(verdict_row(t));
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out = "assay gate: baseline " + report.baseline_dir + " vs candidate " +
                    report.candidate_dir + "\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::string line;
    for (std::size_t c = 0; c < rows[i].size(); ++c) {
      // Text columns left-aligned, numbers right-aligned.
      const bool left = c <= 1 || c == 7 || c == 9;
      const std::string pad(width[c] - rows[i][c].size(), ' ');
      if (c) line += "  ";
      line += left ? rows[i][c] + pad : pad + rows[i][c];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (i == 0) {
      std::size_t total = 0;
      for (auto w : width) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  for (const auto& t : report.tasks) {
    if (!t.message.empty())
      out += std::string(gate_outcome_name(t.outcome)) + " " + t.task + ": " + t.message + "\n";
  }
  out += std::string("result: ") + overall(report.exit_code) + " (exit " +
         std::to_string(report.exit_code) + ")\n";
  return out;
}

std::string format_gate_markdown(const GateReport& report) {
  std::vector<std::string> head = header_row();
  head.push_back("Note");
  std::string out = "| ";
  for (std::size_t c = 0; c < head.size(); ++c)
    out += head[c] + (c + 1 < head.size() ? " | " : " |\n");
  out += "|";
  for (std::size_t c = 0; c < head.size(); ++c)
    out += (c <= 1 || c == 7 || c >= 9) ? "---|" : "---:|";
  out += "\n";
  for (const auto& t : report.tasks) {
    std::vector<std::string> row = verdict_row(t);
    row.push_back(t.message);
    out += "|";
    for (const auto& v : row) out += " " + markdown_cell(v) + " |";
    out += "\n";
  }
  out += std::string("\n**") + overall(report.exit_code) + "** (exit " +
         std::to_string(report.exit_code) + ")\n";
  return out;
}

int run_gate(const GateOptions& options, std::ostream& out, std::string* error) {
  Result<GateReport> report = evaluate_gate(options);
  if (!report.ok()) {
    if (error) *error = report.status().message();
    return kGateExitUsage;
  }
  const std::string text = format_gate_text(*report);
  out << text;
  if (options.junit_path) {
    std::vector<JUnitCase> cases;
    double total = 0;
    for (const auto& t : report->tasks) {
      JUnitCase c;
      c.name = t.task;
      c.classname = "assay.gate";
      c.time_s = t.seconds;
      total += t.seconds;
      if (t.outcome == GateOutcome::kRegression) {
        c.outcome = JUnitCase::Outcome::kFailure;
        c.type = "regression";
      } else if (t.outcome == GateOutcome::kError) {
        c.outcome = JUnitCase::Outcome::kError;
        c.type = "infrastructure";
      }
      c.message = t.message;
      if (c.outcome != JUnitCase::Outcome::kPass) {
        const auto row = verdict_row(t);
        const auto head = header_row();
        for (std::size_t i = 0; i < row.size(); ++i) c.details += head[i] + ": " + row[i] + "\n";
      }
      cases.push_back(std::move(c));
    }
    JUnitSuite suite;
    suite.name = "assay-gate";
    suite.time_s = total;
    suite.system_out = text;
    if (Status st = write_junit(*options.junit_path, suite, cases); !st.ok()) {
      if (error) *error = "--junit " + *options.junit_path + ": " + st.message();
      return kGateExitUsage;
    }
  }
  if (options.markdown_path) {
    if (Status st = write_file_atomic(*options.markdown_path, format_gate_markdown(*report));
        !st.ok()) {
      if (error) *error = "--markdown " + *options.markdown_path + ": " + st.message();
      return kGateExitUsage;
    }
  }
  return report->exit_code;
}

}  // namespace assay
