// Retry decisions for remote API calls, following the official OpenAI and Anthropic Python SDKs
// (openai-python / anthropic-sdk-python 2026-08, `_base_client.py`; see
// shared/reference/apis-and-retries.md §8) plus assay's own "never retry" list:
//
//   1. never: HTTP 400/401/403/404/413/422, and quota/billing/spend-limit errors recognised in the
//      error body (`insufficient_quota`, `billing_hard_limit_reached`, `billing_not_active`,
//      `enforced_spend_limit_reached`, "exceeded your current quota"), even on a 429 and even if
//      the server sends `x-should-retry: true` — retrying them only burns the budget;
//   2. a server delay (`retry-after-ms`, then `retry-after` as seconds, then as an HTTP-date)
//      above max_server_delay_s: OpenAI's SDK gives up; Anthropic's ignores it and backs off;
//   3. `x-should-retry: true|false` is obeyed;
//   4. 408, 409, 429 and >= 500 (incl. Anthropic's 529 overloaded) are retried; other codes not;
//   5. connection errors and timeouts (no HTTP status) are retried;
//   and no retry once max_retries retries have been made.
// Delay: the server delay when 0 < delay <= max_server_delay_s, else
//   min(initial_delay_s * 2^retries_so_far, max_delay_s) * (1 - jitter * U[0,1)).
//
// Thread safety: pure functions (the RNG passed in is the caller's).
#pragma once

#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "engines/remote/http_headers.h"
#include "engines/remote/http_time.h"

namespace assay {

struct RetryConfig {
  int max_retries = 2;             // retries after the first attempt (SDK default 2)
  double initial_delay_s = 0.5;
  double max_delay_s = 8.0;
  double jitter = 0.25;            // the delay is multiplied by 1 - jitter * U[0,1)
  double max_server_delay_s = 120.0;
  bool stop_when_server_delay_above_max = true;  // OpenAI: true; Anthropic: false

  static RetryConfig openai_sdk() { return RetryConfig{}; }
  static RetryConfig anthropic_sdk() {
    RetryConfig c;
    c.max_server_delay_s = 60.0;
    c.stop_when_server_delay_above_max = false;
    return c;
  }
};

// What one attempt produced. http_status 0 means no HTTP response (connection refused/reset, DNS,
// TLS, timeout, a truncated body).
struct AttemptInfo {
  int http_status = 0;
  bool timed_out = false;
  const HttpHeaders* headers = nullptr;  // may be null when http_status == 0
  std::string_view body;
};

struct RetryDecision {
  bool retry = false;
  double delay_s = 0;      // meaningful when retry
  bool server_delay = false;  // delay came from retry-after(-ms)
  std::string reason;      // why, for logs and final error messages
};

// `retries_so_far` counts retries already made (0 after the first attempt).
RetryDecision decide_retry(const AttemptInfo& attempt, int retries_so_far, const RetryConfig& config,
                           std::mt19937_64& rng, SystemTime now);

// The server-requested delay in seconds from retry-after-ms / retry-after, or nullopt when absent
// or unparseable. May be <= 0 (a date in the past); callers then ignore it as the SDKs do.
std::optional<double> server_retry_delay_s(const HttpHeaders& headers, SystemTime now);

// min(initial * 2^n, max) * (1 - jitter * u), u in [0, 1).
double backoff_delay_s(int retries_so_far, const RetryConfig& config, double u);

// True when the error body says the account is out of quota / over its spend limit.
bool is_quota_error_body(std::string_view body);

}  // namespace assay
