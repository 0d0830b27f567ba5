#include "engines/remote/rate_limiter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>

namespace assay {

SteadyClockFn real_steady_clock() {
  return [] { return std::chrono::steady_clock::now(); };
}

namespace {

double seconds_between(SteadyTime a, SteadyTime b) {
  return std::chrono::duration<double>(b - a).count();
}

SteadyTime plus_s(SteadyTime t, double s) {
  return t + std::chrono::duration_cast<SteadyTime::duration>(std::chrono::duration<double>(s));
}

std::optional<double> header_number(const HttpHeaders& h, const std::string& name) {
  auto v = h.get(name);
  if (!v) return std::nullopt;
  double d = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), d);
  if (ec != std::errc() || ptr != v->data() + v->size() || !std::isfinite(d) || d < 0) {
    return std::nullopt;
  }
  return d;
}

// Reset as seconds from now: Go duration (OpenAI) or RFC 3339 instant (Anthropic).
std::optional<double> header_reset_s(const HttpHeaders& h, const std::string& name,
                                     SystemTime wall_now) {
  auto v = h.get(name);
  if (!v) return std::nullopt;
  if (auto d = parse_go_duration(*v)) return *d;
  if (auto t = parse_rfc3339(*v)) return std::max(0.0, std::chrono::duration<double>(*t - wall_now).count());
  return std::nullopt;
}

}  // namespace

TokenBucket::TokenBucket(double capacity, double refill_per_s, SteadyTime now)
    : capacity_(capacity), refill_per_s_(refill_per_s), level_(capacity), last_(now) {}

void TokenBucket::refill(SteadyTime now) {
  if (now > last_) {
    level_ = std::min(capacity_, level_ + seconds_between(last_, now) * refill_per_s_);
    last_ = now;
  }
}

double TokenBucket::level(SteadyTime now) {
  refill(now);
  return level_;
}

double TokenBucket::wait_s(double n, SteadyTime now) {
  if (unlimited()) return 0;
  refill(now);
  double wait = 0;
  if (now < blocked_until_) wait = seconds_between(now, blocked_until_);
  const double need = std::min(n, capacity_);
  if (level_ < need) {
    if (refill_per_s_ <= 0) return 1e9;
    wait = std::max(wait, (need - level_) / refill_per_s_);
  }
  return wait;
}

void TokenBucket::take(double n, SteadyTime now) {
  if (unlimited()) return;
  refill(now);
  level_ -= n;
}

void TokenBucket::set_rate(double capacity, double refill_per_s, SteadyTime now) {
  refill(now);
  if (capacity_ <= 0) level_ = capacity;  // first seeding: start full
  capacity_ = capacity;
  refill_per_s_ = refill_per_s;
  level_ = std::min(level_, capacity_);
  last_ = now;
}

void TokenBucket::lower_level_to(double level, SteadyTime now) {
  if (unlimited()) return;
  refill(now);
  level_ = std::min(level_, level);
}

RateLimiter::RateLimiter(RateLimits limits, SteadyClockFn clock) : clock_(std::move(clock)), limits_(limits) {
  const SteadyTime now = clock_();
  if (limits.requests_per_min > 0) requests_ = TokenBucket(limits.requests_per_min, limits.requests_per_min / 60.0, now);
  if (limits.tokens_per_min > 0) tokens_ = TokenBucket(limits.tokens_per_min, limits.tokens_per_min / 60.0, now);
}

double RateLimiter::wait_s(int64_t tokens) {
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_();
  return std::max(requests_.wait_s(1, now), tokens_.wait_s(static_cast<double>(tokens), now));
}

bool RateLimiter::try_acquire(int64_t tokens) {
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_();
  if (requests_.wait_s(1, now) > 0 || tokens_.wait_s(static_cast<double>(tokens), now) > 0) return false;
  requests_.take(1, now);
  tokens_.take(static_cast<double>(tokens), now);
  return true;
}

void RateLimiter::settle(int64_t estimated_tokens, int64_t actual_tokens) {
  std::lock_guard lock(mu_);
  tokens_.take(static_cast<double>(actual_tokens - estimated_tokens), clock_());
}

void RateLimiter::update_from_headers(const HttpHeaders& h, SystemTime wall_now) {
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_();
  auto apply = [&](TokenBucket& bucket, double& limit_field, const std::string& limit_name,
                   const std::string& remaining_name, const std::string& reset_name) {
    if (auto limit = header_number(h, limit_name); limit && *limit > 0) {
      bucket.set_rate(*limit, *limit / 60.0, now);
      limit_field = *limit;
    }
    if (auto remaining = header_number(h, remaining_name)) {
      bucket.lower_level_to(*remaining, now);
      if (*remaining < 1) {
        if (auto reset = header_reset_s(h, reset_name, wall_now)) bucket.block_until(plus_s(now, *reset));
      }
    }
  };
  apply(requests_, limits_.requests_per_min, "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests");
  apply(tokens_, limits_.tokens_per_min, "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens");
  apply(requests_, limits_.requests_per_min, "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset");
  const std::string tok = h.get("anthropic-ratelimit-tokens-limit") ? "tokens" : "input-tokens";
  apply(tokens_, limits_.tokens_per_min, "anthropic-ratelimit-" + tok + "-limit",
        "anthropic-ratelimit-" + tok + "-remaining", "anthropic-ratelimit-" + tok + "-reset");
}

RateLimits RateLimiter::limits() const {
  std::lock_guard lock(mu_);
  return limits_;
}

AimdController::AimdController(AimdConfig config, SteadyClockFn clock)
    : config_(config), clock_(std::move(clock)), limit_(std::clamp(config.initial, config.min, config.max)) {}

int AimdController::allowed() const {
  std::lock_guard lock(mu_);
  return std::max(1, static_cast<int>(std::floor(limit_)));
}

double AimdController::limit() const {
  std::lock_guard lock(mu_);
  return limit_;
}

int AimdController::decreases() const {
  std::lock_guard lock(mu_);
  return decreases_;
}

void AimdController::on_success() {
  std::lock_guard lock(mu_);
  consecutive_429_ = 0;
  limit_ = std::min(config_.max, limit_ + config_.increase_per_window / std::max(1.0, limit_));
}

void AimdController::on_rate_limited() {
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_();
  ++consecutive_429_;
  if (config_.breaker_threshold > 0 && consecutive_429_ >= config_.breaker_threshold) {
    paused_until_ = plus_s(now, config_.breaker_pause_s);
    consecutive_429_ = 0;
  }
  // Requests already in flight when we cut will also see 429s; they are one congestion event.
  if (decreased_once_ && seconds_between(last_decrease_, now) < config_.decrease_cooldown_s) return;
  limit_ = std::max(config_.min, limit_ * config_.decrease_factor);
  last_decrease_ = now;
  decreased_once_ = true;
  ++decreases_;
}

double AimdController::pause_remaining_s() const {
  std::lock_guard lock(mu_);
  const SteadyTime now = clock_();
  return now < paused_until_ ? seconds_between(now, paused_until_) : 0.0;
}

}  // namespace assay
