#include "engines/serve/serve_protocol.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>

namespace assay::serve {
namespace {

// By value: callers pass temporaries.
template <class T>
T ok(const Parsed<T>& p) {
  if (auto* e = std::get_if<ApiError>(&p)) {
    ADD_FAILURE() << e->message;
    return T{};
  }
  return std::get<T>(p);
}

template <class T>
ApiError err(const Parsed<T>& p) {
  EXPECT_TRUE(std::holds_alternative<ApiError>(p));
  return std::holds_alternative<ApiError>(p) ? std::get<ApiError>(p) : ApiError{};
}

TEST(ServeProtocol, CompletionTakesTheLmEvalLoglikelihoodShape) {
  auto p = parse_completion_request(
      R"({"model":"m","prompt":"The capital of France is Paris","max_tokens":1,"temperature":0,"logprobs":1,"echo":true,"seed":1234})");
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(p));
  const auto r = ok(p);
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0], "The capital of France is Paris");
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.logprobs, 1);
  EXPECT_EQ(r.s.max_tokens, 1);
  EXPECT_EQ(r.s.temperature, 0);
  EXPECT_EQ(r.s.seed, 1234u);
  EXPECT_EQ(r.s.model, "m");
}

TEST(ServeProtocol, PromptListStopStringOrListAndDefaults) {
  const auto r = ok(parse_completion_request(R"({"prompt":["a","b"],"stop":"\n"})"));
  EXPECT_EQ(r.prompts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.s.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(r.s.temperature, 1.0);  // OpenAI's default
  EXPECT_FALSE(r.s.max_tokens);
  EXPECT_FALSE(r.logprobs);
  const auto r2 =
      ok(parse_completion_request(R"({"prompt":"x","stop":["a","","b"],"max_tokens":0})"));
  EXPECT_EQ(r2.s.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r2.s.max_tokens, 0);
  GenParams g = to_gen_params(r2.s, 16);
  EXPECT_EQ(g.max_gen_toks, 0);
  EXPECT_TRUE(g.do_sample);
  GenParams g2 =
      to_gen_params(ok(parse_completion_request(R"({"prompt":"x","temperature":0})")).s, 16);
  EXPECT_EQ(g2.max_gen_toks, 16);
  EXPECT_FALSE(g2.do_sample);
}

TEST(ServeProtocol, BadFieldsNameTheirParam) {
  struct Case {
    const char* body;
    const char* param;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"({"prompt":"x","temperature":"hot"})", "temperature"},
           {R"({"prompt":"x","temperature":3})", "temperature"},
           {R"({"prompt":"x","top_p":0})", "top_p"},
           {R"({"prompt":"x","max_tokens":-1})", "max_tokens"},
           {R"({"prompt":"x","max_tokens":1.5})", "max_tokens"},
           {R"({"prompt":"x","n":0})", "n"},
           {R"({"prompt":"x","n":99})", "n"},
           {R"({"prompt":"x","logprobs":21})", "logprobs"},
           {R"({"prompt":"x","logprobs":true})", "logprobs"},
           {R"({"prompt":"x","echo":"yes"})", "echo"},
           {R"({"prompt":"x","stop":[1]})", "stop"},
           {R"({"prompt":"x","seed":"s"})", "seed"},
           {R"({"prompt":"x","model":7})", "model"},
           {R"({"prompt":"x","stream":1})", "stream"},
           {R"({"prompt":"x","stream_options":{"include_usage":true}})", "stream_options"},
           {R"({"prompt":[1,"a"]})", "prompt"},
           {R"({"prompt":[[1,2],[]]})", "prompt"},
           {R"({"prompt":[-1]})", "prompt"},
           {R"({"prompt":["a",[1]]})", "prompt"},
           {R"({"prompt":[]})", "prompt"},
           {R"({"prompt":{}})", "prompt"},
           {R"({"max_tokens":3})", "prompt"},
           // Sampled generations get no logprobs here; prompt scoring alone is fine.
           {R"({"prompt":"x","logprobs":1,"max_tokens":5})", "logprobs"},
       }) {
    ApiError e = err(parse_completion_request(c.body));
    EXPECT_EQ(e.http_status, 400) << c.body;
    EXPECT_EQ(e.type, "invalid_request_error") << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << ": " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
  EXPECT_TRUE(std::holds_alternative<CompletionRequest>(
      parse_completion_request(R"({"prompt":"x","logprobs":1,"max_tokens":0})")));
}

TEST(ServeProtocol, TokenIdPrompts) {
  const auto one = ok(parse_completion_request(R"({"prompt":[1,2,3]})"));
  EXPECT_TRUE(one.prompts.empty());
  EXPECT_EQ(one.token_prompts, (std::vector<std::vector<int32_t>>{{1, 2, 3}}));
  const auto two = ok(parse_completion_request(R"({"prompt":[[5],[6,7]]})"));
  EXPECT_EQ(two.token_prompts, (std::vector<std::vector<int32_t>>{{5}, {6, 7}}));
  const auto tk = ok(parse_tokenize_request(R"({"prompt":"hi","add_special_tokens":false})"));
  EXPECT_EQ(tk.prompt, "hi");
  EXPECT_FALSE(tk.add_special_tokens);
  EXPECT_EQ(ok(parse_detokenize_request(R"({"tokens":[3,4]})")), (std::vector<int32_t>{3, 4}));
  EXPECT_EQ(err(parse_detokenize_request(R"({"tokens":"ab"})")).param, "tokens");
  EXPECT_EQ(err(parse_tokenize_request(R"({"prompt":1})")).param, "prompt");
}

TEST(ServeProtocol, NotJsonOrNotAnObject) {
  for (const char* body : {"", "{", "{\"prompt\": }", "[1,2]", "\"x\"", "nul"}) {
    ApiError e = err(parse_completion_request(body));
    EXPECT_EQ(e.http_status, 400) << body;
    EXPECT_TRUE(e.param.empty()) << body;
    ApiError c = err(parse_chat_request(body));
    EXPECT_EQ(c.http_status, 400) << body;
  }
}

TEST(ServeProtocol, ChatMessagesStringsOrTextParts) {
  const auto r = ok(parse_chat_request(
      R"({"model":"m","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],"max_completion_tokens":7,"stream":true,"stream_options":{"include_usage":true}})"));
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0], (ChatMessage{"system", "be brief"}));
  EXPECT_EQ(r.messages[1], (ChatMessage{"user", "hi there"}));
  EXPECT_EQ(r.s.max_tokens, 7);
  EXPECT_TRUE(r.s.stream);
  EXPECT_TRUE(r.s.include_usage);
  EXPECT_EQ(err(parse_chat_request(R"({"messages":[]})")).param, "messages");
  EXPECT_EQ(err(parse_chat_request(R"({"messages":[{"role":"tool","content":"x"}]})")).param,
            "messages[0].role");
  EXPECT_EQ(err(parse_chat_request(R"({"messages":[{"role":"user"}]})")).param,
            "messages[0].content");
  EXPECT_EQ(
      err(parse_chat_request(R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})"))
          .param,
      "messages[0].content");
  EXPECT_EQ(
      err(parse_chat_request(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})"))
          .param,
      "max_tokens");
  EXPECT_EQ(
      err(parse_chat_request(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true})"))
          .param,
      "logprobs");
}

TEST(ServeProtocol, ErrorBodyIsAnOpenAiErrorObject) {
  ApiError e;
  e.message = "bad \"thing\"";
  e.param = "temperature";
  std::string body = error_body(e);
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(body);
  EXPECT_EQ(std::string_view(root["error"]["message"].get_string()), "bad \"thing\"");
  EXPECT_EQ(std::string_view(root["error"]["type"].get_string()), "invalid_request_error");
  EXPECT_EQ(std::string_view(root["error"]["param"].get_string()), "temperature");
  EXPECT_TRUE(root["error"]["code"].is_null());
}

TEST(ServeProtocol, Utf8Helpers) {
  EXPECT_EQ(codepoints("h\xC3\xA9llo \xE2\x9C\x93"), 7);
  EXPECT_EQ(complete_utf8_prefix("ab\xE2\x9C"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\xE2\x9C\x93"), 5u);
  EXPECT_EQ(complete_utf8_prefix("\xC3"), 0u);
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(valid_utf8("a\xFF"
                       "b\xE2\x9C"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(valid_utf8("h\xC3\xA9"), "h\xC3\xA9");
}

TEST(ServeProtocol, TopLogprobsIsALogSoftmax) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  auto top = top_logprobs(logits.data(), 4, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);  // tie broken to the lower id
  EXPECT_EQ(top[1].first, 3);
  EXPECT_EQ(top[2].first, 2);
  double z = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(top[0].second, 3.0 - std::log(z), 1e-12);
  EXPECT_NEAR(top[2].second, 2.0 - std::log(z), 1e-12);
  EXPECT_EQ(json_logprob(-INFINITY), -9999.0);
  EXPECT_EQ(json_logprob(-1.5), -1.5);
}

}  // namespace
}  // namespace assay::serve
