// The report page's stylesheet and script (reports/report_assets.cpp), inlined by report.cpp.
// Internal to reports/; kept apart so the C++ that builds the page reads without 600 lines of
// JS in the way.
#pragma once

namespace assay::report_assets {

extern const char* const kCss;
// Runs in <head>: counts script errors and CSP violations into <html data-js-errors> and
// <html data-csp-violations> so a headless browser's --dump-dom shows them.
extern const char* const kHeadJs;
// Runs at the end of <body>: table sorting and folding, the sample lists. Writes
// <html data-render-ms> (performance.now() when the first render finished) and data-render="ok".
extern const char* const kJs;

}  // namespace assay::report_assets
