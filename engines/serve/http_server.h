// HttpServer: a small HTTP/1.1 server (Boost.Beast, blocking sockets, one thread per
// connection) in front of a handler. It owns the transport rules of `assay serve`:
//   - binds 127.0.0.1 by default; a non-loopback address needs an API key (start() refuses);
//   - with an API key, every request needs `Authorization: Bearer KEY` (else 401, checked
//     before the body is read);
//   - header block over max_header_bytes -> 431, body over max_body_bytes -> 413 (from
//     Content-Length before reading, or while reading a chunked body); both close the connection;
//   - keep-alive; SSE replies are sent with chunked encoding, one chunk per event;
//   - at most max_connections open connections (more are answered 503 and closed).
// stop() is graceful: the listener closes, idle keep-alive connections are shut, requests
// already being handled finish and their answers are written, then every thread is joined.
//
// Thread safety: start/stop/port from any thread; the handler is called from many threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engines/serve/openai_service.h"
#include "harness/status.h"

namespace assay::serve {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the system picks a free port (see port())
  std::string api_key;
  uint64_t max_body_bytes = 8ull << 20;
  uint32_t max_header_bytes = 16u << 10;
  int max_connections = 1024;
};

using HttpHandler = std::function<ServeReply(std::string_view method, std::string_view target,
                                             std::string_view body)>;

class HttpServer {
 public:
  // Binds and starts accepting. Errors: a non-loopback host without an API key, an address that
  // does not parse, a port in use.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& opt,
                                                   HttpHandler handler);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& host() const { return opt_.host; }
  // Graceful stop; returns once every connection thread has ended. Idempotent.
  void stop();
  int64_t requests_served() const { return served_.load(); }

 private:
  struct Conn;
  HttpServer(HttpServerOptions opt, HttpHandler handler);
  void accept_loop();
  void serve_connection(Conn* c);

  HttpServerOptions opt_;
  HttpHandler handler_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> served_{0};
  std::mutex mu_;
  std::list<std::unique_ptr<Conn>> conns_;
  std::thread accept_thread_;
  std::once_flag stop_once_;
};

}  // namespace assay::serve
