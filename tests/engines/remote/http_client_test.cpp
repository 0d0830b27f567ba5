#include "engines/remote/http_client.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>

#include "engines/remote/api_error.h"
#include "engines/remote/openai_api.h"
#include "engines/remote/sse_parser.h"
#include "tests/support/fault_server.h"

namespace assay {
namespace {

using testing::Fault;
using testing::FaultServer;
using testing::FaultServerOptions;

HttpRequest chat_request(const std::string& base, const std::string& prompt, bool stream = false) {
  GenerateRequest g;
  g.messages = {{"user", prompt}};
  OpenAiOptions opt;
  opt.model = "fake";
  opt.stream = stream;
  HttpRequest r;
  r.url = base + "/chat/completions";
  r.headers.add("Authorization", "Bearer sk-test-secret");
  r.body = openai_chat_body(g, opt);
  r.estimated_tokens = 10;
  return r;
}

HttpClientOptions fast_options() {
  HttpClientOptions o;
  o.who = "fake";
  o.max_concurrency = 16;
  o.timeout_s = 5;
  o.retry.initial_delay_s = 0.002;
  o.retry.max_delay_s = 0.02;
  o.batch_deadline_s = 60;  // a safety net: a hung test fails instead of stalling CI
  return o;
}

Status check_chat(size_t, const HttpResponse& r) { return parse_openai_chat_response(r.body).status(); }

std::string chat_text(const HttpOutcome& o) {
  auto r = parse_openai_chat_response(o.response.body);
  return r.ok() && !r->choices.empty() ? r->choices[0].text : std::string("<unparsed>");
}

TEST(HttpClient, AnswersEveryRequestInOrderAndReusesConnections) {
  FaultServer server;
  HttpClient client(fast_options());
  std::vector<HttpRequest> reqs;
  for (int i = 0; i < 100; ++i) reqs.push_back(chat_request(server.base_url(), "prompt " + std::to_string(i)));
  auto out = client.run(reqs, {}, check_chat);
  ASSERT_EQ(out.size(), reqs.size());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(out[i].status.ok()) << out[i].status.message();
    EXPECT_EQ(out[i].attempts, 1);
    EXPECT_EQ(out[i].response.status, 200);
    EXPECT_EQ(chat_text(out[i]), FaultServer::fake_answer("prompt " + std::to_string(i)));
  }
  // Keep-alive: far fewer connections than requests.
  EXPECT_LE(server.stats().connections, 16);
  EXPECT_EQ(server.stats().requests, 100);
  // A second batch reuses the same connections.
  auto again = client.run(std::span(reqs).subspan(0, 10), {}, check_chat);
  EXPECT_TRUE(again[9].status.ok());
  EXPECT_LE(server.stats().connections, 16);
  EXPECT_EQ(client.stats().attempts, 110);
  EXPECT_EQ(client.stats().retries, 0);
}

TEST(HttpClient, EmptyBatch) {
  HttpClient client(fast_options());
  EXPECT_TRUE(client.run({}).empty());
}

struct FaultCase {
  Fault fault;
  StatusCode final_code;
};

TEST(HttpClient, EachFaultIsRetriedThenReportedWithItsReason) {
  const FaultCase cases[] = {
      {Fault::k429RetryAfter, StatusCode::kUnavailable}, {Fault::k429Plain, StatusCode::kUnavailable},
      {Fault::k500, StatusCode::kUnavailable},           {Fault::k503, StatusCode::kUnavailable},
      {Fault::k529, StatusCode::kUnavailable},           {Fault::kSlow, StatusCode::kDeadlineExceeded},
      {Fault::kReset, StatusCode::kUnavailable},         {Fault::kTruncated, StatusCode::kUnavailable},
      {Fault::kMalformedJson, StatusCode::kCorrupt},
  };
  for (const auto& c : cases) {
    FaultServerOptions so;
    so.fault_rate = 1.0;
    so.faults = {c.fault};
    so.slow_ms = 400;
    FaultServer server(so);
    HttpClientOptions o = fast_options();
    o.timeout_s = 0.15;
    o.retry.max_retries = 2;
    HttpClient client(o);
    std::vector<HttpRequest> reqs = {chat_request(server.base_url(), "a"), chat_request(server.base_url(), "b")};
    auto out = client.run(reqs, {}, check_chat);
    for (const auto& r : out) {
      EXPECT_EQ(r.status.code(), c.final_code) << testing::fault_name(c.fault) << ": " << r.status.message();
      EXPECT_EQ(r.attempts, 3) << testing::fault_name(c.fault);
      EXPECT_FALSE(r.reason.empty());
      EXPECT_NE(r.status.message().find("3 attempts"), std::string::npos) << r.status.message();
    }
    EXPECT_EQ(client.stats().retries, 4) << testing::fault_name(c.fault);
  }
}

TEST(HttpClient, NonRetryableErrorsFailAtOnce) {
  FaultServer server;
  HttpClient client(fast_options());
  HttpRequest bad = chat_request(server.base_url(), "x");
  bad.url = server.base_url() + "/nope";
  HttpRequest garbage = chat_request(server.base_url(), "x");
  garbage.body = "{not json";
  auto out = client.run(std::vector<HttpRequest>{bad, garbage});
  EXPECT_EQ(out[0].status.code(), StatusCode::kNotFound);
  EXPECT_EQ(out[0].attempts, 1);
  EXPECT_EQ(out[0].response.status, 404);
  EXPECT_EQ(out[1].status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out[1].attempts, 1);
  EXPECT_EQ(client.stats().retries, 0);
}

TEST(HttpClient, ConnectionRefusedIsRetriedThenReported) {
  int port;
  {
    FaultServer s;  // grab a free port, then close it
    port = s.port();
  }
  HttpClientOptions o = fast_options();
  o.retry.max_retries = 1;
  HttpClient client(o);
  HttpRequest r = chat_request("http://127.0.0.1:" + std::to_string(port) + "/v1", "x");
  HttpOutcome out = client.run_one(r);
  EXPECT_EQ(out.status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(out.attempts, 2);
  EXPECT_EQ(client.stats().transport_errors, 2);
}

TEST(HttpClient, StreamingChunksAndSseAssembly) {
  FaultServer server;
  HttpClient client(fast_options());
  std::vector<HttpRequest> reqs;
  for (int i = 0; i < 20; ++i) reqs.push_back(chat_request(server.base_url(), "s" + std::to_string(i), true));
  std::map<std::pair<size_t, int>, SseParser> parsers;
  std::map<std::pair<size_t, int>, std::vector<SseEvent>> events;
  int chunks = 0;
  auto on_chunk = [&](size_t i, int attempt, std::string_view bytes) {
    ++chunks;
    const auto key = std::make_pair(i, attempt);
    ASSERT_TRUE(parsers[key].feed(bytes, events[key]).ok());
  };
  auto check = [](size_t, const HttpResponse& r) -> Status {
    SseParser p;
    std::vector<SseEvent> evs;
    ASSAY_RETURN_IF_ERROR(p.feed(r.body, evs));
    ASSAY_RETURN_IF_ERROR(p.finish());
    OpenAiStreamAccumulator acc;
    for (const auto& e : evs) ASSAY_RETURN_IF_ERROR(acc.on_event(e));
    return acc.finish().status();
  };
  auto out = client.run(reqs, on_chunk, check);
  EXPECT_GT(chunks, 20);  // bodies arrived in pieces
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i].status.ok()) << out[i].status.message();
    OpenAiStreamAccumulator acc;
    for (const auto& e : events[std::make_pair(i, 0)]) ASSERT_TRUE(acc.on_event(e).ok());
    auto r = acc.finish();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->choices[0].text, FaultServer::fake_answer("s" + std::to_string(i)));
    EXPECT_EQ(r->usage->completion_tokens, 1);
  }
}

TEST(HttpClient, StreamWithoutDoneIsRetriedThroughTheCheck) {
  FaultServerOptions so;
  so.fault_rate = 1.0;
  so.faults = {Fault::kStreamNoDone};
  FaultServer server(so);
  HttpClientOptions o = fast_options();
  o.retry.max_retries = 1;
  HttpClient client(o);
  auto check = [](size_t, const HttpResponse& r) -> Status {
    SseParser p;
    std::vector<SseEvent> evs;
    ASSAY_RETURN_IF_ERROR(p.feed(r.body, evs));
    OpenAiStreamAccumulator acc;
    for (const auto& e : evs) ASSAY_RETURN_IF_ERROR(acc.on_event(e));
    return acc.finish().status();
  };
  auto out = client.run_one(chat_request(server.base_url(), "z", true), check);
  EXPECT_EQ(out.status.code(), StatusCode::kCorrupt);
  EXPECT_EQ(out.attempts, 2);
  EXPECT_NE(out.status.message().find("[DONE]"), std::string::npos);
}

TEST(HttpClient, RetryAfterMsIsHonoured) {
  FaultServerOptions so;
  so.fault_rate = 1.0;
  so.faults = {Fault::k429RetryAfter};
  so.retry_after_ms = 150;
  FaultServer server(so);
  HttpClientOptions o = fast_options();
  o.retry.max_retries = 2;
  HttpClient client(o);
  auto t0 = std::chrono::steady_clock::now();
  auto out = client.run_one(chat_request(server.base_url(), "q"));
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(out.attempts, 3);
  EXPECT_GE(elapsed, 0.3);  // two server-requested waits of 150 ms, not the 2-20 ms backoff
  EXPECT_LT(elapsed, 5.0);
}

TEST(HttpClient, RateLimiterThrottlesAndIsSeededFromHeaders) {
  FaultServerOptions so;
  so.ratelimit_limit_requests = 120;
  FaultServer server(so);
  HttpClientOptions o = fast_options();
  // 60 requests/min: a bucket of 60, refilled at 1 per second.
  o.rate_limiter = std::make_shared<RateLimiter>(RateLimits{.requests_per_min = 60, .tokens_per_min = 0});
  HttpClient client(o);
  std::vector<HttpRequest> reqs;
  for (int i = 0; i < 62; ++i) reqs.push_back(chat_request(server.base_url(), std::to_string(i)));
  auto t0 = std::chrono::steady_clock::now();
  auto out = client.run(reqs);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& r : out) EXPECT_TRUE(r.status.ok());
  // The server then said 120/min (2/s): the last requests waited for refill, about 0.5-2 s.
  EXPECT_GE(elapsed, 0.4);
  EXPECT_LT(elapsed, 10);
  EXPECT_DOUBLE_EQ(o.rate_limiter->limits().requests_per_min, 120);
}

TEST(HttpClient, AimdCutsConcurrencyOnRateLimits) {
  FaultServerOptions so;
  so.fault_rate = 0.5;
  so.faults = {Fault::k429Plain};
  FaultServer server(so);
  HttpClientOptions o = fast_options();
  o.retry.max_retries = 8;
  AimdConfig ac;
  ac.initial = 16;
  ac.max = 16;
  ac.decrease_cooldown_s = 0.0;
  o.aimd = std::make_shared<AimdController>(ac);
  HttpClient client(o);
  std::vector<HttpRequest> reqs;
  for (int i = 0; i < 100; ++i) reqs.push_back(chat_request(server.base_url(), "r" + std::to_string(i)));
  auto out = client.run(reqs);
  int ok = 0;
  for (const auto& r : out) ok += r.status.ok();
  EXPECT_GE(ok, 99);
  EXPECT_GT(o.aimd->decreases(), 0);
  EXPECT_GT(client.stats().by_status[429], 0);
}

// The acceptance test: 2,000 requests, 30% of attempts faulty (every kind), short backoffs.
TEST(HttpClient, TwoThousandRequestsAtThirtyPercentFaults) {
  FaultServerOptions so;
  so.fault_rate = 0.3;
  so.seed = 42;
  so.slow_ms = 300;
  so.retry_after_ms = 3;
  FaultServer server(so);
  HttpClientOptions o = fast_options();
  o.max_concurrency = 32;
  o.timeout_s = 0.2;
  o.retry.max_retries = 4;
  o.retry.initial_delay_s = 0.002;
  o.retry.max_delay_s = 0.02;
  HttpClient client(o);
  const int n = 2000;
  std::vector<HttpRequest> reqs;
  for (int i = 0; i < n; ++i) reqs.push_back(chat_request(server.base_url(), "item " + std::to_string(i), i % 5 == 0));
  auto check = [](size_t, const HttpResponse& r) -> Status {
    if (r.body.rfind("{", 0) == 0) return parse_openai_chat_response(r.body).status();
    SseParser p;
    std::vector<SseEvent> evs;
    ASSAY_RETURN_IF_ERROR(p.feed(r.body, evs));
    ASSAY_RETURN_IF_ERROR(p.finish());
    OpenAiStreamAccumulator acc;
    for (const auto& e : evs) ASSAY_RETURN_IF_ERROR(acc.on_event(e));
    return acc.finish().status();
  };
  auto t0 = std::chrono::steady_clock::now();
  auto out = client.run(reqs, {}, check);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(out.size(), static_cast<size_t>(n));
  int ok = 0, failed = 0, total_attempts = 0;
  std::map<StatusCode, int> failures;
  for (int i = 0; i < n; ++i) {
    const auto& r = out[i];
    total_attempts += r.attempts;
    ASSERT_GE(r.attempts, 1);
    ASSERT_LE(r.attempts, 5);  // retries bounded
    if (r.status.ok()) {
      ++ok;
      // The answer belongs to this request: nothing crossed over between requests.
      std::string text;
      if (i % 5 == 0) {
        SseParser p;
        std::vector<SseEvent> evs;
        ASSERT_TRUE(p.feed(r.response.body, evs).ok());
        OpenAiStreamAccumulator acc;
        for (const auto& e : evs) ASSERT_TRUE(acc.on_event(e).ok());
        text = acc.finish()->choices[0].text;
      } else {
        text = chat_text(r);
      }
      ASSERT_EQ(text, FaultServer::fake_answer("item " + std::to_string(i))) << i;
    } else {
      ++failed;
      ++failures[r.status.code()];
      EXPECT_EQ(r.attempts, 5);  // only exhausted retries fail here
      EXPECT_FALSE(r.reason.empty());
    }
  }
  const auto cs = client.stats();
  const auto ss = server.stats();
  std::printf("2000 @ 30%%: %d ok, %d failed, %d attempts, %lld retries, %lld transport errors "
              "(%lld timeouts), %lld check failures, %.2f s\n",
              ok, failed, total_attempts, static_cast<long long>(cs.retries),
              static_cast<long long>(cs.transport_errors), static_cast<long long>(cs.timeouts),
              static_cast<long long>(cs.check_failures), elapsed);
  for (const auto& [f, count] : ss.faults) std::printf("  server %s: %lld\n", testing::fault_name(f), static_cast<long long>(count));
  EXPECT_EQ(ok + failed, n);
  EXPECT_EQ(cs.requests, n);
  EXPECT_EQ(cs.succeeded, ok);
  EXPECT_EQ(cs.attempts, total_attempts);
  EXPECT_EQ(cs.retries, total_attempts - n);
  // 0.3^5 = 0.24% of requests are expected to exhaust their retries.
  EXPECT_LE(failed, 30);
  EXPECT_GE(ok, n - 30);
  // Every attempt reached the server. libcurl itself silently re-sends a request once when a
  // reused keep-alive connection dies before any response byte (our resets), so the server may
  // see up to one extra request per reset.
  EXPECT_GE(ss.requests, total_attempts);
  EXPECT_LE(ss.requests, total_attempts + ss.faults.at(Fault::kReset));
  // Each success is one normal server answer; a normal answer can only be lost to a timeout.
  EXPECT_LE(ok, ss.faults.at(Fault::kNone));
  EXPECT_LE(ss.faults.at(Fault::kNone), ok + cs.timeouts);
  EXPECT_GT(cs.transport_errors, 0);
  EXPECT_GT(cs.check_failures, 0);
  EXPECT_GT(cs.by_status.at(429), 0);
  EXPECT_LT(elapsed, 60);
}

TEST(HttpClient, RedactsSecretsByHeaderName) {
  std::string block =
      "POST /v1/chat/completions HTTP/1.1\r\n"
      "Host: api.openai.com\r\n"
      "Authorization: Bearer sk-live-123\r\n"
      "x-api-key: sk-ant-456\r\n"
      "API-Key: azure-789\r\n"
      "Proxy-Authorization: Basic abc\r\n"
      "X-Custom: sk-not-a-secret-by-name\r\n"
      "GET /v1/models?key=AIza123&x=1 HTTP/1.1\r\n";
  std::string r = redact_secrets(block);
  for (const char* secret : {"sk-live-123", "sk-ant-456", "azure-789", "Basic abc", "AIza123"}) {
    EXPECT_EQ(r.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(r.find("Authorization: [REDACTED]\r\n"), std::string::npos);
  EXPECT_NE(r.find("X-Custom: sk-not-a-secret-by-name"), std::string::npos);  // by name, not value
  EXPECT_NE(r.find("&x=1"), std::string::npos);
}

TEST(HttpClient, DebugLogNeverContainsTheKey) {
  FaultServer server;
  std::string log;
  HttpClientOptions o = fast_options();
  o.debug_log = [&](std::string_view s) { log += s; };
  HttpClient client(o);
  auto out = client.run_one(chat_request(server.base_url(), "k"));
  ASSERT_TRUE(out.status.ok());
  EXPECT_NE(log.find("Authorization: [REDACTED]"), std::string::npos);
  EXPECT_EQ(log.find("sk-test-secret"), std::string::npos);
}

TEST(HttpClient, ResolveApiKey) {
  ::setenv("ASSAY_TEST_KEY_VAR", "  sk-abc  ", 1);
  auto k = resolve_api_key({.env_var = "ASSAY_TEST_KEY_VAR", .file = ""});
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, "sk-abc");
  ::unsetenv("ASSAY_TEST_KEY_VAR");
  auto missing = resolve_api_key({.env_var = "ASSAY_TEST_KEY_VAR", .file = ""});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("ASSAY_TEST_KEY_VAR"), std::string::npos);

  const std::string path = ::testing::TempDir() + "/assay_key_file";
  {
    std::ofstream f(path);
    f << "sk-from-file\n# ignored\n";
  }
  auto fk = resolve_api_key({.env_var = "UNUSED", .file = path});
  ASSERT_TRUE(fk.ok());
  EXPECT_EQ(*fk, "sk-from-file");
  auto nofile = resolve_api_key({.env_var = "", .file = path + ".missing"});
  EXPECT_EQ(nofile.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(nofile.status().message().find("sk-"), std::string::npos);
}

}  // namespace
}  // namespace assay
