#include "harness/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>

#include "harness/csv.h"

namespace assay {
namespace {

std::string errno_text() { return std::strerror(errno); }

Status write_all(int fd, std::string_view data, const std::string& path) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write " + path + ": " + errno_text());
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  return Status::OK();
}

Status fsync_dir(const std::string& dir) {
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd < 0) return Status::OK();  // best effort: some filesystems refuse
  ::fsync(dfd);
  ::close(dfd);
  return Status::OK();
}

}  // namespace

Status write_file_atomic(const std::string& path, std::string_view data) {
  std::filesystem::path target(path);
  std::string dir = target.parent_path().string();
  std::random_device rd;
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot write " + path + ": " + errno_text());
  Status st = write_all(fd, data, path);
  if (st.ok() && ::fsync(fd) != 0) st = io_error("cannot sync " + path + ": " + errno_text());
  if (::close(fd) != 0 && st.ok()) st = io_error("cannot close " + path + ": " + errno_text());
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = io_error("cannot rename " + tmp + " to " + path + ": " + errno_text());
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return fsync_dir(dir);
}

Status ensure_writable_dir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return permission_denied("cannot create output directory " + path + ": " + ec.message());
  if (!std::filesystem::is_directory(path, ec)) {
    return invalid_argument(path + " exists and is not a directory");
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) {
    return permission_denied("output directory " + path + " is not writable: " + errno_text());
  }
  return Status::OK();
}

Result<std::unique_ptr<AppendLog>> AppendLog::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot open " + path + " for appending: " + errno_text());
  return std::unique_ptr<AppendLog>(new AppendLog(path, fd));
}

AppendLog::~AppendLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status AppendLog::append(std::string_view line) {
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
  buf.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  return write_all(fd_, buf, path_);
}

Status AppendLog::sync() {
  std::lock_guard<std::mutex> lock(mu_);
  if (::fdatasync(fd_) != 0) return io_error("cannot sync " + path_ + ": " + errno_text());
  return Status::OK();
}

Result<std::vector<std::string>> read_complete_lines(const std::string& path,
                                                     bool truncate_partial) {
  auto text = read_file(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::vector<std::string>{};
    return text.status();
  }
  std::vector<std::string> lines;
  const std::string& s = *text;
  size_t start = 0;
  while (true) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) break;
    lines.emplace_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  if (start < s.size() && truncate_partial) {
    if (::truncate(path.c_str(), static_cast<off_t>(start)) != 0) {
      return io_error("cannot truncate partial line at the end of " + path + ": " + errno_text());
    }
  }
  return lines;
}

}  // namespace assay
