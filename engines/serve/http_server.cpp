#include "engines/serve/http_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <vector>

namespace assay::serve {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
  asio::io_context ioc;  // never run: every socket operation here is blocking
  tcp::acceptor acceptor{ioc};
};

struct HttpServer::Conn {
  explicit Conn(tcp::socket s) : sock(std::move(s)) {}
  tcp::socket sock;
  std::thread thread;
  bool busy = false;  // a request has been read and is being answered (guarded by mu_)
  bool done = false;  // the thread is past its last socket use but for close (guarded by mu_)
};

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// Constant-time comparison, so the key cannot be guessed byte by byte from response times.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0;
}

void write_json(tcp::socket& sock, unsigned version, int status, const std::string& body,
                bool keep_alive, beast::error_code& ec) {
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  res.set(http::field::server, "assay");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = body;
  res.prepare_payload();
  http::write(sock, res, ec);
}

void write_error(tcp::socket& sock, unsigned version, ApiError e, beast::error_code& ec) {
  write_json(sock, version, e.http_status, error_body(e), /*keep_alive=*/false, ec);
}

void write_sse(tcp::socket& sock, unsigned version, const std::vector<std::string>& events,
               bool keep_alive, beast::error_code& ec) {
  http::response<http::empty_body> res{http::status::ok, version};
  res.set(http::field::server, "assay");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(keep_alive);
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  http::write_header(sock, sr, ec);
  for (const auto& e : events) {
    if (ec) return;
    std::string data = "data: " + e + "\n\n";
    asio::write(sock, http::make_chunk(asio::buffer(data)), ec);
  }
  if (!ec) asio::write(sock, http::make_chunk_last(), ec);
}

void write_sse_stream(
    tcp::socket& sock, unsigned version,
    const std::function<void(const std::function<bool(const std::string&)>&)>& produce,
    bool keep_alive, beast::error_code& ec) {
  http::response<http::empty_body> res{http::status::ok, version};
  res.set(http::field::server, "assay");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(keep_alive);
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  http::write_header(sock, sr, ec);
  produce([&](const std::string& e) {
    if (ec) return false;
    std::string data = "data: " + e + "\n\n";
    asio::write(sock, http::make_chunk(asio::buffer(data)), ec);
    return !ec;
  });
  if (!ec) asio::write(sock, http::make_chunk_last(), ec);
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions opt, HttpHandler handler)
    : opt_(std::move(opt)), handler_(std::move(handler)), impl_(std::make_unique<Impl>()) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& opt,
                                                      HttpHandler handler) {
  boost::system::error_code ec;
  std::string host = opt.host == "localhost" ? "127.0.0.1" : opt.host;
  auto addr = asio::ip::make_address(host, ec);
  if (ec)
    return invalid_argument("--host " + opt.host + ": not an IP address (" + ec.message() + ")");
  if (!addr.is_loopback() && opt.api_key.empty()) {
    return permission_denied("refusing to listen on " + opt.host +
                             " without --api-key: anyone who can reach that address could use the "
                             "model; set --api-key KEY or bind 127.0.0.1");
  }
  std::unique_ptr<HttpServer> s(new HttpServer(opt, std::move(handler)));
  s->opt_.host = host;
  tcp::endpoint ep(addr, opt.port);
  auto& acc = s->impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) acc.non_blocking(true, ec);
  if (ec) {
    return unavailable("cannot listen on " + host + ":" + std::to_string(opt.port) + ": " +
                       ec.message());
  }
  s->port_ = acc.local_endpoint().port();
  s->accept_thread_ = std::thread([p = s.get()] { p->accept_loop(); });
  return s;
}

void HttpServer::accept_loop() {
  auto& acc = impl_->acceptor;
  while (!stopping_.load()) {
    // Poll with a timeout so stop() never has to interrupt a blocked accept().
    pollfd pfd{acc.native_handle(), POLLIN, 0};
    int r = ::poll(&pfd, 1, 100);
    // Reap finished connections.
    std::vector<std::unique_ptr<Conn>> finished;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = conns_.begin(); it != conns_.end();) {
        if ((*it)->done) {
          finished.push_back(std::move(*it));
          it = conns_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& c : finished) c->thread.join();
    if (r <= 0) continue;
    beast::error_code ec;
    tcp::socket sock(impl_->ioc);
    acc.accept(sock, ec);
    if (ec) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load() || static_cast<int>(conns_.size()) >= opt_.max_connections) {
      beast::error_code ignored;
      write_error(sock, 11, {503, "too many connections; retry later", "server_error", "", ""},
                  ignored);
      sock.close(ignored);
      continue;
    }
    conns_.push_back(std::make_unique<Conn>(std::move(sock)));
    Conn* c = conns_.back().get();
    c->thread = std::thread([this, c] { serve_connection(c); });
  }
}

void HttpServer::serve_connection(Conn* c) {
  beast::error_code ec;
  c->sock.set_option(tcp::no_delay(true), ec);
  beast::flat_buffer buf;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(opt_.max_header_bytes);
    parser.body_limit(opt_.max_body_bytes);
    http::read_header(c->sock, buf, parser, ec);
    if (ec) {
      if (ec == http::error::header_limit) {
        write_error(c->sock, 11,
                    {431,
                     "request header fields too large (limit " +
                         std::to_string(opt_.max_header_bytes) + " bytes)",
                     "invalid_request_error", "", ""},
                    ec);
      } else if (ec == http::error::body_limit) {
        // Beast checks Content-Length against the limit as soon as the header is parsed.
        write_error(
            c->sock, 11,
            {413,
             "request body is over the limit of " + std::to_string(opt_.max_body_bytes) + " bytes",
             "invalid_request_error", "", ""},
            ec);
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        write_error(
            c->sock, 11,
            {400, "malformed HTTP request: " + ec.message(), "invalid_request_error", "", ""}, ec);
      }
      break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_.load()) break;
      c->busy = true;
    }
    auto& req = parser.get();
    const unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    if (!opt_.api_key.empty()) {
      std::string_view auth = req[http::field::authorization];
      constexpr std::string_view kBearer = "Bearer ";
      bool ok = auth.size() > kBearer.size() && iequals(auth.substr(0, kBearer.size()), kBearer) &&
                same_secret(auth.substr(kBearer.size()), opt_.api_key);
      if (!ok) {
        write_error(
            c->sock, version,
            {401,
             auth.empty() ? "missing API key: send Authorization: Bearer KEY" : "incorrect API key",
             "invalid_request_error", "", "invalid_api_key"},
            ec);
        break;
      }
    }
    if (auto len = parser.content_length(); len && *len > opt_.max_body_bytes) {
      write_error(c->sock, version,
                  {413,
                   "request body of " + std::to_string(*len) + " bytes is over the limit of " +
                       std::to_string(opt_.max_body_bytes) + " bytes",
                   "invalid_request_error", "", ""},
                  ec);
      break;
    }
    if (!parser.is_done()) {
      if (iequals(req[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, version};
        http::write(c->sock, cont, ec);
        if (ec) break;
      }
      http::read(c->sock, buf, parser, ec);
      if (ec == http::error::body_limit) {
        write_error(
            c->sock, version,
            {413,
             "request body is over the limit of " + std::to_string(opt_.max_body_bytes) + " bytes",
             "invalid_request_error", "", ""},
            ec);
        break;
      }
      if (ec) break;
    }
    ServeReply reply =
        handler_(std::string_view(req.method_string()), std::string_view(req.target()), req.body());
    if (reply.stream) {
      write_sse_stream(c->sock, version, reply.stream, keep_alive, ec);
    } else if (reply.sse) {
      write_sse(c->sock, version, reply.events, keep_alive, ec);
    } else {
      write_json(c->sock, version, reply.status, reply.body, keep_alive, ec);
    }
    ++served_;
    if (ec) break;
    {
      std::lock_guard<std::mutex> lock(mu_);
      c->busy = false;
      if (stopping_.load()) break;
    }
    if (!keep_alive) break;
  }
  beast::error_code ignored;
  c->sock.shutdown(tcp::socket::shutdown_both, ignored);
  std::lock_guard<std::mutex> lock(mu_);
  c->done = true;
  c->busy = false;
  // Closed under the lock: stop() shuts down only sockets of threads not yet done.
  c->sock.close(ignored);
}

void HttpServer::stop() {
  std::call_once(stop_once_, [this] {
    stopping_.store(true);
    if (accept_thread_.joinable()) accept_thread_.join();
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    std::list<std::unique_ptr<Conn>> conns;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& c : conns_) {
        // Idle keep-alive connections wait in read: wake them. Busy ones finish their answer.
        if (!c->busy && !c->done) ::shutdown(c->sock.native_handle(), SHUT_RDWR);
      }
      conns.swap(conns_);
    }
    for (auto& c : conns) c->thread.join();
  });
}

}  // namespace assay::serve
