// End to end with the real binary: `assay serve --model default` on a free port, then
// `assay run` against it over HTTP and against the default model directly; the per-sample
// log-likelihoods and accuracies must agree.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "tests/support/serve_process.h"
#include "tests/support/test_env.h"


namespace assay {
namespace {

std::string assay_bin() { return testing::binary_dir() + "/assay"; }

int run_command(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

using testing::ServeProcess;

struct Sample {
  std::vector<double> logprobs;
  double acc = -1;
};

// task -> doc_id -> sample, from DIR/samples_<task>.jsonl.
std::map<std::string, std::map<int64_t, Sample>> read_samples(
    const std::string& dir, const std::vector<std::string>& tasks) {
  std::map<std::string, std::map<int64_t, Sample>> out;
  for (const auto& t : tasks) {
    std::ifstream in(dir + "/samples_" + t + ".jsonl");
    EXPECT_TRUE(in.good()) << dir << " has no samples for " << t;
    std::string line;
    simdjson::dom::parser parser;
    while (std::getline(in, line)) {
      simdjson::dom::element e = parser.parse(line);
      Sample s;
      for (simdjson::dom::element r : e["resps"].get_array()) {
        std::string_view v = r.at(0).at(0).get_string();
        s.logprobs.push_back(std::stod(std::string(v)));
      }
      s.acc = e["acc"].get_double();
      out[t][int64_t(e["doc_id"].get_int64())] = s;
    }
  }
  return out;
}

TEST(ServeCli, RunOverHttpMatchesTheLocalEngine) {
  ServeProcess serve({"--model", "default", "--port", "0"});
  ASSERT_TRUE(serve.started());
  std::string line = serve.first_line(120000);
  const std::string prefix = "listening on http://127.0.0.1:";
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << "first line: " << line;
  const std::string url = line.substr(std::string("listening on ").size());
  ASSERT_EQ(url.substr(url.size() - 3), "/v1");

  testing::TempDir tmp;
  const std::vector<std::string> tasks = {"mmlu_abstract_algebra", "mmlu_anatomy"};
  const std::string common =
      " --tasks mmlu_abstract_algebra,mmlu_anatomy --limit 5 --log-samples --data-dir " +
      testing::data_dir();
  std::string out_http, out_local;
  int rc =
      run_command(assay_bin() + " run --model " + url + " --output " + tmp.file("http") + common, &out_http);
  ASSERT_EQ(rc, 0) << out_http;
  {
    // No model args: the plain URL was probed for prompt log-probs because mmlu needs them, and
    // the answer is in the results.
    simdjson::dom::parser parser;
    simdjson::dom::element model = parser.load(tmp.file("http") + "/results.json")["assay"]["model"];
    EXPECT_EQ(std::string_view(model["probe.echo_logprobs"].get_string()), "yes");
    EXPECT_TRUE(bool(model["supports_loglikelihood"].get_bool()));
  }
  rc = run_command(assay_bin() + " run --model default --output " + tmp.file("local") + common,
                   &out_local);
  ASSERT_EQ(rc, 0) << out_local;

  auto http = read_samples(tmp.file("http"), tasks);
  auto local = read_samples(tmp.file("local"), tasks);
  for (const auto& t : tasks) {
    ASSERT_EQ(http[t].size(), 5u) << t;
    ASSERT_EQ(local[t].size(), 5u) << t;
    for (const auto& [doc, s] : local[t]) {
      const Sample& h = http[t][doc];
      ASSERT_EQ(h.logprobs.size(), s.logprobs.size()) << t << " doc " << doc;
      for (size_t i = 0; i < s.logprobs.size(); ++i) {
        EXPECT_NEAR(h.logprobs[i], s.logprobs[i], 1e-4) << t << " doc " << doc << " option " << i;
      }
      EXPECT_EQ(h.acc, s.acc) << t << " doc " << doc;
    }
  }
  // SIGTERM: a clean exit.
  EXPECT_EQ(serve.signal_and_wait(SIGTERM, 10000), 0);
}

// A run over HTTP that stopped resumes from its write-ahead log after `assay serve` was restarted
// on another port: the serve card names the weights, and the run's cache identity uses that, not
// the URL. No request is sent again.
TEST(ServeCli, RunResumesAgainstARestartedServerOnAnotherPort) {
  testing::TempDir tmp;
  const std::string common = " --tasks mmlu_abstract_algebra --limit 3 --output " + tmp.file("out") +
                             " --data-dir " + testing::data_dir();
  std::string first_url;
  for (int start = 0; start < 2; ++start) {
    ServeProcess serve({"--model", "default", "--port", "0"});
    ASSERT_TRUE(serve.started());
    std::string url = serve.url();
    ASSERT_FALSE(url.empty());
    if (start == 0) first_url = url;
    else ASSERT_NE(url, first_url) << "the second server should be on another port";
    std::string out;
    ASSERT_EQ(run_command(assay_bin() + " run --model " + url + common, &out), 0) << out;
    simdjson::dom::parser parser;
    simdjson::dom::element a = parser.load(tmp.file("out") + "/results.json")["assay"];
    std::string identity(std::string_view(a["model"]["identity"].get_string()));
    EXPECT_EQ(identity.find(url), std::string::npos) << identity;
    EXPECT_NE(identity.find("assay-serve:local:"), std::string::npos) << identity;
    EXPECT_EQ(int64_t(a["requests"]["unique"].get_int64()), 12);
    EXPECT_EQ(int64_t(a["requests"]["sent"].get_int64()), start == 0 ? 12 : 0) << out;
    EXPECT_EQ(int64_t(a["requests"]["from_log"].get_int64()), start == 0 ? 0 : 12) << out;
    EXPECT_EQ(serve.signal_and_wait(SIGTERM, 10000), 0);
  }
}

TEST(ServeCli, RefusesNonLoopbackWithoutKeyAndLocalOnlyModels) {
  std::string out;
  int rc = run_command(assay_bin() + " serve --model default --host 0.0.0.0 --port 0", &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("--api-key"), std::string::npos) << out;
  out.clear();
  rc = run_command(assay_bin() + " serve --model http://127.0.0.1:9/v1 --port 0", &out);
  EXPECT_NE(rc, 0) << out;
  out.clear();
  rc = run_command(assay_bin() + " serve", &out);
  EXPECT_EQ(rc, 2) << out;
}

TEST(ServeCli, SigintWhileIdleExitsCleanly) {
  ServeProcess serve({"--model", "default", "--port", "0", "--api-key", "k"});
  ASSERT_TRUE(serve.started());
  std::string line = serve.first_line(120000);
  ASSERT_EQ(line.rfind("listening on http://127.0.0.1:", 0), 0u) << line;
  EXPECT_EQ(serve.signal_and_wait(SIGINT, 10000), 0);
}

}  // namespace
}  // namespace assay
