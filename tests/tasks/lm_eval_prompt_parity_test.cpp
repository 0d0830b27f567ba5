// Prompt parity with lm-evaluation-harness: the request arguments assay builds for the documents
// of tests/tasks/testdata/lm_eval_prompts/*.jsonl equal, byte for byte, the ones lm-eval's own
// code rendered (scripts/fixtures/lm_eval_prompts.py records how and with which version).
//
// Chat fixtures also carry the conversation lm-eval handed to the chat template; assay's
// generate requests must carry the same messages, and rendering them with SmolLM2's ChatML
// template (written out below, as the default model's GGUF template renders) must give lm-eval's
// string.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "harness/jsonl.h"
#include "harness/registry.h"
#include "tasks/gsm8k/gsm8k_task.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

struct FixtureDoc {
  int64_t doc_id = 0;
  std::string context;
  std::vector<std::string> continuations;  // loglikelihood
  std::vector<std::string> until;          // generate_until
  bool generate = false;
  std::vector<ChatMessage> messages;
};

struct Fixture {
  std::string task;
  int num_fewshot = 0;
  bool chat = false, multiturn = false;
  std::string system_instruction;
  std::vector<FixtureDoc> docs;
};

std::string fixture_dir() {
  return testing::source_dir() + "/tests/tasks/testdata/lm_eval_prompts";
}

Fixture load_fixture(const std::string& name) {
  Fixture f;
  const std::string path = fixture_dir() + "/" + name;
  Status st = for_each_jsonl(path, [&](int64_t, simdjson::dom::element e) -> Status {
    simdjson::dom::element meta;
    if (!e["meta"].get(meta)) {
      f.task = std::string(meta["task"].get_string().value());
      f.num_fewshot = static_cast<int>(meta["num_fewshot"].get_int64().value());
      f.chat = meta["apply_chat_template"].get_bool().value();
      f.multiturn = meta["fewshot_as_multiturn"].get_bool().value();
      std::string_view si;
      if (!meta["system_instruction"].get(si)) f.system_instruction = std::string(si);
      return Status::OK();
    }
    FixtureDoc d;
    d.doc_id = e["doc_id"].get_int64().value();
    d.context = std::string(e["context"].get_string().value());
    simdjson::dom::array a;
    if (!e["continuations"].get(a)) {
      for (auto c : a) d.continuations.emplace_back(c.get_string().value());
    }
    simdjson::dom::element gk;
    if (!e["gen_kwargs"].get(gk)) {
      d.generate = true;
      simdjson::dom::array until;
      if (!gk["until"].get(until)) {
        for (auto u : until) d.until.emplace_back(u.get_string().value());
      }
    }
    if (!e["messages"].get(a)) {
      for (auto m : a) {
        d.messages.push_back({std::string(m["role"].get_string().value()),
                              std::string(m["content"].get_string().value())});
      }
    }
    f.docs.push_back(std::move(d));
    return Status::OK();
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return f;
}

// SmolLM2-135M-Instruct's template (tokenizer.chat_template), add_generation_prompt=True.
std::string render_smollm2(const std::vector<ChatMessage>& messages) {
  std::string out;
  if (!messages.empty() && messages[0].role != "system") {
    out +=
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\n";
  }
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  return out + "<|im_start|>assistant\n";
}

std::unique_ptr<Task> make(const Fixture& f, const std::string& data_dir) {
  TaskRegistry reg;
  register_tasks(reg);
  TaskOptions o;
  o.data_dir = data_dir;
  o.num_fewshot = f.num_fewshot;
  o.apply_chat_template = f.chat;
  o.fewshot_as_multiturn = f.multiturn;
  o.system_instruction = f.system_instruction;
  const TaskFactory* factory = reg.task(f.task);
  EXPECT_NE(factory, nullptr) << f.task;
  if (!factory) return nullptr;
  auto t = (*factory)(o);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(*t) : nullptr;
}

// Compares every fixture document; returns the number that matched.
int compare(const Fixture& f, const Task& task, const std::string& fixture_name) {
  int matched = 0;
  for (const auto& d : f.docs) {
    auto reqs = task.requests(d.doc_id);
    bool ok = true;
    if (d.generate) {
      ok = reqs.size() == 1 && reqs[0].kind == RequestKind::kGenerate;
      if (ok && f.chat) {
        EXPECT_EQ(reqs[0].gen.messages, d.messages) << fixture_name << " doc " << d.doc_id;
        EXPECT_EQ(render_smollm2(d.messages), d.context) << fixture_name << " doc " << d.doc_id;
        ok =
            reqs[0].gen.messages == d.messages && render_smollm2(reqs[0].gen.messages) == d.context;
      } else if (ok) {
        EXPECT_EQ(reqs[0].gen.context, d.context) << fixture_name << " doc " << d.doc_id;
        ok = reqs[0].gen.context == d.context;
      }
      if (ok) {
        EXPECT_EQ(reqs[0].gen.params.until, d.until) << fixture_name;
        ok = reqs[0].gen.params.until == d.until;
      }
    } else {
      ok = reqs.size() == d.continuations.size();
      EXPECT_TRUE(ok) << fixture_name << " doc " << d.doc_id;
      for (size_t i = 0; ok && i < reqs.size(); ++i) {
        EXPECT_EQ(reqs[i].ll.context, d.context) << fixture_name << " doc " << d.doc_id;
        EXPECT_EQ(reqs[i].ll.continuation, d.continuations[i]) << fixture_name;
        ok = reqs[i].ll.context == d.context && reqs[i].ll.continuation == d.continuations[i];
      }
    }
    matched += ok;
  }
  return matched;
}

void expect_all_match(const std::string& fixture_name) {
  Fixture f = load_fixture(fixture_name);
  ASSERT_FALSE(f.docs.empty()) << fixture_name;
  auto task = make(f, testing::data_dir());
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(compare(f, *task, fixture_name), static_cast<int>(f.docs.size())) << fixture_name;
}

TEST(LmEvalPromptParity, Mmlu) {
  for (const char* name : {"mmlu_abstract_algebra_0shot.jsonl", "mmlu_anatomy_0shot.jsonl",
                           "mmlu_college_physics_0shot.jsonl", "mmlu_abstract_algebra_5shot.jsonl",
                           "mmlu_anatomy_5shot.jsonl"}) {
    expect_all_match(name);
  }
}

TEST(LmEvalPromptParity, Gsm8kCot) {
  expect_all_match("gsm8k_cot_8shot.jsonl");
  expect_all_match("gsm8k_cot_chat_8shot.jsonl");
}

// A system instruction: lm-eval renders it as plain text with no delimiter before the first
// turn, or as a system message in chat mode.
TEST(LmEvalPromptParity, SystemInstruction) {
  expect_all_match("mmlu_anatomy_system_5shot.jsonl");
  expect_all_match("gsm8k_cot_system_8shot.jsonl");
  expect_all_match("gsm8k_cot_system_chat_8shot.jsonl");
  expect_all_match("minerva_math_algebra_system_chat_multiturn.jsonl");
}

TEST(LmEvalPromptParity, MinervaMath) {
  expect_all_match("minerva_math_algebra_4shot.jsonl");
  expect_all_match("minerva_math_geometry_4shot.jsonl");
}

TEST(LmEvalPromptParity, HendrycksMath) {
  for (const char* sub : {"algebra", "counting_and_prob", "geometry", "intermediate_algebra",
                          "num_theory", "prealgebra", "precalc"}) {
    expect_all_match(std::string("hendrycks_math_") + sub + "_0shot.jsonl");
  }
}

// MMLU with --apply_chat_template: lm-eval puts the description in a system turn, the few-shot
// examples in the question's user turn (or as user/assistant turns with fewshot_as_multiturn),
// drops the target delimiter (continuations "A".."D") and scores after the generation prompt.
// The task emits those messages; the engine renders them (tests/harness/cli/chat_mmlu_test.cpp
// checks the real SmolLM2 template's render against the same fixtures).
TEST(LmEvalPromptParity, MmluChatMessagesAreLmEvals) {
  for (const char* name : {"mmlu_anatomy_chat_0shot.jsonl", "mmlu_anatomy_chat_5shot.jsonl",
                           "mmlu_anatomy_chat_5shot_multiturn.jsonl"}) {
    Fixture f = load_fixture(name);
    ASSERT_FALSE(f.docs.empty());
    auto task = make(f, testing::data_dir());
    ASSERT_NE(task, nullptr);
    int matched = 0;
    for (const auto& d : f.docs) {
      std::vector<Request> reqs = task->requests(d.doc_id);
      ASSERT_EQ(reqs.size(), d.continuations.size());
      bool ok = true;
      for (size_t i = 0; i < reqs.size(); ++i) {
        EXPECT_EQ(reqs[i].ll.messages, d.messages) << name << " doc " << d.doc_id;
        EXPECT_EQ(reqs[i].ll.continuation, d.continuations[i]) << name;
        ok = ok && reqs[i].ll.messages == d.messages && reqs[i].ll.continuation == d.continuations[i];
      }
      EXPECT_EQ(render_smollm2(d.messages), d.context) << name << " doc " << d.doc_id;
      matched += ok && render_smollm2(d.messages) == d.context;
    }
    EXPECT_EQ(matched, static_cast<int>(f.docs.size())) << name;
  }
}

// The fixture was rendered with a 7,473-row train split whose rows missing from the shared data
// are placeholders (see the script). Given the same train file, assay's sampler emulation must pick
// lm-eval's rows and lay the prompt out identically for every document.
void write_placeholder_train(const std::string& dir) {
  std::filesystem::create_directories(dir + "/gsm8k");
  std::filesystem::copy_file(testing::data_dir() + "/gsm8k/test.jsonl", dir + "/gsm8k/test.jsonl");
  std::vector<std::string> rows(kGsm8kTrainSize);
  for (int64_t i = 0; i < kGsm8kTrainSize; ++i) {
    rows[i] = "{\"question\": \"<<gsm8k train " + std::to_string(i) +
              " missing>>\", \"answer\": \"<<answer " + std::to_string(i) + ">>\"}";
  }
  Status st = for_each_jsonl(testing::data_dir() + "/weak_to_strong/gsm8k/train_2.jsonl",
                             [&](int64_t, simdjson::dom::element e) -> Status {
                               std::string_view id = e["id"].get_string().value();
                               if (id.substr(0, 6) != "gsm8k_") return Status::OK();
                               const int64_t i = std::stoll(std::string(id.substr(6)));
                               simdjson::dom::element q = e["question"].value(),
                                                      a = e["answer"].value();
                               rows[i] = "{\"question\": " + json_to_string(q) +
                                         ", \"answer\": " + json_to_string(a) + "}";
                               return Status::OK();
                             });
  ASSERT_TRUE(st.ok()) << st.message();
  std::string text;
  for (const auto& r : rows) text += r + "\n";
  testing::write_text(dir + "/gsm8k/train.jsonl", text);
}

TEST(LmEvalPromptParity, Gsm8kWithLmEvalsTrainLayout) {
  testing::TempDir data;
  write_placeholder_train(data.path());
  for (const char* name : {"gsm8k_5shot.jsonl", "gsm8k_chat_5shot_multiturn.jsonl"}) {
    Fixture f = load_fixture(name);
    ASSERT_FALSE(f.docs.empty());
    auto task = make(f, data.path());
    ASSERT_NE(task, nullptr);
    EXPECT_EQ(compare(f, *task, name), static_cast<int>(f.docs.size())) << name;
  }
}

// With the shared data alone (half of the train split), the documents whose five draws are all
// present get lm-eval's prompt exactly; the task reports how many of them there are.
TEST(LmEvalPromptParity, Gsm8kWithPartialTrainSplit) {
  Fixture f = load_fixture("gsm8k_5shot.jsonl");
  auto task = make(f, testing::data_dir());
  ASSERT_NE(task, nullptr);
  int exact_in_fixture = 0, matched = 0;
  for (const auto& d : f.docs) {
    if (d.context.find("<<gsm8k train ") != std::string::npos) continue;
    ++exact_in_fixture;
    matched += task->requests(d.doc_id)[0].gen.context == d.context;
  }
  EXPECT_EQ(matched, exact_in_fixture);
  const auto cfg = task->config();
  // Python: sum(all(i in present for i in r.sample(range(7473), 5)) for _ in range(1319)) == 36
  // with r = random.Random(1234) and `present` the gsm8k_<i> ids of train_2.jsonl.
  EXPECT_EQ(cfg.at("fewshot_config").at("docs_with_lm_eval_fewshot").as_int64(), 36);
  // Documents with a missing draw still get five real train examples.
  for (const auto& d : f.docs) {
    const auto ctx = task->requests(d.doc_id)[0].gen.context;
    EXPECT_EQ(ctx.find("<<gsm8k train "), std::string::npos);
    size_t n = 0;
    for (size_t p = ctx.find("Question: "); p != std::string::npos;
         p = ctx.find("Question: ", p + 1))
      ++n;
    EXPECT_EQ(n, 6u);
  }
}

}  // namespace
}  // namespace assay
