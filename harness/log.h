// Logging to stderr with levels. ASSAY_LOG(kInfo) << "loaded " << n << " tensors";
//
// The level comes from $ASSAY_LOG_LEVEL (debug, info, warn, error) or set_log_level(); default
// info. Lines are written whole under a mutex so concurrent threads never interleave within a
// line. Thread safety: all functions are safe to call from any thread.
#pragma once

#include <sstream>
#include <string_view>

namespace assay {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "debug", "info", "warn", "error", "off"; returns false if unknown.
bool parse_log_level(std::string_view s, LogLevel* out);
void log_line(LogLevel level, std::string_view message);

class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { log_line(level_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace assay

// A for-loop rather than if/else so the macro nests safely inside an unbraced if.
#define ASSAY_LOG(level)                                                              \
  for (bool assay_log_on_ = ::assay::LogLevel::level >= ::assay::log_level(); assay_log_on_; \
       assay_log_on_ = false)                                                         \
  ::assay::LogMessage(::assay::LogLevel::level).stream()
