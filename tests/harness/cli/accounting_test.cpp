// Token and cost accounting end to end (issue #6): the real `assay run` against the fault server
// over loopback HTTP. The run's totals must equal what the server reported in its answers
// (computed here independently from the server's deterministic tokeniser), per request, per task
// and per run; retried requests must not count twice; a resumed run must end with the same
// numbers; the report must show them; an unknown model has no cost and a malformed price table
// stops the run before any request is sent.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "harness/csv.h"
#include "harness/jsonl.h"
#include "tests/support/fault_server.h"
#include "tests/support/run_assay.h"
#include "tests/support/serve_process.h"
#include "tests/support/test_env.h"


namespace assay {
namespace {

namespace json = boost::json;
using testing::FaultServer;

using RunResult = testing::AssayRun;
using testing::run_assay;

json::value load_json(const std::string& path) {
  auto text = read_file(path);
  EXPECT_TRUE(text.ok()) << path;
  auto v = parse_json_exact(text.ok() ? *text : "{}");
  EXPECT_TRUE(v.ok()) << path;
  return v.ok() ? *v : json::value();
}

std::vector<json::value> load_jsonl(const std::string& path) {
  std::vector<json::value> rows;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::string line;
  while (std::getline(in, line)) rows.push_back(*parse_json_exact(line));
  return rows;
}

int64_t fake_count(const std::string& text) {
  return static_cast<int64_t>(FaultServer::fake_tokens(text).size());
}

struct Expected {
  int64_t requests = 0, prompt = 0, completion = 0;
};

const char* kPrices = R"({"version": "e2e-1", "currency": "USD",
  "models": {"fake-model": {"input_per_mtok": 3, "output_per_mtok": 15}}})";

class Accounting : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::FaultServerOptions o;
    // Rate limits on a quarter of the attempts: every request still succeeds, some after
    // retries whose answers carried no usage (and must not be counted).
    o.fault_rate = 0.25;
    o.faults = {testing::Fault::k429RetryAfter};
    o.seed = 11;
    server_ = std::make_unique<FaultServer>(o);
    testing::write_text(dir_.file("prices.json"), kPrices);
  }
  std::string common(const std::string& out, int limit,
                     const std::string& tasks = "mmlu_abstract_algebra,mmlu_anatomy,gsm8k") const {
    return "run --model " + server_->base_url() +
           " --model-args model=fake-model,loglikelihood=true,max_retries=20"
           " --tasks " +
           tasks +
           " --num-fewshot 1 --log-samples"
           " --limit " +
           std::to_string(limit) + " --output " + out + " --data-dir " + testing::data_dir();
  }

  testing::TempDir dir_;
  std::unique_ptr<FaultServer> server_;
};

TEST_F(Accounting, TotalsEqualTheServersUsageAndSurviveAResume) {
  const std::string clean = dir_.file("clean"), resumed = dir_.file("resumed");
  const std::string prices = " --prices " + dir_.file("prices.json");
  RunResult r = run_assay(common(clean, 4) + prices);
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_GT(server_->stats().faults[testing::Fault::k429RetryAfter], 0) << "no retry was exercised";

  // What the server reported, request by request, from its deterministic tokeniser: completions
  // with echo bill context+continuation in and one token out; chat bills the message in and the
  // one-token fake answer out.
  const std::map<std::string, bool> is_generate = {
      {"mmlu_abstract_algebra", false}, {"mmlu_anatomy", false}, {"gsm8k", true}};
  std::map<std::string, Expected> by_task;
  std::map<std::string, std::pair<int64_t, int64_t>> unique;  // request -> (in, out)
  for (const auto& [task, gen] : is_generate) {
    std::set<std::string> seen;
    auto rows = load_jsonl(clean + "/samples_" + task + ".jsonl");
    std::set<int64_t> docs;  // lm-eval logs a document once per filter
    for (const auto& row : rows) docs.insert(row.at("doc_id").as_int64());
    ASSERT_EQ(docs.size(), 4u) << task;
    for (const auto& row : rows) {
      const json::object& args = row.at("arguments").as_object();
      const json::array& usage = row.at("usage").as_array();
      ASSERT_EQ(usage.size(), args.size()) << task;
      for (size_t i = 0; i < args.size(); ++i) {
        const json::object& a = args.at("gen_args_" + std::to_string(i)).as_object();
        const std::string prompt(a.at("arg_0").as_string());
        const std::string key =
            gen ? "g|" + prompt : "l|" + prompt + "|" + std::string(a.at("arg_1").as_string());
        const int64_t in =
            gen ? fake_count(prompt) : fake_count(prompt + std::string(a.at("arg_1").as_string()));
        // Per request, in the sample log.
        ASSERT_TRUE(usage[i].is_object()) << task << " " << i;
        EXPECT_EQ(usage[i].at("prompt_tokens").as_int64(), in) << task;
        EXPECT_EQ(usage[i].at("completion_tokens").as_int64(), 1) << task;
        EXPECT_NEAR(usage[i].at("cost_usd").as_double(), (in * 3 + 15) / 1e6, 1e-15);
        unique[key] = {in, 1};
        if (!seen.insert(key).second) continue;
        Expected& e = by_task[task];
        ++e.requests;
        e.prompt += in;
        e.completion += 1;
      }
    }
  }
  Expected run;
  for (const auto& [k, io] : unique) {
    ++run.requests;
    run.prompt += io.first;
    run.completion += io.second;
  }
  ASSERT_EQ(run.requests, 4 * 4 * 2 + 4);  // 8 questions x 4 options, and 4 generations

  json::value res = load_json(clean + "/results.json");
  const json::object& usage = res.at("assay").at("usage").as_object();
  EXPECT_EQ(usage.at("requests").as_int64(), run.requests);
  EXPECT_EQ(usage.at("requests_without_usage").as_int64(), 0);
  EXPECT_EQ(usage.at("failed_requests").as_int64(), 0);
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), run.prompt);
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), run.completion);
  EXPECT_NEAR(usage.at("cost_usd").as_double(), (run.prompt * 3.0 + run.completion * 15.0) / 1e6,
              1e-12);
  EXPECT_EQ(usage.at("price").at("model").as_string(), "fake-model");
  EXPECT_EQ(usage.at("price_table").at("path").as_string(), dir_.file("prices.json"));
  EXPECT_EQ(usage.at("price_table").at("version").as_string(), "e2e-1");
  const json::object& per_task = res.at("assay").at("usage_by_task").as_object();
  for (const auto& [task, e] : by_task) {
    const json::object& t = per_task.at(task).as_object();
    EXPECT_EQ(t.at("requests").as_int64(), e.requests) << task;
    EXPECT_EQ(t.at("prompt_tokens").as_int64(), e.prompt) << task;
    EXPECT_EQ(t.at("completion_tokens").as_int64(), e.completion) << task;
    EXPECT_NEAR(t.at("cost_usd").as_double(), (e.prompt * 3.0 + e.completion * 15.0) / 1e6, 1e-12);
  }
  // The terminal summary.
  EXPECT_NE(r.out.find("Usage: " + std::to_string(run.requests) + " requests, "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(prices: " + dir_.file("prices.json") + ", version e2e-1)"),
            std::string::npos)
      << r.out;

  // Resume: half the documents first, then all of them on the same output.
  RunResult half = run_assay(common(resumed, 2) + prices);
  ASSERT_EQ(half.code, 0) << half.out;
  RunResult rest = run_assay(common(resumed, 4), "ASSAY_PRICES=" + dir_.file("prices.json"));
  ASSERT_EQ(rest.code, 0) << rest.out;
  json::value res2 = load_json(resumed + "/results.json");
  EXPECT_GT(res2.at("assay").at("requests").at("from_log").as_int64(), 0) << "nothing was resumed";
  EXPECT_LT(res2.at("assay").at("requests").at("sent").as_int64(), run.requests);
  EXPECT_EQ(res2.at("assay").at("usage"), res.at("assay").at("usage"));
  EXPECT_EQ(res2.at("assay").at("usage_by_task"), res.at("assay").at("usage_by_task"));
  EXPECT_EQ(res2.at("results"), res.at("results"));

  // The report shows the numbers.
  RunResult rep = run_assay("report " + clean + " -o " + dir_.file("report.html"));
  ASSERT_EQ(rep.code, 0) << rep.out;
  auto html = read_file(dir_.file("report.html"));
  ASSERT_TRUE(html.ok());
  EXPECT_NE(
      html->find("<th>prompt tokens</th><td class=\"num\">" + std::to_string(run.prompt) + "</td>"),
      std::string::npos);
  char cost[64];
  const double c = (run.prompt * 3.0 + run.completion * 15.0) / 1e6;
  std::snprintf(cost, sizeof cost, c < 0.01 ? "%.6f" : "%.4f", c);
  EXPECT_NE(html->find(std::string("<th>cost (USD)</th><td class=\"num\">") + cost + "</td>"),
            std::string::npos)
      << cost;
}

TEST_F(Accounting, UnknownModelHasNoCostAndTheReportSaysSo) {
  const std::string out = dir_.file("noprice");
  // The built-in table has no entry for a local test server's model.
  RunResult r = run_assay(common(out, 1), "ASSAY_PRICES=");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("no price for " + server_->base_url()), std::string::npos) << r.out;
  json::value res = load_json(out + "/results.json");
  const json::object& usage = res.at("assay").at("usage").as_object();
  EXPECT_TRUE(usage.at("cost_usd").is_null());
  EXPECT_TRUE(usage.at("price").is_null());
  EXPECT_GT(usage.at("prompt_tokens").as_int64(), 0);  // tokens are still counted
  EXPECT_EQ(usage.at("price_table").at("path").as_string(), "builtin:config/prices.json");
  EXPECT_TRUE(res.at("assay").at("usage_by_task").at("gsm8k").at("cost_usd").is_null());

  // A group's usage is that of the requests of its subtasks.
  const std::string grp = dir_.file("group");
  r = run_assay(common(grp, 1, "mmlu_stem"), "ASSAY_PRICES=");
  ASSERT_EQ(r.code, 0) << r.out;
  json::value g = load_json(grp + "/results.json");
  const json::object& by = g.at("assay").at("usage_by_task").as_object();
  int64_t leaves = 0, leaf_prompt = 0, leaf_requests = 0;
  for (const auto& sub : g.at("group_subtasks").at("mmlu_stem").as_array()) {
    const json::object& t = by.at(sub.as_string()).as_object();
    ++leaves;
    leaf_prompt += t.at("prompt_tokens").as_int64();
    leaf_requests += t.at("requests").as_int64();
  }
  ASSERT_GT(leaves, 5);
  EXPECT_EQ(leaf_requests, leaves * 4);
  EXPECT_EQ(by.at("mmlu_stem").at("requests").as_int64(), leaf_requests);
  EXPECT_EQ(by.at("mmlu_stem").at("prompt_tokens").as_int64(), leaf_prompt);
  EXPECT_EQ(g.at("assay").at("usage").at("prompt_tokens").as_int64(), leaf_prompt);
  RunResult rep = run_assay("report " + out + " -o " + dir_.file("r.html"));
  ASSERT_EQ(rep.code, 0) << rep.out;
  auto html = read_file(dir_.file("r.html"));
  ASSERT_TRUE(html.ok());
  EXPECT_NE(html->find("<th>cost (USD)</th><td class=\"num\">no price</td>"), std::string::npos);
}

TEST_F(Accounting, MalformedPriceTableStopsBeforeAnyRequest) {
  testing::write_text(dir_.file("bad.json"),
                      R"({"version": "1", "currency": "USD",
                          "models": {"fake-model": {"input_per_mtok": "3", "output_per_mtok": 15}}})");
  RunResult r = run_assay(common(dir_.file("bad"), 1) + " --prices " + dir_.file("bad.json"));
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(dir_.file("bad.json") + ": models.\"fake-model\".input_per_mtok"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(server_->stats().requests, 0)
      << "a request went out before the price table was checked";
  // Through the environment too.
  r = run_assay(common(dir_.file("bad2"), 1), "ASSAY_PRICES=" + dir_.file("bad.json"));
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("$ASSAY_PRICES"), std::string::npos) << r.out;
  EXPECT_EQ(server_->stats().requests, 0);
}

// Over the real `assay serve`, the server's usage (what it billed per echo request) is what the
// run records, and it matches the tokens the local engine counts scoring the same requests.
TEST(AccountingServe, UsageOverServeMatchesTheLocalEngine) {
  testing::ServeProcess serve({"--model", "default", "--port", "0"});
  const std::string url = serve.url();
  ASSERT_FALSE(url.empty()) << "assay serve did not start";
  testing::TempDir dir;
  const std::string common =
      " --tasks mmlu_anatomy --limit 3 --num-fewshot 1 --log-samples"
      " --data-dir " +
      testing::data_dir();
  RunResult h = run_assay("run --model " + url + " --model-args loglikelihood=true --output " +
                          dir.file("http") + common);
  ASSERT_EQ(h.code, 0) << h.out;
  RunResult l = run_assay("run --model default --output " + dir.file("local") + common);
  ASSERT_EQ(l.code, 0) << l.out;
  json::value rh = load_json(dir.file("http") + "/results.json");
  json::value rl = load_json(dir.file("local") + "/results.json");
  const json::object& uh = rh.at("assay").at("usage").as_object();
  const json::object& ul = rl.at("assay").at("usage").as_object();
  EXPECT_EQ(uh.at("requests").as_int64(), 12);
  EXPECT_EQ(uh.at("requests_without_usage").as_int64(), 0);
  EXPECT_GT(uh.at("prompt_tokens").as_int64(), 12 * 20);
  EXPECT_EQ(uh.at("prompt_tokens"), ul.at("prompt_tokens"));
  EXPECT_EQ(uh.at("completion_tokens").as_int64(),
            12);                                        // the one token each echo request generates
  EXPECT_EQ(ul.at("completion_tokens").as_int64(), 0);  // the local engine generates none
  EXPECT_EQ(ul.at("cost_usd").as_double(), 0.0);
  // assay serve names its weights in /v1/models: the local engine over HTTP, priced 0 and
  // without a "no price" line.
  EXPECT_EQ(uh.at("cost_usd").as_double(), 0.0);
  EXPECT_EQ(h.out.find("no price"), std::string::npos) << h.out;
  // Per request, in the sample logs.
  auto sh = load_jsonl(dir.file("http") + "/samples_mmlu_anatomy.jsonl");
  auto sl = load_jsonl(dir.file("local") + "/samples_mmlu_anatomy.jsonl");
  ASSERT_EQ(sh.size(), sl.size());
  int64_t sum = 0;
  for (size_t i = 0; i < sh.size(); ++i) {
    const json::array& a = sh[i].at("usage").as_array();
    const json::array& b = sl[i].at("usage").as_array();
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].at("prompt_tokens"), b[k].at("prompt_tokens"))
          << "doc " << i << " option " << k;
      sum += a[k].at("prompt_tokens").as_int64();
    }
  }
  EXPECT_EQ(sum, uh.at("prompt_tokens").as_int64());
}

}  // namespace
}  // namespace assay
