// `assay report RUN... -o report.html [--format html|md] [--title T]`: one or more run folders
// (results.json + samples_<task>.jsonl from `assay run --log-samples`, or lm-eval's layout) turned
// into a self-contained HTML page or a Markdown summary. docs/reports.md describes the page.
//
// HTML: inline CSS, JS and SVG only; a Content-Security-Policy meta tag (default-src 'none') keeps
// the page from fetching anything. Tables, chart, provenance, costs and error summaries are
// rendered in C++ (readable and printable without JS); the per-sample drill-down is one compact
// JSON blob in <script type="application/json" id="assay-data"> that the page's JS renders a page
// of rows at a time. The first run is the baseline: later runs are compared with it on documents
// paired by (task, doc_id, filter, prompt_hash).
//
// Escaping: every string from a run goes through html_escape (HTML text and attributes) or
// json_string_for_script (inside the JSON blob); the page's JS inserts data with textContent only.
//
// Errors (Result): kNotFound / kCorrupt from the run reader, naming the folder or file;
// kInvalidArgument for bad options (no runs, unknown format).
// Thread safety: pure functions over their inputs; safe to call concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "harness/status.h"

namespace assay {

struct ReportOptions {
  std::vector<std::string> runs;  // run folders; the first is the baseline
  std::string format = "html";    // "html" or "md"
  std::string title;              // empty: "assay report: <model names>"
};

// The whole document (HTML or Markdown) for `options.runs`.
Result<std::string> render_report(const ReportOptions& options);

// render_report written atomically to `path`.
Status write_report(const ReportOptions& options, const std::string& path);

// Text for HTML element content or a quoted attribute value: & < > " ' become entities, NUL and
// invalid UTF-8 become U+FFFD (a browser would guess at them otherwise).
std::string html_escape(std::string_view text);
// A Markdown table cell: HTML-escaped (Markdown renders raw HTML), pipes escaped, newlines folded.
std::string markdown_cell(std::string_view text);

// A JSON string literal (with its quotes) that is safe inside <script type="application/json">:
// besides JSON's own escapes, < > & become \u003c \u003e \u0026 (so "</script>" or "<!--" cannot
// end or change the script element), U+2028/U+2029 become \u2028/\u2029, control characters are
// \u00XX, and invalid UTF-8 becomes \ufffd. The output is pure ASCII.
std::string json_string_for_script(std::string_view text);

}  // namespace assay
