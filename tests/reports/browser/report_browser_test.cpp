// The issue #8 acceptance check for `assay report`: a full 5-shot MMLU run (14,042 samples, real
// questions, written by the evaluator) beside a second run with flips and failed requests, opened
// in headless Chromium. The page itself records its render time, script errors and CSP violations
// as attributes on <html>, which --dump-dom shows; the screenshot is kept as a test artifact.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "harness/evaluator.h"
#include "harness/registry.h"
#include "harness/sha256.h"
#include "reports/report.h"
#include "tests/support/fake_model.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

namespace fs = std::filesystem;

// Answers like FakeModel("fake-1") except on about 1 prompt in 16, which it scores as another
// model would (so some answers flip either way), and about 1 in 256, whose requests fail.
class DriftingModel : public Model {
 public:
  DriftingModel() : same_("fake-1"), other_("fake-2") { info_ = same_.info(); }
  const ModelInfo& info() const override { return info_; }
  std::vector<Result<LoglikelihoodResponse>> loglikelihood(
      std::span<const LoglikelihoodRequest> requests) override {
    std::vector<Result<LoglikelihoodResponse>> out;
    for (const auto& r : requests) {
      const std::string h = sha256_hex(r.context);
      if (h.rfind("ff", 0) == 0) {
        out.push_back(unavailable("HTTP 503 after 3 retries </script><b>"));
        continue;
      }
      testing::FakeModel* m = h[0] == '0' ? &other_ : &same_;
      out.push_back(std::move(m->loglikelihood(std::span(&r, 1))[0]));
    }
    return out;
  }
  std::vector<Result<RollingResponse>> loglikelihood_rolling(
      std::span<const RollingRequest> requests) override {
    return same_.loglikelihood_rolling(requests);
  }
  std::vector<Result<GenerateResponse>> generate_until(
      std::span<const GenerateRequest> requests) override {
    return same_.generate_until(requests);
  }

 private:
  testing::FakeModel same_, other_;
  ModelInfo info_;
};

struct Shell {
  int code = -1;
  std::string out;
};

Shell shell(const std::string& cmd) {
  Shell r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 65536> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1))
    ++n;
  return n;
}

// The value of attribute `name` on the dumped <html> element.
std::string html_attr(const std::string& dom, const std::string& name) {
  const std::size_t start = dom.find("<html");
  const std::size_t end = dom.find('>', start);
  if (start == std::string::npos || end == std::string::npos) return "";
  const std::string tag = dom.substr(start, end - start);
  std::smatch m;
  if (std::regex_search(tag, m, std::regex(" " + name + "=\"([^\"]*)\""))) return m[1];
  return "";
}

EvalOptions mmlu_options(const std::string& out) {
  EvalOptions o;
  o.tasks = {"mmlu"};
  o.task_options.data_dir = testing::data_dir();
  o.task_options.num_fewshot = 5;
  o.output_dir = out;
  o.log_samples = true;
  o.show_progress = false;
  o.seed = 1234;
  return o;
}

TEST(ReportBrowser, FullMmluPairRendersFastOfflineAndComplete) {
  // Chromium is installed by scripts/setup (Debian's `chromium`); without it this check cannot
  // run, and a check that silently does not run is worse than a red one.
  ASSERT_EQ(shell("command -v chromium").code, 0)
      << "chromium not found: run scripts/setup (apt-get install -y chromium)";

  const auto started = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  testing::TempDir dir;
  const std::string base = dir.file("base"), cand = dir.file("cand");
  TaskRegistry reg;
  register_tasks(reg);
  {
    testing::FakeModel model("fake-1");
    auto r = evaluate(model, reg, mmlu_options(base));
    ASSERT_TRUE(r.ok()) << r.status().message();
  }
  {
    DriftingModel model;
    auto r = evaluate(model, reg, mmlu_options(cand));
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_GT(r->requests_failed, 0);
  }
  std::cout << "two evaluations: " << seconds() << " s\n";

  ReportOptions ro;
  ro.runs = {base, cand};
  ro.title = "MMLU 5-shot: base vs cand";
  const std::string html_path = dir.file("report.html");
  const auto t0 = std::chrono::steady_clock::now();
  Status st = write_report(ro, html_path);
  ASSERT_TRUE(st.ok()) << st.message();
  const double write_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string html = read_file(html_path);
  std::cout << "report: " << html.size() << " bytes, written in " << write_s << " s\n";
  EXPECT_LT(html.size(), 20u * 1000 * 1000);
  // Nothing in the page may point at the network.
  EXPECT_FALSE(std::regex_search(
      html, std::regex(R"((src|href)\s*=\s*["']?\s*(https?:)?//)", std::regex::icase)));
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);

  const std::string artifacts = testing::binary_dir() + "/test-artifacts";
  fs::create_directories(artifacts);
  const std::string url = "file://" + html_path;
  const std::string chrome =
      "timeout 60 chromium --headless=new --no-sandbox --disable-gpu --no-first-run "
      "--disable-extensions --disable-background-networking --disable-sync "
      "--disable-component-update --disable-dev-shm-usage --enable-logging=stderr --v=0 "
      "--user-data-dir=" +
      dir.file("profile") + " --window-size=1400,2200 ";
  const Shell dump = shell(chrome + "--dump-dom '" + url + "' 2>" + dir.file("chrome.log"));
  const std::string log = read_file(dir.file("chrome.log"));
  ASSERT_EQ(dump.code, 0) << dump.out.substr(0, 2000) << log.substr(0, 4000);
  const std::string& dom = dump.out;
  std::cout << "chromium --dump-dom done at " << seconds() << " s\n";
  std::ofstream(artifacts + "/report.dom.html", std::ios::binary) << dom;

  EXPECT_EQ(html_attr(dom, "data-render"), "ok") << html_attr(dom, "data-last-error");
  EXPECT_EQ(html_attr(dom, "data-js-errors"), "0") << html_attr(dom, "data-last-error");
  EXPECT_EQ(html_attr(dom, "data-csp-violations"), "0") << html_attr(dom, "data-last-violation");
  const std::string ms = html_attr(dom, "data-render-ms");
  ASSERT_FALSE(ms.empty());
  std::cout << "render: " << ms << " ms (performance.now() when the first render finished)\n";
  EXPECT_LT(std::stod(ms), 2000.0);
  EXPECT_EQ(html_attr(dom, "data-sample-docs"), "14042");
  // Chromium prints the page's console messages (errors, CSP refusals) as CONSOLE lines.
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.find("CONSOLE"), std::string::npos) << line;
    EXPECT_EQ(line.find("Content Security Policy"), std::string::npos) << line;
  }

  // The task table: mmlu, its 4 categories and 57 subjects.
  EXPECT_EQ(count(dom, "<tr data-node="), 62u);
  EXPECT_NE(dom.find("mmlu_abstract_algebra"), std::string::npos);
  // The chart: one bar group per subject.
  const std::size_t svg = dom.find("<svg class=\"chart\" id=\"chart-mmlu\"");
  ASSERT_NE(svg, std::string::npos);
  const std::string chart = dom.substr(svg, dom.find("</svg>", svg) - svg);
  EXPECT_EQ(count(chart, "<g class=\"bar\""), 57u);
  // The drill-down's first page, the flips and the failed requests, each rendered by the page.
  auto section = [&](const std::string& id) {
    const std::size_t at = dom.find("id=\"" + id + "\"");
    if (at == std::string::npos) return std::string();
    return dom.substr(at, dom.find("</section>", at) - at);
  };
  EXPECT_EQ(count(section("sample-list"), "class=\"row\""), 50u);
  EXPECT_NE(section("sample-list").find("14042 matches"), std::string::npos);
  EXPECT_EQ(count(section("flip-list"), "class=\"row\""), 50u);
  EXPECT_NE(section("flip-list").find("class=\"flip down\""), std::string::npos);
  EXPECT_NE(section("flip-list").find("class=\"flip up\""), std::string::npos);
  const std::string errors = section("error-list");
  EXPECT_GT(count(errors, "class=\"row\""), 0u);
  EXPECT_NE(errors.find("HTTP 503 after 3 retries &lt;/script&gt;&lt;b&gt;"), std::string::npos);
  // Failed requests are not model answers: no error text in the drill-down.
  EXPECT_EQ(section("sample-list").find("HTTP 503"), std::string::npos);

  const std::string png = artifacts + "/report.png";
  fs::remove(png);
  const Shell shot = shell(chrome + "--screenshot=" + png + " '" + url + "' 2>/dev/null");
  EXPECT_EQ(shot.code, 0) << shot.out;
  ASSERT_TRUE(fs::exists(png)) << "no screenshot at " << png;
  EXPECT_GT(fs::file_size(png), 10000u);
  std::cout << "screenshot: " << png << " (done at " << seconds() << " s)\n";
}

}  // namespace
}  // namespace assay
