// Evaluator logic with the MMLU task over the real data, using a deterministic fake model
// (the end-to-end tests with the real engine live with the CLI tests).
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/csv.h"
#include "harness/evaluator.h"
#include "harness/jsonl.h"
#include "tasks/mmlu/mmlu.h"
#include "tests/support/fake_model.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

EvalOptions mmlu_opts(const std::string& out, std::vector<std::string> tasks, double limit) {
  EvalOptions o;
  o.tasks = std::move(tasks);
  o.task_options.data_dir = testing::data_dir();
  o.task_options.num_fewshot = 5;
  o.limit = limit;
  o.output_dir = out;
  o.log_samples = true;
  o.show_progress = false;
  o.chunk_size = 37;  // several chunks, to exercise the write-ahead log
  return o;
}

TEST(EvaluatorMmlu, PromptIsLmEvalsFiveShotLayout) {
  TaskRegistry reg;
  register_tasks(reg);
  TaskOptions to;
  to.data_dir = testing::data_dir();
  to.num_fewshot = 2;
  auto task = (*reg.task("mmlu_abstract_algebra"))(to);
  ASSERT_TRUE(task.ok()) << task.status().message();
  auto reqs = (*task)->requests(0);
  ASSERT_EQ(reqs.size(), 4u);
  auto dev = *read_csv(testing::data_dir() + "/mmlu/dev/abstract_algebra_dev.csv");
  auto test = *read_csv(testing::data_dir() + "/mmlu/test/abstract_algebra_test.csv");
  auto block = [](const std::vector<std::string>& f) {
    return f[0] + "\nA. " + f[1] + "\nB. " + f[2] + "\nC. " + f[3] + "\nD. " + f[4] + "\nAnswer:";
  };
  std::string want = "The following are multiple choice questions (with answers) about abstract "
                     "algebra.\n\n" +
                     block(dev[0].fields) + " " + dev[0].fields[5] + "\n\n" + block(dev[1].fields) +
                     " " + dev[1].fields[5] + "\n\n" + block(test[0].fields);
  EXPECT_EQ(reqs[0].ll.context, want);
  EXPECT_EQ(reqs[2].ll.continuation, " C");
}

TEST(EvaluatorMmlu, GroupsAggregateMicroAndMacroAndFilesAreWritten) {
  testing::TempDir out;
  TaskRegistry reg;
  register_tasks(reg);
  testing::FakeModel model;
  auto r = evaluate(model, reg, mmlu_opts(out.path(), {"mmlu_stem"}, 7));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& res = r->results.at("results").as_object();
  // 19 STEM subjects x 7 questions, each with 4 choices, all distinct.
  EXPECT_EQ(r->requests_total, 19 * 7 * 4);
  double correct = 0;
  size_t n = 0;
  std::vector<double> subject_acc;
  for (const auto& s : mmlu_subjects()) {
    if (std::string(s.category) != "stem") continue;
    double acc = res.at("mmlu_" + std::string(s.name)).at("acc,none").as_double();
    subject_acc.push_back(acc);
    correct += acc * 7;
    n += 7;
  }
  const auto& g = res.at("mmlu_stem").as_object();
  EXPECT_NEAR(g.at("acc,none").as_double(), correct / n, 1e-12);
  double macro = 0;
  for (double a : subject_acc) macro += a;
  EXPECT_NEAR(g.at("acc_macro,none").as_double(), macro / subject_acc.size(), 1e-12);
  EXPECT_TRUE(std::filesystem::exists(out.file("results.json")));
  // Samples: one line per document with lm-eval's fields.
  int lines = 0;
  Status st = for_each_jsonl(out.file("samples_mmlu_anatomy.jsonl"),
                             [&](int64_t, simdjson::dom::element e) {
                               ++lines;
                               for (const char* k : {"doc_id", "doc", "target", "arguments", "resps",
                                                     "filtered_resps", "doc_hash", "prompt_hash",
                                                     "target_hash", "acc"}) {
                                 simdjson::dom::element v;
                                 EXPECT_FALSE(e[k].get(v)) << k;
                               }
                               return Status::OK();
                             });
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(lines, 7);
  EXPECT_NE(r->markdown.find("|mmlu_anatomy"), std::string::npos) << r->markdown;
}

TEST(EvaluatorMmlu, ResumesFromTheLogWithoutRepeatingWork) {
  testing::TempDir out;
  TaskRegistry reg;
  register_tasks(reg);
  testing::FakeModel first;
  auto a = evaluate(first, reg, mmlu_opts(out.path(), {"mmlu_anatomy", "mmlu_virology"}, 10));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(first.calls, 80);
  testing::FakeModel again;
  auto b = evaluate(again, reg, mmlu_opts(out.path(), {"mmlu_anatomy", "mmlu_virology"}, 10));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(again.calls, 0);
  EXPECT_EQ(a->results.at("results"), b->results.at("results"));
  // A different model must not reuse those answers.
  testing::FakeModel other("fake-2");
  auto c = evaluate(other, reg, mmlu_opts(out.path(), {"mmlu_anatomy", "mmlu_virology"}, 10));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(other.calls, 80);
}

TEST(EvaluatorMmlu, FailedRequestsAreCountedApartAndRetriedOnResume) {
  testing::TempDir out;
  TaskRegistry reg;
  register_tasks(reg);
  TaskOptions to;
  to.data_dir = testing::data_dir();
  to.num_fewshot = 5;
  auto task = std::move((*reg.task("mmlu_anatomy"))(to)).value();
  testing::FakeModel flaky;
  flaky.fail_contexts.insert(task->requests(3)[0].ll.context);
  auto a = evaluate(flaky, reg, mmlu_opts(out.path(), {"mmlu_anatomy"}, 10));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->requests_failed, 4);
  EXPECT_EQ(a->tasks[0].n_failed_docs, 1);
  EXPECT_EQ(a->tasks[0].n_scored, 9);
  // results.json says why, not only how many.
  auto results = read_file(out.file("results.json"));
  ASSERT_TRUE(results.ok());
  EXPECT_NE(results->find("1 of 10 documents had failed requests and were not scored (first: "
                          "injected failure)"),
            std::string::npos);
  testing::FakeModel healthy;
  auto b = evaluate(healthy, reg, mmlu_opts(out.path(), {"mmlu_anatomy"}, 10));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(healthy.calls, 4);  // only the failed ones
  EXPECT_EQ(b->tasks[0].n_scored, 10);
}

TEST(EvaluatorMmlu, MalformedRowFailsThatTaskOnly) {
  testing::TempDir data;
  std::filesystem::create_directories(data.path() + "/mmlu/test");
  std::filesystem::create_directories(data.path() + "/mmlu/dev");
  for (const char* s : {"anatomy", "virology"}) {
    std::filesystem::copy_file(testing::data_dir() + "/mmlu/test/" + s + "_test.csv",
                               data.path() + "/mmlu/test/" + s + "_test.csv");
  }
  testing::write_text(data.path() + "/mmlu/test/anatomy_test.csv",
                      "q1,a,b,c,d,A\nq2,a,b,c,B\n");
  TaskRegistry reg;
  register_tasks(reg);
  testing::FakeModel model;
  EvalOptions o;
  o.tasks = {"mmlu_anatomy", "mmlu_virology"};
  o.task_options.data_dir = data.path();
  o.show_progress = false;
  auto r = evaluate(model, reg, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->failed_tasks, 1);
  EXPECT_EQ(r->tasks[0].status.message(),
            data.path() + "/mmlu/test/anatomy_test.csv:2: expected 6 columns, got 5");
  EXPECT_TRUE(r->results.at("results").as_object().contains("mmlu_virology"));
}

TEST(EvaluatorMmlu, ModelWithoutLoglikelihoodIsRefusedBeforeAnyRequest) {
  TaskRegistry reg;
  register_tasks(reg);
  testing::FakeModel chat;
  chat.info_.supports_loglikelihood = false;
  chat.info_.chat_only = true;
  EvalOptions o;
  o.tasks = {"mmlu_anatomy"};
  o.task_options.data_dir = testing::data_dir();
  o.show_progress = false;
  auto r = evaluate(chat, reg, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(chat.calls, 0);
}

// A model that learns its capabilities in prepare(), as a remote endpoint does by probing.
class ProbingModel : public testing::FakeModel {
 public:
  Status prepare(const ModelNeeds& needs) override {
    prepared.push_back(needs);
    if (!probe_error.ok()) return probe_error;
    if (needs.loglikelihood) info_.supports_loglikelihood = echo;
    if (needs.loglikelihood && !echo) return Status(StatusCode::kUnsupported, "probed: no prompt log-probs");
    return Status::OK();
  }
  std::vector<ModelNeeds> prepared;
  Status probe_error;
  bool echo = true;
};

TEST(EvaluatorMmlu, ModelIsPreparedForWhatTheTasksNeedBeforeAnyRequest) {
  TaskRegistry reg;
  register_tasks(reg);
  EvalOptions o;
  o.tasks = {"mmlu_anatomy"};
  o.limit = 3;
  o.task_options.data_dir = testing::data_dir();
  o.show_progress = false;
  {
    ProbingModel m;
    m.info_.supports_loglikelihood = false;
    auto r = evaluate(m, reg, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(m.prepared.size(), 1u);
    EXPECT_TRUE(m.prepared[0].loglikelihood);
    EXPECT_FALSE(m.prepared[0].generate);
    EXPECT_FALSE(m.prepared[0].rolling);
    EXPECT_EQ(m.calls, 12);
  }
  {
    ProbingModel m;  // the probe says no: refused, nothing sent
    m.info_.supports_loglikelihood = false;
    m.echo = false;
    auto r = evaluate(m, reg, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(r.status().message().find("probed"), std::string::npos) << r.status().message();
    EXPECT_EQ(m.calls, 0);
  }
  {
    ProbingModel m;  // the probe cannot reach the server: that error, nothing sent
    m.probe_error = Status(StatusCode::kUnavailable, "connection refused");
    auto r = evaluate(m, reg, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(r.status().message().find("connection refused"), std::string::npos);
    EXPECT_EQ(m.calls, 0);
  }
}

TEST(EvaluatorMmlu, ChatTemplatedScoringWithoutATemplateIsRefusedBeforeAnyRequest) {
  TaskRegistry reg;
  register_tasks(reg);
  testing::FakeModel api;  // scores log-likelihoods, but renders no chat template
  EvalOptions o;
  o.tasks = {"mmlu_anatomy"};
  o.task_options.data_dir = testing::data_dir();
  o.task_options.apply_chat_template = true;
  o.show_progress = false;
  auto r = evaluate(api, reg, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("chat template"), std::string::npos) << r.status().message();
  EXPECT_EQ(api.calls, 0);
  // Without the flag the same model is served.
  o.task_options.apply_chat_template = false;
  o.limit = 1;
  EXPECT_TRUE(evaluate(api, reg, o).ok());
  EXPECT_GT(api.calls, 0);
}

TEST(EvaluatorMmlu, UnknownTaskSuggests) {
  TaskRegistry reg;
  register_tasks(reg);
  testing::FakeModel model;
  EvalOptions o;
  o.tasks = {"mmlu_anatomyy"};
  auto r = evaluate(model, reg, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("did you mean mmlu_anatomy"), std::string::npos);
}

}  // namespace
}  // namespace assay
