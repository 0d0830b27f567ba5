// Requests/s and CPU seconds of assay's remote adapter (engines/remote/) with many requests in
// flight against a trivial local OpenAI-compatible server. The peer (the Python `openai` async
// client) is benchmarks/remote_adapter_bench_openai.py; benchmarks/remote_adapter_bench.sh runs
// both against the same server and writes the comparison.
//
//   remote_adapter_bench server                 trivial server on a free loopback port; prints
//                                               "listening on http://127.0.0.1:PORT/v1"; SIGTERM
//                                               stops
//   remote_adapter_bench client URL N INFLIGHT  N chat requests, INFLIGHT at a time; one JSON line
//
// The server runs in its own process so the client's CPU time (getrusage) is the client's alone.
#include <pthread.h>
#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "engines/remote/remote_model.h"
#include "engines/serve/http_server.h"

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int server() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  // A fixed answer: the benchmark measures the client, not a model.
  const std::string chat =
      R"({"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"trivial","choices":[{"index":0,"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}})";
  const std::string models =
      R"({"object":"list","data":[{"id":"trivial","object":"model","owned_by":"bench"}]})";
  assay::serve::HttpServerOptions opt;
  opt.max_connections = 4096;
  auto s = assay::serve::HttpServer::start(
      opt, [&](std::string_view method, std::string_view target, std::string_view) {
        assay::serve::ServeReply r;
        r.body = target.rfind("/v1/models", 0) == 0 ? models : chat;
        return r;
      });
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().message().c_str());
    return 1;
  }
  std::printf("listening on http://127.0.0.1:%d/v1\n", (*s)->port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&sigs, &sig);
  (*s)->stop();
  std::fprintf(stderr, "server: %lld requests served\n",
               static_cast<long long>((*s)->requests_served()));
  return 0;
}

int client(const std::string& url, int n, int inflight) {
  auto model = assay::make_remote_model(
      url,
      {{"model", "trivial"}, {"num_concurrent", std::to_string(inflight)}, {"max_retries", "0"}});
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().message().c_str());
    return 1;
  }
  std::vector<assay::GenerateRequest> reqs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    reqs[i].messages = {{"user", "What is the capital of France? (" + std::to_string(i) + ")"}};
    reqs[i].params.max_gen_toks = 16;
  }
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  auto out = (*model)->generate_until(reqs);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  int ok = 0;
  for (const auto& r : out) ok += r.ok() && r->text == "Paris.";
  std::printf(
      "{\"client\":\"assay\",\"requests\":%d,\"ok\":%d,\"inflight\":%d,\"wall_s\":%.3f,\"cpu_s\":%."
      "3f,"
      "\"req_per_s\":%.1f,\"req_per_cpu_s\":%.1f}\n",
      n, ok, inflight, wall, cpu, n / wall, n / cpu);
  return ok == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "server") return server();
  if (mode == "client" && argc == 5) return client(argv[2], std::stoi(argv[3]), std::stoi(argv[4]));
  std::fprintf(stderr, "usage: remote_adapter_bench server | client URL N INFLIGHT\n");
  return 2;
}
