#include "tests/support/http_file_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "harness/status.h"
#include "tests/support/loopback.h"

namespace assay::testing {

HttpFileServer::HttpFileServer() {
  listen_fd_ = listen_loopback(16, &port_);
  thread_ = std::thread([this] { serve(); });
}

HttpFileServer::~HttpFileServer() {
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  thread_.join();
}

void HttpFileServer::add_file(const std::string& path, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path] = std::move(body);
}

void HttpFileServer::cut_next(int n, size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  cut_count_ = n;
  cut_bytes_ = bytes;
}

std::string HttpFileServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void HttpFileServer::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void HttpFileServer::handle(int fd) {
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
  std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string body;
  bool found;
  size_t cut = std::string::npos;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(path);
    found = it != files_.end();
    if (found) body = it->second;
    if (cut_count_ > 0) {
      --cut_count_;
      cut = cut_bytes_;
    }
  }
  auto send_all = [&](const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t w = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (w <= 0) return;
      off += static_cast<size_t>(w);
    }
  };
  if (!found) {
    send_all("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  size_t start = 0;
  bool partial = false;
  std::string lower = req;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (size_t r = lower.find("\r\nrange: bytes="); r != std::string::npos && !ignore_range_) {
    ++range_requests_;
    start = std::stoull(req.substr(r + 15));
    partial = true;
    if (start >= body.size()) {
      send_all("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
  }
  std::string payload = body.substr(start);
  std::string head = partial ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n";
  head += "Content-Length: " + std::to_string(payload.size()) + "\r\n";
  if (partial) {
    head += "Content-Range: bytes " + std::to_string(start) + "-" +
            std::to_string(body.size() - 1) + "/" + std::to_string(body.size()) + "\r\n";
  }
  head += "Connection: close\r\n\r\n";
  send_all(head);
  if (cut != std::string::npos && cut < payload.size()) {
    send_all(payload.substr(0, cut));
    return;  // close early: the client sees a truncated body
  }
  send_all(payload);
}

}  // namespace assay::testing
