// FaultServer: a fault-injecting OpenAI-style HTTP/1.1 server on 127.0.0.1 for testing the remote
// client (engines/remote/). Boost.Beast, one thread per connection, ephemeral port.
//
// Serves GET /v1/models (one model), POST /v1/chat/completions, /v1/completions and Anthropic's /v1/messages (also under any
// prefix ending in those paths) with deterministic fake answers derived from the request:
//   - chat and messages: content = fake_answer(last message content);
//   - completions: text = fake_answer(prompt); with echo + logprobs: the prompt split by
//     fake_tokens() with fake_logprob() per token (first one null), then one generated token
//     " x"; top_logprobs hold the token itself plus, for tokens where fake_is_greedy() is false,
//     a better-scoring "~alt"; text_offset in code points;
//   - "stream": true answers Server-Sent Events (": keep-alive" comments, content split across
//     chunks, usage chunk, [DONE]) written in small pieces so frames split across TCP reads.
// With probability fault_rate (decided by a hash of seed, body and the x-stainless-retry-count
// header, so runs are reproducible and each retry draws afresh) it answers with one of the
// configured faults instead.
//
// Thread safety: stats() and the static helpers may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace assay::testing {

enum class Fault {
  kNone,
  k429RetryAfter,  // 429 + retry-after-ms
  k429Plain,       // 429, no delay header
  k500,
  k503,
  k529,            // Anthropic-style overloaded
  kSlow,           // answers after slow_ms (past the client's timeout)
  kReset,          // TCP reset before any response
  kTruncated,      // Content-Length larger than the body sent, then close
  kMalformedJson,  // 200 with a body that is not JSON
  kStreamNoDone,   // stream requests: a clean HTTP response whose SSE stream lacks [DONE]
};
const char* fault_name(Fault f);

struct FaultServerOptions {
  double fault_rate = 0;
  uint64_t seed = 1;
  std::vector<Fault> faults = {Fault::k429RetryAfter, Fault::k429Plain, Fault::k500, Fault::k503,
                               Fault::k529, Fault::kSlow, Fault::kReset, Fault::kTruncated,
                               Fault::kMalformedJson, Fault::kStreamNoDone};
  int slow_ms = 1000;
  int retry_after_ms = 5;
  std::string model_id = "fake-model";  // what GET /v1/models lists
  bool echo_supported = true;  // false: /completions with echo answers 400 like llama-server
  int64_t ratelimit_limit_requests = 0;  // > 0: sent as x-ratelimit-limit-requests on successes
};

class FaultServer {
 public:
  explicit FaultServer(FaultServerOptions options = {});
  ~FaultServer();
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:PORT/v1"

  struct Stats {
    int64_t requests = 0;
    int64_t connections = 0;
    std::map<Fault, int64_t> faults;  // kNone counts normal answers
  };
  Stats stats() const;

  static std::string fake_answer(std::string_view prompt);
  static std::vector<std::string> fake_tokens(std::string_view text);
  static double fake_logprob(std::string_view token);
  static bool fake_is_greedy(std::string_view token);

 private:
  void accept_loop();
  void serve_connection(int fd);
  Fault choose_fault(std::string_view body, std::string_view retry_count) const;

  FaultServerOptions options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::vector<std::thread> conn_threads_;
  std::set<int> open_fds_;
  Stats stats_;
};

}  // namespace assay::testing
