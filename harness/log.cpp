#include "harness/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "harness/progress.h"

namespace assay {
namespace {

LogLevel initial_level() {
  LogLevel level = LogLevel::kInfo;
  if (const char* env = std::getenv("ASSAY_LOG_LEVEL")) parse_log_level(env, &level);
  return level;
}

std::atomic<LogLevel>& level_ref() {
  static std::atomic<LogLevel> level{initial_level()};
  return level;
}

}  // namespace

void set_log_level(LogLevel level) { level_ref().store(level); }
LogLevel log_level() { return level_ref().load(); }

bool parse_log_level(std::string_view s, LogLevel* out) {
  if (s == "debug") *out = LogLevel::kDebug;
  else if (s == "info") *out = LogLevel::kInfo;
  else if (s == "warn" || s == "warning") *out = LogLevel::kWarn;
  else if (s == "error") *out = LogLevel::kError;
  else if (s == "off") *out = LogLevel::kOff;
  else return false;
  return true;
}

void log_line(LogLevel level, std::string_view message) {
  static const char* kNames[] = {"debug", "info", "warn", "error", "off"};
  std::string line = "assay: ";
  if (level != LogLevel::kInfo) {
    line += kNames[static_cast<int>(level)];
    line += ": ";
  }
  line += message;
  if (line.empty() || line.back() != '\n') line += '\n';
  // A progress line may be showing on the terminal: clear it, write, let it redraw.
  terminal_write_stderr(line);
}

}  // namespace assay
