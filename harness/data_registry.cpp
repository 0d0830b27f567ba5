#include "harness/data_registry.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "harness/atomic_file.h"
#include "harness/csv.h"
#include "harness/http_download.h"
#include "harness/log.h"
#include "harness/sha256.h"

namespace fs = std::filesystem;

namespace assay {
namespace {

std::string gh_raw(const std::string& repo, const std::string& commit, const std::string& path) {
  return "https://raw.githubusercontent.com/" + repo + "/" + commit + "/" + path;
}

std::vector<DatasetSpec> make_datasets() {
  const std::string gsm = "openai/grade-school-math";
  const std::string gsm_c = "3101c7d5072418e28b9008a6636bde82a006892c";
  const std::string mh = "ZubinGou/math-evaluation-harness";
  const std::string mh_c = "db77bc6bb2a17c90ed2d63e88ebd8c40a82858c5";
  const std::string med = "xk-huang/medagents-benchmark";
  const std::string med_c = "56ca11eb1ef89f6bb7fad6284008bf39e08785b0";
  const std::string pqa = "pubmedqa/pubmedqa";
  const std::string pqa_c = "1cbae8e92f72f20c8d3747cbb3bf5bc53554d997";
  return {
      {"mmlu", "mmlu/test", "MMLU (Hendrycks et al.): 57 subjects, dev 285 / test 14,042 rows, CSV",
       {{"https://people.eecs.berkeley.edu/~hendrycks/data.tar", "mmlu/data.tar", "", "tar",
         "data", "mmlu"}}},
      {"math", "math/test_5000.jsonl", "MATH test set, 5,000 problems, JSONL",
       {{gh_raw(mh, mh_c, "data/math/test.jsonl"), "math/test_5000.jsonl",
         "3371949f33dd702d04b43fddd7d53a028de0aaca0e76abb1b875a050297b3aa4"}}},
      {"math500", "math/math500_test.jsonl", "MATH-500 subset (prm800k format), JSONL",
       {{gh_raw(mh, mh_c, "data/math_oai/test.jsonl"), "math/math500_test.jsonl",
         "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132"}}},
      {"gsm8k", "gsm8k/test.jsonl", "GSM8K test, 1,319 problems, JSONL",
       {{gh_raw(gsm, gsm_c, "grade_school_math/data/test.jsonl"), "gsm8k/test.jsonl",
         "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"},
        {gh_raw(gsm, gsm_c, "grade_school_math/data/test_socratic.jsonl"),
         "gsm8k/test_socratic.jsonl",
         "c96673362fa7a699f4836a9b6474a067448f95fe58064727501ee63ba4c3fdb6"}}},
      {"alpaca_eval", "alpaca_eval", "AlpacaEval model outputs, annotations, leaderboards", {}},
      {"swe_bench_lite", "swe_bench/lite", "SWE-bench Lite, 300 instances", {}},
      {"pubmedqa", "pubmedqa", "PubMedQA labelled test, 500 questions",
       {{gh_raw(pqa, pqa_c, "data/test_ground_truth.json"), "pubmedqa/test_ground_truth.json", ""},
        {gh_raw(pqa, pqa_c, "data/ori_pqal.json"), "pubmedqa/ori_pqal.json", ""}}},
      {"medqa", "medqa/medqa_us_4opt_test.jsonl", "MedQA (USMLE, 4 options) test, 1,273 questions",
       {{gh_raw(med, med_c, "data/medqa/test.jsonl"), "medqa/medqa_us_4opt_test.jsonl", ""}}},
      {"medmcqa", "medmcqa/medmcqa_dev_single_choice.jsonl",
       "MedMCQA dev, single-choice subset, 2,816 questions",
       {{gh_raw(med, med_c, "data/medmcqa/test.jsonl"), "medmcqa/medmcqa_dev_single_choice.jsonl",
         ""}}},
      {"dutch", "dutch", "Dutch: Okapi translations of ARC/MMLU/TruthfulQA, ChocoLlama bench", {}},
      {"tokenizer", "tokenizer", "Tokenizer test vectors (llama.cpp) and HF tokenizer files", {}},
      {"webtext", "webtext_sample", "WebText and Pile samples for perplexity", {}},
      {"weak_to_strong", "weak_to_strong", "Weak-to-strong reasoning GSM8K data", {}},
  };
}

}  // namespace

const std::vector<DatasetSpec>& known_datasets() {
  static const std::vector<DatasetSpec> kSets = make_datasets();
  return kSets;
}

const DatasetSpec* find_dataset(std::string_view name) {
  for (const auto& d : known_datasets()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::string default_cache_data_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  std::string base;
  if (xdg && *xdg) {
    base = xdg;
  } else {
    const char* home = std::getenv("HOME");
    base = std::string(home && *home ? home : "/tmp") + "/.cache";
  }
  return base + "/assay/data";
}

Result<std::string> resolve_data_dir(const std::string& flag, bool must_exist) {
  std::error_code ec;
  if (!flag.empty()) {
    if (!fs::is_directory(flag, ec)) return not_found("--data-dir " + flag + ": no such directory");
    return flag;
  }
  if (const char* env = std::getenv("ASSAY_DATA"); env && *env) {
    if (!fs::is_directory(env, ec)) {
      return not_found(std::string("$ASSAY_DATA=") + env + ": no such directory");
    }
    return std::string(env);
  }
  std::string cache = default_cache_data_dir();
  if (must_exist && !fs::is_directory(cache, ec)) {
    return not_found("no data directory: pass --data-dir DIR, set ASSAY_DATA, or run "
                     "`assay data pull NAME` to fill " + cache);
  }
  return cache;
}

Result<std::string> dataset_path(const std::string& data_dir, std::string_view dataset) {
  const DatasetSpec* d = find_dataset(dataset);
  if (!d) return not_found("unknown data set '" + std::string(dataset) + "'");
  std::string p = data_dir + "/" + d->path;
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    return not_found("data set '" + d->name + "' not found: " + p + " does not exist (see `assay "
                     "data list`; `assay data pull " + d->name + "` fetches it)");
  }
  return p;
}

namespace {

std::string apply_mirror(const std::string& url, const std::string& mirror) {
  if (mirror.empty()) return url;
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t path = url.find('/', scheme + 3);
  std::string base = mirror;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + (path == std::string::npos ? "/" : url.substr(path));
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

Result<std::vector<std::string>> pull_dataset(const DatasetSpec& d, const std::string& data_dir,
                                              const PullOptions& opts) {
  if (d.files.empty()) {
    return unsupported("data set '" + d.name + "' has no public download assay knows of; copy it "
                       "into " + data_dir + "/" + d.path + " (layout: ../shared/data/SOURCES.md)");
  }
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return permission_denied("cannot create " + data_dir + ": " + ec.message());
  std::vector<std::string> written;
  std::string manifest_lines;
  for (const RemoteFile& f : d.files) {
    std::string url = apply_mirror(f.url, opts.mirror);
    std::string dest = data_dir + "/" + f.dest;
    ASSAY_LOG(kInfo) << "fetching " << url;
    DownloadOptions dopts;
    dopts.expected_sha256 = f.sha256;
    ASSAY_ASSIGN_OR_RETURN(DownloadResult r, download_file(url, dest, dopts));
    if (f.sha256.empty()) {
      ASSAY_LOG(kWarn) << f.dest << ": no pinned sha256 for this source; recorded " << r.sha256
                       << " in MANIFEST.sha256";
    }
    if (f.unpack == "tar") {
      std::string tmp = dest + ".unpack";
      fs::remove_all(tmp, ec);
      fs::create_directories(tmp, ec);
      std::string cmd = "tar -xf " + shell_quote(dest) + " -C " + shell_quote(tmp);
      if (std::system(cmd.c_str()) != 0) {
        return corrupt(dest + ": cannot unpack archive (downloaded from " + url + ")");
      }
      fs::path from = fs::path(tmp) / f.unpack_from;
      if (!fs::is_directory(from, ec)) {
        return corrupt(dest + ": archive has no top folder '" + f.unpack_from + "'");
      }
      fs::path to = fs::path(data_dir) / f.unpack_to;
      fs::create_directories(to, ec);
      for (const auto& entry : fs::directory_iterator(from)) {
        fs::path target = to / entry.path().filename();
        fs::remove_all(target, ec);
        fs::rename(entry.path(), target, ec);
        if (ec) return io_error("cannot move " + entry.path().string() + ": " + ec.message());
      }
      fs::remove_all(tmp, ec);
      fs::remove(dest, ec);
      for (const auto& entry : fs::recursive_directory_iterator(to)) {
        if (!entry.is_regular_file()) continue;
        ASSAY_ASSIGN_OR_RETURN(std::string sha, sha256_file(entry.path().string()));
        std::string rel = fs::relative(entry.path(), data_dir).string();
        manifest_lines += sha + "  ./" + rel + "\n";
        written.push_back(rel);
      }
    } else {
      manifest_lines += r.sha256 + "  ./" + f.dest + "\n";
      written.push_back(f.dest);
    }
  }
  // Merge into the manifest: newer lines replace older ones for the same path.
  std::string manifest = data_dir + "/MANIFEST.sha256";
  std::map<std::string, std::string> lines;
  if (auto old = read_file(manifest); old.ok()) {
    std::istringstream in(*old);
    std::string line;
    while (std::getline(in, line)) {
      if (line.size() > 66) lines[line.substr(66)] = line;
    }
  }
  std::istringstream in(manifest_lines);
  std::string line;
  while (std::getline(in, line)) lines[line.substr(66)] = line;
  std::string out;
  for (const auto& [k, v] : lines) out += v + "\n";
  ASSAY_RETURN_IF_ERROR(write_file_atomic(manifest, out));
  return written;
}

Result<VerifyReport> verify_manifest(const std::string& data_dir) {
  std::string manifest = data_dir + "/MANIFEST.sha256";
  ASSAY_ASSIGN_OR_RETURN(std::string text, read_file(manifest));
  VerifyReport rep;
  std::istringstream in(text);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find(' ');
    if (sp != 64 || line.size() < 67) {
      return corrupt(manifest + ":" + std::to_string(line_no) +
                     ": expected '<sha256>  <path>', got '" + line.substr(0, 80) + "'");
    }
    std::string want = line.substr(0, 64);
    std::string rel = line.substr(66);
    if (rel.rfind("./", 0) == 0) rel = rel.substr(2);
    std::string path = data_dir + "/" + rel;
    auto got = sha256_file(path);
    if (!got.ok()) {
      rep.missing.push_back(rel);
      continue;
    }
    if (*got != want) {
      rep.mismatched.push_back(rel + ": expected " + want + ", got " + *got);
      continue;
    }
    ++rep.ok;
  }
  return rep;
}

}  // namespace assay
