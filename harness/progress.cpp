#include "harness/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace assay {
namespace {

std::mutex& stderr_mutex() {
  static std::mutex mu;
  return mu;
}
// Length of the progress line currently on the terminal (0: none).
size_t g_progress_line_len = 0;

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  }
  return buf;
}

}  // namespace

void terminal_write_stderr(std::string_view text) {
  std::lock_guard<std::mutex> lock(stderr_mutex());
  if (g_progress_line_len > 0) {
    std::fputs("\r\033[K", stderr);
    g_progress_line_len = 0;
  }
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

Progress::Progress(std::string label, int64_t total, double plain_interval_s)
    : label_(std::move(label)),
      total_(total),
      plain_interval_s_(plain_interval_s),
      tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_render_(start_) {}

Progress::~Progress() { finish(); }

std::string Progress::format_line(std::string_view label, int64_t done, int64_t total,
                                  double elapsed_s) {
  char buf[256];
  double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  if (total > 0) {
    double pct = 100.0 * done / total;
    double eta = rate > 0 ? (total - done) / rate : NAN;
    std::snprintf(buf, sizeof buf, "%.*s  %lld/%lld  %.1f%%  %.1f/s  elapsed %s  ETA %s",
                  static_cast<int>(label.size()), label.data(), static_cast<long long>(done),
                  static_cast<long long>(total), pct, rate, format_duration(elapsed_s).c_str(),
                  done >= total ? "0:00" : format_duration(eta).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%.*s  %lld  %.1f/s  elapsed %s",
                  static_cast<int>(label.size()), label.data(), static_cast<long long>(done),
                  rate, format_duration(elapsed_s).c_str());
  }
  return buf;
}

void Progress::add(int64_t n) {
  done_.fetch_add(n);
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_render_).count();
  double min_interval = tty_ ? 0.1 : plain_interval_s_;
  if (since < min_interval) return;
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  last_render_ = now;
  render(false);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  // Off a TTY, a plain line showing completion may already be out; don't repeat it.
  if (!tty_ && last_rendered_done_ == done_.load()) return;
  render(true);
}

void Progress::render(bool final_line) {
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  last_rendered_done_ = done_.load();
  std::string line = format_line(label_, last_rendered_done_, total_, elapsed);
  std::lock_guard<std::mutex> lock(stderr_mutex());
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    g_progress_line_len = final_line ? 0 : line.size();
    if (final_line) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "assay: %s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace assay
