// Durable file writes.
//
// write_file_atomic(): readers see either the old file or the complete new one, never a torn
// write, even if the process is killed (SIGKILL) or the machine loses power mid-write: the data
// goes to a temporary file in the same directory, is fsync'ed, renamed over the target, and the
// directory is fsync'ed.
// AppendLog: an append-only file of whole lines (the write-ahead log of a run). Each append is
// one write(2) of a complete line; sync() makes everything appended durable. After a crash the
// file may end in a partial line, which readers must ignore (see read_complete_lines()).
// Thread safety: AppendLog::append is safe from many threads; the free functions are reentrant.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "harness/status.h"

namespace assay {

Status write_file_atomic(const std::string& path, std::string_view data);

// Creates a directory and its parents; checks that it is writable (an unwritable output dir is
// reported before any work is done).
Status ensure_writable_dir(const std::string& path);

class AppendLog {
 public:
  static Result<std::unique_ptr<AppendLog>> open(const std::string& path);
  ~AppendLog();
  // `line` must not contain '\n'; a newline is added.
  Status append(std::string_view line);
  Status sync();
  const std::string& path() const { return path_; }

 private:
  AppendLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
  std::mutex mu_;
};

// Reads the complete ('\n'-terminated) lines of a file; a trailing partial line (a write cut by
// a crash) is dropped and, if `truncate_partial`, cut from the file so appends continue cleanly.
Result<std::vector<std::string>> read_complete_lines(const std::string& path, bool truncate_partial);

}  // namespace assay
