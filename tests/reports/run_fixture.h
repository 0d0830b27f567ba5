// Writes small run folders in lm-eval's layout for the reports tests: results.json plus one
// samples_<task>_<date>.jsonl per task, in a fresh temporary directory removed at scope exit.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace assay::testing_support {

// A fresh directory under the system temp dir; removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "assay_reports_XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f << text;
}

struct FakeDoc {
  long doc_id = 0;
  double value = 0;         // the metric's per-document value
  std::string prompt_hash;  // empty = derived from doc_id
  std::optional<std::string> error;
};

struct FakeTask {
  std::string name;
  std::string metric = "acc";
  bool higher_is_better = true;
  std::vector<FakeDoc> docs;
};

struct FakeRun {
  std::vector<FakeTask> tasks;
  std::map<std::string, std::vector<std::string>> groups;  // group → subtasks
};

// 0/1 outcomes for n docs with about `p` correct, reproducible for a seed.
inline FakeTask binary_task(const std::string& name, int n, double p, unsigned seed) {
  FakeTask t;
  t.name = name;
  std::mt19937 rng(seed);
  std::bernoulli_distribution coin(p);
  for (int i = 0; i < n; ++i) t.docs.push_back({i, coin(rng) ? 1.0 : 0.0, "", std::nullopt});
  return t;
}

// Flips `k` documents with value `from` to 1 - from, starting at `start`.
inline int flip(FakeTask& t, double from, int k, std::size_t start = 0) {
  int done = 0;
  for (std::size_t i = start; i < t.docs.size() && done < k; ++i) {
    if (t.docs[i].value == from) {
      t.docs[i].value = 1 - from;
      ++done;
    }
  }
  return done;
}

inline std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// Writes DIR/results.json and DIR/samples_<task>_2026-11-27T12-00-00.000000.jsonl.
inline void write_run(const std::string& dir, const FakeRun& run) {
  std::string results = "{\n  \"results\": {";
  std::string hib = "\"higher_is_better\": {";
  std::string nsamples = "\"n-samples\": {";
  std::string versions = "\"versions\": {";
  bool first = true;
  for (const auto& t : run.tasks) {
    double sum = 0;
    for (const auto& d : t.docs) sum += d.value;
    const double n = static_cast<double>(t.docs.size());
    const double m = n > 0 ? sum / n : 0;
    double ss = 0;
    for (const auto& d : t.docs) ss += (d.value - m) * (d.value - m);
    const double se = n > 1 ? std::sqrt(ss / (n - 1)) / std::sqrt(n) : 0;
    const std::string sep = first ? "" : ", ";
    first = false;
    results += sep + "\"" + t.name + "\": {\"alias\": \"" + t.name + "\", \"" + t.metric +
               ",none\": " + num(m) + ", \"" + t.metric + "_stderr,none\": " + num(se) + "}";
    hib += sep + "\"" + t.name + "\": {\"" + t.metric +
           "\": " + (t.higher_is_better ? "true" : "false") + "}";
    nsamples += sep + "\"" + t.name + "\": {\"original\": " + std::to_string(t.docs.size()) +
                ", \"effective\": " + std::to_string(t.docs.size()) + "}";
    versions += sep + "\"" + t.name + "\": 1.0";

    std::string lines;
    for (const auto& d : t.docs) {
      const std::string ph = d.prompt_hash.empty() ? "p" + std::to_string(d.doc_id) : d.prompt_hash;
      lines += "{\"doc_id\": " + std::to_string(d.doc_id) + ", \"doc\": {\"question\": \"q" +
               std::to_string(d.doc_id) +
               "\"}, \"target\": \"A\", \"arguments\": {\"gen_args_0\": {\"arg_0\": \"ctx\", "
               "\"arg_1\": \" A\"}}, \"resps\": [[[\"-1.5\", \"False\"]]], "
               "\"filtered_resps\": [[\"-1.5\", \"False\"]], \"filter\": \"none\", "
               "\"metrics\": [\"" +
               t.metric + "\"], \"doc_hash\": \"d" + std::to_string(d.doc_id) +
               "\", \"prompt_hash\": \"" + ph + "\", \"target_hash\": \"t\", \"" + t.metric +
               "\": " + num(d.value);
      if (d.error) lines += ", \"error\": \"" + *d.error + "\"";
      lines += "}\n";
    }
    write_text(dir + "/samples_" + t.name + "_2026-11-27T12-00-00.000000.jsonl", lines);
  }
  results += "},\n";
  std::string groups = "  \"group_subtasks\": {";
  first = true;
  for (const auto& [g, subs] : run.groups) {
    groups += std::string(first ? "" : ", ") + "\"" + g + "\": [";
    first = false;
    for (std::size_t i = 0; i < subs.size(); ++i) groups += (i ? ", \"" : "\"") + subs[i] + "\"";
    groups += "]";
  }
  groups += "},\n";
  results += groups + "  " + hib + "},\n  " + nsamples + "},\n  " + versions +
             "},\n  \"n-shot\": {},\n  \"config\": {\"model\": \"fake\"},\n"
             "  \"git_hash\": \"abc123\"\n}\n";
  write_text(dir + "/results.json", results);
}

}  // namespace assay::testing_support
