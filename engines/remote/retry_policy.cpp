#include "engines/remote/retry_policy.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace assay {
namespace {

std::optional<double> parse_double(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool is_quota_code(std::string_view s) {
  return s == "insufficient_quota" || s == "billing_hard_limit_reached" ||
         s == "billing_not_active" || s == "enforced_spend_limit_reached";
}

std::string_view get_str(simdjson::dom::element el, const char* key) {
  std::string_view v;
  if (el[key].get_string().get(v)) return {};
  return v;
}

}  // namespace

double backoff_delay_s(int retries_so_far, const RetryConfig& config, double u) {
  double d = config.initial_delay_s * std::pow(2.0, std::min(retries_so_far, 60));
  d = std::min(d, config.max_delay_s);
  return d * (1.0 - config.jitter * u);
}

std::optional<double> server_retry_delay_s(const HttpHeaders& headers, SystemTime now) {
  if (auto ms = headers.get("retry-after-ms")) {
    if (auto v = parse_double(*ms)) return *v / 1000.0;
  }
  if (auto ra = headers.get("retry-after")) {
    if (auto v = parse_double(*ra)) return *v;
    if (auto t = parse_http_date(*ra)) return std::chrono::duration<double>(*t - now).count();
  }
  return std::nullopt;
}

bool is_quota_error_body(std::string_view body) {
  if (body.empty()) return false;
  if (body.find("exceeded your current quota") != std::string_view::npos) return true;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root)) return false;
  simdjson::dom::element err;
  if (root["error"].get(err) || !err.is_object()) return false;
  // OpenAI: error.type / error.code; Anthropic: error.type, error.details.error_code.
  if (is_quota_code(get_str(err, "type")) || is_quota_code(get_str(err, "code"))) return true;
  simdjson::dom::element details;
  if (!err["details"].get(details) && details.is_object() &&
      is_quota_code(get_str(details, "error_code"))) {
    return true;
  }
  return false;
}

RetryDecision decide_retry(const AttemptInfo& a, int retries_so_far, const RetryConfig& config,
                           std::mt19937_64& rng, SystemTime now) {
  RetryDecision d;
  const int s = a.http_status;
  auto no = [&](std::string why) {
    d.retry = false;
    d.reason = std::move(why);
    return d;
  };
  if (s >= 200 && s < 300) return no("success");
  if (s == 400 || s == 401 || s == 403 || s == 404 || s == 413 || s == 422) {
    return no("HTTP " + std::to_string(s) + " is not retryable");
  }
  if (s != 0 && is_quota_error_body(a.body)) {
    return no("HTTP " + std::to_string(s) + ": quota or spend limit exhausted (not retryable)");
  }
  std::optional<double> server_delay;
  if (a.headers) server_delay = server_retry_delay_s(*a.headers, now);
  const bool server_delay_usable =
      server_delay && *server_delay > 0 && *server_delay <= config.max_server_delay_s;
  if (server_delay && *server_delay > config.max_server_delay_s &&
      config.stop_when_server_delay_above_max) {
    return no("server asked to wait " + std::to_string(static_cast<int64_t>(*server_delay)) +
              " s, above the " + std::to_string(static_cast<int64_t>(config.max_server_delay_s)) +
              " s ceiling");
  }
  std::string why;
  bool want = false;
  std::optional<std::string_view> should = a.headers ? a.headers->get("x-should-retry") : std::nullopt;
  if (should && *should == "true") {
    want = true;
    why = "x-should-retry: true";
  } else if (should && *should == "false") {
    return no("x-should-retry: false");
  } else if (s == 0) {
    want = true;
    why = a.timed_out ? "timeout" : "connection error";
  } else if (s == 408 || s == 409 || s == 429 || s >= 500) {
    want = true;
    why = "HTTP " + std::to_string(s);
  } else {
    return no("HTTP " + std::to_string(s) + " is not retryable");
  }
  if (!want) return d;
  if (retries_so_far >= config.max_retries) {
    return no(why + "; gave up after " + std::to_string(retries_so_far) + " retries");
  }
  d.retry = true;
  d.reason = why;
  if (server_delay_usable) {
    d.delay_s = *server_delay;
    d.server_delay = true;
  } else {
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    d.delay_s = backoff_delay_s(retries_so_far, config, unif(rng));
  }
  return d;
}

}  // namespace assay
