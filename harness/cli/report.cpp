// `assay report`: a self-contained HTML page (or a Markdown summary) of one or more runs
// (reports/report.h has the contract, docs/reports.md the tour).
#include "reports/report.h"

#include <iostream>

#include "harness/cli/cli.h"
#include "harness/log.h"

namespace assay::cli {
namespace {

int report(const Args& args) {
  ReportOptions o;
  o.runs = args.positionals();
  if (o.runs.empty()) {
    log_line(LogLevel::kError,
             "assay report: give one or more run folders (assay run --output DIR "
             "--log-samples), e.g. assay report runs/a runs/b -o report.html");
    return kExitUsage;
  }
  o.format = args.get_or("format", "html");
  o.title = args.get_or("title", "");
  auto out = args.get("output");
  if (!out) {
    if (o.format == "md") {
      // Markdown goes to stdout when no file is named: `>> $GITHUB_STEP_SUMMARY`.
      auto text = render_report(o);
      if (!text.ok()) return fail(text.status());
      std::cout << *text;
      return kExitOk;
    }
    log_line(LogLevel::kError, "assay report: -o FILE is required for --format html");
    return kExitUsage;
  }
  Status st = write_report(o, *out);
  if (!st.ok()) return fail(st);
  log_line(LogLevel::kInfo, "wrote " + *out);
  return kExitOk;
}

}  // namespace

Command report_command() {
  Command c;
  c.name = "report";
  c.summary = "self-contained HTML report of runs";
  c.usage = "assay report RUN... -o report.html [--format html|md] [--title T]";
  c.description =
      "RUN folders come from `assay run --output DIR --log-samples` (lm-eval's layout works too);\n"
      "the first is the baseline the others are compared with on paired documents. The HTML page\n"
      "loads nothing from the network and works offline; --format md writes a Markdown summary\n"
      "(to stdout without -o) for CI step summaries.";
  c.flags = {
      {"output", {"o"}, true, "FILE", "where to write the report"},
      {"format", {}, true, "html|md", "html (default) or md"},
      {"title", {}, true, "T", "page title (default: the model names)"},
  };
  c.run = report;
  return c;
}

}  // namespace assay::cli
