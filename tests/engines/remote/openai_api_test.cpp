#include "engines/remote/openai_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "engines/remote/anthropic_api.h"
#include "engines/remote/api_error.h"

namespace assay {
namespace {

boost::json::object parse_obj(const std::string& s) { return boost::json::parse(s).as_object(); }

TEST(OpenAiApi, LoglikelihoodBodyMatchesLmEvalLocalCompletions) {
  OpenAiOptions opt;
  opt.model = "m";
  opt.seed = 1234;
  auto o = parse_obj(openai_loglikelihood_body({"The cat", " sat"}, opt));
  EXPECT_EQ(o.at("prompt").as_string(), "The cat sat");
  EXPECT_EQ(o.at("max_tokens").as_int64(), 1);
  EXPECT_EQ(o.at("logprobs").as_int64(), 1);
  EXPECT_EQ(o.at("temperature").as_int64(), 0);  // an integer 0, not 0E0
  EXPECT_TRUE(o.at("echo").as_bool());
  EXPECT_EQ(o.at("seed").to_number<int64_t>(), 1234);
  EXPECT_EQ(o.at("model").as_string(), "m");
}

TEST(OpenAiApi, ChatBodyGreedyWithStopsCappedAtFour) {
  OpenAiOptions opt;
  opt.model = "gpt-4o";
  GenerateRequest req;
  req.messages = {{"system", "Be brief."}, {"user", "Hi"}};
  req.params.until = {"\n\n", "Q:", "", "A:", "B:", "C:"};
  req.params.max_gen_toks = 64;
  req.params.temperature = 0.7;  // ignored: do_sample is false
  auto o = parse_obj(openai_chat_body(req, opt));
  ASSERT_EQ(o.at("messages").as_array().size(), 2u);
  EXPECT_EQ(o.at("messages").as_array()[0].as_object().at("role").as_string(), "system");
  EXPECT_EQ(o.at("max_tokens").as_int64(), 64);
  EXPECT_FALSE(o.contains("max_completion_tokens"));
  EXPECT_EQ(o.at("temperature").as_int64(), 0);
  auto stop = o.at("stop").as_array();
  ASSERT_EQ(stop.size(), 4u);
  EXPECT_EQ(stop[3].as_string(), "B:");
  EXPECT_FALSE(o.contains("stream"));

  opt.use_max_completion_tokens = true;
  opt.stream = true;
  req.params.do_sample = true;
  req.params.top_p = 0.9;
  req.params.seed = 7;
  o = parse_obj(openai_chat_body(req, opt));
  EXPECT_EQ(o.at("max_completion_tokens").as_int64(), 64);
  EXPECT_DOUBLE_EQ(o.at("temperature").as_double(), 0.7);
  EXPECT_DOUBLE_EQ(o.at("top_p").as_double(), 0.9);
  EXPECT_EQ(o.at("seed").to_number<int64_t>(), 7);
  EXPECT_TRUE(o.at("stream").as_bool());
  EXPECT_TRUE(o.at("stream_options").as_object().at("include_usage").as_bool());
}

TEST(OpenAiApi, CompletionBodyUsesContext) {
  OpenAiOptions opt;
  opt.model = "m";
  GenerateRequest req;
  req.context = "Question: 2+2?\nAnswer:";
  req.params.until = {"\n"};
  auto o = parse_obj(openai_completion_body(req, opt));
  EXPECT_EQ(o.at("prompt").as_string(), req.context);
  EXPECT_EQ(o.at("max_tokens").as_int64(), 256);
  EXPECT_EQ(o.at("stop").as_array()[0].as_string(), "\n");
}

// Shape from the OpenAI Completions reference (echo + logprobs), as vLLM returns it.
const char* kEchoResponse = R"({
  "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "davinci-002",
  "choices": [{
    "text": "The cat sat on", "index": 0, "finish_reason": "length",
    "logprobs": {
      "tokens": ["The", " cat", " sat", " on"],
      "token_logprobs": [null, -2.5, -1.25, -0.5],
      "top_logprobs": [null, {" cat": -2.5, " dog": -3.0}, {" ran": -0.75, " sat": -1.25}, {" on": -0.5}],
      "text_offset": [0, 3, 7, 11]
    }
  }],
  "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
})";

TEST(OpenAiApi, ParsesEchoResponseAndScoresContinuation) {
  auto r = parse_openai_completion_response(kEchoResponse);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->choices.size(), 1u);
  ASSERT_TRUE(r->choices[0].logprobs);
  const auto& lp = *r->choices[0].logprobs;
  EXPECT_FALSE(lp.token_logprobs[0].has_value());
  EXPECT_TRUE(lp.top_logprobs[0].empty());
  EXPECT_EQ(r->usage->prompt_tokens, 3);

  // context "The cat" (7 chars), continuation " sat"; " on" is the generated token.
  auto s = score_echo_logprobs(lp, 7, 4);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->logprob, -1.25);
  EXPECT_EQ(s->n_tokens, 1);
  EXPECT_FALSE(s->is_greedy);  // " ran" (-0.75) beat " sat"

  s = score_echo_logprobs(lp, 3, 8);  // context "The": " cat sat"
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->logprob, -3.75);
  EXPECT_EQ(s->n_tokens, 2);
  EXPECT_FALSE(s->is_greedy);

  // The straddling case: a context ending mid-token counts that token as context.
  s = score_echo_logprobs(lp, 5, 6);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->n_tokens, 1);

  s = score_echo_logprobs(lp, 11, 3, /*drop_last=*/false);  // max_tokens 0 form: " on" is prompt
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->logprob, -0.5);
  EXPECT_TRUE(s->is_greedy);
}

TEST(OpenAiApi, GreedyComparesValuesNotStrings) {
  CompletionLogprobs lp;
  lp.tokens = {"a", "b", "c", "x"};
  lp.token_logprobs = {std::nullopt, -0.1, -0.2, -0.3};
  // Server spelled the top token differently (e.g. byte-level escape) but the value ties.
  lp.top_logprobs = {{}, {{"B", -0.1}}, {{"c", -0.2}, {"d", -0.9}}, {{"x", -0.3}}};
  lp.text_offset = {0, 1, 2, 3};
  auto s = score_echo_logprobs(lp, 1, 2);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->is_greedy);
  EXPECT_NEAR(s->logprob, -0.3, 1e-12);
  EXPECT_EQ(s->n_tokens, 2);
}

TEST(OpenAiApi, OffsetsAreCodePoints) {
  EXPECT_EQ(utf8_codepoint_count("héllo"), 5);
  EXPECT_EQ(utf8_codepoint_count("日本"), 2);
  CompletionLogprobs lp;
  lp.tokens = {"日本", "語", "!"};
  lp.token_logprobs = {std::nullopt, -1.0, -2.0};
  lp.top_logprobs = {{}, {{"語", -1.0}}, {{"!", -2.0}}};
  lp.text_offset = {0, 2, 3};
  auto s = score_echo_logprobs(lp, utf8_codepoint_count("日本"), 1);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->logprob, -1.0);
}

TEST(OpenAiApi, EchoIgnoredIsAnErrorNotAChanceScore) {
  // llama-server without echo returns only the generated token at offset 0.
  CompletionLogprobs lp;
  lp.tokens = {" x", " y"};
  lp.token_logprobs = {-1.0, -1.0};
  lp.top_logprobs = {{{" x", -1.0}}, {{" y", -1.0}}};
  lp.text_offset = {0, 2};
  auto s = score_echo_logprobs(lp, 10, 4);
  EXPECT_EQ(s.status().code(), StatusCode::kCorrupt);
  lp.text_offset.clear();
  EXPECT_EQ(score_echo_logprobs(lp, 1, 1).status().code(), StatusCode::kCorrupt);
  // Echo present but the continuation has no token of its own.
  CompletionLogprobs one;
  one.tokens = {"ab", "c"};
  one.token_logprobs = {std::nullopt, -1.0};
  one.top_logprobs = {{}, {}};
  one.text_offset = {0, 2};
  EXPECT_EQ(score_echo_logprobs(one, 1, 1).status().code(), StatusCode::kCorrupt);
}

TEST(OpenAiApi, ChatStyleLogprobsOnCompletionsAreConverted) {
  const char* body = R"({"choices":[{"index":0,"text":"ab","finish_reason":"stop",
    "logprobs":{"content":[{"token":"a","logprob":-0.5,"top_logprobs":[{"token":"a","logprob":-0.5}]},
                           {"token":"b","logprob":-1.5,"top_logprobs":[{"token":"c","logprob":-0.1}]}]}}]})";
  auto r = parse_openai_completion_response(body);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& lp = *r->choices[0].logprobs;
  EXPECT_EQ(lp.text_offset, (std::vector<int64_t>{0, 1}));
  EXPECT_DOUBLE_EQ(lp.top_logprobs[1][0].second, -0.1);
}

TEST(OpenAiApi, ParsesChatResponse) {
  // Example from the Chat Completions API reference.
  const char* body = R"({
    "id": "chatcmpl-123", "object": "chat.completion", "created": 1677652288,
    "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb",
    "choices": [
      {"index": 1, "message": {"role": "assistant", "content": "second"}, "logprobs": null, "finish_reason": "length"},
      {"index": 0, "message": {"role": "assistant", "content": "\n\nHello there, how may I assist you today?"},
       "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
              "completion_tokens_details": {"reasoning_tokens": 0}}
  })";
  auto r = parse_openai_chat_response(body);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->choices.size(), 2u);
  EXPECT_EQ(r->choices[0].text, "\n\nHello there, how may I assist you today?");  // sorted by index
  EXPECT_EQ(r->choices[1].finish_reason, "length");
  EXPECT_EQ(r->usage->prompt_tokens, 9);
  EXPECT_EQ(r->usage->completion_tokens, 12);
  EXPECT_EQ(r->system_fingerprint, "fp_44709d6fcb");

  auto null_content = parse_openai_chat_response(
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"no"},"finish_reason":"stop"}]})");
  ASSERT_TRUE(null_content.ok());
  EXPECT_EQ(null_content->choices[0].text, "");
}

TEST(OpenAiApi, MalformedResponsesAreCorrupt) {
  EXPECT_EQ(parse_openai_chat_response("{\"choices\": [").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(parse_openai_chat_response("{}").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(parse_openai_completion_response(R"({"choices":[{"index":0}]})").status().code(),
            StatusCode::kCorrupt);
  auto err = parse_openai_chat_response(R"({"error":{"message":"boom","type":"server_error"}})");
  EXPECT_EQ(err.status().code(), StatusCode::kUnavailable);
}

TEST(OpenAiApi, StreamAccumulatorChat) {
  OpenAiStreamAccumulator acc;
  const char* chunks[] = {
      R"({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null})",
      R"({"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null,"obfuscation":"xyz"})",
      R"({"id":"c1","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}],"usage":null})",
      R"({"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null})",
      R"({"id":"c1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}})",
  };
  for (const char* c : chunks) {
    SseEvent e;
    e.data = c;
    ASSERT_TRUE(acc.on_event(e).ok());
  }
  EXPECT_FALSE(acc.finish().ok());  // no [DONE] yet: truncated
  SseEvent done;
  done.data = "[DONE]";
  ASSERT_TRUE(acc.on_event(done).ok());
  auto r = acc.finish();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->choices[0].text, "Hello");
  EXPECT_EQ(r->choices[0].finish_reason, "stop");
  EXPECT_EQ(r->usage->completion_tokens, 2);
  EXPECT_EQ(r->id, "c1");
}

TEST(OpenAiApi, StreamAccumulatorErrorChunkAndCompletionsText) {
  OpenAiStreamAccumulator acc;
  SseEvent e;
  e.data = R"({"choices":[{"index":0,"text":"ab","finish_reason":null}]})";
  ASSERT_TRUE(acc.on_event(e).ok());
  e.data = R"({"error":{"message":"overloaded","type":"server_error","code":null}})";
  Status st = acc.on_event(e);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(is_retryable_status(st));
  e.data = "{not json";
  EXPECT_EQ(acc.on_event(e).code(), StatusCode::kCorrupt);
}

TEST(OpenAiApi, HelpersStopAndFinishReason) {
  EXPECT_EQ(truncate_at_stop("abc\n\nQ: next", {"Q:", "\n\n"}), "abc");
  EXPECT_EQ(truncate_at_stop("abc", {"", "zz"}), "abc");
  EXPECT_EQ(normalize_finish_reason("end_turn"), "stop");
  EXPECT_EQ(normalize_finish_reason("max_tokens"), "length");
  EXPECT_EQ(normalize_finish_reason("content_filter"), "content_filter");
}

TEST(ApiError, MapsStatusCodesAndMessages) {
  const char* openai_401 =
      R"({"error":{"message":"Incorrect API key provided: sk-abc***.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})";
  Status s = api_error_status("openai", 401, openai_401);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("invalid_api_key"), std::string::npos);
  EXPECT_NE(s.message().find("HTTP 401"), std::string::npos);
  EXPECT_FALSE(is_retryable_status(s));

  const char* quota =
      R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})";
  EXPECT_EQ(api_error_status("openai", 429, quota).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(api_error_status("openai", 429, R"({"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}})").code(),
            StatusCode::kUnavailable);
  const char* ctx =
      R"({"error":{"message":"This model's maximum context length is 4097 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})";
  EXPECT_EQ(api_error_status("openai", 400, ctx).code(), StatusCode::kResourceExhausted);

  const char* overloaded =
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"})";
  s = api_error_status("anthropic", 529, overloaded);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(is_retryable_status(s));
  EXPECT_NE(s.message().find("req_011CSHoEeqs5C35K2UUqR7Fy"), std::string::npos);
  EXPECT_EQ(api_error_status("anthropic", 404, R"({"type":"error","error":{"type":"not_found_error","message":"model: x"}})").code(),
            StatusCode::kNotFound);
  EXPECT_EQ(api_error_status("x", 502, "<html>Bad gateway</html>").code(), StatusCode::kUnavailable);
  EXPECT_EQ(api_error_status("x", 408, "").code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(parse_api_error(R"({"error":"plain"})").message, "plain");
}

// --- Anthropic ---

TEST(AnthropicApi, MessagesBody) {
  AnthropicOptions opt;
  opt.model = "claude-sonnet-4-5";
  GenerateRequest req;
  req.messages = {{"system", "S1"}, {"system", "S2"}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Go"}};
  req.params.until = {"\n\n", "  ", "END"};
  req.params.max_gen_toks = 100;
  auto o = parse_obj(anthropic_messages_body(req, opt));
  EXPECT_EQ(o.at("system").as_string(), "S1\n\nS2");
  EXPECT_EQ(o.at("messages").as_array().size(), 3u);
  EXPECT_EQ(o.at("max_tokens").as_int64(), 100);
  EXPECT_EQ(o.at("temperature").as_int64(), 0);
  auto stop = o.at("stop_sequences").as_array();
  ASSERT_EQ(stop.size(), 1u);  // whitespace-only stops are rejected by the API
  EXPECT_EQ(stop[0].as_string(), "END");

  GenerateRequest plain;
  plain.context = "Complete: 1 2 3";
  o = parse_obj(anthropic_messages_body(plain, opt));
  EXPECT_FALSE(o.contains("system"));
  EXPECT_EQ(o.at("messages").as_array()[0].as_object().at("content").as_string(), "Complete: 1 2 3");
}

TEST(AnthropicApi, ParsesMessageResponse) {
  // Example from the Messages API reference.
  const char* body = R"({
    "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "model": "claude-sonnet-4-5", "role": "assistant",
    "stop_reason": "end_turn", "stop_sequence": null, "type": "message",
    "usage": {"input_tokens": 2095, "output_tokens": 503}
  })";
  auto r = parse_anthropic_response(body);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->choices[0].text, "Hi! My name is Claude.");
  EXPECT_EQ(r->choices[0].finish_reason, "stop");
  EXPECT_EQ(r->usage->prompt_tokens, 2095);
  EXPECT_EQ(r->usage->completion_tokens, 503);
  auto err = parse_anthropic_response(
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  EXPECT_EQ(err.status().code(), StatusCode::kUnavailable);
}

TEST(AnthropicApi, StreamAccumulator) {
  // Event sequence from the streaming docs.
  std::vector<std::pair<std::string, std::string>> events = {
      {"message_start", R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}})"},
      {"content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"},
      {"ping", R"({"type": "ping"})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}})"},
      {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
      {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":15}})"},
      {"message_stop", R"({"type":"message_stop"})"},
  };
  AnthropicStreamAccumulator acc;
  for (size_t i = 0; i < events.size(); ++i) {
    if (i + 1 == events.size()) {
      EXPECT_EQ(acc.finish().status().code(), StatusCode::kCorrupt);
    }
    SseEvent e;
    e.event = events[i].first;
    e.data = events[i].second;
    ASSERT_TRUE(acc.on_event(e).ok()) << i;
  }
  auto r = acc.finish();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->choices[0].text, "Hello!");
  EXPECT_EQ(r->choices[0].finish_reason, "length");
  EXPECT_EQ(r->usage->prompt_tokens, 25);
  EXPECT_EQ(r->usage->completion_tokens, 15);
  EXPECT_EQ(r->id, "msg_1");
}

TEST(AnthropicApi, ErrorEventAfterHttp200FailsTheStream) {
  AnthropicStreamAccumulator acc;
  SseEvent e;
  e.event = "error";
  e.data = R"({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})";
  Status st = acc.on_event(e);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("Overloaded"), std::string::npos);
}

}  // namespace
}  // namespace assay

namespace assay {
namespace {

TEST(OpenAiApiUsage, KeepsCachedAndReasoningPartsInsideTheTotals) {
  // CompletionUsage with both detail objects (openai-openapi schema).
  const char* body = R"({"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},
    "finish_reason":"stop"}],
    "usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
             "prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},
             "completion_tokens_details":{"reasoning_tokens":256,"accepted_prediction_tokens":0,
                                          "rejected_prediction_tokens":0}}})";
  auto r = parse_openai_chat_response(body);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->usage);
  EXPECT_TRUE(r->usage->reported);
  EXPECT_EQ(r->usage->prompt_tokens, 2006);
  EXPECT_EQ(r->usage->completion_tokens, 300);  // reasoning stays inside, not added
  EXPECT_EQ(r->usage->cached_prompt_tokens, 1920);
  EXPECT_EQ(r->usage->reasoning_tokens, 256);
  EXPECT_FALSE(r->usage->cache_write_tokens.has_value());
  // A server without details: the parts stay absent (not 0).
  auto plain = parse_openai_completion_response(
      R"({"choices":[{"index":0,"text":"x","finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}})");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->usage->cached_prompt_tokens.has_value());
  EXPECT_FALSE(plain->usage->reasoning_tokens.has_value());
  // No usage object at all: none.
  auto none = parse_openai_completion_response(
      R"({"choices":[{"index":0,"text":"x","finish_reason":"stop"}]})");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->usage.has_value());
}

TEST(AnthropicApiUsage, CacheReadsAndWritesCountAsPromptTokens) {
  const char* body = R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
    "content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn",
    "usage":{"input_tokens":21,"cache_creation_input_tokens":188086,"cache_read_input_tokens":1000,
             "output_tokens":393,"service_tier":"standard"}})";
  auto r = parse_anthropic_response(body);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->usage->prompt_tokens, 21 + 188086 + 1000);
  EXPECT_EQ(r->usage->cached_prompt_tokens, 1000);
  EXPECT_EQ(r->usage->cache_write_tokens, 188086);
  EXPECT_EQ(r->usage->completion_tokens, 393);

  // Streamed: message_start has the input side, message_delta the cumulative output (and may
  // repeat the input side).
  AnthropicStreamAccumulator acc;
  const std::pair<const char*, const char*> events[] = {
      {"message_start", R"({"type":"message_start","message":{"id":"m","model":"c","content":[],
        "usage":{"input_tokens":5,"cache_read_input_tokens":100,"cache_creation_input_tokens":0,"output_tokens":1}}})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}})"},
      {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":17}})"},
      {"message_stop", R"({"type":"message_stop"})"},
  };
  for (const auto& [name, data] : events) {
    SseEvent e;
    e.event = name;
    e.data = data;
    ASSERT_TRUE(acc.on_event(e).ok()) << name;
  }
  auto s = acc.finish();
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->usage->prompt_tokens, 105);  // kept across the delta that lacks input fields
  EXPECT_EQ(s->usage->cached_prompt_tokens, 100);
  EXPECT_EQ(s->usage->cache_write_tokens, 0);
  EXPECT_EQ(s->usage->completion_tokens, 17);
}

}  // namespace
}  // namespace assay
