// Client-side throttling for remote APIs: token buckets on requests/min and tokens/min seeded and
// corrected from the provider's rate-limit headers, and an AIMD controller for the number of
// requests in flight (shared/reference/apis-and-retries.md §7.2, §8.1).
//
// Why both: the buckets keep a long job under the account's published RPM/TPM so that it rarely
// sees a 429 at all; AIMD reacts to the 429s that happen anyway (limits shared with other jobs,
// "acceleration limits" on sharp ramps) by halving concurrency, then creeping back up.
//
// Headers understood (either provider; missing ones leave the current value):
//   OpenAI:    x-ratelimit-{limit,remaining,reset}-{requests,tokens}; reset is a Go duration
//              ("20ms", "1s", "6m0s").
//   Anthropic: anthropic-ratelimit-{requests,tokens,input-tokens}-{limit,remaining,reset}; reset
//              is an RFC 3339 timestamp. "tokens" wins over "input-tokens" when both are present.
// A limit header sets the bucket's capacity and refill rate (limit per minute). A remaining header
// only ever lowers the local level (the server cannot see our requests still in flight); a
// remaining of 0 blocks the bucket until the reset time.
//
// Time comes from an injectable clock so tests do not sleep.
//
// Thread safety: RateLimiter and AimdController are internally synchronised; share freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

#include "engines/remote/http_headers.h"
#include "engines/remote/http_time.h"

namespace assay {

using SteadyTime = std::chrono::steady_clock::time_point;
using SteadyClockFn = std::function<SteadyTime()>;
SteadyClockFn real_steady_clock();

// A bucket of `capacity` units refilled continuously at `refill_per_s`. take() may drive the
// level negative (a request bigger than the bucket still goes, then the debt is repaid), so a
// single oversized request can never deadlock. capacity <= 0 means unlimited.
// Thread safety: none (RateLimiter locks around it).
class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(double capacity, double refill_per_s, SteadyTime now);
  bool unlimited() const { return capacity_ <= 0; }
  double level(SteadyTime now);
  // Seconds until `n` units may be taken (0: now). n above capacity waits for a full bucket.
  double wait_s(double n, SteadyTime now);
  void take(double n, SteadyTime now);
  void set_rate(double capacity, double refill_per_s, SteadyTime now);
  void lower_level_to(double level, SteadyTime now);  // never raises
  void block_until(SteadyTime t) { blocked_until_ = std::max(blocked_until_, t); }

 private:
  void refill(SteadyTime now);
  double capacity_ = 0;
  double refill_per_s_ = 0;
  double level_ = 0;
  SteadyTime last_{};
  SteadyTime blocked_until_{};
};

struct RateLimits {
  double requests_per_min = 0;  // 0: unlimited
  double tokens_per_min = 0;    // 0: unlimited
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimits limits = {}, SteadyClockFn clock = real_steady_clock());

  // Seconds until a request estimated at `tokens` tokens may start (0: now).
  double wait_s(int64_t tokens);
  // Takes one request and `tokens` tokens if both are available now; false otherwise.
  bool try_acquire(int64_t tokens);
  // Once the real usage is known: repays (or charges) the difference to the token bucket.
  void settle(int64_t estimated_tokens, int64_t actual_tokens);
  // Applies the provider's rate-limit headers. `wall_now` converts RFC 3339 resets to durations.
  void update_from_headers(const HttpHeaders& headers, SystemTime wall_now);
  RateLimits limits() const;

 private:
  mutable std::mutex mu_;
  SteadyClockFn clock_;
  RateLimits limits_;
  TokenBucket requests_;
  TokenBucket tokens_;
};

struct AimdConfig {
  double initial = 8;          // allowed requests in flight at start
  double min = 1;
  double max = 64;
  double decrease_factor = 0.5;   // multiplicative decrease on a rate-limit response
  double increase_per_window = 1; // additive increase: +this per `limit` successes (~ one RTT)
  double decrease_cooldown_s = 1.0;  // 429s within this window of a cut count as one congestion event
  int breaker_threshold = 0;      // consecutive 429s that open the breaker (0: never)
  double breaker_pause_s = 10;    // how long an open breaker pauses new requests
};

class AimdController {
 public:
  explicit AimdController(AimdConfig config = {}, SteadyClockFn clock = real_steady_clock());
  int allowed() const;             // floor of the current limit, >= config.min
  double limit() const;
  void on_success();
  void on_rate_limited();
  // Seconds new requests must wait because the circuit breaker is open (0: closed).
  double pause_remaining_s() const;
  int decreases() const;           // how many times the limit was cut (for reports and tests)

 private:
  mutable std::mutex mu_;
  AimdConfig config_;
  SteadyClockFn clock_;
  double limit_;
  SteadyTime last_decrease_{};
  bool decreased_once_ = false;
  int consecutive_429_ = 0;
  SteadyTime paused_until_{};
  int decreases_ = 0;
};

}  // namespace assay
