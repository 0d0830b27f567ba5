#include "tests/support/fault_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>

#include "harness/status.h"
#include "tests/support/loopback.h"

namespace assay::testing {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int64_t code_points(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string json_error(const char* type, const char* message, const char* code) {
  json::object err{{"message", message}, {"type", type}, {"param", nullptr}};
  if (code) err["code"] = code; else err["code"] = nullptr;
  return json::serialize(json::object{{"error", err}});
}

std::string http_head(int status, const char* reason, const std::vector<std::pair<std::string, std::string>>& headers,
                      size_t content_length) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
  h += "Content-Length: " + std::to_string(content_length) + "\r\n\r\n";
  return h;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::kNone: return "none";
    case Fault::k429RetryAfter: return "429+retry-after";
    case Fault::k429Plain: return "429";
    case Fault::k500: return "500";
    case Fault::k503: return "503";
    case Fault::k529: return "529";
    case Fault::kSlow: return "slow";
    case Fault::kReset: return "reset";
    case Fault::kTruncated: return "truncated";
    case Fault::kMalformedJson: return "malformed-json";
    case Fault::kStreamNoDone: return "stream-no-done";
  }
  return "?";
}

std::string FaultServer::fake_answer(std::string_view prompt) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "answer-%016llx", static_cast<unsigned long long>(fnv1a(prompt)));
  return buf;
}

std::vector<std::string> FaultServer::fake_tokens(std::string_view text) {
  // A token is a run of spaces followed by a run of non-spaces.
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && text[j] == ' ') ++j;
    while (j < text.size() && text[j] != ' ') ++j;
    out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

double FaultServer::fake_logprob(std::string_view token) {
  return -static_cast<double>(1 + fnv1a(token) % 400) / 100.0;
}

bool FaultServer::fake_is_greedy(std::string_view token) { return fnv1a(token) % 3 != 0; }

FaultServer::FaultServer(FaultServerOptions options) : options_(std::move(options)) {
  listen_fd_ = listen_loopback(256, &port_);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

FaultServer::~FaultServer() {
  stop_ = true;
  accept_thread_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // unblocks their reads
    threads.swap(conn_threads_);
  }
  for (auto& t : threads) t.join();
}

std::string FaultServer::base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

FaultServer::Stats FaultServer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Fault FaultServer::choose_fault(std::string_view body, std::string_view retry_count) const {
  if (options_.fault_rate <= 0 || options_.faults.empty()) return Fault::kNone;
  const uint64_t h = mix(fnv1a(retry_count, fnv1a(body, mix(options_.seed))));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  if (u >= options_.fault_rate) return Fault::kNone;
  return options_.faults[mix(h) % options_.faults.size()];
}

void FaultServer::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    if (stop_) {
      ::close(fd);
      break;
    }
    open_fds_.insert(fd);
    ++stats_.connections;
    conn_threads_.emplace_back([this, fd] { serve_connection(fd); });
  }
}

void FaultServer::serve_connection(int fd) {
  net::io_context ioc;
  tcp::socket sock(ioc);
  beast::error_code ec;
  sock.assign(tcp::v4(), fd, ec);
  beast::flat_buffer buffer;
  bool keep_open = !ec;
  auto sleep_ms = [&](int ms) {
    for (int t = 0; t < ms && !stop_; t += 5) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  while (keep_open && !stop_) {
    http::request<http::string_body> req;
    http::read(sock, buffer, req, ec);
    if (ec) break;
    const std::string target(req.target());
    const std::string body = req.body();
    const std::string retry_count(req["x-stainless-retry-count"]);
    keep_open = req.keep_alive();

    json::object in;
    bool parsed = false;
    try {
      json::value v = json::parse(body);
      if (v.is_object()) {
        in = v.as_object();
        parsed = true;
      }
    } catch (const std::exception&) {
    }
    const bool is_chat = target.size() >= 17 && target.ends_with("/chat/completions");
    const bool is_completion = !is_chat && target.ends_with("/completions");
    const bool is_messages = target.ends_with("/messages");  // Anthropic Messages
    const bool stream = parsed && in.contains("stream") && in["stream"].is_bool() && in["stream"].as_bool();
    Fault fault = choose_fault(body, retry_count);
    if (fault == Fault::kStreamNoDone && !stream) fault = Fault::kNone;  // only meaningful on streams
    {
      std::lock_guard lock(mu_);
      ++stats_.requests;
      ++stats_.faults[fault];
    }

    auto send_simple = [&](int status, const char* reason, std::string payload,
                           std::vector<std::pair<std::string, std::string>> headers) {
      headers.emplace_back("Content-Type", "application/json");
      if (!keep_open) headers.emplace_back("Connection", "close");
      return write_all(fd, http_head(status, reason, headers, payload.size()) + payload);
    };

    if (fault == Fault::kReset) {
      linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      break;
    }
    if (fault == Fault::k429RetryAfter) {
      keep_open = keep_open && send_simple(429, "Too Many Requests",
          json_error("requests", "Rate limit reached for requests", "rate_limit_exceeded"),
          {{"retry-after-ms", std::to_string(options_.retry_after_ms)}, {"x-ratelimit-remaining-requests", "0"}});
      continue;
    }
    if (fault == Fault::k429Plain) {
      keep_open = keep_open && send_simple(429, "Too Many Requests",
          json_error("tokens", "Rate limit reached for tokens", "rate_limit_exceeded"), {});
      continue;
    }
    if (fault == Fault::k500) {
      keep_open = keep_open && send_simple(500, "Internal Server Error",
          json_error("server_error", "The server had an error while processing your request.", nullptr), {});
      continue;
    }
    if (fault == Fault::k503) {
      keep_open = keep_open && send_simple(503, "Service Unavailable",
          json_error("server_error", "The engine is currently overloaded, please try again later", "slow_down"), {});
      continue;
    }
    if (fault == Fault::k529) {
      keep_open = keep_open && send_simple(529, "Overloaded",
          R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", {});
      continue;
    }
    if (fault == Fault::kMalformedJson) {
      keep_open = keep_open && send_simple(200, "OK", R"({"id":"x","choices":[{"index":0,"text":)", {});
      continue;
    }
    if (fault == Fault::kSlow) sleep_ms(options_.slow_ms);
    if (stop_) break;

    if (req.method() == http::verb::get && target.ends_with("/models")) {
      keep_open = keep_open && send_simple(200, "OK",
          json::serialize(json::object{{"object", "list"}, {"data", json::array{json::object{
              {"id", options_.model_id}, {"object", "model"}, {"owned_by", "assay-test"}}}}}), {});
      continue;
    }
    if (!parsed || (!is_chat && !is_completion && !is_messages)) {
      if (!parsed) {
        keep_open = keep_open && send_simple(400, "Bad Request",
            json_error("invalid_request_error", "We could not parse the JSON body of your request.", nullptr), {});
      } else {
        keep_open = keep_open && send_simple(404, "Not Found",
            json_error("invalid_request_error", "Unknown endpoint", "unknown_url"), {});
      }
      continue;
    }

    // The normal answer.
    std::string prompt;
    if (is_chat || is_messages) {
      if (in.contains("messages") && in["messages"].is_array() && !in["messages"].as_array().empty()) {
        const auto& last = in["messages"].as_array().back();
        if (last.is_object() && last.as_object().contains("content") && last.as_object().at("content").is_string()) {
          prompt = std::string(last.as_object().at("content").as_string());
        }
      }
    } else if (in.contains("prompt") && in["prompt"].is_string()) {
      prompt = std::string(in["prompt"].as_string());
    }
    const std::string answer = fake_answer(prompt);
    const int64_t prompt_tokens = static_cast<int64_t>(fake_tokens(prompt).size());
    json::object usage{{"prompt_tokens", prompt_tokens}, {"completion_tokens", 1}, {"total_tokens", prompt_tokens + 1}};
    std::string payload;
    std::string content_type = "application/json";
    if (is_messages && stream) {
      content_type = "text/event-stream";
      auto ev = [](const char* name, json::object data) {
        return std::string("event: ") + name + "\ndata: " + json::serialize(data) + "\n\n";
      };
      const size_t half = answer.size() / 2;
      payload += ev("message_start", {{"type", "message_start"},
                                      {"message", json::object{{"id", "msg_fake"}, {"type", "message"}, {"role", "assistant"},
                                                               {"content", json::array{}}, {"model", "fake"},
                                                               {"usage", json::object{{"input_tokens", prompt_tokens}, {"output_tokens", 1}}}}}});
      payload += ev("content_block_start", {{"type", "content_block_start"}, {"index", 0},
                                            {"content_block", json::object{{"type", "text"}, {"text", ""}}}});
      payload += ev("ping", {{"type", "ping"}});
      payload += ev("content_block_delta", {{"type", "content_block_delta"}, {"index", 0},
                                            {"delta", json::object{{"type", "text_delta"}, {"text", answer.substr(0, half)}}}});
      payload += ev("content_block_delta", {{"type", "content_block_delta"}, {"index", 0},
                                            {"delta", json::object{{"type", "text_delta"}, {"text", answer.substr(half)}}}});
      payload += ev("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}});
      payload += ev("message_delta", {{"type", "message_delta"}, {"delta", json::object{{"stop_reason", "end_turn"}}},
                                      {"usage", json::object{{"output_tokens", 1}}}});
      if (fault != Fault::kStreamNoDone) payload += ev("message_stop", {{"type", "message_stop"}});
    } else if (is_messages) {
      payload = json::serialize(json::object{
          {"id", "msg_fake"}, {"type", "message"}, {"role", "assistant"}, {"model", "fake"},
          {"content", json::array{json::object{{"type", "text"}, {"text", answer}}}},
          {"stop_reason", "end_turn"}, {"stop_sequence", nullptr},
          {"usage", json::object{{"input_tokens", prompt_tokens}, {"output_tokens", 1}}}});
    } else if (stream) {
      content_type = "text/event-stream";
      auto chunk = [&](json::object delta_or_text, json::value finish) {
        json::object ch{{"index", 0}, {"finish_reason", finish}};
        if (is_chat) ch["delta"] = std::move(delta_or_text);
        else ch["text"] = delta_or_text["content"];
        return "data: " + json::serialize(json::object{{"id", "s1"}, {"choices", json::array{ch}}, {"usage", nullptr}}) + "\n\n";
      };
      const size_t half = answer.size() / 2;
      payload += ": keep-alive\n\n";
      payload += chunk(json::object{{"role", "assistant"}, {"content", ""}}, nullptr);
      payload += chunk(json::object{{"content", answer.substr(0, half)}}, nullptr);
      payload += ": ping\n\n";
      payload += chunk(json::object{{"content", answer.substr(half)}}, nullptr);
      payload += chunk(json::object{{"content", ""}}, "stop");
      payload += "data: " + json::serialize(json::object{{"id", "s1"}, {"choices", json::array{}}, {"usage", usage}}) + "\n\n";
      if (fault != Fault::kStreamNoDone) payload += "data: [DONE]\n\n";
    } else if (is_chat) {
      json::object msg{{"role", "assistant"}, {"content", answer}};
      json::object choice{{"index", 0}, {"message", msg}, {"logprobs", nullptr}, {"finish_reason", "stop"}};
      payload = json::serialize(json::object{{"id", "chatcmpl-fake"}, {"object", "chat.completion"},
                                             {"model", in.contains("model") ? in["model"] : json::value("fake")},
                                             {"choices", json::array{choice}}, {"usage", usage}});
    } else {
      const bool echo = in.contains("echo") && in["echo"].is_bool() && in["echo"].as_bool();
      const bool want_lp = in.contains("logprobs") && in["logprobs"].is_int64() && in["logprobs"].as_int64() > 0;
      if (echo && !options_.echo_supported) {
        keep_open = keep_open && send_simple(400, "Bad Request",
            json_error("invalid_request_error", "Only no echo is supported", nullptr), {});
        continue;
      }
      json::object choice{{"index", 0}, {"finish_reason", "length"}};
      if (echo && want_lp) {
        std::vector<std::string> toks = fake_tokens(prompt);
        const bool generate = !(in.contains("max_tokens") && in["max_tokens"].is_int64() && in["max_tokens"].as_int64() == 0);
        if (generate) toks.emplace_back(" x");
        json::array tokens, lps, tops, offsets;
        int64_t off = 0;
        for (size_t k = 0; k < toks.size(); ++k) {
          const bool generated = generate && k + 1 == toks.size();
          const double lp = generated ? -0.1 : fake_logprob(toks[k]);
          tokens.emplace_back(toks[k]);
          offsets.emplace_back(off);
          off += code_points(toks[k]);
          if (k == 0) {
            lps.emplace_back(nullptr);
            tops.emplace_back(nullptr);
            continue;
          }
          lps.emplace_back(lp);
          json::object top{{toks[k], lp}};
          if (!generated && !fake_is_greedy(toks[k])) top["~alt"] = lp + 0.5;
          tops.emplace_back(std::move(top));
        }
        choice["text"] = prompt + (generate ? " x" : "");
        choice["logprobs"] = json::object{{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
      } else {
        choice["text"] = (echo ? prompt : std::string()) + answer;
        choice["logprobs"] = nullptr;
      }
      payload = json::serialize(json::object{{"id", "cmpl-fake"}, {"object", "text_completion"},
                                             {"choices", json::array{choice}}, {"usage", usage}});
    }

    if (fault == Fault::kTruncated) {
      const std::string head = http_head(200, "OK", {{"Content-Type", content_type}}, payload.size() + 100);
      write_all(fd, head + payload.substr(0, payload.size() / 2));
      break;
    }
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", content_type}};
    if (options_.ratelimit_limit_requests > 0) {
      headers.emplace_back("x-ratelimit-limit-requests", std::to_string(options_.ratelimit_limit_requests));
    }
    if (!keep_open) headers.emplace_back("Connection", "close");
    const std::string head = http_head(200, "OK", headers, payload.size());
    if (!stream) {
      keep_open = keep_open && write_all(fd, head + payload);
      continue;
    }
    // Streams go out in small pieces so SSE frames split across reads.
    bool ok = write_all(fd, head);
    for (size_t p = 0; ok && p < payload.size();) {
      const size_t n = std::min<size_t>(payload.size() - p, 7 + (mix(p) % 40));
      ok = write_all(fd, std::string_view(payload).substr(p, n));
      p += n;
      if (p < payload.size() && (mix(p) & 7) == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    keep_open = keep_open && ok;
  }
  {
    std::lock_guard lock(mu_);
    open_fds_.erase(fd);
  }
  sock.close(ec);  // closes fd (with SO_LINGER 0 this sends a reset)
}

}  // namespace assay::testing
