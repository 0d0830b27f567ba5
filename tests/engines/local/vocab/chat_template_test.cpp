// Chat rendering must equal the model's Jinja template rendered by jinja2 the way transformers'
// apply_chat_template does (fixture: scripts/fixtures/make_chat_template_fixtures.py).
#include "engines/local/vocab/chat_template.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>

#include "engines/local/vocab/hf_tokenizer_json.h"
#include "engines/local/vocab/tokenizer.h"
#include "tests/engines/local/vocab/vocab_test_util.h"

namespace assay {
namespace {

struct Fixture {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string text;
};

Fixture* fixture() {
  static Fixture* f = [] {
    auto* f = new Fixture();
    std::string path =
        testing::source_dir() + "/tests/engines/local/vocab/fixtures/chat_templates.json";
    EXPECT_TRUE(testing::read_file(path, &f->text)) << path;
    EXPECT_FALSE(f->parser.parse(f->text).get(f->doc)) << path;
    return f;
  }();
  return f;
}

// The template source: embedded in the fixture or read from the shared data folder.
bool template_source(simdjson::dom::object t, std::string* out) {
  std::string_view s;
  if (!t["source"].get_string().get(s)) {
    *out = std::string(s);
    return true;
  }
  if (t["data"].get_string().get(s)) return false;
  std::string path = testing::data_dir() + "/" + std::string(s);
  std::string text;
  if (!testing::read_file(path, &text)) return false;
  if (path.size() > 5 && path.substr(path.size() - 5) == ".json") {
    auto t2 = chat_template_from_hf_config(text, path);
    if (!t2.ok() || !t2->has_value()) return false;
    *out = **t2;
  } else {
    *out = text;
  }
  return true;
}

TEST(ChatTemplate, MatchesJinjaRenderings) {
  simdjson::dom::object templates;
  ASSERT_FALSE(fixture()->doc["templates"].get_object().get(templates));
  std::map<std::string, ChatTemplate> loaded;
  std::map<std::string, std::pair<std::string, std::string>> tokens;  // bos, eos
  for (auto field : templates) {
    std::string name(field.key);
    simdjson::dom::object t = field.value.get_object();
    std::string source;
    if (!template_source(t, &source)) {
      std::printf("skipping template %s: source not available\n", name.c_str());
      continue;
    }
    auto ct = ChatTemplate::from_jinja(source);
    ASSERT_TRUE(ct.ok()) << name << ": " << ct.status().message();
    EXPECT_EQ(ct->name(), std::string(std::string_view(t["detected"].get_string()))) << name;
    loaded.emplace(name, *ct);
    tokens[name] = {std::string(std::string_view(t["bos_token"].get_string())),
                    std::string(std::string_view(t["eos_token"].get_string()))};
  }
  ASSERT_GE(loaded.size(), 4u);

  std::map<std::string, std::pair<int, int>> counts;
  simdjson::dom::array cases;
  ASSERT_FALSE(fixture()->doc["cases"].get_array().get(cases));
  for (simdjson::dom::element c : cases) {
    std::string name(std::string_view(c["template"].get_string()));
    auto it = loaded.find(name);
    if (it == loaded.end()) continue;
    std::vector<ChatMessage> messages;
    for (simdjson::dom::element m : c["messages"].get_array()) {
      messages.push_back({std::string(std::string_view(m["role"].get_string())),
                          std::string(std::string_view(m["content"].get_string()))});
    }
    ChatRenderOptions opt;
    opt.add_generation_prompt = bool(c["add_generation_prompt"].get_bool());
    opt.bos_token = tokens[name].first;
    opt.eos_token = tokens[name].second;
    bool thinking;
    if (!c["enable_thinking"].get_bool().get(thinking)) opt.enable_thinking = thinking;
    if (opt.bos_token.empty()) opt.bos_token = "\x01unused";  // templates without BOS ignore it
    auto r = it->second.render(messages, opt);
    std::string_view expected;
    ++counts[name].second;
    if (!c["expected"].get_string().get(expected)) {
      ASSERT_TRUE(r.ok()) << name << ": " << r.status().message();
      EXPECT_EQ(*r, expected) << name << " case with " << messages.size() << " messages";
      counts[name].first += *r == expected;
    } else {
      EXPECT_FALSE(r.ok()) << name << " should fail like raise_exception";
      counts[name].first += !r.ok();
    }
  }
  for (const auto& [name, pc] : counts) {
    std::printf("[ chat %s ] %d/%d renderings match\n", name.c_str(), pc.first, pc.second);
  }
}

TEST(ChatTemplate, UnknownTemplatesAndNamesAreErrors) {
  auto t = ChatTemplate::from_jinja("{{ messages[0]['content'] }}<my_turn>");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(t.status().message().find("llama3.1"), std::string::npos);
  auto n = ChatTemplate::from_name("vicuna");
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("chatml"), std::string::npos);
  for (const std::string& name : ChatTemplate::names()) {
    EXPECT_TRUE(ChatTemplate::from_name(name).ok()) << name;
  }
}

TEST(ChatTemplate, ForcedSmolLM2InjectsItsSystemTurn) {
  auto t = ChatTemplate::from_name("smollm2");
  ASSERT_TRUE(t.ok());
  std::vector<ChatMessage> m = {{"user", "Hi"}};
  auto r = t->render(m);
  ASSERT_TRUE(r.ok());
  // Text of SmolLM2-Instruct's template (reference §6.4).
  EXPECT_EQ(*r,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama31PromptTokenizesWithOneBos) {
  auto data = vocab_from_hf_dir(testing::data_dir() + "/tokenizer/hf/llama3_1");
  if (!data.ok()) FAIL() << data.status().message();
  auto tok = Tokenizer::create(std::move(*data));
  ASSERT_TRUE(tok.ok());
  auto t = ChatTemplate::from_name("llama3.1");
  ASSERT_TRUE(t.ok());
  std::vector<ChatMessage> m = {{"system", "Be brief."}, {"user", "Hi"}};
  auto r = t->render(m);
  ASSERT_TRUE(r.ok());
  std::vector<int32_t> ids = (*tok)->encode(*r, /*add_special=*/false, /*parse_special=*/true);
  ASSERT_GT(ids.size(), 10u);
  EXPECT_EQ(ids[0], 128000);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128000), 1);
  EXPECT_EQ(ids[1], 128006);   // <|start_header_id|>
  EXPECT_EQ(ids.back(), 271);  // "\n\n" after the assistant header
  EXPECT_EQ((*tok)->decode(ids, {.render_special = true}), *r);
}

}  // namespace
}  // namespace assay
