// A real `assay run` on the default model, SIGKILLed several times at different moments and then
// re-run to completion on the same --output, must end with exactly the results of a run that was
// never interrupted (issue #5): the write-ahead log keeps every finished chunk, a torn last line
// is ignored, and nothing is scored twice or differently.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "harness/atomic_file.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> run_args(const std::string& out) {
  return {testing::binary_dir() + "/assay", "run", "--model", "default",
          "--tasks", "mmlu_abstract_algebra,mmlu_anatomy", "--limit", "10", "--num-fewshot", "1",
          "--chunk-size", "8", "--log-samples", "--output", out,
          "--data-dir", testing::data_dir()};
}

pid_t spawn(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* devnull = std::fopen("/dev/null", "w");
    if (devnull) {
      dup2(fileno(devnull), 1);
      dup2(fileno(devnull), 2);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

size_t wal_lines(const std::string& dir) {
  auto lines = read_complete_lines(dir + "/requests.wal.jsonl", true);
  return lines.ok() ? lines->size() : 0;
}

// The parts of a run that must not depend on interruptions: every task's metric values, and
// every sample's responses and metrics, keyed by task and doc_id.
std::map<std::string, std::string> outcome(const std::string& dir) {
  std::map<std::string, std::string> o;
  simdjson::dom::parser parser;
  simdjson::dom::element res = parser.load(dir + "/results.json");
  for (auto [task, vals] : res["results"].get_object()) {
    for (auto [k, v] : vals.get_object()) {
      o["results/" + std::string(task) + "/" + std::string(k)] = simdjson::minify(v);
    }
  }
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("samples_", 0) != 0) continue;
    simdjson::dom::parser p2;
    for (simdjson::dom::element row : p2.load_many(e.path().string())) {
      const std::string key = name + "/" + std::to_string(int64_t(row["doc_id"].get_int64()));
      o[key + "/resps"] = simdjson::minify(row["resps"]);
      o[key + "/filtered_resps"] = simdjson::minify(row["filtered_resps"]);
      o[key + "/acc"] = simdjson::minify(row["acc"]);
    }
  }
  return o;
}

TEST(Resume, SigkilledRunsResumeToTheUninterruptedResult) {
  testing::TempDir dir;
  const std::string clean = dir.path() + "/clean", killed = dir.path() + "/killed";

  const auto t0 = Clock::now();
  ASSERT_EQ(wait_exit(spawn(run_args(clean))), 0);
  const double total_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto want = outcome(clean);
  ASSERT_EQ(want.count("results/mmlu_anatomy/acc,none"), 1u);
  ASSERT_GE(want.size(), 20u * 3);  // 20 documents' samples, and the results
  const size_t total_requests = wal_lines(clean);
  ASSERT_EQ(total_requests, 20u * 4);  // 20 questions x 4 options, each logged once

  // Kill at several points of a run's life (during loading, early and late in scoring); each
  // attempt resumes from what the previous ones logged.
  size_t before = 0, progressed = 0;
  for (double frac : {0.05, 0.35, 0.6, 0.8}) {
    pid_t pid = spawn(run_args(killed));
    std::this_thread::sleep_for(std::chrono::duration<double>(frac * total_s));
    kill(pid, SIGKILL);
    wait_exit(pid);
    const size_t now = wal_lines(killed);
    EXPECT_GE(now, before) << "the write-ahead log lost finished requests";
    if (now > before) ++progressed;
    before = now;
  }
  EXPECT_GE(progressed, 1u) << "no kill left any finished request behind (" << total_s << " s run)";
  EXPECT_FALSE(std::filesystem::exists(killed + "/results.json") && before < total_requests)
      << "results.json appeared before the run finished";

  ASSERT_EQ(wait_exit(spawn(run_args(killed))), 0);
  const auto got = outcome(killed);
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [k, v] : want) {
    auto it = got.find(k);
    ASSERT_NE(it, got.end()) << k;
    EXPECT_EQ(it->second, v) << k;
  }
  // A re-run of a finished run computes nothing and changes nothing.
  EXPECT_EQ(wal_lines(killed), total_requests) << "a request was logged twice or lost";
  ASSERT_EQ(wait_exit(spawn(run_args(killed))), 0);
  EXPECT_EQ(wal_lines(killed), total_requests);
  EXPECT_EQ(outcome(killed), want);
}

}  // namespace
}  // namespace assay
