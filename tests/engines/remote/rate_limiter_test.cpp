#include "engines/remote/rate_limiter.h"

#include <gtest/gtest.h>

namespace assay {
namespace {

struct FakeClock {
  SteadyTime now{std::chrono::seconds(1000)};
  void advance(double s) {
    now += std::chrono::duration_cast<SteadyTime::duration>(std::chrono::duration<double>(s));
  }
  SteadyClockFn fn() {
    return [this] { return now; };
  }
};

TEST(TokenBucket, RefillsContinuouslyAndAllowsDebt) {
  FakeClock c;
  TokenBucket b(10, 1.0, c.now);  // 10 units, 1/s
  EXPECT_DOUBLE_EQ(b.wait_s(10, c.now), 0);
  b.take(10, c.now);
  EXPECT_DOUBLE_EQ(b.wait_s(1, c.now), 1.0);
  c.advance(0.5);
  EXPECT_DOUBLE_EQ(b.wait_s(1, c.now), 0.5);
  c.advance(100);
  EXPECT_DOUBLE_EQ(b.level(c.now), 10);  // capped at capacity
  // Larger than capacity: waits for a full bucket, then goes into debt.
  EXPECT_DOUBLE_EQ(b.wait_s(25, c.now), 0);
  b.take(25, c.now);
  EXPECT_DOUBLE_EQ(b.level(c.now), -15);
  EXPECT_DOUBLE_EQ(b.wait_s(1, c.now), 16);
}

TEST(RateLimiter, UnlimitedByDefault) {
  FakeClock c;
  RateLimiter rl({}, c.fn());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(rl.try_acquire(100000));
}

TEST(RateLimiter, RequestsPerMinute) {
  FakeClock c;
  RateLimiter rl({.requests_per_min = 60, .tokens_per_min = 0}, c.fn());
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += rl.try_acquire(1);
  EXPECT_EQ(admitted, 60);
  EXPECT_NEAR(rl.wait_s(1), 1.0, 1e-9);  // one request per second refill
  c.advance(1.0);
  EXPECT_TRUE(rl.try_acquire(1));
  EXPECT_FALSE(rl.try_acquire(1));
}

TEST(RateLimiter, TokensPerMinuteAndSettle) {
  FakeClock c;
  RateLimiter rl({.requests_per_min = 0, .tokens_per_min = 6000}, c.fn());
  EXPECT_TRUE(rl.try_acquire(5000));
  EXPECT_FALSE(rl.try_acquire(2000));
  EXPECT_NEAR(rl.wait_s(2000), 10.0, 1e-9);  // need 1000 more at 100/s
  rl.settle(5000, 1000);                     // the request used far less than estimated
  EXPECT_TRUE(rl.try_acquire(2000));
}

TEST(RateLimiter, SeedsFromOpenAiHeaders) {
  FakeClock c;
  RateLimiter rl({}, c.fn());
  HttpHeaders h;
  h.add("x-ratelimit-limit-requests", "120");
  h.add("x-ratelimit-limit-tokens", "150000");
  h.add("x-ratelimit-remaining-requests", "0");
  h.add("x-ratelimit-remaining-tokens", "149000");
  h.add("x-ratelimit-reset-requests", "6m0s");
  h.add("x-ratelimit-reset-tokens", "20ms");
  rl.update_from_headers(h, SystemTime{});
  EXPECT_DOUBLE_EQ(rl.limits().requests_per_min, 120);
  EXPECT_DOUBLE_EQ(rl.limits().tokens_per_min, 150000);
  // No requests remain until the reset 6 minutes away, even though refill would be faster.
  EXPECT_NEAR(rl.wait_s(1), 360.0, 1e-6);
  c.advance(360);
  EXPECT_TRUE(rl.try_acquire(1000));
}

TEST(RateLimiter, SeedsFromAnthropicHeadersWithRfc3339Reset) {
  FakeClock c;
  RateLimiter rl({}, c.fn());
  const SystemTime wall = *parse_rfc3339("2025-01-01T00:00:00Z");
  HttpHeaders h;
  h.add("anthropic-ratelimit-requests-limit", "50");
  h.add("anthropic-ratelimit-requests-remaining", "49");
  h.add("anthropic-ratelimit-requests-reset", "2025-01-01T00:00:01Z");
  h.add("anthropic-ratelimit-input-tokens-limit", "40000");
  h.add("anthropic-ratelimit-input-tokens-remaining", "0");
  h.add("anthropic-ratelimit-input-tokens-reset", "2025-01-01T00:00:30Z");
  rl.update_from_headers(h, wall);
  EXPECT_DOUBLE_EQ(rl.limits().requests_per_min, 50);
  EXPECT_DOUBLE_EQ(rl.limits().tokens_per_min, 40000);
  EXPECT_NEAR(rl.wait_s(100), 30.0, 1e-6);
  c.advance(30);
  EXPECT_TRUE(rl.try_acquire(100));
}

TEST(RateLimiter, MalformedHeadersAreIgnored) {
  FakeClock c;
  RateLimiter rl({.requests_per_min = 10, .tokens_per_min = 0}, c.fn());
  HttpHeaders h;
  h.add("x-ratelimit-limit-requests", "lots");
  h.add("x-ratelimit-remaining-requests", "-3");
  rl.update_from_headers(h, SystemTime{});
  EXPECT_DOUBLE_EQ(rl.limits().requests_per_min, 10);
  EXPECT_TRUE(rl.try_acquire(1));
}

TEST(AimdController, HalvesOnRateLimitOncePerCooldownAndRecoversAdditively) {
  FakeClock c;
  AimdConfig cfg;
  cfg.initial = 16;
  cfg.max = 32;
  cfg.decrease_cooldown_s = 1.0;
  AimdController aimd(cfg, c.fn());
  EXPECT_EQ(aimd.allowed(), 16);
  aimd.on_rate_limited();
  EXPECT_EQ(aimd.allowed(), 8);
  aimd.on_rate_limited();  // same congestion event
  aimd.on_rate_limited();
  EXPECT_EQ(aimd.allowed(), 8);
  c.advance(1.5);
  aimd.on_rate_limited();
  EXPECT_EQ(aimd.allowed(), 4);
  EXPECT_EQ(aimd.decreases(), 2);
  // Additive increase: about +1 per `limit` successes.
  for (int i = 0; i < 4; ++i) aimd.on_success();
  EXPECT_EQ(aimd.allowed(), 4);  // 4.9x, not yet 5
  aimd.on_success();
  EXPECT_EQ(aimd.allowed(), 5);
  for (int i = 0; i < 10000; ++i) aimd.on_success();
  EXPECT_EQ(aimd.allowed(), 32);  // capped at max
  for (int i = 0; i < 20; ++i) {
    c.advance(2);
    aimd.on_rate_limited();
  }
  EXPECT_EQ(aimd.allowed(), 1);  // floored at min
}

TEST(AimdController, CircuitBreakerPausesAfterConsecutiveRateLimits) {
  FakeClock c;
  AimdConfig cfg;
  cfg.breaker_threshold = 3;
  cfg.breaker_pause_s = 10;
  AimdController aimd(cfg, c.fn());
  aimd.on_rate_limited();
  aimd.on_rate_limited();
  aimd.on_success();  // resets the streak
  aimd.on_rate_limited();
  aimd.on_rate_limited();
  EXPECT_DOUBLE_EQ(aimd.pause_remaining_s(), 0);
  aimd.on_rate_limited();
  EXPECT_NEAR(aimd.pause_remaining_s(), 10, 1e-9);
  c.advance(4);
  EXPECT_NEAR(aimd.pause_remaining_s(), 6, 1e-9);
  c.advance(6);
  EXPECT_DOUBLE_EQ(aimd.pause_remaining_s(), 0);
}

}  // namespace
}  // namespace assay
