// `assay run --apply-chat-template` on MMLU with the real default model: the prompt the engine
// scores (logged as arg_0 and hashed as prompt_hash) is byte for byte the conversation lm-eval
// 0.4.13 rendered with SmolLM2's own template (tests/tasks/testdata/lm_eval_prompts, made by
// scripts/fixtures/lm_eval_prompts.py).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "harness/sha256.h"
#include "tests/support/run_assay.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

struct Sample {
  std::string arg0;
  std::vector<std::string> continuations;
  std::vector<double> logprobs;
  std::string prompt_hash;
};

// doc_id -> what the run logged.
std::map<int64_t, Sample> read_samples(const std::string& path) {
  std::map<int64_t, Sample> out;
  simdjson::dom::parser parser;
  for (const std::string& line : lines_of(path)) {
    simdjson::dom::element e = parser.parse(line);
    Sample s;
    simdjson::dom::object args = e["arguments"];
    for (size_t i = 0; i < args.size(); ++i) {
      simdjson::dom::element a = args["gen_args_" + std::to_string(i)];
      if (i == 0) s.arg0 = std::string(std::string_view(a["arg_0"]));
      EXPECT_EQ(std::string_view(a["arg_0"]), s.arg0) << "every option shares the prompt";
      s.continuations.emplace_back(std::string_view(a["arg_1"]));
    }
    // lm-eval's resps: [[["<logprob>", "<is_greedy>"]], ...], Python reprs as strings.
    for (simdjson::dom::element r : simdjson::dom::array(e["resps"])) {
      std::string_view lp = r.at(0).at(0);
      s.logprobs.push_back(std::stod(std::string(lp)));
    }
    s.prompt_hash = std::string(std::string_view(e["prompt_hash"]));
    out[int64_t(e["doc_id"])] = std::move(s);
  }
  return out;
}

class ChatMmlu : public ::testing::TestWithParam<std::tuple<int, bool, std::string>> {};

TEST_P(ChatMmlu, ScoresTheConversationLmEvalRendered) {
  const auto& [shots, multiturn, fixture] = GetParam();
  const int limit = 3;
  testing::TempDir dir;
  auto run = testing::run_assay("run --model default --tasks mmlu_anatomy --apply-chat-template" +
                                std::string(multiturn ? " --fewshot-as-multiturn" : "") +
                                " --num-fewshot " + std::to_string(shots) + " --limit " +
                                std::to_string(limit) + " --log-samples --data-dir " +
                                testing::data_dir() + " --output " + dir.path());
  ASSERT_EQ(run.code, 0) << run.out;
  auto samples = read_samples(dir.path() + "/samples_mmlu_anatomy.jsonl");
  ASSERT_EQ(samples.size(), static_cast<size_t>(limit));

  simdjson::dom::parser parser;
  int checked = 0;
  for (const std::string& line :
       lines_of(testing::source_dir() + "/tests/tasks/testdata/lm_eval_prompts/" + fixture)) {
    simdjson::dom::element e = parser.parse(line);
    if (e["meta"].error() == simdjson::SUCCESS) continue;
    int64_t doc = int64_t(e["doc_id"]);
    if (doc >= limit) continue;
    const Sample& s = samples.at(doc);
    std::string context{std::string_view(e["context"])};
    EXPECT_EQ(s.arg0, context) << fixture << " doc " << doc;
    EXPECT_EQ(s.prompt_hash, sha256_hex(context));
    EXPECT_EQ(s.continuations, (std::vector<std::string>{"A", "B", "C", "D"}));
    ASSERT_EQ(s.logprobs.size(), 4u);
    for (double lp : s.logprobs) {
      EXPECT_TRUE(std::isfinite(lp) && lp < 0) << lp;
    }
    ++checked;
  }
  EXPECT_EQ(checked, limit);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ChatMmlu,
    ::testing::Values(std::make_tuple(0, false, std::string("mmlu_anatomy_chat_0shot.jsonl")),
                      std::make_tuple(5, false, std::string("mmlu_anatomy_chat_5shot.jsonl")),
                      std::make_tuple(5, true,
                                      std::string("mmlu_anatomy_chat_5shot_multiturn.jsonl"))),
    [](const auto& info) {
      return std::to_string(std::get<0>(info.param)) + "shot" +
             (std::get<1>(info.param) ? "_multiturn" : "");
    });

// The chat layout is scored differently from the plain one (it is not silently the plain prompt)
// and the letter after "assistant\n" is a single token the model finds likely.
TEST(ChatMmlu, ChatAndPlainRunsScoreDifferentPrompts) {
  testing::TempDir chat_dir, plain_dir;
  const std::string common = " --model default --tasks mmlu_anatomy --num-fewshot 0 --limit 2 "
                             "--log-samples --data-dir " + testing::data_dir();
  auto chat_run = testing::run_assay("run" + common + " --apply-chat-template --output " + chat_dir.path());
  ASSERT_EQ(chat_run.code, 0) << chat_run.out;
  auto plain_run = testing::run_assay("run" + common + " --output " + plain_dir.path());
  ASSERT_EQ(plain_run.code, 0) << plain_run.out;
  auto chat = read_samples(chat_dir.path() + "/samples_mmlu_anatomy.jsonl");
  auto plain = read_samples(plain_dir.path() + "/samples_mmlu_anatomy.jsonl");
  ASSERT_EQ(chat.size(), 2u);
  ASSERT_EQ(plain.size(), 2u);
  for (int64_t d = 0; d < 2; ++d) {
    EXPECT_NE(chat[d].arg0, plain[d].arg0);
    EXPECT_NE(chat[d].logprobs, plain[d].logprobs);
    EXPECT_EQ(plain[d].continuations, (std::vector<std::string>{" A", " B", " C", " D"}));
    double best = *std::max_element(chat[d].logprobs.begin(), chat[d].logprobs.end());
    EXPECT_GT(best, std::log(0.01)) << "a letter right after the generation prompt is plausible";
  }
}

}  // namespace
}  // namespace assay
