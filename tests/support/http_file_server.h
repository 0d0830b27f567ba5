// A minimal HTTP/1.1 file server on 127.0.0.1 for download tests: serves in-memory files,
// honours single "Range: bytes=N-" requests (206), and can be told to cut the connection after
// a number of body bytes (to test resume). One request per connection; runs on its own thread.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace assay::testing {

class HttpFileServer {
 public:
  HttpFileServer();
  ~HttpFileServer();
  void add_file(const std::string& path, std::string body);
  // The next `n` responses stop after `bytes` body bytes and close the connection.
  void cut_next(int n, size_t bytes);
  void set_ignore_range(bool v) { ignore_range_ = v; }
  int port() const { return port_; }
  std::string url(const std::string& path) const;
  int requests() const { return requests_.load(); }
  int range_requests() const { return range_requests_.load(); }

 private:
  void serve();
  void handle(int fd);
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> range_requests_{0};
  std::atomic<bool> ignore_range_{false};
  std::mutex mu_;
  std::map<std::string, std::string> files_;
  int cut_count_ = 0;
  size_t cut_bytes_ = 0;
  std::thread thread_;
};

}  // namespace assay::testing
