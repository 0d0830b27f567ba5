#include "engines/remote/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <queue>
#include <random>

#include "engines/remote/api_error.h"

namespace assay {
namespace {

using Clock = std::chrono::steady_clock;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Clock::time_point after_s(Clock::time_point t, double s) {
  return t + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
}

bool is_secret_header(std::string_view name) {
  return ascii_iequals(name, "authorization") || ascii_iequals(name, "x-api-key") ||
         ascii_iequals(name, "api-key") || ascii_iequals(name, "proxy-authorization");
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

}  // namespace

std::string redact_secrets(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t eol = text.find('\n', i);
    size_t end = eol == std::string_view::npos ? text.size() : eol + 1;
    std::string_view line = text.substr(i, end - i);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && is_secret_header(trim(line.substr(0, colon)))) {
      out.append(line.substr(0, colon + 1));
      out.append(" [REDACTED]");
      if (line.size() >= 2 && line.substr(line.size() - 2) == "\r\n") out.append("\r\n");
      else if (!line.empty() && line.back() == '\n') out.push_back('\n');
    } else {
      // key=... in a query string (e.g. Gemini-style ?key=): redact up to the next & or space.
      std::string l(line);
      for (const char* pat : {"?key=", "&key=", "?api_key=", "&api_key="}) {
        size_t p = 0;
        while ((p = l.find(pat, p)) != std::string::npos) {
          size_t v = p + std::char_traits<char>::length(pat);
          size_t e = l.find_first_of("& \r\n#", v);
          if (e == std::string::npos) e = l.size();
          l.replace(v, e - v, "[REDACTED]");
          p = v;
        }
      }
      out.append(l);
    }
    i = end;
  }
  return out;
}

Result<std::string> resolve_api_key(const ApiKeySource& source) {
  if (!source.file.empty()) {
    std::ifstream in(source.file);
    if (!in) return not_found("API key file " + source.file + " cannot be read");
    std::string line;
    std::getline(in, line);
    std::string key = trim(line);
    if (key.empty()) return not_found("API key file " + source.file + " is empty");
    return key;
  }
  if (source.env_var.empty()) return invalid_argument("no API key source configured");
  const char* v = std::getenv(source.env_var.c_str());
  if (!v || trim(v).empty()) {
    return not_found("API key not set: export " + source.env_var + " (or give a key file)");
  }
  return trim(v);
}

struct HttpClient::Impl {
  CURLM* multi = nullptr;
  std::mt19937_64 rng;

  struct Transfer {
    size_t index = 0;
    int attempt = 0;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    HttpResponse response;
    char errbuf[CURL_ERROR_SIZE] = {0};
    bool overflow = false;
    size_t max_bytes = 0;
    const ChunkFn* on_chunk = nullptr;
    const std::function<void(std::string_view)>* debug_log = nullptr;
  };

  static size_t on_write(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t len = size * n;
    if (t->response.body.size() + len > t->max_bytes) {
      t->overflow = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    t->response.body.append(data, len);
    if (t->on_chunk && *t->on_chunk) (*t->on_chunk)(t->index, t->attempt, std::string_view(data, len));
    return len;
  }

  static size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t len = size * n;
    std::string_view line(data, len);
    if (line.substr(0, 5) == "HTTP/") {
      t->response.headers.fields.clear();  // a new response (after 100 Continue or a redirect)
    } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      t->response.headers.add(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    return len;
  }

  static int on_debug(CURL*, curl_infotype type, char* data, size_t size, void* user) {
    auto* t = static_cast<Transfer*>(user);
    if (!t->debug_log || !*t->debug_log) return 0;
    if (type == CURLINFO_TEXT || type == CURLINFO_HEADER_IN || type == CURLINFO_HEADER_OUT) {
      (*t->debug_log)(redact_secrets(std::string_view(data, size)));
    }
    return 0;
  }
};

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  global_init();
  impl_->multi = curl_multi_init();
  ASSAY_CHECK(impl_->multi != nullptr);
  curl_multi_setopt(impl_->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, static_cast<long>(std::max(4, options_.max_concurrency)));
  impl_->rng.seed(options_.seed);
}

HttpClient::~HttpClient() {
  if (impl_ && impl_->multi) curl_multi_cleanup(impl_->multi);
}

HttpClientStats HttpClient::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

HttpOutcome HttpClient::run_one(const HttpRequest& request, const CheckFn& check) {
  return std::move(run(std::span<const HttpRequest>(&request, 1), {}, check).front());
}

std::vector<HttpOutcome> HttpClient::run(std::span<const HttpRequest> requests, const ChunkFn& on_chunk,
                                         const CheckFn& check) {
  std::lock_guard run_lock(run_mu_);
  using Transfer = Impl::Transfer;
  const size_t n = requests.size();
  std::vector<HttpOutcome> out(n);
  std::vector<bool> finished(n, false);
  std::vector<int> attempts(n, 0);
  size_t n_finished = 0;
  std::deque<size_t> ready;
  for (size_t i = 0; i < n; ++i) ready.push_back(i);
  using Timer = std::pair<Clock::time_point, size_t>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers;
  std::vector<std::unique_ptr<Transfer>> in_flight;
  const Clock::time_point start = Clock::now();
  const RetryConfig& rc = options_.retry;

  auto finish = [&](size_t i, Status st, HttpResponse resp, std::string reason) {
    ASSAY_CHECK_MSG(!finished[i], "request finished twice");
    finished[i] = true;
    ++n_finished;
    out[i].status = std::move(st);
    out[i].response = std::move(resp);
    out[i].attempts = attempts[i];
    out[i].reason = std::move(reason);
    std::lock_guard lock(stats_mu_);
    ++stats_.requests;
    if (out[i].status.ok()) ++stats_.succeeded; else ++stats_.failed;
  };
  auto schedule_retry = [&](size_t i, double delay_s) {
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.retries;
    }
    timers.emplace(after_s(Clock::now(), delay_s), i);
  };

  auto start_transfer = [&](size_t i) {
    auto t = std::make_unique<Transfer>();
    t->index = i;
    t->attempt = attempts[i]++;
    t->max_bytes = options_.max_response_bytes;
    t->on_chunk = &on_chunk;
    t->debug_log = &options_.debug_log;
    const HttpRequest& req = requests[i];
    CURL* e = curl_easy_init();
    ASSAY_CHECK(e != nullptr);
    t->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (options_.debug_log) {
      curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
      curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, &Impl::on_debug);
      curl_easy_setopt(e, CURLOPT_DEBUGDATA, t.get());
    }
    if (req.method == "GET") {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      if (req.method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    bool has_ct = false;
    for (const auto& [k, v] : req.headers.fields) {
      has_ct = has_ct || ascii_iequals(k, "content-type");
      t->headers = curl_slist_append(t->headers, (k + ": " + v).c_str());
    }
    if (!has_ct && req.method != "GET") t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
    t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip
    t->headers = curl_slist_append(t->headers, ("x-stainless-retry-count: " + std::to_string(t->attempt)).c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.attempts;
    }
    curl_multi_add_handle(impl_->multi, e);
    in_flight.push_back(std::move(t));
  };

  auto release = [&](Transfer* t) {
    curl_multi_remove_handle(impl_->multi, t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
  };

  // One attempt ended: decide between success, retry and final failure.
  auto on_done = [&](Transfer* t, CURLcode code) {
    const size_t i = t->index;
    const int retries_so_far = attempts[i] - 1;
    HttpResponse& resp = t->response;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    long version = 0;
    curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &version);
    resp.http_version = version;
    if (t->overflow) {
      finish(i, resource_exhausted(options_.who + ": response larger than " +
                                   std::to_string(options_.max_response_bytes) + " bytes"),
             HttpResponse{}, "response too large");
      return;
    }
    if (code != CURLE_OK) {
      const bool timed_out = code == CURLE_OPERATION_TIMEDOUT;
      {
        std::lock_guard lock(stats_mu_);
        ++stats_.transport_errors;
        if (timed_out) ++stats_.timeouts;
      }
      std::string what = t->errbuf[0] ? std::string(t->errbuf) : std::string(curl_easy_strerror(code));
      AttemptInfo a;
      a.timed_out = timed_out;
      RetryDecision d = decide_retry(a, retries_so_far, rc, impl_->rng, std::chrono::system_clock::now());
      if (d.retry) {
        schedule_retry(i, d.delay_s);
        return;
      }
      std::string msg = options_.who + ": " + what + " (" + std::to_string(attempts[i]) + " attempts)";
      finish(i, timed_out ? deadline_exceeded(msg) : unavailable(msg), HttpResponse{}, d.reason + ": " + what);
      return;
    }
    resp.status = static_cast<int>(status);
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.by_status[resp.status];
    }
    if (options_.rate_limiter) options_.rate_limiter->update_from_headers(resp.headers, std::chrono::system_clock::now());
    if (resp.status == 429 && options_.aimd) options_.aimd->on_rate_limited();
    if (resp.status >= 200 && resp.status < 300) {
      Status st = check ? check(i, resp) : Status::OK();
      if (st.ok()) {
        if (options_.aimd) options_.aimd->on_success();
        finish(i, Status::OK(), std::move(resp), "success");
        return;
      }
      {
        std::lock_guard lock(stats_mu_);
        ++stats_.check_failures;
      }
      const bool retryable = is_retryable_status(st) || st.code() == StatusCode::kCorrupt;
      if (retryable && retries_so_far < rc.max_retries) {
        std::uniform_real_distribution<double> u(0.0, 1.0);
        schedule_retry(i, backoff_delay_s(retries_so_far, rc, u(impl_->rng)));
        return;
      }
      std::string reason = st.message();
      Status final_st = st.with_prefix(options_.who + " (" + std::to_string(attempts[i]) + " attempts)");
      finish(i, std::move(final_st), std::move(resp), std::move(reason));
      return;
    }
    AttemptInfo a;
    a.http_status = resp.status;
    a.headers = &resp.headers;
    a.body = resp.body;
    RetryDecision d = decide_retry(a, retries_so_far, rc, impl_->rng, std::chrono::system_clock::now());
    if (d.retry) {
      schedule_retry(i, d.delay_s);
      return;
    }
    Status st = api_error_status(options_.who, resp.status, resp.body);
    st = Status(st.code(), st.message() + " (" + std::to_string(attempts[i]) + " attempts; " + d.reason + ")");
    finish(i, std::move(st), std::move(resp), d.reason);
  };

  while (n_finished < n) {
    Clock::time_point now = Clock::now();
    if (options_.batch_deadline_s > 0 && now >= after_s(start, options_.batch_deadline_s)) {
      for (auto& t : in_flight) {
        release(t.get());
        finish(t->index, deadline_exceeded(options_.who + ": batch deadline passed"), HttpResponse{}, "batch deadline");
      }
      in_flight.clear();
      for (size_t i = 0; i < n; ++i) {
        if (!finished[i]) finish(i, deadline_exceeded(options_.who + ": batch deadline passed"), HttpResponse{}, "batch deadline");
      }
      break;
    }
    while (!timers.empty() && timers.top().first <= now) {
      ready.push_back(timers.top().second);
      timers.pop();
    }
    // Start what the concurrency cap, the circuit breaker and the rate limiter allow.
    Clock::time_point wake = after_s(now, 1.0);
    if (!timers.empty()) wake = std::min(wake, timers.top().first);
    int cap = options_.max_concurrency;
    if (options_.aimd) cap = std::min(cap, options_.aimd->allowed());
    double pause = options_.aimd ? options_.aimd->pause_remaining_s() : 0.0;
    if (pause > 0) {
      wake = std::min(wake, after_s(now, pause));
    } else {
      while (!ready.empty() && static_cast<int>(in_flight.size()) < cap) {
        const size_t i = ready.front();
        if (options_.rate_limiter && !options_.rate_limiter->try_acquire(requests[i].estimated_tokens)) {
          wake = std::min(wake, after_s(now, options_.rate_limiter->wait_s(requests[i].estimated_tokens)));
          break;
        }
        ready.pop_front();
        start_transfer(i);
      }
    }
    int running = 0;
    curl_multi_perform(impl_->multi, &running);
    int msgs = 0;
    bool progressed = false;
    while (CURLMsg* m = curl_multi_info_read(impl_->multi, &msgs)) {
      if (m->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      const CURLcode code = m->data.result;
      auto it = std::find_if(in_flight.begin(), in_flight.end(), [&](const auto& p) { return p.get() == t; });
      ASSAY_CHECK(it != in_flight.end());
      on_done(t, code);
      release(t);
      in_flight.erase(it);
      progressed = true;
    }
    if (n_finished == n) break;
    // A slot freed or a retry became due: loop at once; otherwise wait for sockets or a deadline.
    if (progressed) continue;
    now = Clock::now();
    long timeout_ms = 0;
    if (wake > now) {
      timeout_ms = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count()) + 1;
    }
    long curl_timeout = -1;
    curl_multi_timeout(impl_->multi, &curl_timeout);
    if (curl_timeout >= 0) timeout_ms = std::min(timeout_ms, curl_timeout);
    if (timeout_ms > 0) curl_multi_poll(impl_->multi, nullptr, 0, static_cast<int>(timeout_ms), nullptr);
  }
  return out;
}

}  // namespace assay
