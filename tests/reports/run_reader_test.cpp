#include "reports/run_reader.h"

#include <gtest/gtest.h>

#include "tests/reports/run_fixture.h"

namespace assay {
namespace {

using testing_support::TempDir;
using testing_support::write_text;

// Trimmed from an lm-eval 0.4 results file: nested groups, "N/A" stderr, a leaf listed with an
// empty subtask list, numeric and string versions.
constexpr const char* kResults = R"({
  "results": {
    "mmlu": {"acc,none": 0.6, "acc_stderr,none": 0.004, "alias": "mmlu"},
    "mmlu_stem": {"acc,none": 0.5, "acc_stderr,none": "N/A", "alias": " - stem"},
    "mmlu_abstract_algebra": {"alias": "  - abstract_algebra", "acc,none": 0.3, "acc_stderr,none": 0.046},
    "gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.41, "exact_match_stderr,strict-match": 0.0135,
              "exact_match,flexible-extract": 0.45, "exact_match_stderr,flexible-extract": 0.0137}
  },
  "groups": {"mmlu": {"acc,none": 0.6, "acc_stderr,none": 0.004, "alias": "mmlu"}},
  "group_subtasks": {"mmlu_stem": ["mmlu_abstract_algebra", "mmlu_anatomy"], "mmlu": ["mmlu_stem", "mmlu_other"],
                     "gsm8k": []},
  "configs": {"gsm8k": {"task": "gsm8k", "num_fewshot": 5}},
  "versions": {"mmlu": 2, "gsm8k": 3.0, "mmlu_abstract_algebra": "1.0"},
  "n-shot": {"gsm8k": 5, "mmlu_abstract_algebra": 0},
  "higher_is_better": {"gsm8k": {"exact_match": true}, "wikitext": {"word_perplexity": false}},
  "n-samples": {"gsm8k": {"original": 1319, "effective": 100}},
  "config": {"model": "hf", "model_args": "pretrained=x", "bootstrap_iters": 100000},
  "git_hash": "4e7e0d47",
  "date": 1764244800.0,
  "task_hashes": {}
})";

TEST(RunReaderTest, ReadsResultsJson) {
  TempDir dir;
  write_text(dir.sub("results.json"), kResults);
  Result<RunResults> r = read_results_json(dir.sub("results.json"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r->results.at("mmlu").value("acc"), 0.6);
  EXPECT_EQ(*r->results.at("mmlu").std_error("acc"), 0.004);
  EXPECT_EQ(r->results.at("mmlu_stem").alias, " - stem");
  EXPECT_FALSE(r->results.at("mmlu_stem").std_error("acc").has_value());  // "N/A"
  EXPECT_EQ(*r->results.at("gsm8k").value("exact_match", "flexible-extract"), 0.45);
  EXPECT_FALSE(r->results.at("gsm8k").value("exact_match").has_value());  // no "none" filter
  EXPECT_EQ(r->groups.size(), 1u);
  EXPECT_TRUE(r->is_group("mmlu"));
  EXPECT_FALSE(r->is_group("gsm8k"));  // empty subtask list = a leaf
  EXPECT_EQ(r->leaf_tasks("mmlu"),
            (std::vector<std::string>{"mmlu_abstract_algebra", "mmlu_anatomy", "mmlu_other"}));
  EXPECT_EQ(r->leaf_tasks("gsm8k"), std::vector<std::string>{"gsm8k"});
  EXPECT_EQ(r->versions.at("mmlu"), "2");
  EXPECT_EQ(r->versions.at("mmlu_abstract_algebra"), "1.0");
  EXPECT_EQ(r->n_shot.at("gsm8k"), 5);
  EXPECT_EQ(r->n_samples.at("gsm8k").original, 1319);
  EXPECT_EQ(r->n_samples.at("gsm8k").effective, 100);
  EXPECT_FALSE(r->higher_is_better.at("wikitext").at("word_perplexity"));
  EXPECT_EQ(r->git_hash, "4e7e0d47");
  EXPECT_EQ(r->model_name, "hf");
  EXPECT_NE(r->configs.at("gsm8k").find("\"num_fewshot\":5"), std::string::npos);
}

TEST(RunReaderTest, ToleratesAMinimalResultsFile) {
  TempDir dir;
  write_text(dir.sub("results.json"), R"({"results": {"t": {"acc,none": 1}}})");
  Result<RunResults> r = read_results_json(dir.sub("results.json"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r->results.at("t").value("acc"), 1.0);
  EXPECT_EQ(r->config, "{}");
  EXPECT_TRUE(r->git_hash.empty());
}

TEST(RunReaderTest, MalformedResultsNamePath) {
  TempDir dir;
  write_text(dir.sub("results.json"), R"({"results": [1, 2]})");
  Result<RunResults> r = read_results_json(dir.sub("results.json"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find(dir.sub("results.json")), std::string::npos);
}

TEST(RunReaderTest, ReadsSampleLines) {
  TempDir dir;
  const std::string path = dir.sub("samples_gsm8k.jsonl");
  write_text(
      path,
      // lm-eval's full line.
      R"({"doc_id": 0, "doc": {"question": "q", "answer": "#### 4"}, "target": "#### 4", )"
      R"("arguments": {"gen_args_0": {"arg_0": "Question: q\nAnswer:", "arg_1": {"until": ["Question:"]}}}, )"
      R"("resps": [["The answer is 4. #### 4"]], "filtered_resps": ["4"], "filter": "strict-match", )"
      R"("metrics": ["exact_match"], "doc_hash": "dh0", "prompt_hash": "ph0", "target_hash": "th0", )"
      R"("exact_match": 1.0})"
      "\n\n"
      // Minimal line with a boolean metric, a numeric target and our error field.
      R"({"doc_id": 1, "target": 3, "metrics": ["acc", "f1"], "acc": false, "f1": [1, 0], )"
      R"("error": "HTTP 503"})"
      "\n"
      R"({"doc_id": 2, "error": null, "metrics": ["acc"], "acc": true})"
      "\n");
  Result<std::vector<SampleRecord>> r = read_samples_jsonl(path, {.keep_raw = true});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  const SampleRecord& a = (*r)[0];
  EXPECT_EQ(a.doc_id, 0);
  EXPECT_EQ(a.filter, "strict-match");
  EXPECT_EQ(a.target, "#### 4");
  EXPECT_EQ(a.doc_hash, "dh0");
  EXPECT_EQ(a.prompt_hash, "ph0");
  EXPECT_EQ(a.target_hash, "th0");
  EXPECT_EQ(a.metric_names, std::vector<std::string>{"exact_match"});
  EXPECT_EQ(a.metrics.at("exact_match"), 1.0);
  EXPECT_FALSE(a.error.has_value());
  EXPECT_EQ(a.filtered_resps, "[\"4\"]");
  EXPECT_EQ(a.line, 1);

  const SampleRecord& b = (*r)[1];
  EXPECT_EQ(b.filter, "none");
  EXPECT_EQ(b.target, "3");
  EXPECT_EQ(b.metrics.at("acc"), 0.0);
  EXPECT_EQ(b.metrics.count("f1"), 0u);  // a pair, not a number
  ASSERT_TRUE(b.error.has_value());
  EXPECT_EQ(*b.error, "HTTP 503");
  EXPECT_EQ(b.line, 3);  // the blank line is counted

  EXPECT_FALSE((*r)[2].error.has_value());
  EXPECT_EQ((*r)[2].metrics.at("acc"), 1.0);
}

TEST(RunReaderTest, MalformedSampleLinesNamePathAndLine) {
  TempDir dir;
  const std::string path = dir.sub("samples_t.jsonl");
  write_text(path, "{\"doc_id\": 0}\n{\"doc_id\": 1}\n{\"doc_id\": 2, oops}\n");
  Result<std::vector<SampleRecord>> r = read_samples_jsonl(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path + ":3"), std::string::npos) << r.status().message();

  write_text(path, "{\"doc_id\": 0}\n{\"doc_id\": \"seven\"}\n");
  r = read_samples_jsonl(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path + ":2: field 'doc_id': expected an integer"),
            std::string::npos)
      << r.status().message();

  write_text(path, "{\"doc_id\": 0, \"prompt_hash\": 5}\n");
  r = read_samples_jsonl(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path + ":1: field 'prompt_hash'"), std::string::npos);

  write_text(path, "{\"doc\": {}}\n");
  r = read_samples_jsonl(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing field 'doc_id'"), std::string::npos);
}

TEST(RunReaderTest, LocatesNewestFiles) {
  TempDir dir;
  const std::string run = dir.sub("run");
  write_text(run + "/results_2026-01-01T10-00-00.000001.json", R"({"results": {"old": {}}})");
  write_text(run + "/results_2026-02-01T10-00-00.000001.json", R"({"results": {"new": {}}})");
  write_text(run + "/samples_mmlu_abstract_algebra_2026-01-01T10-00-00.000001.jsonl", "");
  write_text(run + "/samples_mmlu_abstract_algebra_2026-02-01T09-00-00.000001.jsonl", "");
  write_text(run + "/samples_gsm8k.jsonl", "");
  write_text(run + "/notes.txt", "");
  Result<LoadedRun> r = read_run(run);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->results.has_value());
  EXPECT_EQ(r->results->results.count("new"), 1u);
  ASSERT_EQ(r->folder.sample_files.size(), 2u);
  EXPECT_EQ(r->folder.sample_files.at("mmlu_abstract_algebra"),
            run + "/samples_mmlu_abstract_algebra_2026-02-01T09-00-00.000001.jsonl");
  EXPECT_EQ(r->folder.sample_files.at("gsm8k"), run + "/samples_gsm8k.jsonl");

  // An undated results.json wins over dated ones.
  write_text(run + "/results.json", R"({"results": {"plain": {}}})");
  r = read_run(run);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->results->results.count("plain"), 1u);

  Result<std::vector<SampleRecord>> missing = r->read_samples("arc");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(RunReaderTest, DescendsIntoTheModelFolder) {
  TempDir dir;
  write_text(dir.sub("out/org__model/results_2026-01-01T10-00-00.json"), R"({"results": {}})");
  write_text(dir.sub("out/org__model/samples_t_2026-01-01T10-00-00.jsonl"), "");
  Result<RunFolder> f = open_run(dir.sub("out"));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->dir, dir.sub("out/org__model"));
  EXPECT_TRUE(f->has_samples("t"));

  write_text(dir.sub("out/other__model/results.json"), "{}");
  f = open_run(dir.sub("out"));
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("several runs"), std::string::npos);

  f = open_run(dir.sub("nowhere"));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);

  std::filesystem::create_directories(dir.sub("empty"));
  f = open_run(dir.sub("empty"));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace assay
