// HttpClient: many HTTP requests in flight on one libcurl multi handle, with the retry, backoff
// and throttling rules of retry_policy.h and rate_limiter.h.
//
// run() takes a batch and returns exactly one HttpOutcome per request, in order: the final 2xx
// response, or the final error with its reason and attempt count. Nothing is lost or duplicated:
// each request is either in flight, waiting on a backoff timer, queued, or finished, and finishes
// exactly once (checked). Everything happens on the calling thread: backoff timers, rate-limit
// waits and the circuit breaker are deadlines in the event loop's poll timeout, not sleeping
// threads, so a thousand requests waiting to retry cost nothing.
//
// Transport: keep-alive connections are reused across run() calls (the multi handle's connection
// cache); HTTP/2 is used when the server offers it over TLS (ALPN) and streams are multiplexed
// (CURLPIPE_MULTIPLEX); cleartext http:// stays HTTP/1.1. Each attempt has its own timeout. Each
// retry carries `x-stainless-retry-count: n` as the official SDKs send it.
//
// Hooks: `on_chunk(index, attempt, bytes)` sees body bytes as they arrive (streaming; a retried
// request starts again at a new attempt number). `check(index, response)` validates a 2xx response
// (JSON parses, the SSE stream reached [DONE], no in-stream error event): a non-OK Status with code
// kUnavailable, kDeadlineExceeded or kCorrupt is retried like a connection error; any other code
// fails the request at once.
//
// Secrets: the debug log receives curl's verbose lines with Authorization, x-api-key, api-key and
// Proxy-Authorization values and `key=` query values replaced, by header name (redact_secrets).
//
// Thread safety: run() calls are serialised by an internal mutex; stats() may be called from any
// thread. The shared RateLimiter / AimdController may be shared with other clients.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engines/remote/http_headers.h"
#include "engines/remote/rate_limiter.h"
#include "engines/remote/retry_policy.h"
#include "harness/status.h"

namespace assay {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HttpHeaders headers;          // Content-Type: application/json is added when absent
  std::string body;
  int64_t estimated_tokens = 0; // charged to the tokens/min bucket
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
  long http_version = 0;        // CURL_HTTP_VERSION_* of the connection used
};

struct HttpOutcome {
  Status status;           // OK exactly when `response` is a 2xx that passed the check
  HttpResponse response;   // the last response received (status 0 after a transport failure)
  int attempts = 0;
  std::string reason;      // why it ended: "success", or the last failure and retry decision
};

struct HttpClientOptions {
  std::string who = "http";          // prefixes error messages ("openai", an endpoint URL)
  int max_concurrency = 16;          // transfers in flight, at most
  double timeout_s = 600;            // per attempt
  double connect_timeout_s = 5;
  RetryConfig retry;
  std::shared_ptr<RateLimiter> rate_limiter;  // optional
  std::shared_ptr<AimdController> aimd;       // optional: caps in-flight below max_concurrency
  size_t max_response_bytes = size_t{64} << 20;
  uint64_t seed = 0x5eed;            // backoff jitter
  double batch_deadline_s = 0;       // 0: none; else unfinished requests fail when it passes
  std::function<void(std::string_view)> debug_log;  // redacted curl verbose output
};

struct HttpClientStats {
  int64_t requests = 0;          // finished requests
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t attempts = 0;
  int64_t retries = 0;
  int64_t transport_errors = 0;  // no HTTP response (reset, refused, truncated, ...)
  int64_t timeouts = 0;
  int64_t check_failures = 0;    // 2xx bodies rejected by the check hook
  std::map<int, int64_t> by_status;  // HTTP status of every attempt that got one
};

class HttpClient {
 public:
  using ChunkFn = std::function<void(size_t index, int attempt, std::string_view bytes)>;
  using CheckFn = std::function<Status(size_t index, const HttpResponse& response)>;

  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  std::vector<HttpOutcome> run(std::span<const HttpRequest> requests, const ChunkFn& on_chunk = {},
                               const CheckFn& check = {});
  HttpOutcome run_one(const HttpRequest& request, const CheckFn& check = {});

  HttpClientStats stats() const;
  const HttpClientOptions& options() const { return options_; }

 private:
  struct Impl;
  HttpClientOptions options_;
  std::unique_ptr<Impl> impl_;
  std::mutex run_mu_;
  mutable std::mutex stats_mu_;
  HttpClientStats stats_;
};

// Replaces secret header values and `key=` query values in a block of header/URL text.
std::string redact_secrets(std::string_view text);

// Where an endpoint's API key comes from: a file (first line, trimmed) if `file` is set, else
// the environment variable `env_var`. Errors name the variable or file, never the key.
struct ApiKeySource {
  std::string env_var;  // e.g. "OPENAI_API_KEY", "ANTHROPIC_API_KEY"
  std::string file;
};
Result<std::string> resolve_api_key(const ApiKeySource& source);

}  // namespace assay
