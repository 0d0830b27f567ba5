#include "reports/junit.h"

#include <gtest/gtest.h>

#include "tests/support/test_env.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "reports/gate.h"
#include "tests/reports/run_fixture.h"

namespace assay {
namespace {

using testing_support::TempDir;

std::string schema_path() {
  // ASSAY_SOURCE_DIR is set by gtest_discover_tests; fall back to this file's folder.
  if (const char* src = std::getenv("ASSAY_SOURCE_DIR")) {
    return std::string(src) + "/tests/reports/data/junit.xsd";
  }
  return testing::source_dir() + "/tests/reports/data/junit.xsd";
}

// Validates `xml_path` against the JUnit schema with xmllint; returns xmllint's messages on
// failure, "" on success. Missing xmllint is a failure, not a skip: CI must validate.
std::string validate_with_xmllint(const std::string& xml_path, const std::string& log_path) {
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0) {
    return "xmllint not found: install libxml2-utils (apt-get install -y libxml2-utils)";
  }
  const std::string cmd = "xmllint --noout --schema '" + schema_path() + "' '" + xml_path + "' >'" +
                          log_path + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc == 0) return "";
  std::ifstream f(log_path);
  std::stringstream s;
  s << f.rdbuf();
  return "xmllint rc " + std::to_string(rc) + ": " + s.str();
}

TEST(JUnitTest, EscapesMarkupInAttributesAndText) {
  EXPECT_EQ(xml_escape("a<b>&\"c'", true), "a&lt;b&gt;&amp;&quot;c&apos;");
  EXPECT_EQ(xml_escape("a<b>&\"c'", false), "a&lt;b&gt;&amp;\"c'");
  EXPECT_EQ(xml_escape("l1\nl2\tx\r", true), "l1&#10;l2&#9;x&#13;");
  EXPECT_EQ(xml_escape("l1\nl2", false), "l1\nl2");
}

TEST(JUnitTest, ReplacesWhatXmlCannotCarry) {
  // C0 control, a lone continuation byte, a truncated sequence, an overlong '/', a surrogate.
  EXPECT_EQ(xml_escape(std::string("a\x01"
                                   "b",
                                   3),
                       false),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(xml_escape("\x80", false), "\xEF\xBF\xBD");
  EXPECT_EQ(xml_escape("\xE2\x82", false), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(xml_escape("\xC0\xAF", false), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(xml_escape("\xED\xA0\x80", false), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  // Valid multi-byte text passes through: é, €, 𝄞.
  EXPECT_EQ(xml_escape("\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E", true),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E");
}

TEST(JUnitTest, DocumentCountsAndStructure) {
  JUnitSuite suite;
  suite.name = "assay-gate";
  suite.timestamp = "2026-11-27T12:00:00";
  suite.hostname = "ci";
  std::vector<JUnitCase> cases = {
      {"mmlu", "assay.gate", 0.5, JUnitCase::Outcome::kPass, "", "", ""},
      {"gsm8k", "assay.gate", 1.25, JUnitCase::Outcome::kFailure, "dropped 3 points", "regression",
       "details"},
      {"math", "assay.gate", 0, JUnitCase::Outcome::kError, "20 of 1000 requests failed", "", ""},
  };
  const std::string x = junit_xml(suite, cases);
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0), 0u);
  EXPECT_NE(x.find("<testsuite name=\"assay-gate\" timestamp=\"2026-11-27T12:00:00\" "
                   "hostname=\"ci\" tests=\"3\" failures=\"1\" errors=\"1\""),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<testcase name=\"mmlu\" classname=\"assay.gate\" time=\"0.500\"/>"),
            std::string::npos);
  EXPECT_NE(x.find("<failure message=\"dropped 3 points\" type=\"regression\">details</failure>"),
            std::string::npos);
  EXPECT_NE(x.find("<error message=\"20 of 1000 requests failed\" type=\"error\"></error>"),
            std::string::npos);
}

TEST(JUnitTest, HostileNamesValidateAgainstSchema) {
  TempDir dir;
  JUnitSuite suite;
  suite.name = "assay-gate";
  suite.system_out = "table | with <markup> & \"quotes\"\n\x02 and \xff bytes\n";
  std::vector<JUnitCase> cases = {
      {"a<b>&c\"d'e", "assay.gate", 0.1, JUnitCase::Outcome::kPass, "", "", ""},
      {"tab\tnew\nline \x01\xfe", "assay.gate", 0.2, JUnitCase::Outcome::kFailure,
       "msg with ]]> and <tags> & \"q\"", "regression", "line1\nline2 ]]> </failure>"},
      {"caf\xC3\xA9", "assay.gate", 0, JUnitCase::Outcome::kError, "boom\nsecond line", "",
       "<stack>"},
  };
  const std::string path = dir.sub("junit.xml");
  ASSERT_TRUE(write_junit(path, suite, cases).ok());
  const std::string problem = validate_with_xmllint(path, dir.sub("xmllint.log"));
  EXPECT_TRUE(problem.empty()) << problem;
}

TEST(JUnitTest, GateReportValidatesAgainstSchema) {
  using namespace testing_support;
  TempDir dir;
  FakeTask base = binary_task("mmlu_x", 1000, 0.7, 1);
  FakeTask cand = base;
  flip(cand, 1.0, 30);
  write_run(dir.sub("base"), {{base, binary_task("gsm8k", 50, 0.5, 2)}, {}});
  write_run(dir.sub("cand"), {{cand}, {}});  // gsm8k missing: an <error>
  GateOptions o;
  o.baseline = dir.sub("base");
  o.candidate = dir.sub("cand");
  o.junit_path = dir.sub("gate.xml");
  std::ostringstream out;
  std::string error;
  EXPECT_EQ(run_gate(o, out, &error), kGateExitRegression) << error;
  std::ifstream f(dir.sub("gate.xml"));
  std::stringstream s;
  s << f.rdbuf();
  EXPECT_NE(s.str().find("failures=\"1\" errors=\"1\""), std::string::npos) << s.str();
  const std::string problem = validate_with_xmllint(dir.sub("gate.xml"), dir.sub("xmllint.log"));
  EXPECT_TRUE(problem.empty()) << problem;
}

TEST(JUnitTest, SchemaRejectsBrokenDocuments) {
  // Guards the validator itself: a document missing required attributes must not pass.
  TempDir dir;
  testing_support::write_text(dir.sub("bad.xml"),
                              "<?xml version=\"1.0\"?>\n<testsuite name=\"x\"><properties/>"
                              "<testcase name=\"t\"/><system-out/><system-err/></testsuite>\n");
  EXPECT_FALSE(validate_with_xmllint(dir.sub("bad.xml"), dir.sub("log")).empty());
}

}  // namespace
}  // namespace assay
