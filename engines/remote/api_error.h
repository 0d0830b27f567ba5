// Turning API error responses (OpenAI and Anthropic shapes) into assay::Status.
//
//   OpenAI:    {"error": {"message": "...", "type": "...", "param": ..., "code": "..."}}
//   Anthropic: {"type": "error", "error": {"type": "...", "message": "..."}, "request_id": "..."}
// Status codes: 400/422 -> kInvalidArgument (context_length_exceeded -> kResourceExhausted),
// 401/403 -> kPermissionDenied, 404 -> kNotFound, 408 -> kDeadlineExceeded, 413 ->
// kResourceExhausted, 429 quota/billing -> kResourceExhausted, other 429, 409, 5xx, 529 ->
// kUnavailable. is_retryable_status() is true exactly for kUnavailable and kDeadlineExceeded —
// the same set retry_policy retries.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "harness/status.h"

namespace assay {

struct ApiErrorInfo {
  std::string type;     // error.type ("invalid_request_error", "rate_limit_error", ...)
  std::string code;     // OpenAI error.code, or Anthropic error.details.error_code
  std::string message;  // error.message
  std::string request_id;
};

// Parses an error body; fields stay empty when absent or when the body is not JSON.
ApiErrorInfo parse_api_error(std::string_view body);

// `who` prefixes the message ("openai", "anthropic", an endpoint URL). `http_status` 0 is not
// allowed here (transport errors are built by the HTTP client).
Status api_error_status(std::string_view who, int http_status, std::string_view body);

// A Status from an error object that arrived inside a 200 stream (Anthropic "error" event,
// OpenAI {"error": ...} chunk); mapped as if it had come with the matching HTTP status.
Status stream_error_status(std::string_view who, std::string_view event_json);

bool is_retryable_status(const Status& s);

}  // namespace assay
