#include "reports/report.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <regex>
#include <string>

#include "reports/gate.h"
#include "tests/reports/run_fixture.h"

namespace assay {
namespace {

using testing_support::binary_task;
using testing_support::FakeTask;
using testing_support::flip;
using testing_support::TempDir;
using testing_support::write_run;
using testing_support::write_text;

const std::string kScript = "<script>alert(1)</script>";
const std::string kAttr = "\"><img src=x onerror=alert(1)>";
const std::string kLineSep = "\xE2\x80\xA8";  // U+2028: ends a line in old JS string literals
const std::string kParaSep = "\xE2\x80\xA9";  // U+2029

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
    ++n;
  return n;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

TEST(ReportEscapeTest, HtmlEscapesMarkupAndAttributeBreakers) {
  EXPECT_EQ(html_escape(kScript), "&lt;script&gt;alert(1)&lt;/script&gt;");
  EXPECT_EQ(html_escape(kAttr), "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  EXPECT_EQ(html_escape("a & b 'c'"), "a &amp; b &#39;c&#39;");
  EXPECT_EQ(html_escape("</script>"), "&lt;/script&gt;");
}

TEST(ReportEscapeTest, HtmlReplacesInvalidUtf8AndControls) {
  // A lone continuation byte, a truncated sequence, an overlong '<' (would smuggle markup past a
  // byte-level check), a UTF-16 surrogate, NUL.
  EXPECT_EQ(html_escape("a\x80z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(html_escape("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(html_escape("\xC0\xBCscript"), "\xEF\xBF\xBD\xEF\xBF\xBDscript");
  EXPECT_EQ(html_escape("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(html_escape(std::string("x\0y", 3)), "x\xEF\xBF\xBDy");
  // Valid text, tabs and newlines pass through: é € 𝄞 and the line separators.
  EXPECT_EQ(html_escape("\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E\t\n"),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E\t\n");
  EXPECT_EQ(html_escape(kLineSep), kLineSep);
}

TEST(ReportEscapeTest, JsonForScriptCannotEndTheScriptElement) {
  EXPECT_EQ(json_string_for_script("</script>"), "\"\\u003c/script\\u003e\"");
  EXPECT_EQ(json_string_for_script(kScript),
            "\"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\"");
  EXPECT_EQ(json_string_for_script("<!--"), "\"\\u003c!--\"");
  EXPECT_EQ(json_string_for_script("a&b"), "\"a\\u0026b\"");
  EXPECT_EQ(json_string_for_script(kAttr),
            "\"\\\"\\u003e\\u003cimg src=x onerror=alert(1)\\u003e\"");
  EXPECT_EQ(json_string_for_script(kLineSep + kParaSep), "\"\\u2028\\u2029\"");
  EXPECT_EQ(json_string_for_script("q\"\\\n\t\x01"), "\"q\\\"\\\\\\n\\t\\u0001\"");
  EXPECT_EQ(json_string_for_script("\xC3\xA9\xF0\x9D\x84\x9E"), "\"\\u00e9\\ud834\\udd1e\"");
}

TEST(ReportEscapeTest, JsonForScriptIsAsciiAndRoundTrips) {
  const std::string text = "prompt </script><script>alert(1)</script> " + kAttr + " " + kLineSep +
                           kParaSep + " caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\" \\ \x7f end";
  const std::string lit = json_string_for_script(text);
  for (unsigned char c : lit) EXPECT_LT(c, 0x80) << lit;
  EXPECT_EQ(lit.find('<'), std::string::npos);
  EXPECT_EQ(lit.find('>'), std::string::npos);
  EXPECT_EQ(lit.find('&'), std::string::npos);
  boost::json::value v = boost::json::parse(lit);
  EXPECT_EQ(std::string(v.as_string()), text);
  // Invalid UTF-8 becomes U+FFFD rather than bytes a JSON parser would reject.
  EXPECT_EQ(json_string_for_script("a\xFF\xC3"), "\"a\\ufffd\\ufffd\"");
}

// A run whose every string is hostile: model name, task alias, prompt, response, target, answer,
// error message. None of it may become markup or leave the data blob.
void write_hostile_run(const std::string& dir) {
  const std::string model = boost::json::serialize(boost::json::value(kScript + kAttr));
  write_text(dir + "/results.json",
             "{\"results\": {\"gen\": {\"alias\": " + model +
                 ", \"exact_match,none\": 0.5, \"exact_match_stderr,none\": 0.5}},"
                 " \"higher_is_better\": {\"gen\": {\"exact_match\": true}},"
                 " \"config\": {\"model\": " +
                 model +
                 ", \"random_seed\": 7},"
                 " \"model_name\": " +
                 model +
                 ", \"git_hash\": \"abc\","
                 " \"assay\": {\"version\": \"0.1.0\", \"model\": {\"spec\": " +
                 model +
                 ", \"architecture\": \"llama\"}, \"hardware\": {\"cpu\": \"</td></tr>cpu\"},"
                 " \"errors\": {\"gen\": \"1 of 3 <b>failed</b>\"}}}\n");
  auto line = [](int id, const std::string& prompt, const std::string& resp,
                 const std::string& target, double em, const std::string& error) {
    boost::json::object o{
        {"doc_id", id},
        {"doc", boost::json::object{{"q", prompt}}},
        {"target", target},
        {"arguments",
         boost::json::object{
             {"gen_args_0",
              boost::json::object{{"arg_0", prompt}, {"arg_1", "{\"until\": [\"</script>\"]}"}}}}},
        {"resps", boost::json::array{boost::json::array{resp}}},
        {"filtered_resps", boost::json::array{resp}},
        {"filter", "none"},
        {"metrics", boost::json::array{"exact_match"}},
        {"doc_hash", "d" + std::to_string(id)},
        {"prompt_hash", "p" + std::to_string(id)},
        {"target_hash", "t"}};
    if (error.empty())
      o["exact_match"] = em;
    else
      o["error"] = error;
    return boost::json::serialize(o) + "\n";
  };
  write_text(dir + "/samples_gen.jsonl",
             line(0, "Q: " + kScript + "\n</script><script>alert(2)</script>", kAttr,
                  "tgt" + kLineSep + "x" + kParaSep, 1, "") +
                 line(1, "Q: <!-- " + kAttr, "</script>", "<b>bold</b>", 0, "") +
                 line(2, "Q: third", "", "t", 0, "timeout </script><script>alert(3)</script>"));
}

TEST(ReportHtmlTest, HostileRunStaysInert) {
  TempDir dir;
  write_hostile_run(dir.sub("run"));
  ReportOptions o;
  o.runs = {dir.sub("run")};
  o.title = "t " + kScript;
  auto html = render_report(o);
  ASSERT_TRUE(html.ok()) << html.status().message();
  const std::string& h = *html;
  // Exactly the page's own three script elements: the head guard, the data blob, the page code.
  EXPECT_EQ(count(h, "<script"), 3u) << h.substr(0, 400);
  EXPECT_EQ(count(h, "</script>"), 3u);
  EXPECT_EQ(h.find("<img"), std::string::npos);
  EXPECT_EQ(h.find("alert(2)</"), std::string::npos);
  EXPECT_EQ(h.find("<b>failed"), std::string::npos);
  EXPECT_EQ(h.find("</td></tr>cpu"), std::string::npos);
  EXPECT_NE(h.find("&lt;/td&gt;&lt;/tr&gt;cpu"), std::string::npos);
  EXPECT_NE(h.find("<title>t &lt;script&gt;alert(1)&lt;/script&gt;</title>"), std::string::npos);
  EXPECT_NE(h.find("1 of 3 &lt;b&gt;failed&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(h.find(kLineSep), std::string::npos);
  EXPECT_EQ(h.find(kParaSep), std::string::npos);
  // Offline: a CSP that forbids every fetch, and no network URL in src/href.
  EXPECT_NE(h.find("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"),
            std::string::npos);
  EXPECT_FALSE(std::regex_search(
      h, std::regex(R"((src|href)\s*=\s*["']?\s*(https?:)?//)", std::regex::icase)));
  // The page's code writes data with textContent only.
  EXPECT_EQ(h.find("innerHTML"), std::string::npos);
  EXPECT_EQ(h.find("insertAdjacentHTML"), std::string::npos);
  EXPECT_EQ(h.find("document.write"), std::string::npos);

  // The blob parses back to the original strings.
  const std::string open = "<script type=\"application/json\" id=\"assay-data\">";
  const std::size_t a = h.find(open);
  ASSERT_NE(a, std::string::npos);
  const std::size_t b = h.find("</script>", a);
  boost::system::error_code ec;
  boost::json::value data = boost::json::parse(h.substr(a + open.size(), b - a - open.size()), ec);
  ASSERT_FALSE(ec) << ec.message();
  const auto& docs = data.at("docs").as_array();
  ASSERT_EQ(docs.size(), 3u);
  const auto& d0 = docs[0].as_array();
  EXPECT_EQ(std::string(d0[3].as_string()),
            "Q: " + kScript + "\n</script><script>alert(2)</script>");
  EXPECT_EQ(std::string(d0[5].as_string()), "tgt" + kLineSep + "x" + kParaSep);
  const auto& out = data.at("out").as_array()[0].as_array();
  EXPECT_EQ(out[0].as_array()[0].as_int64(), 1);
  EXPECT_EQ(std::string(out[0].as_array()[1].as_array()[0].as_string()), kAttr);
  EXPECT_EQ(std::string(out[0].as_array()[2].as_string()), kAttr);
  // The failed request carries its error apart from any answer.
  const auto& o2 = out[2].as_array();
  ASSERT_EQ(o2.size(), 4u);
  EXPECT_TRUE(o2[0].is_null());
  EXPECT_TRUE(o2[2].is_null());
  EXPECT_EQ(std::string(o2[3].as_string()), "timeout </script><script>alert(3)</script>");
}

TEST(ReportMarkdownTest, TableWithDeltasMatchesTheGate) {
  TempDir dir;
  FakeTask base = binary_task("mmlu_x", 1000, 0.7, 1);
  FakeTask cand = base;
  ASSERT_EQ(flip(cand, 1.0, 30), 30);
  write_run(dir.sub("base"), {{base, binary_task("other", 200, 0.5, 2)}, {}});
  write_run(dir.sub("cand"), {{cand, binary_task("other", 200, 0.5, 2)}, {}});
  ReportOptions o;
  o.runs = {dir.sub("base"), dir.sub("cand")};
  o.format = "md";
  o.title = "CI | summary";
  auto md = render_report(o);
  ASSERT_TRUE(md.ok()) << md.status().message();

  double sum = 0, ss = 0;
  for (const auto& d : base.docs) sum += d.value;
  const double mean = sum / 1000;
  for (const auto& d : base.docs) ss += (d.value - mean) * (d.value - mean);
  const double se = std::sqrt(ss / 999) / std::sqrt(1000.0);

  GateOptions g;
  g.baseline = dir.sub("base");
  g.candidate = dir.sub("cand");
  auto gate = evaluate_gate(g);
  ASSERT_TRUE(gate.ok());
  const GateTaskVerdict* v = nullptr;
  for (const auto& t : gate->tasks) {
    if (t.task == "mmlu_x") v = &t;
  }
  ASSERT_NE(v, nullptr);

  EXPECT_EQ(md->rfind("## CI \\| summary\n", 0), 0u) << *md;
  EXPECT_NE(md->find("| Task | Metric | base | cand | Δ cand (95% CI) | p | flips ↓/↑ |"),
            std::string::npos)
      << *md;
  const std::string row =
      "| mmlu_x | acc,none | " + fmt("%.2f", 100 * mean) + " ± " + fmt("%.2f", 100 * se) + " | ";
  EXPECT_NE(md->find(row), std::string::npos) << row << "\n" << *md;
  // The same delta and McNemar p as `assay gate`, and the 30 planted flips.
  EXPECT_NEAR(v->delta_points, -3.0, 1e-9);
  EXPECT_NE(md->find(fmt("%+.2f", v->delta_points) + " ("), std::string::npos) << *md;
  EXPECT_NE(md->find("🔻 | " + fmt("%.1e", v->p_value) + " | 30 / 0 |"), std::string::npos) << *md;
  // Unchanged task: zero delta, p = 1, no flips, no marker.
  EXPECT_NE(md->find("| other | acc,none | "), std::string::npos);
  EXPECT_NE(md->find("+0.00 (+0.00, +0.00) | 1.0000 | 0 / 0 |"), std::string::npos) << *md;
}

TEST(ReportMarkdownTest, GroupsFoldSubtasksAndErrorsAreCounted) {
  TempDir dir;
  FakeTask a = binary_task("g_a", 50, 0.5, 1), b = binary_task("g_b", 50, 0.5, 2),
           c = binary_task("g_c", 50, 0.5, 3);
  c.docs[3].error = "HTTP 503";
  write_run(dir.sub("run"), {{a, b, c}, {{"grp", {"sub"}}, {"sub", {"g_a", "g_b", "g_c"}}}});
  ReportOptions o;
  o.runs = {dir.sub("run")};
  o.format = "md";
  auto md = render_report(o);
  ASSERT_TRUE(md.ok()) << md.status().message();
  // The root and its children in the main table; the leaves folded into <details>.
  EXPECT_NE(md->find("| grp | acc,none |"), std::string::npos) << *md;
  EXPECT_NE(md->find("| &nbsp;&nbsp;sub | acc,none |"), std::string::npos) << *md;
  EXPECT_NE(md->find("<details><summary>All 3 subtasks</summary>"), std::string::npos) << *md;
  EXPECT_LT(md->find("<details>"), md->find("g_a |"));
  EXPECT_NE(md->find("**Infrastructure errors:** 1 sample failed (not scored): run/g_c 1."),
            std::string::npos)
      << *md;
  EXPECT_EQ(md->find("Δ"), std::string::npos);  // one run: nothing to compare
}

TEST(ReportHtmlTest, TablesChartAndComparison) {
  TempDir dir;
  FakeTask a = binary_task("g_a", 300, 0.6, 1), b = binary_task("g_b", 300, 0.4, 2);
  FakeTask a2 = a;
  flip(a2, 1.0, 20);
  flip(a2, 0.0, 5, 150);
  write_run(dir.sub("x"), {{a, b}, {{"grp", {"g_a", "g_b"}}}});
  write_run(dir.sub("y"), {{a2, b}, {{"grp", {"g_a", "g_b"}}}});
  ReportOptions o;
  o.runs = {dir.sub("x"), dir.sub("y")};
  auto html = render_report(o);
  ASSERT_TRUE(html.ok()) << html.status().message();
  const std::string& h = *html;
  EXPECT_EQ(count(h, "<tr data-node="), 3u);
  EXPECT_NE(h.find("<svg class=\"chart\" id=\"chart-grp\""), std::string::npos);
  EXPECT_EQ(count(h, "<g class=\"bar\""), 2u);
  EXPECT_EQ(count(h, "<rect class=\"r1\""), 2u);        // one bar per run and subtask
  EXPECT_NE(h.find(">-5.00</td>"), std::string::npos);  // g_a: −20 + 5 on 300 documents
  EXPECT_NE(h.find(">20 / 5</td>"), std::string::npos);
  EXPECT_NE(h.find("id=\"flip-list\""), std::string::npos);
  EXPECT_NE(h.find("id=\"no-errors\""), std::string::npos);
}

TEST(ReportTest, BadOptionsAndMissingRuns) {
  TempDir dir;
  ReportOptions o;
  EXPECT_EQ(render_report(o).status().code(), StatusCode::kInvalidArgument);
  write_run(dir.sub("run"), {{binary_task("a", 10, 0.5, 1)}, {}});
  o.runs = {dir.sub("run")};
  o.format = "pdf";
  auto r = render_report(o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--format must be html or md"), std::string::npos);
  o.format = "html";
  o.runs = {dir.sub("nope")};
  r = render_report(o);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir.sub("nope")), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace assay
