// `assay gate`: statistical regression gate between two runs (reports/gate.h has the rule).
#include <iostream>

#include "harness/cli/cli.h"
#include "harness/log.h"
#include "reports/gate.h"

namespace assay::cli {
namespace {

int gate(const Args& args) {
  GateOptions o;
  auto b = args.get("baseline");
  auto c = args.get("candidate");
  if (!b || !c) {
    log_line(LogLevel::kError, "assay gate: --baseline RUN and --candidate RUN are required");
    return kGateExitUsage;
  }
  o.baseline = *b;
  o.candidate = *c;
  for (const char* name : {"max-drop", "alpha", "max-failed-frac"}) {
    auto v = args.get_double(name);
    if (!v.ok()) {
      log_line(LogLevel::kError, v.status().message());
      return kGateExitUsage;
    }
    if (!*v) continue;
    if (std::string(name) == "max-drop") o.max_drop = **v;
    else if (std::string(name) == "alpha") o.alpha = **v;
    else o.max_failed_frac = **v;
  }
  if (auto m = args.get("metric")) o.metric = *m;
  if (auto t = args.get("tasks")) {
    size_t s = 0;
    while (s <= t->size()) {
      size_t k = t->find(',', s);
      std::string name = t->substr(s, k == std::string::npos ? std::string::npos : k - s);
      if (!name.empty()) o.tasks.push_back(name);
      if (k == std::string::npos) break;
      s = k + 1;
    }
  }
  if (auto f = args.get("config")) o.config_path = *f;
  if (auto f = args.get("junit")) o.junit_path = *f;
  if (auto f = args.get("markdown")) o.markdown_path = *f;
  auto seed = args.get_int("seed");
  auto iters = args.get_int("bootstrap-iters");
  if (!seed.ok() || !iters.ok()) {
    log_line(LogLevel::kError, (!seed.ok() ? seed.status() : iters.status()).message());
    return kGateExitUsage;
  }
  if (*seed) o.seed = static_cast<uint64_t>(**seed);
  if (*iters) o.bootstrap_iters = static_cast<uint32_t>(**iters);
  std::string err;
  int code = run_gate(o, std::cout, &err);
  if (code == kGateExitUsage && !err.empty()) log_line(LogLevel::kError, err);
  return code;
}

}  // namespace

Command gate_command() {
  Command c;
  c.name = "gate";
  c.summary = "statistical regression gate between two runs";
  c.usage = "assay gate --baseline A --candidate B [--max-drop POINTS] [--alpha A] [--junit out.xml]";
  c.description =
      "A task regresses when its drop exceeds --max-drop points AND the paired test (exact McNemar\n"
      "for 0/1 metrics, paired bootstrap otherwise) is significant at --alpha.\n"
      "Exit codes: 0 pass, 1 regression, 2 usage error, 75 infrastructure failure.";
  c.flags = {
      {"baseline", {}, true, "RUN", "baseline run folder (assay run --output, with --log-samples)"},
      {"candidate", {}, true, "RUN", "candidate run folder"},
      {"max-drop", {"max_drop"}, true, "POINTS", "largest tolerated drop (default 1.0)"},
      {"alpha", {}, true, "A", "significance level (default 0.05)"},
      {"max-failed-frac", {"max_failed_frac"}, true, "F", "tolerated fraction of failed requests (default 0.01)"},
      {"metric", {}, true, "M[,FILTER]", "metric to gate (default acc, else the task's first)"},
      {"tasks", {}, true, "A,B", "tasks or groups to gate (default: the baseline's top level)"},
      {"config", {}, true, "FILE", "JSON thresholds, global and per task"},
      {"junit", {}, true, "FILE", "write a JUnit XML report"},
      {"markdown", {}, true, "FILE", "write the verdict table as Markdown"},
      {"seed", {}, true, "S", "bootstrap seed (default 1234)"},
      {"bootstrap-iters", {"bootstrap_iters"}, true, "N", "bootstrap resamples (default 10000)"},
  };
  c.run = gate;
  return c;
}

}  // namespace assay::cli
