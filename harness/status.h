// Status and Result<T>: how expected failures travel in assay.
//
// Every function that can fail for reasons outside the programmer's control (bad input files,
// network errors, a model that cannot do what was asked) returns Status or Result<T>. The message
// is written for the user and names the file, line or field involved, e.g.
//   "data/mmlu/test/x.csv:14: expected 6 columns, got 5".
// Programmer errors (broken invariants) abort through ASSAY_CHECK with file:line instead.
// No exception crosses a module's public API.
//
// Thread safety: values; safe to copy between threads.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace assay {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the user asked for something malformed
  kNotFound,           // a file, data set, model or key does not exist
  kIoError,            // reading or writing failed
  kCorrupt,            // input exists but its content is malformed
  kUnsupported,        // well-formed but not something assay can do (yet)
  kUnavailable,        // transient: network, server overloaded; may be retried
  kResourceExhausted,  // out of memory, quota, context length
  kDeadlineExceeded,   // a timeout
  kPermissionDenied,   // auth failures, unwritable paths
  kFailedPrecondition, // the system is not in a state to do this (e.g. setup not run)
  kCancelled,          // interrupted by the user or shutdown
  kInternal,           // a bug surfaced as a value instead of an abort
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "message" for errors, "OK" otherwise.
  std::string to_string() const { return ok() ? std::string("OK") : message_; }

  // Returns a copy whose message is "prefix: message" (adds context while propagating).
  Status with_prefix(std::string_view prefix) const {
    if (ok()) return *this;
    return Status(code_, std::string(prefix) + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status deadline_exceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status permission_denied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& msg);

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) check_failed(__FILE__, __LINE__, "!status.ok()", "Result from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { check(); return std::get<T>(v_); }
  const T& value() const& { check(); return std::get<T>(v_); }
  T&& value() && { check(); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void check() const {
    if (!ok()) check_failed(__FILE__, __LINE__, "result.ok()", std::get<Status>(v_).message());
  }
  std::variant<T, Status> v_;
};

}  // namespace assay

// Aborts with file:line when an invariant is broken (a bug, not bad input).
#define ASSAY_CHECK(cond)                                               \
  do {                                                                  \
    if (!(cond)) ::assay::check_failed(__FILE__, __LINE__, #cond, ""); \
  } while (0)
#define ASSAY_CHECK_MSG(cond, msg)                                        \
  do {                                                                    \
    if (!(cond)) ::assay::check_failed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

#define ASSAY_CONCAT_INNER(a, b) a##b
#define ASSAY_CONCAT(a, b) ASSAY_CONCAT_INNER(a, b)

#define ASSAY_RETURN_IF_ERROR(expr)           \
  do {                                        \
    ::assay::Status _st = (expr);             \
    if (!_st.ok()) return _st;                \
  } while (0)

// ASSAY_ASSIGN_OR_RETURN(auto x, f());  declares x from a Result or returns its Status.
#define ASSAY_ASSIGN_OR_RETURN(lhs, expr) \
  ASSAY_ASSIGN_OR_RETURN_IMPL(ASSAY_CONCAT(_res_, __LINE__), lhs, expr)
#define ASSAY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
