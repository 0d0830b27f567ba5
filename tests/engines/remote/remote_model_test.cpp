#include "engines/remote/remote_model.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/support/fault_server.h"

namespace assay {
namespace {

using testing::Fault;
using testing::FaultServer;
using testing::FaultServerOptions;

std::unique_ptr<RemoteModel> make_model(const std::string& spec, ModelArgs args, double timeout_s = 5) {
  auto cfg = remote_config_from_spec(spec, args);
  EXPECT_TRUE(cfg.ok()) << cfg.status().message();
  if (!cfg.ok()) return nullptr;
  cfg->http.retry.initial_delay_s = 0.002;
  cfg->http.retry.max_delay_s = 0.02;
  cfg->http.timeout_s = timeout_s;
  cfg->http.batch_deadline_s = 60;
  auto m = RemoteModel::create(std::move(cfg).value());
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

// The expected lm-eval score under the fake server's tokenisation (continuations start with a
// space, so they start on a token boundary).
LoglikelihoodResponse expected_score(const std::string& context, const std::string& continuation) {
  LoglikelihoodResponse r;
  r.is_greedy = true;
  for (const auto& t : FaultServer::fake_tokens(continuation)) {
    r.logprob += FaultServer::fake_logprob(t);
    r.is_greedy = r.is_greedy && FaultServer::fake_is_greedy(t);
    ++r.n_tokens;
  }
  return r;
}

TEST(RemoteConfig, SpecsAndArgs) {
  auto c = remote_config_from_spec("openai:gpt-4o-mini", {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->base_url, "https://api.openai.com/v1");
  EXPECT_EQ(c->key.env_var, "OPENAI_API_KEY");
  EXPECT_TRUE(c->chat);
  c = remote_config_from_spec("anthropic:claude-x", {{"max_retries", "5"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->api, RemoteApi::kAnthropic);
  EXPECT_EQ(c->http.retry.max_retries, 5);
  EXPECT_DOUBLE_EQ(c->http.retry.max_server_delay_s, 60);
  c = remote_config_from_spec("http://127.0.0.1:8000/v1/", {{"model", "m"}, {"chat", "false"}, {"rpm", "100"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->base_url, "http://127.0.0.1:8000/v1");
  EXPECT_FALSE(c->chat);
  EXPECT_TRUE(c->key.env_var.empty());
  EXPECT_DOUBLE_EQ(c->http.rate_limiter->limits().requests_per_min, 100);
  EXPECT_TRUE(remote_config_from_spec("http://h/v1", {}).ok());  // model discovered at create()
  EXPECT_EQ(remote_config_from_spec("openai:", {}).status().code(), StatusCode::kInvalidArgument);
  auto bad = remote_config_from_spec("http://h/v1", {{"model", "m"}, {"num_concurent", "4"}});
  EXPECT_NE(bad.status().message().find("num_concurrent"), std::string::npos);
  EXPECT_FALSE(remote_config_from_spec("anthropic:c", {{"loglikelihood", "true"}}).ok());
}

TEST(RemoteModel, DiscoversTheModelIdFromTheServer) {
  FaultServer server;
  auto m = make_remote_model(server.base_url(), {{"chat", "false"}});
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->info().id, "fake-model");
  EXPECT_EQ((*m)->info().identity, "openai-compatible|" + server.base_url() + "|fake-model");
  std::vector<GenerateRequest> reqs(1);
  reqs[0].context = "hello";
  auto out = (*m)->generate_until(reqs);
  ASSERT_TRUE(out[0].ok()) << out[0].status().message();
  EXPECT_EQ(out[0]->text, FaultServer::fake_answer("hello"));
}

TEST(RemoteModel, MissingKeyFailsAtCreateAndNamesTheVariable) {
  ::unsetenv("ASSAY_TEST_NO_SUCH_KEY");
  auto c = remote_config_from_spec("openai:gpt-4o", {{"api_key_env", "ASSAY_TEST_NO_SUCH_KEY"}});
  ASSERT_TRUE(c.ok());
  auto m = RemoteModel::create(std::move(c).value());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("ASSAY_TEST_NO_SUCH_KEY"), std::string::npos);
}

TEST(RemoteModel, LoglikelihoodThroughEchoLogprobs) {
  FaultServer server;
  auto m = make_model(server.base_url(), {{"model", "fake"}, {"loglikelihood", "probe"}, {"chat", "false"}});
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->info().supports_loglikelihood);
  EXPECT_EQ(m->info().backend, "openai-compatible");
  EXPECT_EQ(m->info().identity.find("sk-"), std::string::npos);
  std::vector<LoglikelihoodRequest> reqs = {
      {"Question: what is 2+2?\nAnswer:", " 4"},
      {"Question: what is 2+2?\nAnswer:", " four, obviously"},
      {"The quick brown", " fox jumps over the lazy dog"},
      {"日本語 の", " テキスト です"},
  };
  auto out = m->loglikelihood(reqs);
  ASSERT_EQ(out.size(), reqs.size());
  int greedy = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(out[i].ok()) << out[i].status().message();
    auto want = expected_score(reqs[i].context, reqs[i].continuation);
    EXPECT_NEAR(out[i]->logprob, want.logprob, 1e-9) << i;
    EXPECT_EQ(out[i]->is_greedy, want.is_greedy) << i;
    EXPECT_EQ(out[i]->n_tokens, want.n_tokens) << i;
    greedy += out[i]->is_greedy;
  }
  EXPECT_LT(greedy, 4);  // the fake server makes some tokens non-greedy: the check can fail
}

TEST(RemoteModel, LoglikelihoodWithMaxTokensZero) {
  FaultServer server;
  auto m = make_model(server.base_url(), {{"model", "fake"}, {"loglikelihood", "true"}, {"loglikelihood_max_tokens", "0"}});
  ASSERT_TRUE(m);
  std::vector<LoglikelihoodRequest> reqs = {{"one two", " three four"}};
  auto out = m->loglikelihood(reqs);
  ASSERT_TRUE(out[0].ok()) << out[0].status().message();
  EXPECT_NEAR(out[0]->logprob, expected_score("one two", " three four").logprob, 1e-9);
  EXPECT_EQ(out[0]->n_tokens, 2);
}

TEST(RemoteModel, LoglikelihoodUnderFaultsAnswersOrFailsEachRequestAlone) {
  FaultServerOptions so;
  so.fault_rate = 0.3;
  so.seed = 9;
  so.slow_ms = 300;
  FaultServer server(so);
  auto m = make_model(server.base_url(), {{"model", "fake"}, {"loglikelihood", "true"}, {"max_retries", "1"},
                                          {"num_concurrent", "8"}},
                      /*timeout_s=*/0.15);
  ASSERT_TRUE(m);
  std::vector<LoglikelihoodRequest> reqs;
  for (int i = 0; i < 200; ++i) reqs.push_back({"ctx " + std::to_string(i), " cont " + std::to_string(i * 7)});
  auto out = m->loglikelihood(reqs);
  ASSERT_EQ(out.size(), reqs.size());
  int ok = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    if (!out[i].ok()) {
      EXPECT_FALSE(out[i].status().message().empty());
      continue;
    }
    ++ok;
    EXPECT_NEAR(out[i]->logprob, expected_score(reqs[i].context, reqs[i].continuation).logprob, 1e-9);
  }
  // With one retry, about 0.3^2 = 9% fail; all others must be right.
  EXPECT_GT(ok, 150);
  EXPECT_LT(ok, 200);
}

TEST(RemoteModel, ChatOnlyEndpointRefusesLoglikelihoodWithoutSending) {
  FaultServer server;
  auto m = make_model(server.base_url(), {{"model", "fake"}, {"loglikelihood", "false"}});
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->info().supports_loglikelihood);
  EXPECT_TRUE(m->info().chat_only);
  std::vector<LoglikelihoodRequest> reqs = {{"a", " b"}};
  auto out = m->loglikelihood(reqs);
  EXPECT_EQ(out[0].status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(server.stats().requests, 0);
  std::vector<RollingRequest> rolling = {{"text"}};
  EXPECT_EQ(m->loglikelihood_rolling(rolling)[0].status().code(), StatusCode::kUnsupported);
}

TEST(RemoteModel, ProbeSaysNoWhenEchoIsRejected) {
  FaultServerOptions so;
  so.echo_supported = false;  // llama-server: "Only no echo is supported"
  FaultServer server(so);
  auto m = make_model(server.base_url(), {{"model", "fake"}, {"chat", "false"}, {"loglikelihood", "probe"}});
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->info().supports_loglikelihood);
  auto probe = m->probe_echo_logprobs();
  ASSERT_TRUE(probe.ok()) << probe.status().message();
  EXPECT_FALSE(*probe);
  // Transport failures, by contrast, are errors, not a "no".
  int dead_port;
  {
    FaultServer s;
    dead_port = s.port();
  }
  auto m3 = make_model("http://127.0.0.1:" + std::to_string(dead_port) + "/v1", {{"model", "fake"}, {"max_retries", "0"}});
  ASSERT_TRUE(m3);
  auto probe3 = m3->probe_echo_logprobs();
  EXPECT_EQ(probe3.status().code(), StatusCode::kUnavailable);
}

bool has_detail(const ModelInfo& info, const std::string& key, const std::string& value) {
  for (const auto& [k, v] : info.details) {
    if (k == key) return v == value;
  }
  return false;
}

TEST(RemoteModel, PlainUrlProbesOnceAndOnlyWhenLoglikelihoodsAreNeeded) {
  FaultServer server;
  auto m = make_model(server.base_url(), {{"model", "fake"}});
  ASSERT_TRUE(m);
  EXPECT_EQ(server.stats().requests, 0);
  EXPECT_FALSE(m->info().supports_loglikelihood);  // not known yet
  ASSERT_TRUE(m->prepare({.loglikelihood = false, .rolling = false, .generate = true}).ok());
  EXPECT_EQ(server.stats().requests, 0);  // a generation-only run never probes
  ASSERT_TRUE(m->prepare({.loglikelihood = true}).ok());
  EXPECT_EQ(server.stats().requests, 1);
  EXPECT_TRUE(m->info().supports_loglikelihood);
  EXPECT_TRUE(has_detail(m->info(), "probe.echo_logprobs", "yes"));
  ASSERT_TRUE(m->prepare({.loglikelihood = true}).ok());
  EXPECT_EQ(server.stats().requests, 1);  // once
  std::vector<LoglikelihoodRequest> reqs = {{"one two", " three"}};
  auto out = m->loglikelihood(reqs);
  ASSERT_TRUE(out[0].ok()) << out[0].status().message();
  EXPECT_NEAR(out[0]->logprob, expected_score("one two", " three").logprob, 1e-9);
  EXPECT_EQ(server.stats().requests, 2);

  // Without prepare(), the first loglikelihood call probes.
  auto direct = make_model(server.base_url(), {{"model", "fake"}});
  ASSERT_TRUE(direct);
  out = direct->loglikelihood(reqs);
  ASSERT_TRUE(out[0].ok()) << out[0].status().message();
  EXPECT_EQ(server.stats().requests, 4);

  // The hosted APIs are not probed: their legacy completions no longer echo prompt log-probs.
  ::setenv("ASSAY_TEST_OPENAI_KEY", "sk-test", 1);
  auto openai = make_model("openai:gpt-fake", {{"base_url", server.base_url()}, {"api_key_env", "ASSAY_TEST_OPENAI_KEY"}});
  ASSERT_TRUE(openai);
  EXPECT_EQ(openai->prepare({.loglikelihood = true}).code(), StatusCode::kUnsupported);
  EXPECT_FALSE(openai->info().supports_loglikelihood);
  EXPECT_EQ(server.stats().requests, 4);
}

TEST(RemoteModel, PlainUrlWithoutEchoIsRefusedAfterOneProbe) {
  FaultServerOptions so;
  so.echo_supported = false;
  FaultServer server(so);
  auto m = make_model(server.base_url(), {{"model", "fake"}});
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->prepare({.generate = true}).ok());  // nothing asked of it that it lacks
  Status st = m->prepare({.loglikelihood = true});
  EXPECT_EQ(st.code(), StatusCode::kUnsupported);
  EXPECT_NE(st.message().find("probed"), std::string::npos) << st.message();
  EXPECT_FALSE(m->info().supports_loglikelihood);
  EXPECT_TRUE(has_detail(m->info(), "probe.echo_logprobs", "no"));
  std::vector<LoglikelihoodRequest> reqs = {{"a", " b"}, {"c", " d"}};
  auto out = m->loglikelihood(reqs);
  for (const auto& r : out) {
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(r.status().message().find("probed"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(server.stats().requests, 1);

  // An unreachable server is an error from prepare(), not a "no".
  int dead_port;
  {
    FaultServer s;
    dead_port = s.port();
  }
  auto dead = make_model("http://127.0.0.1:" + std::to_string(dead_port) + "/v1", {{"model", "fake"}, {"max_retries", "0"}});
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->prepare({.loglikelihood = true}).code(), StatusCode::kUnavailable);
}

void check_generate(const std::string& spec, ModelArgs args) {
  FaultServerOptions so;
  so.fault_rate = 0.2;
  so.seed = 3;
  so.faults = {Fault::k500, Fault::k429RetryAfter, Fault::kReset, Fault::kMalformedJson, Fault::kStreamNoDone};
  FaultServer server(so);
  args.emplace_back("max_retries", "6");
  auto m = make_model(spec.empty() ? server.base_url() : spec, args);
  ASSERT_TRUE(m);
  std::vector<GenerateRequest> reqs;
  for (int i = 0; i < 40; ++i) {
    GenerateRequest g;
    if (i % 2) {
      g.messages = {{"system", "sys"}, {"user", "q" + std::to_string(i)}};
    } else {
      g.context = "q" + std::to_string(i);
    }
    g.params.until = i % 4 == 0 ? std::vector<std::string>{"-"} : std::vector<std::string>{};
    reqs.push_back(g);
  }
  auto out = m->generate_until(reqs);
  ASSERT_EQ(out.size(), reqs.size());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(out[i].ok()) << out[i].status().message();
    const std::string full = FaultServer::fake_answer("q" + std::to_string(i));
    EXPECT_EQ(out[i]->text, i % 4 == 0 ? "answer" : full) << i;  // "-" stop applied client-side
    EXPECT_EQ(out[i]->finish_reason, "stop");
    EXPECT_EQ(out[i]->usage.completion_tokens, 1);
  }
  EXPECT_GT(m->http_stats().retries, 0);
}

TEST(RemoteModel, GenerateChat) { check_generate("", {{"model", "fake"}}); }
TEST(RemoteModel, GenerateChatStreaming) { check_generate("", {{"model", "fake"}, {"stream", "true"}}); }

TEST(RemoteModel, GenerateCompletions) {
  FaultServer server;
  auto m = make_model(server.base_url(), {{"model", "fake"}, {"chat", "false"}});
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->info().chat_only);
  std::vector<GenerateRequest> reqs(3);
  for (int i = 0; i < 3; ++i) reqs[i].context = "Prompt " + std::to_string(i);
  auto out = m->generate_until(reqs);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(out[i].ok());
    EXPECT_EQ(out[i]->text, FaultServer::fake_answer("Prompt " + std::to_string(i)));
  }
}

void check_anthropic(bool stream) {
  FaultServerOptions so;
  so.fault_rate = 0.2;
  so.seed = 5;
  so.faults = {Fault::k529, Fault::kStreamNoDone, Fault::kTruncated};
  FaultServer server(so);
  ::setenv("ASSAY_TEST_ANTHROPIC_KEY", "sk-ant-test", 1);
  ModelArgs args = {{"base_url", server.base_url()}, {"api_key_env", "ASSAY_TEST_ANTHROPIC_KEY"}, {"max_retries", "6"}};
  if (stream) args.emplace_back("stream", "true");
  auto m = make_model("anthropic:claude-fake", args);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->info().backend, "anthropic");
  EXPECT_FALSE(m->info().supports_loglikelihood);
  std::vector<GenerateRequest> reqs(20);
  for (int i = 0; i < 20; ++i) reqs[i].messages = {{"system", "be terse"}, {"user", "a" + std::to_string(i)}};
  auto out = m->generate_until(reqs);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(out[i].ok()) << out[i].status().message();
    EXPECT_EQ(out[i]->text, FaultServer::fake_answer("a" + std::to_string(i)));
    EXPECT_EQ(out[i]->finish_reason, "stop");
  }
}

TEST(RemoteModel, GenerateAnthropic) { check_anthropic(false); }
TEST(RemoteModel, GenerateAnthropicStreaming) { check_anthropic(true); }

}  // namespace
}  // namespace assay

namespace assay {
namespace {

// The echo request's usage is what the server billed: the whole prompt (context+continuation
// under the fake server's tokeniser) in and the one generated token out.
TEST(RemoteModelUsage, LoglikelihoodAndGenerateCarryTheServersUsage) {
  testing::FaultServer server;
  auto cfg = remote_config_from_spec(server.base_url(), {{"model", "fake"}, {"loglikelihood", "true"}});
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  auto m = RemoteModel::create(std::move(cfg).value());
  ASSERT_TRUE(m.ok()) << m.status().message();
  std::vector<LoglikelihoodRequest> reqs = {{"The quick brown", " fox jumps"}, {"日本語 の", " テキスト"}};
  auto out = (*m)->loglikelihood(reqs);
  ASSERT_EQ(out.size(), 2u);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(out[i].ok()) << out[i].status().message();
    const TokenUsage& u = out[i]->usage;
    EXPECT_TRUE(u.reported);
    EXPECT_EQ(u.prompt_tokens,
              static_cast<int64_t>(testing::FaultServer::fake_tokens(reqs[i].context + reqs[i].continuation).size()))
        << i;
    EXPECT_EQ(u.completion_tokens, 1) << i;
  }
  GenerateRequest g;
  g.context = "Say something nice about";
  auto gen = (*m)->generate_until(std::span<const GenerateRequest>(&g, 1));
  ASSERT_TRUE(gen[0].ok()) << gen[0].status().message();
  EXPECT_TRUE(gen[0]->usage.reported);
  EXPECT_EQ(gen[0]->usage.prompt_tokens, static_cast<int64_t>(testing::FaultServer::fake_tokens(g.context).size()));
  EXPECT_EQ(gen[0]->usage.completion_tokens, 1);
}

}  // namespace
}  // namespace assay
