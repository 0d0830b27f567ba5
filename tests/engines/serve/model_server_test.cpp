// `assay serve` in-process over real HTTP on loopback: a tiny random model (fast) and the
// default model (real text), checked against the same model file loaded a second time.
#include "engines/serve/model_server.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <thread>

#include "engines/local/cpu/cpu_ops.h"
#include "engines/remote/openai_api.h"
#include "engines/remote/remote_model.h"
#include "engines/remote/sse_parser.h"
#include "tests/support/default_model.h"
#include "tests/support/test_env.h"
#include "tests/support/tiny_model_writer.h"

namespace assay::serve {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
};

// One request on a fresh connection (status 0: the connection failed).
Reply request(uint16_t port, const std::string& method, const std::string& target,
              const std::string& body = "",
              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  Reply out;
  asio::io_context ioc;
  tcp::socket sock(ioc);
  beast::error_code ec;
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return out;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::write(sock, req, ec);
  if (ec) return out;
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(sock, buf, parser, ec);
  if (ec && ec != http::error::end_of_stream) return out;
  out.status = static_cast<int>(parser.get().result_int());
  out.body = parser.get().body();
  out.content_type = std::string(parser.get()[http::field::content_type]);
  return out;
}

Reply post(uint16_t port, const std::string& target, const std::string& body,
           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  return request(port, "POST", target, body, headers);
}

std::unique_ptr<LocalModel> load_model(const std::string& path, const std::string& spec,
                                       LocalModelOptions o = {}) {
  auto m = LocalModel::load(path, spec, std::make_unique<CpuOps>(), o);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

// A tiny random llama with a byte-level tokenizer and the chatml template; two instances of the
// same file, one served and one to compare against.
class TinyServe : public ::testing::Test {
 protected:
  void SetUp() override {
    TinyModelSpec spec;
    spec.n_vocab = 300;
    spec.n_ctx_train = 512;
    spec.seed = 11;
    path_ = tmp_.file("tiny.gguf");
    ASSERT_TRUE(write_tiny_gguf_model(spec, path_).ok());
    LocalModelOptions o;
    o.chat_template = "chatml";
    o.kv_type = GgmlType::F32;
    served_ = load_model(path_, "local:" + path_, o);
    reference_ = load_model(path_, "local:" + path_, o);
    ASSERT_TRUE(served_ && reference_);
  }
  void start(HttpServerOptions opt = {}) {
    auto s = ModelServer::start(*served_, opt);
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(s).value();
  }
  testing::TempDir tmp_;
  std::string path_;
  std::unique_ptr<LocalModel> served_, reference_;
  std::unique_ptr<ModelServer> server_;
};

TEST_F(TinyServe, ModelsAndHealth) {
  start();
  Reply r = request(server_->port(), "GET", "/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  simdjson::dom::parser p;
  simdjson::dom::element root = p.parse(r.body);
  EXPECT_EQ(std::string_view(root["object"].get_string()), "list");
  simdjson::dom::array data = root["data"].get_array();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(std::string_view(data.at(0)["id"].get_string()), served_->info().id);
  EXPECT_EQ(int64_t(data.at(0)["max_model_len"].get_int64()), served_->n_ctx());
  Reply one = request(server_->port(), "GET", "/v1/models/" + served_->info().id);
  EXPECT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(request(server_->port(), "GET", "/v1/models/nope").status, 404);
  Reply h = request(server_->port(), "GET", "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, R"({"status":"ok"})");
}

TEST_F(TinyServe, EchoLogprobsAreTheEnginesScores) {
  start();
  // Non-ASCII text so text_offset (code points) differs from byte offsets.
  const std::string prompt = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93 and more words";
  for (int max_tokens : {0, 1}) {
    Reply r = post(server_->port(), "/v1/completions",
                   R"({"prompt":")" + prompt +
                       R"(","echo":true,"logprobs":1,"temperature":0,"max_tokens":)" +
                       std::to_string(max_tokens) + "}");
    ASSERT_EQ(r.status, 200) << r.body;
    auto parsed = parse_openai_completion_response(r.body);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    ASSERT_EQ(parsed->choices.size(), 1u);
    const auto& lp = *parsed->choices[0].logprobs;
    std::vector<int32_t> ids = reference_->tokenizer().encode(prompt, false, false);
    ASSERT_EQ(lp.tokens.size(), ids.size() + static_cast<size_t>(max_tokens));
    TokenScoreItem item{ids, 1, true};
    auto want = reference_->score_tokens(std::span<const TokenScoreItem>(&item, 1));
    ASSERT_TRUE(want[0].ok());
    EXPECT_FALSE(lp.token_logprobs[0].has_value());  // nothing predicts the first token
    for (size_t i = 1; i < ids.size(); ++i) {
      ASSERT_TRUE(lp.token_logprobs[i].has_value());
      // Same engine, same file: the very same float.
      EXPECT_EQ(*lp.token_logprobs[i], static_cast<double>(want[0]->token_logprobs[i - 1])) << i;
      ASSERT_FALSE(lp.top_logprobs[i].empty());
      double best = -1e30;
      for (const auto& [t, v] : lp.top_logprobs[i]) best = std::max(best, v);
      EXPECT_EQ(best == *lp.token_logprobs[i], want[0]->argmax[i - 1] == ids[i]) << i;
    }
    // Offsets are code points of the text before each token.
    std::string before;
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(lp.text_offset[i], codepoints(before)) << i;
      before += reference_->tokenizer().token_to_piece(ids[i]);
    }
    EXPECT_EQ(before, prompt);
    if (max_tokens == 1) {
      EXPECT_EQ(lp.text_offset.back(), codepoints(prompt));
      EXPECT_EQ(parsed->choices[0].text.rfind(prompt, 0), 0u);  // echo first
      auto logits = reference_->last_logits(ids);
      ASSERT_TRUE(logits.ok());
      auto top = top_logprobs(logits->data(), static_cast<int64_t>(logits->size()), 1);
      EXPECT_NEAR(*lp.token_logprobs.back(), top[0].second, 1e-9);
    } else {
      EXPECT_EQ(parsed->choices[0].text, prompt);
    }
    ASSERT_TRUE(parsed->usage.has_value());
    EXPECT_EQ(parsed->usage->prompt_tokens, static_cast<int64_t>(ids.size()));
    EXPECT_EQ(parsed->usage->completion_tokens, max_tokens);
    // And the way the remote adapter reads it.
    auto s = score_echo_logprobs(lp, codepoints("h\xC3\xA9llo w\xC3\xB6rld"),
                                 codepoints(prompt) - codepoints("h\xC3\xA9llo w\xC3\xB6rld"),
                                 max_tokens == 1);
    EXPECT_TRUE(s.ok()) << s.status().message();
  }
}

// lm-eval's local-completions with tokenizer_backend=remote: tokenize through the server, then
// send token ids.
TEST_F(TinyServe, TokenizerEndpointsAndTokenIdPrompts) {
  start();
  const std::string text = "the weather in winter";
  Reply t = post(server_->port(), "/tokenize",
                 R"({"prompt":")" + text + R"(","add_special_tokens":false})");
  ASSERT_EQ(t.status, 200) << t.body;
  simdjson::dom::parser p;
  simdjson::dom::element root = p.parse(t.body);
  std::vector<int32_t> ids;
  std::string id_list;
  for (int64_t id : root["tokens"].get_array()) {
    ids.push_back(static_cast<int32_t>(id));
    id_list += (id_list.empty() ? "" : ",") + std::to_string(id);
  }
  EXPECT_EQ(ids, reference_->tokenizer().encode(text, false, false));
  Reply d = post(server_->port(), "/detokenize", R"({"tokens":[)" + id_list + "]}");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.body, R"({"prompt":")" + text + R"("})");
  Reply info = request(server_->port(), "GET", "/tokenizer_info");
  ASSERT_EQ(info.status, 200);
  EXPECT_NE(info.body.find(R"("eos_token":"<|im_end|>")"), std::string::npos) << info.body;
  Reply eos =
      post(server_->port(), "/tokenize", R"({"prompt":"<|im_end|>","add_special_tokens":false})");
  EXPECT_NE(eos.body.find("\"tokens\":[" + std::to_string(reference_->tokenizer().eos_id()) + "]"),
            std::string::npos)
      << eos.body;

  Reply r = post(
      server_->port(), "/v1/completions",
      R"({"prompt":[)" + id_list + R"(],"echo":true,"logprobs":1,"temperature":0,"max_tokens":1})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto parsed = parse_openai_completion_response(r.body);
  ASSERT_TRUE(parsed.ok());
  const auto& lp = *parsed->choices[0].logprobs;
  ASSERT_EQ(lp.token_logprobs.size(), ids.size() + 1);
  TokenScoreItem item{ids, 1, true};
  auto want = reference_->score_tokens(std::span<const TokenScoreItem>(&item, 1));
  ASSERT_TRUE(want[0].ok());
  for (size_t i = 1; i < ids.size(); ++i)
    EXPECT_EQ(*lp.token_logprobs[i], static_cast<double>(want[0]->token_logprobs[i - 1]));
  EXPECT_EQ(parsed->choices[0].text.rfind(text, 0), 0u);
  EXPECT_EQ(post(server_->port(), "/v1/completions", R"({"prompt":[99999],"max_tokens":1})").status,
            400);
  EXPECT_EQ(post(server_->port(), "/detokenize", R"({"tokens":[99999]})").status, 400);
}

TEST_F(TinyServe, TopLogprobsKAreSortedAndIncludeTheArgmax) {
  start();
  Reply r = post(
      server_->port(), "/v1/completions",
      R"({"prompt":["abc def","xyz"],"echo":true,"logprobs":3,"temperature":0,"max_tokens":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto parsed = parse_openai_completion_response(r.body);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->choices.size(), 2u);
  for (const auto& ch : parsed->choices) {
    const auto& lp = *ch.logprobs;
    for (size_t i = 1; i < lp.tokens.size(); ++i) {
      // Up to 3: byte tokens that are not whole characters share the key U+FFFD.
      EXPECT_GE(lp.top_logprobs[i].size(), 1u) << i;
      EXPECT_LE(lp.top_logprobs[i].size(), 3u) << i;
      double best = -1e30;
      for (const auto& [t, v] : lp.top_logprobs[i]) best = std::max(best, v);
      EXPECT_GE(best, *lp.token_logprobs[i] - 1e-6);
    }
  }
}

// A streamed body read as SSE events (kept for the caller's own checks) and reassembled into
// the response a non-streamed request would give.
Result<ApiResponse> reassemble_stream(const std::string& body, std::vector<SseEvent>* events) {
  SseParser sp;
  ASSAY_RETURN_IF_ERROR(sp.feed(body, *events));
  ASSAY_RETURN_IF_ERROR(sp.finish());
  OpenAiStreamAccumulator acc;
  for (const auto& e : *events) ASSAY_RETURN_IF_ERROR(acc.on_event(e));
  return acc.finish();
}

TEST_F(TinyServe, ChatStreamConcatenatesToTheNonStreamedAnswer) {
  start();
  const std::string msgs =
      R"("messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say something."}])";
  Reply plain = post(server_->port(), "/v1/chat/completions",
                     "{" + msgs + R"(,"temperature":0,"max_tokens":40})");
  ASSERT_EQ(plain.status, 200) << plain.body;
  auto whole = parse_openai_chat_response(plain.body);
  ASSERT_TRUE(whole.ok());
  ASSERT_EQ(whole->choices.size(), 1u);
  EXPECT_FALSE(whole->choices[0].text.empty());
  ASSERT_TRUE(whole->usage.has_value());
  EXPECT_GT(whole->usage->prompt_tokens, 0);

  // The same through the engine directly.
  GenerateRequest g;
  g.messages = {{"system", "You are terse."}, {"user", "Say something."}};
  g.params.max_gen_toks = 40;
  auto direct = reference_->generate_until(std::span<const GenerateRequest>(&g, 1));
  ASSERT_TRUE(direct[0].ok());
  EXPECT_EQ(direct[0]->text, whole->choices[0].text);
  EXPECT_EQ(whole->usage->completion_tokens, direct[0]->usage.completion_tokens);
  EXPECT_EQ(whole->usage->prompt_tokens, direct[0]->usage.prompt_tokens);

  Reply streamed = post(
      server_->port(), "/v1/chat/completions",
      "{" + msgs +
          R"(,"temperature":0,"max_tokens":40,"stream":true,"stream_options":{"include_usage":true}})");
  // With stop strings, text is held back until it cannot become part of one; the stream still
  // adds up to the non-streamed answer.
  for (const char* stop : {R"(["e"])", R"(["xyz", " t", "\u00e9t\u00e9"])", R"(["\n\n"])"}) {
    std::string opts = std::string(R"(,"temperature":0,"max_tokens":40,"stop":)") + stop;
    Reply a = post(server_->port(), "/v1/chat/completions", "{" + msgs + opts + "}");
    Reply b =
        post(server_->port(), "/v1/chat/completions", "{" + msgs + opts + R"(,"stream":true})");
    ASSERT_EQ(a.status, 200) << a.body;
    ASSERT_EQ(b.status, 200) << b.body;
    std::vector<SseEvent> ev;
    auto sa = parse_openai_chat_response(a.body);
    auto sb = reassemble_stream(b.body, &ev);
    ASSERT_TRUE(sa.ok() && sb.ok());
    EXPECT_EQ(sb->choices[0].text, sa->choices[0].text) << stop;
    EXPECT_EQ(sb->choices[0].finish_reason, sa->choices[0].finish_reason) << stop;
  }
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.content_type, "text/event-stream");
  std::vector<SseEvent> events;
  auto got = reassemble_stream(streamed.body, &events);
  EXPECT_GT(events.size(), 4u);  // role, several content chunks, finish, usage, [DONE]
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->choices[0].text, whole->choices[0].text);
  EXPECT_EQ(got->choices[0].finish_reason, whole->choices[0].finish_reason);
  ASSERT_TRUE(got->usage.has_value());
  EXPECT_EQ(got->usage->completion_tokens, whole->usage->completion_tokens);
  EXPECT_EQ(events.back().data, "[DONE]");
}

TEST_F(TinyServe, CompletionsGenerateLikeTheEngineAndCountUsage) {
  start();
  Reply r =
      post(server_->port(), "/v1/completions",
           R"({"prompt":["one two","three"],"temperature":0,"max_tokens":5,"n":2,"echo":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto parsed = parse_openai_completion_response(r.body);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->choices.size(), 4u);
  GenerateRequest g;
  g.context = "one two";
  g.params.max_gen_toks = 5;
  auto direct = reference_->generate_until(std::span<const GenerateRequest>(&g, 1));
  ASSERT_TRUE(direct[0].ok());
  EXPECT_EQ(parsed->choices[0].text, "one two" + direct[0]->text);
  EXPECT_EQ(parsed->choices[1].text, parsed->choices[0].text);  // greedy: n copies agree
  EXPECT_EQ(parsed->choices[2].text.rfind("three", 0), 0u);
  ASSERT_TRUE(parsed->usage.has_value());
  int64_t generated = 0;
  for (const char* p : {"one two", "three"}) {
    GenerateRequest q;
    q.context = p;
    q.params.max_gen_toks = 5;
    auto d = reference_->generate_until(std::span<const GenerateRequest>(&q, 1));
    ASSERT_TRUE(d[0].ok());
    generated += 2 * d[0]->usage.completion_tokens;
  }
  EXPECT_EQ(parsed->usage->completion_tokens, generated);
  EXPECT_EQ(parsed->usage->prompt_tokens,
            static_cast<int64_t>(reference_->tokenizer().encode("one two", false, false).size() +
                                 reference_->tokenizer().encode("three", false, false).size()));
}

// A single completion streamed (one text chunk per token or so, the echoed prompt first) adds up
// to the non-streamed answer, stop strings included. That chunks leave while the engine still
// generates is not timed here (it would be a flaky test); it is the chat stream's code path.
TEST_F(TinyServe, CompletionStreamConcatenatesToTheNonStreamedAnswer) {
  start();
  for (const std::string& extra : {std::string(), std::string(R"(,"stop":["e"])"),
                                  std::string(R"(,"echo":true)")}) {
    const std::string body = R"({"prompt":"one two three","temperature":0,"max_tokens":24)" + extra;
    Reply a = post(server_->port(), "/v1/completions", body + "}");
    Reply b = post(server_->port(), "/v1/completions",
                   body + R"(,"stream":true,"stream_options":{"include_usage":true}})");
    ASSERT_EQ(a.status, 200) << a.body;
    ASSERT_EQ(b.status, 200) << b.body;
    EXPECT_EQ(b.content_type, "text/event-stream");
    auto whole = parse_openai_completion_response(a.body);
    ASSERT_TRUE(whole.ok());
    std::vector<SseEvent> ev;
    auto got = reassemble_stream(b.body, &ev);
    ASSERT_TRUE(got.ok()) << got.status().message();
    int text_chunks = 0;
    for (const auto& e : ev) {
      text_chunks += e.data.find("\"text\":\"") != std::string::npos &&
                     e.data.find("\"text\":\"\"") == std::string::npos;
    }
    EXPECT_EQ(got->choices[0].text, whole->choices[0].text) << extra;
    EXPECT_EQ(got->choices[0].finish_reason, whole->choices[0].finish_reason) << extra;
    ASSERT_TRUE(got->usage.has_value());
    EXPECT_EQ(got->usage->completion_tokens, whole->usage->completion_tokens);
    if (extra.empty()) {
      EXPECT_GT(text_chunks, 3) << "streamed in pieces, not as one chunk";
    }
    EXPECT_EQ(ev.back().data, "[DONE]");
  }
}

TEST_F(TinyServe, ErrorsAreOpenAiErrorObjects) {
  start();
  auto check = [](const Reply& r, int status, const std::string& param) {
    EXPECT_EQ(r.status, status) << r.body;
    simdjson::dom::parser p;
    simdjson::dom::element root;
    ASSERT_FALSE(p.parse(r.body).get(root)) << r.body;
    simdjson::dom::element e = root["error"];
    EXPECT_TRUE(e["message"].is_string()) << r.body;
    EXPECT_TRUE(e["type"].is_string()) << r.body;
    if (param.empty()) {
      EXPECT_TRUE(e["param"].is_null()) << r.body;
    } else {
      EXPECT_EQ(std::string_view(e["param"].get_string()), param) << r.body;
    }
    simdjson::dom::element code;
    EXPECT_FALSE(e["code"].get(code)) << "code key present: " << r.body;
  };
  check(post(server_->port(), "/v1/completions", "{not json"), 400, "");
  check(post(server_->port(), "/v1/completions", R"({"prompt":"x","temperature":-1})"), 400,
        "temperature");
  check(post(server_->port(), "/v1/chat/completions", R"({"messages":"hi"})"), 400, "messages");
  check(post(server_->port(), "/v1/completions", R"({"prompt":"x","model":"gpt-4"})"), 404,
        "model");
  check(request(server_->port(), "GET", "/v1/nothing"), 404, "");
  check(request(server_->port(), "GET", "/etc/passwd"), 404, "");
  check(request(server_->port(), "GET", "/../../etc/passwd"), 404, "");
  check(request(server_->port(), "GET", "/v1/completions"), 405, "");
  // A prompt longer than the context is the client's error, not the server's.
  std::string long_prompt;
  for (int i = 0; i < 3000; ++i) long_prompt += "ab ";
  check(post(server_->port(), "/v1/completions",
             R"({"prompt":")" + long_prompt + R"(","echo":true,"logprobs":1,"max_tokens":0})"),
        400, "");
  // Streaming too: the failure is known before the first token, so it keeps its status.
  check(post(server_->port(), "/v1/chat/completions",
             R"({"messages":[{"role":"user","content":")" + long_prompt + R"("}],"stream":true})"),
        400, "");
  // The server still answers after all of that.
  EXPECT_EQ(request(server_->port(), "GET", "/health").status, 200);
}

TEST_F(TinyServe, ApiKeyRequiredWhenSet) {
  HttpServerOptions opt;
  opt.api_key = "sekret-123";
  start(opt);
  Reply none = request(server_->port(), "GET", "/v1/models");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.find("invalid_api_key"), std::string::npos) << none.body;
  EXPECT_EQ(none.body.find("sekret"), std::string::npos);
  EXPECT_EQ(
      request(server_->port(), "GET", "/v1/models", "", {{"Authorization", "Bearer wrong"}}).status,
      401);
  EXPECT_EQ(
      request(server_->port(), "GET", "/v1/models", "", {{"Authorization", "Bearer sekret-12"}})
          .status,
      401);
  EXPECT_EQ(
      request(server_->port(), "GET", "/v1/models", "", {{"Authorization", "sekret-123"}}).status,
      401);
  EXPECT_EQ(post(server_->port(), "/v1/completions", R"({"prompt":"x","max_tokens":1})").status,
            401);
  EXPECT_EQ(
      request(server_->port(), "GET", "/v1/models", "", {{"Authorization", "Bearer sekret-123"}})
          .status,
      200);
}

TEST_F(TinyServe, NonLoopbackNeedsAnApiKey) {
  HttpServerOptions opt;
  opt.host = "0.0.0.0";
  auto refused = ModelServer::start(*served_, opt);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("--api-key"), std::string::npos);
  opt.api_key = "k";
  auto ok = ModelServer::start(*served_, opt);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(request((*ok)->port(), "GET", "/health", "", {{"Authorization", "Bearer k"}}).status,
            200);
}

TEST_F(TinyServe, OversizeBodyAndHeadersAreRefused) {
  HttpServerOptions opt;
  opt.max_body_bytes = 1024;
  opt.max_header_bytes = 2048;
  start(opt);
  std::string big = R"({"prompt":")" + std::string(4096, 'a') + R"("})";
  Reply r = post(server_->port(), "/v1/completions", big);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_NE(r.body.find("\"error\""), std::string::npos);
  Reply h = request(server_->port(), "GET", "/health", "", {{"X-Filler", std::string(8192, 'x')}});
  EXPECT_EQ(h.status, 431) << h.body;
  // A chunked body has no Content-Length: the limit applies while reading.
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  std::string raw =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 8; ++i) raw += "200\r\n" + std::string(512, 'a') + "\r\n";
  raw += "0\r\n\r\n";
  beast::error_code ec;
  asio::write(sock, asio::buffer(raw), ec);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(sock, buf, res, ec);
  EXPECT_EQ(res.result_int(), 413u) << ec.message();
  // Within the limits all is well.
  EXPECT_EQ(post(server_->port(), "/v1/completions", R"({"prompt":"x","max_tokens":1})").status,
            200);
}

// Default model: real text, the remote adapter as client, batching and shutdown.
class DefaultServe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto path = default_model_path();
    ASSERT_TRUE(path.ok()) << path.status().message();
    served_ = load_model(*path, "default").release();
    reference_ = load_model(*path, "default").release();
  }
  static void TearDownTestSuite() {
    delete served_;
    delete reference_;
  }
  void SetUp() override {
    ASSERT_TRUE(served_ && reference_);
    auto s = ModelServer::start(*served_, {});
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(s).value();
  }
  static LocalModel* served_;
  static LocalModel* reference_;
  std::unique_ptr<ModelServer> server_;
};
LocalModel* DefaultServe::served_ = nullptr;
LocalModel* DefaultServe::reference_ = nullptr;

TEST_F(DefaultServe, RemoteAdapterLoglikelihoodEqualsTheLocalEngine) {
  auto remote = make_remote_model(server_->base_url(), {{"loglikelihood", "probe"}});
  ASSERT_TRUE(remote.ok()) << remote.status().message();
  EXPECT_TRUE((*remote)->info().supports_loglikelihood);
  EXPECT_EQ((*remote)->info().id, served_->info().id);  // found through /v1/models
  std::vector<LoglikelihoodRequest> reqs = {
      {"Question: What is 2 + 2?\nAnswer:", " 4"},
      {"Question: What is 2 + 2?\nAnswer:", " five"},
      {"The capital of France is", " Paris"},
      {"Caf\xC3\xA9 au lait, cr\xC3\xA8me br\xC3\xBBl\xC3\xA9"
       "e and",
       " na\xC3\xAFve r\xC3\xA9sum\xC3\xA9s"},
  };
  auto got = (*remote)->loglikelihood(reqs);
  auto want = reference_->loglikelihood(reqs);
  ASSERT_EQ(got.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(got[i].ok()) << i << ": " << got[i].status().message();
    ASSERT_TRUE(want[i].ok());
    EXPECT_NEAR(got[i]->logprob, want[i]->logprob, 1e-5) << i;
    EXPECT_EQ(got[i]->is_greedy, want[i]->is_greedy) << i;
    EXPECT_EQ(got[i]->n_tokens, want[i]->n_tokens) << i;
  }
  // Generation through the adapter's chat path answers like the engine.
  GenerateRequest g;
  g.messages = {{"user", "What is the capital of France?"}};
  g.params.max_gen_toks = 24;
  auto remote_gen = (*remote)->generate_until(std::span<const GenerateRequest>(&g, 1));
  auto local_gen = reference_->generate_until(std::span<const GenerateRequest>(&g, 1));
  ASSERT_TRUE(remote_gen[0].ok()) << remote_gen[0].status().message();
  ASSERT_TRUE(local_gen[0].ok());
  EXPECT_EQ(remote_gen[0]->text, local_gen[0]->text);
  EXPECT_EQ(remote_gen[0]->usage.completion_tokens, local_gen[0]->usage.completion_tokens);
}

TEST_F(DefaultServe, StreamHoldsBackWhatAStopStringMayCut) {
  const std::string base =
      R"({"messages":[{"role":"user","content":"What is the capital of France?"}],"temperature":0,"max_tokens":30)";
  // The stop string: a word from the middle of the model's own greedy answer (what a 135M model
  // answers moves with the engine's numerics; with the default system prompt llama.cpp itself
  // says "L'Étoile, la Marseillaise, ..." here, at a 0.095 top-1 margin).
  Reply free = post(server_->port(), "/v1/chat/completions", base + "}");
  ASSERT_EQ(free.status, 200) << free.body;
  auto free_answer = parse_openai_chat_response(free.body);
  ASSERT_TRUE(free_answer.ok());
  const std::string& t = free_answer->choices[0].text;
  const size_t cut = t.find(' ', t.size() / 2);
  ASSERT_NE(cut, std::string::npos) << t;
  const std::string stop = t.substr(cut + 1, std::min<size_t>(4, t.size() - cut - 1));
  ASSERT_FALSE(stop.empty()) << t;
  ASSERT_EQ(stop.find_first_of("\"\\\n"), std::string::npos) << "pick a JSON-safe stop: " << t;
  const std::string body = base + R"(,"stop":[")" + stop + R"("])";
  Reply a = post(server_->port(), "/v1/chat/completions", body + "}");
  Reply b = post(server_->port(), "/v1/chat/completions", body + R"(,"stream":true})");
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  auto whole = parse_openai_chat_response(a.body);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->choices[0].finish_reason, "stop") << t << " / stop " << stop;
  EXPECT_EQ(whole->choices[0].text.find(stop), std::string::npos);
  std::vector<SseEvent> ev;
  auto got = reassemble_stream(b.body, &ev);
  ASSERT_TRUE(got.ok()) << got.status().message();
  int content_chunks = 0;
  for (const auto& e : ev) content_chunks += e.data.find("\"content\":\"") != std::string::npos;
  EXPECT_EQ(got->choices[0].text, whole->choices[0].text);
  EXPECT_GT(content_chunks, 2);  // sent token by token, not in one piece
}

TEST_F(DefaultServe, ConcurrentRequestsAreBatchedAndAnsweredAlike) {
  const int kClients = 8;
  std::vector<std::string> prompts;
  for (int i = 0; i < kClients; ++i)
    prompts.push_back("Write a list of " + std::to_string(i + 2) + " fruits:");
  std::vector<std::future<Reply>> futures;
  for (int i = 0; i < kClients; ++i) {
    futures.push_back(std::async(std::launch::async, [&, i] {
      return post(server_->port(), "/v1/completions",
                  R"({"prompt":")" + prompts[i] + R"(","temperature":0,"max_tokens":12})");
    }));
  }
  std::vector<GenerateRequest> direct(kClients);
  for (int i = 0; i < kClients; ++i) {
    direct[i].context = prompts[i];
    direct[i].params.max_gen_toks = 12;
  }
  auto want = reference_->generate_until(direct);
  for (int i = 0; i < kClients; ++i) {
    Reply r = futures[i].get();
    ASSERT_EQ(r.status, 200) << r.body;
    auto parsed = parse_openai_completion_response(r.body);
    ASSERT_TRUE(parsed.ok());
    ASSERT_TRUE(want[i].ok());
    EXPECT_EQ(parsed->choices[0].text, want[i]->text) << i;
  }
  EXPECT_GT(server_->worker().max_jobs_per_round(), 1);
  EXPECT_LT(server_->worker().rounds(), kClients);
}

TEST_F(DefaultServe, GracefulShutdownFinishesTheRequestInFlight) {
  auto in_flight = std::async(std::launch::async, [&] {
    return post(
        server_->port(), "/v1/chat/completions",
        R"({"messages":[{"role":"user","content":"Tell me a long story."}],"temperature":0,"max_tokens":48})");
  });
  // Wait until the engine has the request, then stop.
  for (int i = 0; i < 2000 && server_->worker().rounds() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(server_->worker().rounds(), 1);
  const uint16_t port = server_->port();
  server_->stop();
  Reply r = in_flight.get();
  EXPECT_EQ(r.status, 200) << r.body;
  auto parsed = parse_openai_chat_response(r.body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_GT(parsed->usage->completion_tokens, 0);
  EXPECT_FALSE(parsed->choices[0].text.empty());
  // Nothing listens any more.
  EXPECT_EQ(request(port, "GET", "/health").status, 0);
}

}  // namespace
}  // namespace assay::serve
