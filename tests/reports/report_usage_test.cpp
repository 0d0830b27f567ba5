// The report's "Cost, tokens and timings" section reads results.json assay.usage (issue #6):
// numbers where a run recorded them, "no price" where the price table had no entry, and "not
// recorded" only for runs from before accounting (or from lm-eval).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "reports/report.h"
#include "tests/reports/run_fixture.h"

namespace assay {
namespace {

using testing_support::binary_task;
using testing_support::TempDir;
using testing_support::write_run;
using testing_support::write_text;

// Adds `usage` as results.json "assay.usage".
void add_usage(const std::string& dir, const std::string& usage) {
  std::ifstream in(dir + "/results.json");
  std::stringstream ss;
  ss << in.rdbuf();
  boost::json::object root = boost::json::parse(ss.str()).as_object();
  if (!root["assay"].is_object()) root["assay"] = boost::json::object{};
  root["assay"].as_object()["usage"] = boost::json::parse(usage);
  write_text(dir + "/results.json", boost::json::serialize(root));
}

std::string cell(const std::string& h, const std::string& row) {
  const std::string head = "<tr><th>" + row + "</th>";
  size_t at = h.find(head);
  if (at == std::string::npos) return "<no row " + row + ">";
  size_t end = h.find("</tr>", at);
  return h.substr(at + head.size(), end - at - head.size());
}

TEST(ReportUsageTest, ShowsTokensCostNoPriceAndNotRecorded) {
  TempDir dir;
  for (const char* r : {"priced", "unpriced", "old"})
    write_run(dir.sub(r), {{binary_task("t", 10, 0.5, 1)}, {}});
  add_usage(dir.sub("priced"),
            R"({"requests": 40, "prompt_tokens": 123456, "completion_tokens": 40,
                "cached_prompt_tokens": 1000, "cost_usd": 0.370968,
                "price_table": {"path": "config/prices.json", "version": "2025-11-01"}})");
  add_usage(dir.sub("unpriced"),
            R"({"requests": 40, "prompt_tokens": 99, "completion_tokens": 7, "cost_usd": null,
                "price_table": {"path": "builtin:config/prices.json", "version": "2025-11-01"}})");
  ReportOptions o;
  o.runs = {dir.sub("priced"), dir.sub("unpriced"), dir.sub("old")};
  auto html = render_report(o);
  ASSERT_TRUE(html.ok()) << html.status().message();
  const std::string num = "<td class=\"num\">";
  EXPECT_EQ(cell(*html, "prompt tokens"),
            num + "123456</td>" + num + "99</td>" + num + "not recorded</td>");
  EXPECT_EQ(cell(*html, "completion tokens"),
            num + "40</td>" + num + "7</td>" + num + "not recorded</td>");
  EXPECT_EQ(cell(*html, "cached prompt tokens"),
            num + "1000</td>" + num + "—</td>" + num + "not recorded</td>");
  EXPECT_EQ(cell(*html, "cost (USD)"),
            num + "0.3710</td>" + num + "no price</td>" + num + "not recorded</td>");
  EXPECT_EQ(cell(*html, "price table"), num + "config/prices.json (version 2025-11-01)</td>" + num +
                                            "builtin:config/prices.json (version 2025-11-01)</td>" +
                                            num + "not recorded</td>");
}

TEST(ReportUsageTest, MarkdownHasTheSameTable) {
  TempDir dir;
  for (const char* r : {"priced", "old"}) write_run(dir.sub(r), {{binary_task("t", 10, 0.5, 1)}, {}});
  add_usage(dir.sub("priced"),
            R"({"requests": 40, "prompt_tokens": 123456, "completion_tokens": 40, "cost_usd": 0.370968,
                "price_table": {"path": "my|prices.json", "version": "2025-11-01"}})");
  ReportOptions o;
  o.runs = {dir.sub("priced"), dir.sub("old")};
  o.format = "md";
  auto md = render_report(o);
  ASSERT_TRUE(md.ok()) << md.status().message();
  EXPECT_NE(md->find("### Cost, tokens and timings\n"), std::string::npos) << *md;
  EXPECT_NE(md->find("| prompt tokens | 123456 | not recorded |\n"), std::string::npos) << *md;
  EXPECT_NE(md->find("| cost (USD) | 0.3710 | not recorded |\n"), std::string::npos) << *md;
  EXPECT_NE(md->find("| samples logged | 10 | 10 |\n"), std::string::npos) << *md;
  // Cells are escaped like every other Markdown cell.
  EXPECT_NE(md->find("| price table | my\\|prices.json (version 2025-11-01) | not recorded |\n"),
            std::string::npos)
      << *md;
}

TEST(ReportUsageTest, SmallCostsKeepTheirDigits) {
  TempDir dir;
  write_run(dir.sub("r"), {{binary_task("t", 4, 0.5, 1)}, {}});
  add_usage(dir.sub("r"), R"({"prompt_tokens": 100, "completion_tokens": 4, "cost_usd": 0.00036})");
  ReportOptions o;
  o.runs = {dir.sub("r")};
  auto html = render_report(o);
  ASSERT_TRUE(html.ok()) << html.status().message();
  EXPECT_EQ(cell(*html, "cost (USD)"), "<td class=\"num\">0.000360</td>");
}

}  // namespace
}  // namespace assay
