#include "engines/remote/retry_policy.h"

#include <gtest/gtest.h>

#include "engines/remote/http_time.h"

namespace assay {
namespace {

SystemTime at(int64_t unix_s) { return SystemTime(std::chrono::seconds(unix_s)); }
const SystemTime kNow = at(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT

RetryDecision decide(int status, HttpHeaders h = {}, std::string_view body = "", int retries = 0,
                     RetryConfig cfg = RetryConfig::openai_sdk(), uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  AttemptInfo a;
  a.http_status = status;
  a.headers = &h;
  a.body = body;
  return decide_retry(a, retries, cfg, rng, kNow);
}

TEST(HttpTime, HttpDateAllThreeForms) {
  auto a = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
  auto b = parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT");
  auto c = parse_http_date("Sun Nov  6 08:49:37 1994");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, kNow);
  EXPECT_EQ(*b, kNow);
  EXPECT_EQ(*c, kNow);
  EXPECT_FALSE(parse_http_date("tomorrow"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"));
}

TEST(HttpTime, Rfc3339) {
  auto t = parse_rfc3339("1994-11-06T08:49:37Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, kNow);
  auto off = parse_rfc3339("1994-11-06T09:49:37+01:00");
  ASSERT_TRUE(off);
  EXPECT_EQ(*off, kNow);
  auto frac = parse_rfc3339("1994-11-06T08:49:37.250Z");
  ASSERT_TRUE(frac);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*frac - kNow).count(), 250);
  EXPECT_FALSE(parse_rfc3339("1994-11-06 garbage"));
  EXPECT_FALSE(parse_rfc3339("1994-11-06T08:49:37"));  // no zone
}

TEST(HttpTime, GoDurations) {
  EXPECT_DOUBLE_EQ(*parse_go_duration("1s"), 1.0);
  EXPECT_DOUBLE_EQ(*parse_go_duration("6m0s"), 360.0);
  EXPECT_DOUBLE_EQ(*parse_go_duration("20ms"), 0.02);
  EXPECT_DOUBLE_EQ(*parse_go_duration("1h2m3.5s"), 3723.5);
  EXPECT_DOUBLE_EQ(*parse_go_duration("0.5"), 0.5);
  EXPECT_FALSE(parse_go_duration(""));
  EXPECT_FALSE(parse_go_duration("5 minutes"));
  EXPECT_FALSE(parse_go_duration("1s2"));
}

TEST(RetryPolicy, RetryableStatuses) {
  for (int s : {408, 409, 429, 500, 502, 503, 504, 529}) {
    auto d = decide(s);
    EXPECT_TRUE(d.retry) << s;
    EXPECT_FALSE(d.server_delay);
  }
  for (int s : {400, 401, 403, 404, 413, 422, 418, 302}) {
    EXPECT_FALSE(decide(s).retry) << s;
  }
  EXPECT_FALSE(decide(200).retry);
}

TEST(RetryPolicy, ConnectionErrorsAndTimeoutsRetry) {
  std::mt19937_64 rng(1);
  AttemptInfo a;  // no status, no headers
  auto d = decide_retry(a, 0, RetryConfig{}, rng, kNow);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.reason, "connection error");
  a.timed_out = true;
  d = decide_retry(a, 0, RetryConfig{}, rng, kNow);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.reason, "timeout");
}

TEST(RetryPolicy, BoundedAttempts) {
  RetryConfig cfg;
  cfg.max_retries = 3;
  EXPECT_TRUE(decide(503, {}, "", 0, cfg).retry);
  EXPECT_TRUE(decide(503, {}, "", 2, cfg).retry);
  auto d = decide(503, {}, "", 3, cfg);
  EXPECT_FALSE(d.retry);
  EXPECT_NE(d.reason.find("gave up after 3 retries"), std::string::npos);
  EXPECT_FALSE(decide(503, {}, "", 2).retry);  // SDK default: 2 retries
}

TEST(RetryPolicy, ExponentialBackoffWithJitterIsSeededAndBounded) {
  RetryConfig cfg;
  cfg.max_retries = 100;
  for (int n = 0; n < 8; ++n) {
    const double cap = std::min(0.5 * (1 << n), 8.0);
    for (uint64_t seed = 1; seed < 50; ++seed) {
      auto d = decide(500, {}, "", n, cfg, seed);
      ASSERT_TRUE(d.retry);
      EXPECT_LE(d.delay_s, cap);
      EXPECT_GT(d.delay_s, cap * 0.75);
    }
  }
  // Same seed, same delay; different seeds differ.
  EXPECT_EQ(decide(500, {}, "", 1, cfg, 7).delay_s, decide(500, {}, "", 1, cfg, 7).delay_s);
  EXPECT_NE(decide(500, {}, "", 1, cfg, 7).delay_s, decide(500, {}, "", 1, cfg, 8).delay_s);
  EXPECT_DOUBLE_EQ(backoff_delay_s(0, cfg, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(backoff_delay_s(3, cfg, 0.0), 4.0);
  EXPECT_DOUBLE_EQ(backoff_delay_s(10, cfg, 0.0), 8.0);
  EXPECT_DOUBLE_EQ(backoff_delay_s(10, cfg, 0.5), 7.0);
}

TEST(RetryPolicy, ServerDelayHeaders) {
  HttpHeaders h;
  h.add("Retry-After-Ms", "1500.5");
  h.add("Retry-After", "30");
  auto d = decide(429, h);
  ASSERT_TRUE(d.retry);
  EXPECT_TRUE(d.server_delay);
  EXPECT_DOUBLE_EQ(d.delay_s, 1.5005);  // -ms wins

  HttpHeaders s;
  s.add("retry-after", "2.5");
  EXPECT_DOUBLE_EQ(decide(503, s).delay_s, 2.5);

  HttpHeaders date;
  date.add("Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT");  // now + 30 s
  d = decide(429, date);
  EXPECT_TRUE(d.server_delay);
  EXPECT_NEAR(d.delay_s, 30.0, 1e-6);

  HttpHeaders past;
  past.add("Retry-After", "Sun, 06 Nov 1994 08:00:00 GMT");  // in the past: ignored -> backoff
  d = decide(429, past);
  EXPECT_TRUE(d.retry);
  EXPECT_FALSE(d.server_delay);
  EXPECT_LE(d.delay_s, 0.5);

  HttpHeaders junk;
  junk.add("Retry-After", "soon");
  d = decide(429, junk);
  EXPECT_TRUE(d.retry);
  EXPECT_FALSE(d.server_delay);
}

TEST(RetryPolicy, ServerDelayAboveCeilingOpenAiStopsAnthropicBacksOff) {
  HttpHeaders h;
  h.add("retry-after", "121");
  EXPECT_FALSE(decide(429, h).retry);
  auto d = decide(429, h, "", 0, RetryConfig::anthropic_sdk());
  EXPECT_TRUE(d.retry);
  EXPECT_FALSE(d.server_delay);
  EXPECT_LE(d.delay_s, 0.5);
  HttpHeaders h60;
  h60.add("retry-after", "60");
  d = decide(529, h60, "", 0, RetryConfig::anthropic_sdk());
  EXPECT_TRUE(d.server_delay);
  EXPECT_DOUBLE_EQ(d.delay_s, 60.0);
}

TEST(RetryPolicy, XShouldRetryOverridesStatus) {
  HttpHeaders yes;
  yes.add("x-should-retry", "true");
  EXPECT_TRUE(decide(418, yes).retry);
  HttpHeaders no;
  no.add("X-Should-Retry", "false");
  EXPECT_FALSE(decide(503, no).retry);
  EXPECT_FALSE(decide(429, no).retry);
  // ...but never for the hard no-retry statuses.
  EXPECT_FALSE(decide(401, yes).retry);
  EXPECT_FALSE(decide(400, yes).retry);
}

TEST(RetryPolicy, QuotaAndSpendLimitErrorsAreNeverRetried) {
  const char* openai_quota =
      R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})";
  const char* openai_rate =
      R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 500, Used 500, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}})";
  const char* anthropic_spend =
      R"({"type":"error","error":{"type":"rate_limit_error","message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}})";
  const char* anthropic_rate =
      R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_1"})";
  HttpHeaders yes;
  yes.add("x-should-retry", "true");
  EXPECT_FALSE(decide(429, {}, openai_quota).retry);
  EXPECT_FALSE(decide(429, yes, openai_quota).retry);
  EXPECT_TRUE(decide(429, {}, openai_rate).retry);
  EXPECT_FALSE(decide(429, {}, anthropic_spend).retry);
  EXPECT_TRUE(decide(429, {}, anthropic_rate).retry);
  EXPECT_TRUE(decide(429, {}, "not json at all").retry);
  EXPECT_TRUE(is_quota_error_body(R"({"error":{"code":"billing_hard_limit_reached"}})"));
  EXPECT_FALSE(is_quota_error_body(R"({"error":"plain string"})"));
}

}  // namespace
}  // namespace assay
