// Scoring of the generative tasks (gsm8k, gsm8k_cot, minerva_math, hendrycks_math, math500) on
// hand-made responses, directly and through the evaluator with the FakeModel; task options
// (num_fewshot, strip_think, gen_overrides) and the registry's groups.
#include <gtest/gtest.h>

#include <fstream>

#include "harness/evaluator.h"
#include "harness/registry.h"
#include "tests/support/fake_model.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

std::unique_ptr<Task> make(const std::string& name, TaskOptions o = {}) {
  TaskRegistry reg;
  register_tasks(reg);
  o.data_dir = testing::data_dir();
  const TaskFactory* f = reg.task(name);
  EXPECT_NE(f, nullptr) << name;
  auto t = (*f)(o);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(*t) : nullptr;
}

std::map<std::string, double> score(const Task& t, int64_t doc, const std::string& text) {
  Response r;
  r.kind = RequestKind::kGenerate;
  r.gen.text = text;
  return t.score(doc, std::span<const Response>(&r, 1)).values;
}

// GSM8K test document 0 (Janet's ducks) has the answer 18.
TEST(Gsm8kTask, StrictAndFlexibleMatch) {
  auto t = make("gsm8k");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->size(), 1319);
  EXPECT_EQ(t->num_fewshot(), 5);
  auto v = score(*t, 0, "She sells 9 eggs for $2 each, so 9 * 2 = 18.\n#### 18");
  EXPECT_EQ(v["exact_match,strict-match"], 1.0);
  EXPECT_EQ(v["exact_match,flexible-extract"], 1.0);
  v = score(*t, 0, "She makes $18 a day.");
  EXPECT_EQ(v["exact_match,strict-match"], 0.0);
  EXPECT_EQ(v["exact_match,flexible-extract"], 1.0);
  v = score(*t, 0, "#### 17\nActually 18 is wrong too: 20");
  EXPECT_EQ(v["exact_match,strict-match"], 0.0);
  EXPECT_EQ(v["exact_match,flexible-extract"], 0.0);
  v = score(*t, 0, "#### $18.00");  // "$" and the trailing "." are ignored, "18.00" is not 18
  EXPECT_EQ(v["exact_match,strict-match"], 0.0);
  v = score(*t, 0, "#### 1,8.");
  EXPECT_EQ(v["exact_match,strict-match"], 1.0);  // "," and a final "." are ignored
}

TEST(Gsm8kTask, CotStrictMatchAndStripThink) {
  TaskOptions o;
  o.strip_think = true;
  auto t = make("gsm8k_cot", o);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->num_fewshot(), 8);
  auto v = score(*t, 0, "<think>The answer is 5.</think>9 eggs times $2. The answer is 18.");
  EXPECT_EQ(v["exact_match,strict-match"], 1.0);
  EXPECT_EQ(v["exact_match,flexible-extract"], 1.0);
  auto plain = make("gsm8k_cot");
  v = score(*plain, 0, "<think>The answer is 5.</think>9 eggs times $2. The answer is 18.");
  EXPECT_EQ(v["exact_match,strict-match"], 0.0);  // the first match is inside the think block
}

TEST(Gsm8kTask, OptionsOverrideFewshotAndGeneration) {
  TaskOptions o;
  o.num_fewshot = 0;
  o.gen_overrides.until = std::vector<std::string>{"\n\n"};
  o.gen_overrides.max_gen_toks = 64;
  auto t = make("gsm8k", o);
  ASSERT_NE(t, nullptr);
  auto reqs = t->requests(0);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].gen.context.rfind("Question: Janet", 0), 0u);
  EXPECT_EQ(reqs[0].gen.params.until, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(reqs[0].gen.params.max_gen_toks, 64);
  auto dflt = make("gsm8k_cot");
  EXPECT_EQ(dflt->requests(0)[0].gen.params.until,
            (std::vector<std::string>{"Q:", "</s>", "<|im_end|>"}));
  EXPECT_EQ(dflt->requests(0)[0].gen.params.max_gen_toks, 256);
  TaskOptions too_many;
  too_many.num_fewshot = 9;
  too_many.data_dir = testing::data_dir();
  TaskRegistry reg;
  register_tasks(reg);
  EXPECT_FALSE((*reg.task("gsm8k_cot"))(too_many).ok());
}

// Only the keys given replace the task's own; the others keep the task's values.
TEST(Gsm8kTask, GenKwargsMergeKeyByKey) {
  TaskOptions o;
  o.gen_overrides.temperature = 0.5;
  o.gen_overrides.do_sample = true;
  o.gen_overrides.seed = 7;
  auto t = make("gsm8k_cot", o);
  ASSERT_NE(t, nullptr);
  GenParams p = t->requests(0)[0].gen.params;
  EXPECT_EQ(p.until, (std::vector<std::string>{"Q:", "</s>", "<|im_end|>"}));
  EXPECT_EQ(p.max_gen_toks, 256);
  EXPECT_TRUE(p.do_sample);
  EXPECT_EQ(p.temperature, 0.5);
  EXPECT_EQ(p.seed, 7u);
  EXPECT_EQ(p.top_p, 1.0);
  TaskOptions only_len;
  only_len.gen_overrides.max_gen_toks = 32;
  auto t2 = make("minerva_math_algebra", only_len);
  ASSERT_NE(t2, nullptr);
  GenParams q = t2->requests(0)[0].gen.params;
  EXPECT_EQ(q.max_gen_toks, 32);
  EXPECT_EQ(q.until, std::vector<std::string>{"Problem:"});
  EXPECT_FALSE(q.do_sample);
  EXPECT_FALSE(q.seed.has_value());
}

TEST(Gsm8kTask, ThroughTheEvaluator) {
  TaskRegistry reg;
  register_tasks(reg);
  testing::FakeModel model;
  model.generation = "Janet sells 16 - 3 - 4 = 9 eggs.\n#### 18";
  EvalOptions o;
  o.tasks = {"gsm8k", "gsm8k_cot"};
  o.task_options.data_dir = testing::data_dir();
  o.limit = 1;
  o.show_progress = false;
  auto r = evaluate(model, reg, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& res = r->results.at("results").as_object();
  EXPECT_EQ(res.at("gsm8k").at("exact_match,strict-match").as_double(), 1.0);
  EXPECT_EQ(res.at("gsm8k").at("exact_match,flexible-extract").as_double(), 1.0);
  EXPECT_EQ(res.at("gsm8k_cot").at("exact_match,strict-match").as_double(), 0.0);
  EXPECT_EQ(res.at("gsm8k_cot").at("exact_match,flexible-extract").as_double(), 1.0);
}

// As lm-eval logs samples: each document once per filter, all strict-match lines first, each
// line with that filter's filtered response and metric only.
TEST(Gsm8kTask, SamplesHaveOneLinePerFilter) {
  TaskRegistry reg;
  register_tasks(reg);
  testing::FakeModel model;
  model.generation = "She makes 9 * 2 = 18 dollars. The answer is 18.\n\n";
  testing::TempDir out;
  EvalOptions o;
  o.tasks = {"gsm8k_cot"};
  o.task_options.data_dir = testing::data_dir();
  o.limit = 3;
  o.show_progress = false;
  o.output_dir = out.path();
  o.log_samples = true;
  auto r = evaluate(model, reg, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::ifstream in(out.path() + "/samples_gsm8k_cot.jsonl");
  std::vector<boost::json::object> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(boost::json::parse(l).as_object());
  ASSERT_EQ(lines.size(), 6u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& s = lines[i];
    const bool strict = i < 3;
    EXPECT_EQ(s.at("doc_id").as_int64(), static_cast<int64_t>(i % 3));
    EXPECT_EQ(s.at("filter").as_string(), strict ? "strict-match" : "flexible-extract");
    EXPECT_EQ(s.at("metrics"), (boost::json::array{"exact_match"}));
    // strict-match captures N of "The answer is N."; flexible-extract the last number-like run,
    // period included (exact_match ignores it).
    EXPECT_EQ(s.at("filtered_resps"), (boost::json::array{strict ? "18" : "18."})) << i;
    EXPECT_EQ(s.at("exact_match").as_double(), s.at("doc_id").as_int64() == 0 ? 1.0 : 0.0) << i;
    EXPECT_FALSE(s.contains("exact_match_flexible-extract"));
  }
}

// minerva_math_algebra document 0: "How many vertical asymptotes ..." with the answer 2.
TEST(MinervaMathTask, ExactMatchAndMathEquiv) {
  auto t = make("minerva_math_algebra");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->num_fewshot(), 4);
  auto v = score(*t, 0,
                 "The denominator has two roots.\nFinal Answer: The final answer is $2$. "
                 "I hope it is correct.\n\n");
  EXPECT_EQ(v["exact_match,none"], 1.0);
  EXPECT_EQ(v["math_equiv,none"], 1.0);
  v = score(*t, 0, "Final Answer: The final answer is $\\frac{4}{2}$. I hope it is correct.");
  EXPECT_EQ(v["exact_match,none"], 0.0);
  EXPECT_EQ(v["math_equiv,none"], 1.0);
  v = score(*t, 0, "So the answer is $\\boxed{2}$.");  // no Final Answer line
  EXPECT_EQ(v["exact_match,none"], 0.0);
  EXPECT_EQ(v["math_equiv,none"], 0.0);
  v = score(*t, 0, "Final Answer: The final answer is $3$. I hope it is correct.");
  EXPECT_EQ(v["exact_match,none"], 0.0);
  EXPECT_EQ(v["math_equiv,none"], 0.0);
}

TEST(HendrycksMathTask, IsEquivOnDollarSpan) {
  auto t = make("hendrycks_math_algebra");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->num_fewshot(), 0);
  EXPECT_EQ(t->requests(0)[0].gen.context.rfind("Problem: How many vertical asymptotes", 0), 0u);
  EXPECT_EQ(score(*t, 0, " $2$")["exact_match,none"], 1.0);
  EXPECT_EQ(score(*t, 0, "2")["exact_match,none"], 1.0);
  EXPECT_EQ(score(*t, 0, "there are $2$ of them, not $3$")["exact_match,none"], 0.0);
  TaskOptions o;
  o.num_fewshot = 2;
  o.data_dir = testing::data_dir();
  TaskRegistry reg;
  register_tasks(reg);
  EXPECT_FALSE((*reg.task("hendrycks_math_algebra"))(o).ok());
}

TEST(MathTasks, SubsetSizesGroupsAndMath500) {
  TaskRegistry reg;
  register_tasks(reg);
  int64_t total = 0;
  for (const char* sub : {"algebra", "counting_and_prob", "geometry", "intermediate_algebra",
                          "num_theory", "prealgebra", "precalc"}) {
    auto t = make(std::string("minerva_math_") + sub);
    ASSERT_NE(t, nullptr);
    total += t->size();
  }
  EXPECT_EQ(total, 5000);
  std::vector<std::string> leaves, groups;
  ASSERT_TRUE(reg.expand({"minerva_math", "hendrycks_math"}, &leaves, &groups).ok());
  EXPECT_EQ(leaves.size(), 14u);
  auto m = make("math500");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->size(), 500);
  // MATH-500 document 0: polar coordinates (3, pi/2).
  auto v = score(*m, 0,
                 "Final Answer: The final answer is $\\left( 3, \\frac{\\pi}{2} \\right)$. "
                 "I hope it is correct.");
  EXPECT_EQ(v["exact_match,none"], 1.0);
  EXPECT_EQ(v["math_equiv,none"], 1.0);
  v = score(*m, 0, "Final Answer: The final answer is $(3,\\pi/2)$. I hope it is correct.");
  EXPECT_EQ(v["math_equiv,none"], 1.0);
}

TEST(MathTasks, ChatModeCarriesMessages) {
  TaskOptions o;
  o.apply_chat_template = true;
  o.fewshot_as_multiturn = true;
  o.system_instruction = "Be brief.";
  auto t = make("minerva_math_algebra", o);
  ASSERT_NE(t, nullptr);
  auto req = t->requests(0)[0].gen;
  ASSERT_EQ(req.messages.size(), 1u + 2 * 4 + 1);
  EXPECT_EQ(req.messages[0].role, "system");
  EXPECT_EQ(req.messages[1].role, "user");
  EXPECT_EQ(req.messages[2].role, "assistant");
  EXPECT_EQ(req.messages.back().content.rfind("Problem:\nHow many vertical", 0), 0u);
}

}  // namespace
}  // namespace assay
