// Progress: a progress display for long loops on stderr.
//
// On a TTY it keeps one line updated in place ("mmlu  1234/14042  8.8%  412.3/s  ETA 0:31");
// when stderr is not a TTY (CI, redirected logs) it prints a plain line at most every
// `plain_interval_s` seconds and once at the end, so logs stay short and readable.
// Thread safety: add() may be called from many threads; the display is rate-limited.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace assay {

// Writes text to stderr, first clearing any progress line shown on a TTY (which then redraws
// on its next update). All stderr output of assay goes through here or log_line().
void terminal_write_stderr(std::string_view text);

class Progress {
 public:
  // total 0 means unknown (no percentage or ETA).
  Progress(std::string label, int64_t total, double plain_interval_s = 10.0);
  ~Progress();  // calls finish() if not already done
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void add(int64_t n = 1);
  void finish();
  int64_t done() const { return done_.load(); }

  // Formats one status line; exposed for tests.
  static std::string format_line(std::string_view label, int64_t done, int64_t total,
                                 double elapsed_s);

 private:
  void render(bool final_line);
  std::string label_;
  int64_t total_;
  double plain_interval_s_;
  bool tty_;
  bool finished_ = false;
  int64_t last_rendered_done_ = -1;
  std::atomic<int64_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_render_;
  std::mutex mu_;
};

}  // namespace assay
