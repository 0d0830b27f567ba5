#include "reports/gate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/stats.h"
#include "tests/reports/run_fixture.h"

namespace assay {
namespace {

using testing_support::binary_task;
using testing_support::FakeRun;
using testing_support::FakeTask;
using testing_support::flip;
using testing_support::TempDir;
using testing_support::write_run;
using testing_support::write_text;

class GateTest : public ::testing::Test {
 protected:
  GateOptions options(const std::string& base = "base", const std::string& cand = "cand") {
    GateOptions o;
    o.baseline = dir_.sub(base);
    o.candidate = dir_.sub(cand);
    return o;
  }
  GateReport evaluate(const GateOptions& o) {
    Result<GateReport> r = evaluate_gate(o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : GateReport{};
  }
  const GateTaskVerdict* find(const GateReport& r, const std::string& task) {
    for (const auto& t : r.tasks) {
      if (t.task == task) return &t;
    }
    ADD_FAILURE() << "no verdict for " << task;
    return nullptr;
  }

  TempDir dir_;
};

TEST_F(GateTest, IdenticalRunsPass) {
  FakeRun run{{binary_task("mmlu_x", 1000, 0.7, 1), binary_task("gsm8k", 300, 0.4, 2)}, {}};
  write_run(dir_.sub("base"), run);
  write_run(dir_.sub("cand"), run);
  const GateReport r = evaluate(options());
  EXPECT_EQ(r.exit_code, kGateExitPass);
  ASSERT_EQ(r.tasks.size(), 2u);  // default: every ungrouped task
  const auto* t = find(r, "mmlu_x");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->outcome, GateOutcome::kPass);
  EXPECT_EQ(t->n, 1000u);
  EXPECT_EQ(t->test, "mcnemar");
  EXPECT_EQ(t->p_value, 1.0);
  EXPECT_EQ(t->delta_points, 0.0);
  EXPECT_EQ(t->metric, "acc,none");
}

TEST_F(GateTest, PlantedThreePointDropOnThousandQuestionsFails) {
  FakeTask base = binary_task("mmlu_x", 1000, 0.7, 1);
  FakeTask cand = base;
  ASSERT_EQ(flip(cand, 1.0, 30), 30);
  write_run(dir_.sub("base"), {{base}, {}});
  write_run(dir_.sub("cand"), {{cand}, {}});
  const GateReport r = evaluate(options());
  EXPECT_EQ(r.exit_code, kGateExitRegression);
  const auto* t = find(r, "mmlu_x");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->outcome, GateOutcome::kRegression);
  EXPECT_NEAR(t->delta_points, -3.0, 1e-9);
  EXPECT_EQ(t->only_baseline, 30u);
  EXPECT_EQ(t->only_candidate, 0u);
  // scipy.stats.binomtest(0, 30, 0.5).pvalue
  EXPECT_NEAR(t->p_value, 1.862645149230957e-09, 1e-18);
  EXPECT_NE(t->message.find("dropped 3.00 points"), std::string::npos) << t->message;
}

TEST_F(GateTest, NoiseWithinThresholdPasses) {
  FakeTask base = binary_task("mmlu_x", 1000, 0.7, 1);
  FakeTask cand = base;
  // 12 answers get worse, 8 better: net −0.4 points, well inside 1 point.
  ASSERT_EQ(flip(cand, 1.0, 12, 0), 12);
  ASSERT_EQ(flip(cand, 0.0, 8, 500), 8);
  write_run(dir_.sub("base"), {{base}, {}});
  write_run(dir_.sub("cand"), {{cand}, {}});
  const GateReport r = evaluate(options());
  EXPECT_EQ(r.exit_code, kGateExitPass);
  const auto* t = find(r, "mmlu_x");
  EXPECT_NEAR(t->delta_points, -0.4, 1e-9);
  // scipy.stats.binomtest(8, 20, 0.5).pvalue = 0.5034446716308594
  EXPECT_NEAR(t->p_value, 0.5034446716308594, 1e-12);
  EXPECT_NE(t->message.find("within"), std::string::npos) << t->message;
}

TEST_F(GateTest, LargeButInsignificantDropPasses) {
  FakeTask base = binary_task("tiny", 20, 0.7, 5);
  FakeTask cand = base;
  ASSERT_EQ(flip(cand, 1.0, 2), 2);  // −10 points on 20 docs: p = 0.5
  write_run(dir_.sub("base"), {{base}, {}});
  write_run(dir_.sub("cand"), {{cand}, {}});
  const GateReport r = evaluate(options());
  EXPECT_EQ(r.exit_code, kGateExitPass);
  EXPECT_NEAR(find(r, "tiny")->delta_points, -10.0, 1e-9);
  EXPECT_NEAR(find(r, "tiny")->p_value, 0.5, 1e-12);
  EXPECT_NE(find(r, "tiny")->message.find("not significant"), std::string::npos);
}

TEST_F(GateTest, MaxDropFromFlagAndPerTaskConfig) {
  FakeTask base = binary_task("mmlu_x", 1000, 0.7, 1);
  FakeTask cand = base;
  flip(cand, 1.0, 30);
  write_run(dir_.sub("base"), {{base}, {}});
  write_run(dir_.sub("cand"), {{cand}, {}});

  GateOptions o = options();
  o.max_drop = 5.0;  // significant, but 3 points are tolerated
  EXPECT_EQ(evaluate(o).exit_code, kGateExitPass);

  // A per-task config value beats the flag.
  write_text(dir_.sub("gate.json"), R"({"max_drop": 10, "tasks": {"mmlu_x": {"max_drop": 2.5}}})");
  o.config_path = dir_.sub("gate.json");
  const GateReport r = evaluate(o);
  EXPECT_EQ(r.exit_code, kGateExitRegression);
  EXPECT_EQ(find(r, "mmlu_x")->settings.max_drop, 2.5);

  // alpha so strict that p = 1.9e-9 is not significant.
  write_text(dir_.sub("gate2.json"), R"({"alpha": 1e-10})");
  GateOptions o2 = options();
  o2.config_path = dir_.sub("gate2.json");
  EXPECT_EQ(evaluate(o2).exit_code, kGateExitPass);
}

TEST_F(GateTest, MismatchedDocumentsAreInfrastructureFailures) {
  FakeTask base = binary_task("mmlu_x", 100, 0.7, 1);
  FakeTask cand = base;
  cand.docs.pop_back();
  write_run(dir_.sub("base"), {{base}, {}});
  write_run(dir_.sub("cand"), {{cand}, {}});
  GateReport r = evaluate(options());
  EXPECT_EQ(r.exit_code, kGateExitInfrastructure);
  EXPECT_EQ(find(r, "mmlu_x")->outcome, GateOutcome::kError);
  EXPECT_NE(find(r, "mmlu_x")->message.find("1 only in baseline (first: mmlu_x doc_id 99)"),
            std::string::npos)
      << find(r, "mmlu_x")->message;

  // Same doc ids, but one prompt differs (e.g. another num_fewshot).
  FakeTask cand2 = base;
  cand2.docs[7].prompt_hash = "other";
  write_run(dir_.sub("cand2"), {{cand2}, {}});
  r = evaluate(options("base", "cand2"));
  EXPECT_EQ(r.exit_code, kGateExitInfrastructure);
  EXPECT_NE(find(r, "mmlu_x")->message.find("prompt_hash differs"), std::string::npos)
      << find(r, "mmlu_x")->message;
}

TEST_F(GateTest, TooManyFailedRequestsIsInfrastructureFailure) {
  FakeTask base = binary_task("mmlu_x", 1000, 0.7, 1);
  FakeTask cand = base;
  for (int i = 0; i < 20; ++i) cand.docs[i * 10].error = "HTTP 503 after 3 retries";
  write_run(dir_.sub("base"), {{base}, {}});
  write_run(dir_.sub("cand"), {{cand}, {}});
  GateReport r = evaluate(options());
  EXPECT_EQ(r.exit_code, kGateExitInfrastructure);
  EXPECT_EQ(find(r, "mmlu_x")->failed_candidate, 20u);
  EXPECT_NE(find(r, "mmlu_x")->message.find("20 of 1000 requests failed"), std::string::npos)
      << find(r, "mmlu_x")->message;

  // Raising the limit to 5% lets it through; the failed documents are left out on both sides.
  GateOptions o = options();
  o.max_failed_frac = 0.05;
  r = evaluate(o);
  EXPECT_EQ(r.exit_code, kGateExitPass);
  EXPECT_EQ(find(r, "mmlu_x")->n, 980u);
}

TEST_F(GateTest, MissingTaskIsInfrastructureFailure) {
  write_run(dir_.sub("base"), {{binary_task("a", 50, 0.5, 1), binary_task("b", 50, 0.5, 2)}, {}});
  write_run(dir_.sub("cand"), {{binary_task("a", 50, 0.5, 1)}, {}});
  GateReport r = evaluate(options());
  EXPECT_EQ(r.exit_code, kGateExitInfrastructure);
  EXPECT_EQ(find(r, "a")->outcome, GateOutcome::kPass);
  EXPECT_EQ(find(r, "b")->outcome, GateOutcome::kError);
  EXPECT_NE(find(r, "b")->message.find("candidate run"), std::string::npos);

  GateOptions o = options();
  o.tasks = {"nope"};
  r = evaluate(o);
  EXPECT_EQ(r.exit_code, kGateExitInfrastructure);
  ASSERT_EQ(r.tasks.size(), 1u);
  EXPECT_NE(r.tasks[0].message.find("no samples for task 'nope'"), std::string::npos);
}

TEST_F(GateTest, RegressionWinsOverInfrastructureError) {
  FakeTask base = binary_task("a", 1000, 0.7, 1);
  FakeTask cand = base;
  flip(cand, 1.0, 50);
  write_run(dir_.sub("base"), {{base, binary_task("b", 10, 0.5, 2)}, {}});
  write_run(dir_.sub("cand"), {{cand}, {}});
  EXPECT_EQ(evaluate(options()).exit_code, kGateExitRegression);
}

TEST_F(GateTest, UsageErrors) {
  write_run(dir_.sub("base"), {{binary_task("a", 10, 0.5, 1)}, {}});
  std::string error;
  std::ostringstream out;
  GateOptions o = options("base", "does-not-exist");
  EXPECT_EQ(run_gate(o, out, &error), kGateExitUsage);
  EXPECT_NE(error.find("--candidate"), std::string::npos) << error;
  EXPECT_TRUE(out.str().empty());

  o = options("base", "base");
  o.alpha = 1.5;
  EXPECT_EQ(run_gate(o, out, &error), kGateExitUsage);
  EXPECT_NE(error.find("alpha"), std::string::npos) << error;

  o = options("base", "base");
  write_text(dir_.sub("typo.json"), R"({"max_dorp": 1})");
  o.config_path = dir_.sub("typo.json");
  EXPECT_EQ(run_gate(o, out, &error), kGateExitUsage);
  EXPECT_NE(error.find("max_dorp"), std::string::npos) << error;

  o.config_path = dir_.sub("missing.json");
  EXPECT_EQ(run_gate(o, out, &error), kGateExitUsage);

  write_text(dir_.sub("bad.json"), R"({"tasks": {"a": {"alpha": 0}}})");
  o.config_path = dir_.sub("bad.json");
  EXPECT_EQ(run_gate(o, out, &error), kGateExitUsage);
  EXPECT_NE(error.find("task 'a'"), std::string::npos) << error;
}

TEST_F(GateTest, ContinuousMetricUsesPairedBootstrap) {
  FakeTask base;
  base.name = "judge";
  base.metric = "score";
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> u(0.2, 0.9);
  for (int i = 0; i < 400; ++i) base.docs.push_back({i, u(rng), "", std::nullopt});
  FakeTask cand = base;
  for (auto& d : cand.docs) d.value -= 0.05;  // −5 points everywhere
  write_run(dir_.sub("base"), {{base}, {}});
  write_run(dir_.sub("cand"), {{cand}, {}});
  GateOptions o = options();
  o.bootstrap_iters = 2000;
  GateReport r = evaluate(o);
  EXPECT_EQ(r.exit_code, kGateExitRegression);
  const auto* t = find(r, "judge");
  EXPECT_EQ(t->test, "bootstrap");
  EXPECT_EQ(t->metric, "score,none");
  EXPECT_NEAR(t->delta_points, -5.0, 1e-9);
  EXPECT_NEAR(t->p_value, 2.0 / 2001, 1e-12);  // no replicate reaches 0
  // Same seed, same answer.
  EXPECT_EQ(evaluate(o).tasks[0].p_value, t->p_value);
}

TEST_F(GateTest, LowerIsBetterMetricFlipsTheDirection) {
  FakeTask base = binary_task("errors", 1000, 0.2, 3);
  base.metric = "error_rate";
  base.higher_is_better = false;
  FakeTask better = base;
  flip(better, 1.0, 30);  // fewer errors: an improvement
  FakeTask worse = base;
  flip(worse, 0.0, 30);
  write_run(dir_.sub("base"), {{base}, {}});
  write_run(dir_.sub("better"), {{better}, {}});
  write_run(dir_.sub("worse"), {{worse}, {}});
  EXPECT_EQ(evaluate(options("base", "better")).exit_code, kGateExitPass);
  EXPECT_EQ(evaluate(options("base", "worse")).exit_code, kGateExitRegression);
}

TEST_F(GateTest, GroupsArePooledOverLeafTasks) {
  FakeTask a = binary_task("mmlu_a", 300, 0.6, 1);
  FakeTask b = binary_task("mmlu_b", 200, 0.6, 2);
  FakeRun base{{a, b}, {{"mmlu", {"mmlu_a", "mmlu_b"}}}};
  FakeTask a2 = a, b2 = b;
  flip(a2, 1.0, 12);
  flip(b2, 1.0, 8);  // −20 of 500 documents: −4 points pooled
  FakeRun cand{{a2, b2}, {{"mmlu", {"mmlu_a", "mmlu_b"}}}};
  write_run(dir_.sub("base"), base);
  write_run(dir_.sub("cand"), cand);
  GateReport r = evaluate(options());
  ASSERT_EQ(r.tasks.size(), 1u);  // the group, not its leaves
  EXPECT_EQ(r.tasks[0].task, "mmlu");
  EXPECT_EQ(r.tasks[0].n, 500u);
  EXPECT_NEAR(r.tasks[0].delta_points, -4.0, 1e-9);
  EXPECT_EQ(r.exit_code, kGateExitRegression);

  GateOptions o = options();
  o.tasks = {"mmlu_b"};
  r = evaluate(o);
  EXPECT_EQ(r.tasks[0].n, 200u);
}

TEST_F(GateTest, RunGateWritesTablesAndJUnit) {
  FakeTask base = binary_task("mmlu_x", 1000, 0.7, 1);
  FakeTask cand = base;
  flip(cand, 1.0, 30);
  write_run(dir_.sub("base"), {{base, binary_task("ok_<&>_task", 100, 0.5, 4)}, {}});
  write_run(dir_.sub("cand"), {{cand, binary_task("ok_<&>_task", 100, 0.5, 4)}, {}});
  GateOptions o = options();
  o.junit_path = dir_.sub("gate.xml");
  o.markdown_path = dir_.sub("gate.md");
  std::ostringstream out;
  std::string error;
  EXPECT_EQ(run_gate(o, out, &error), kGateExitRegression) << error;
  const std::string text = out.str();
  EXPECT_NE(text.find("REGRESSION mmlu_x: dropped 3.00 points"), std::string::npos) << text;
  EXPECT_NE(text.find("result: REGRESSION (exit 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("-3.00"), std::string::npos) << text;

  std::ifstream md(dir_.sub("gate.md"));
  std::stringstream mds;
  mds << md.rdbuf();
  EXPECT_NE(mds.str().find("| Task | Metric | N |"), std::string::npos) << mds.str();
  EXPECT_NE(mds.str().find("| mmlu_x | acc,none | 1000 |"), std::string::npos) << mds.str();

  std::ifstream xml(dir_.sub("gate.xml"));
  std::stringstream xs;
  xs << xml.rdbuf();
  const std::string x = xs.str();
  EXPECT_NE(x.find("<testsuite name=\"assay-gate\""), std::string::npos);
  EXPECT_NE(x.find("tests=\"2\" failures=\"1\" errors=\"0\""), std::string::npos) << x;
  EXPECT_NE(x.find("<testcase name=\"mmlu_x\" classname=\"assay.gate\""), std::string::npos);
  EXPECT_NE(x.find("name=\"ok_&lt;&amp;&gt;_task\""), std::string::npos) << x;
  EXPECT_NE(x.find("<failure message=\"dropped 3.00 points"), std::string::npos) << x;
}

}  // namespace
}  // namespace assay

namespace assay {
namespace {

using testing_support::TempDir;
using testing_support::write_text;

// Hand-written lm-eval-style lines for gsm8k: one line per (doc, filter).
std::string gsm8k_lines(const std::vector<int>& strict, const std::vector<int>& flexible,
                        const std::string& prompt_prefix = "p") {
  std::string out;
  for (std::size_t i = 0; i < strict.size(); ++i) {
    for (int f = 0; f < 2; ++f) {
      const int v = f == 0 ? strict[i] : flexible[i];
      out += "{\"doc_id\": " + std::to_string(i) + ", \"filter\": \"" +
             (f == 0 ? "strict-match" : "flexible-extract") +
             "\", \"metrics\": [\"exact_match\"], \"doc_hash\": \"d" + std::to_string(i) +
             "\", \"prompt_hash\": \"" + prompt_prefix + std::to_string(i) +
             "\", \"exact_match\": " + std::to_string(v) + "}\n";
    }
  }
  return out;
}

TEST(GateFilterTest, MetricAndFilterSelection) {
  TempDir dir;
  std::vector<int> base(200, 1), cand(200, 1);
  for (int i = 0; i < 100; ++i) base[i] = 0;
  cand = base;
  // flexible-extract unchanged; strict-match loses 20 documents.
  std::vector<int> strict_cand = base;
  for (int i = 100; i < 120; ++i) strict_cand[i] = 0;
  write_text(dir.sub("base/samples_gsm8k.jsonl"), gsm8k_lines(base, base));
  write_text(dir.sub("cand/samples_gsm8k.jsonl"), gsm8k_lines(strict_cand, cand));
  GateOptions o;
  o.baseline = dir.sub("base");
  o.candidate = dir.sub("cand");
  Result<GateReport> r = evaluate_gate(o);  // no results.json at all: samples only
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tasks.size(), 1u);
  // No "none" filter: the first filter in the file is used.
  EXPECT_EQ(r->tasks[0].metric, "exact_match,strict-match");
  EXPECT_EQ(r->tasks[0].n, 200u);
  EXPECT_EQ(r->exit_code, kGateExitRegression);

  o.metric = "exact_match,flexible-extract";
  r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tasks[0].metric, "exact_match,flexible-extract");
  EXPECT_EQ(r->exit_code, kGateExitPass);

  o.metric = "acc";  // not in these samples
  r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, kGateExitInfrastructure);
  EXPECT_NE(r->tasks[0].message.find("no numeric value for metric 'acc'"), std::string::npos)
      << r->tasks[0].message;
}

TEST(GateFilterTest, FailedRequestsWithoutFilterStillCount) {
  // assay's evaluator writes no "filter" (and no metric values) for a document whose request
  // failed; it must count as failed under the chosen filter, not as a missing document.
  TempDir dir;
  std::string base, cand;
  for (int i = 0; i < 200; ++i) {
    const std::string scored = "{\"doc_id\": " + std::to_string(i) +
                               ", \"filter\": \"strict-match\", \"metrics\": [\"exact_match\"], "
                               "\"prompt_hash\": \"p" +
                               std::to_string(i) + "\", \"exact_match\": 1}\n";
    base += scored;
    cand += i == 17 ? "{\"doc_id\": 17, \"metrics\": [\"exact_match\"], \"prompt_hash\": \"p17\", "
                      "\"error\": \"timeout\"}\n"
                    : scored;
  }
  write_text(dir.sub("base/samples_gsm8k.jsonl"), base);
  write_text(dir.sub("cand/samples_gsm8k.jsonl"), cand);
  GateOptions o;
  o.baseline = dir.sub("base");
  o.candidate = dir.sub("cand");
  Result<GateReport> r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, kGateExitPass) << r->tasks[0].message;
  EXPECT_EQ(r->tasks[0].metric, "exact_match,strict-match");
  EXPECT_EQ(r->tasks[0].failed_candidate, 1u);
  EXPECT_EQ(r->tasks[0].n, 199u);

  o.max_failed_frac = 0.001;  // 1 of 200 = 0.5% is now too many
  r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, kGateExitInfrastructure);
}

TEST(GateFilterTest, DocHashStandsInForMissingPromptHash) {
  TempDir dir;
  write_text(dir.sub("base/samples_t.jsonl"),
             "{\"doc_id\": 0, \"doc_hash\": \"a\", \"metrics\": [\"acc\"], \"acc\": 1}\n"
             "{\"doc_id\": 1, \"doc_hash\": \"b\", \"metrics\": [\"acc\"], \"acc\": 0}\n");
  write_text(dir.sub("same/samples_t.jsonl"),
             "{\"doc_id\": 1, \"doc_hash\": \"b\", \"prompt_hash\": \"x\", \"metrics\": [\"acc\"], "
             "\"acc\": 0}\n"
             "{\"doc_id\": 0, \"doc_hash\": \"a\", \"metrics\": [\"acc\"], \"acc\": 1}\n");
  write_text(dir.sub("other/samples_t.jsonl"),
             "{\"doc_id\": 0, \"doc_hash\": \"a\", \"metrics\": [\"acc\"], \"acc\": 1}\n"
             "{\"doc_id\": 1, \"doc_hash\": \"CHANGED\", \"metrics\": [\"acc\"], \"acc\": 0}\n");
  GateOptions o;
  o.baseline = dir.sub("base");
  o.candidate = dir.sub("same");
  Result<GateReport> r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, kGateExitPass);  // order in the file does not matter
  EXPECT_EQ(r->tasks[0].n, 2u);

  o.candidate = dir.sub("other");
  r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, kGateExitInfrastructure);
  EXPECT_NE(r->tasks[0].message.find("t doc_id 1 (doc_hash differs)"), std::string::npos)
      << r->tasks[0].message;
}

TEST(GateFilterTest, DuplicateDocumentsAndCorruptFiles) {
  TempDir dir;
  write_text(dir.sub("base/samples_t.jsonl"),
             "{\"doc_id\": 0, \"metrics\": [\"acc\"], \"acc\": 1}\n"
             "{\"doc_id\": 0, \"metrics\": [\"acc\"], \"acc\": 0}\n");
  write_text(dir.sub("cand/samples_t.jsonl"),
             "{\"doc_id\": 0, \"metrics\": [\"acc\"], \"acc\": 1}\n");
  GateOptions o;
  o.baseline = dir.sub("base");
  o.candidate = dir.sub("cand");
  Result<GateReport> r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, kGateExitInfrastructure);
  EXPECT_NE(r->tasks[0].message.find("samples_t.jsonl:2: doc_id 0"), std::string::npos)
      << r->tasks[0].message;

  write_text(dir.sub("base/samples_t.jsonl"), "{\"doc_id\": 0, \"acc\": 1\n");
  r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, kGateExitInfrastructure);
  EXPECT_NE(r->tasks[0].message.find("samples_t.jsonl:1"), std::string::npos);

  // A broken results.json makes the whole run unusable: one ERROR row, exit 75.
  write_text(dir.sub("cand/results.json"), "{\"results\": ");
  r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, kGateExitInfrastructure);
  ASSERT_EQ(r->tasks.size(), 1u);
  EXPECT_EQ(r->tasks[0].task, "(candidate run)");
}

TEST(GateFilterTest, ConfigTasksAreTheGatedSetWithoutFlag) {
  using namespace testing_support;
  TempDir dir;
  FakeTask a = binary_task("a", 500, 0.5, 1);
  FakeTask b = binary_task("b", 500, 0.5, 2);
  FakeTask b2 = b;
  flip(b2, 1.0, 40);
  write_run(dir.sub("base"), {{a, b}, {}});
  write_run(dir.sub("cand"), {{a, b2}, {}});
  write_text(dir.sub("gate.json"), R"({"tasks": {"a": {}}})");
  GateOptions o;
  o.baseline = dir.sub("base");
  o.candidate = dir.sub("cand");
  o.config_path = dir.sub("gate.json");
  Result<GateReport> r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->tasks.size(), 1u);
  EXPECT_EQ(r->exit_code, kGateExitPass);  // b is not gated
  o.tasks = {"", "b", "b"};
  r = evaluate_gate(o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->tasks.size(), 1u);
  EXPECT_EQ(r->exit_code, kGateExitRegression);
}

}  // namespace
}  // namespace assay

namespace assay {
namespace {

// The Markdown verdict goes into CI step summaries, which render HTML: task names and notes are
// escaped, and a pipe or newline in them cannot break the table.
TEST(GateMarkdown, OneEscapedRowPerTask) {
  GateReport r;
  GateTaskVerdict a;
  a.task = "mmlu_anatomy";
  a.metric = "acc,none";
  a.n = 135;
  a.message = "dropped 3.0 points | p < alpha\nsee <script>x</script>";
  a.outcome = GateOutcome::kRegression;
  GateTaskVerdict b = a;
  b.task = "gsm8k";
  b.message = "within threshold";
  b.outcome = GateOutcome::kPass;
  r.tasks = {a, b};
  r.exit_code = kGateExitRegression;
  const std::string md = format_gate_markdown(r);
  EXPECT_NE(md.find("| mmlu_anatomy |"), std::string::npos) << md;
  EXPECT_NE(md.find("| gsm8k |"), std::string::npos) << md;
  EXPECT_NE(md.find("dropped 3.0 points \\| p &lt; alpha see &lt;script&gt;x&lt;/script&gt;"),
            std::string::npos) << md;
  EXPECT_EQ(md.find("<script>"), std::string::npos) << md;
  size_t rows = 0;
  for (size_t p = md.find("\n|"); p != std::string::npos; p = md.find("\n|", p + 1)) ++rows;
  EXPECT_EQ(rows, 3u) << md;  // separator + two tasks (the header starts the text)
  EXPECT_NE(md.find("(exit 1)"), std::string::npos) << md;
}

}  // namespace
}  // namespace assay
