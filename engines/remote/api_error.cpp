#include "engines/remote/api_error.h"

#include <simdjson.h>

#include "engines/remote/retry_policy.h"

namespace assay {
namespace {

std::string str_field(simdjson::dom::element el, const char* key) {
  std::string_view v;
  if (el[key].get_string().get(v)) return {};
  return std::string(v);
}

std::string truncated(std::string_view s, size_t n) {
  if (s.size() <= n) return std::string(s);
  return std::string(s.substr(0, n)) + "...";
}

StatusCode code_for(int http_status, const ApiErrorInfo& e, std::string_view body) {
  if (http_status == 400 || http_status == 422) {
    if (e.code == "context_length_exceeded" ||
        e.message.find("maximum context length") != std::string::npos ||
        e.message.find("prompt is too long") != std::string::npos) {
      return StatusCode::kResourceExhausted;
    }
    return StatusCode::kInvalidArgument;
  }
  if (http_status == 401 || http_status == 403) return StatusCode::kPermissionDenied;
  if (http_status == 404) return StatusCode::kNotFound;
  if (http_status == 408) return StatusCode::kDeadlineExceeded;
  if (http_status == 413) return StatusCode::kResourceExhausted;
  if (http_status == 429) {
    return is_quota_error_body(body) ? StatusCode::kResourceExhausted : StatusCode::kUnavailable;
  }
  if (http_status == 409 || http_status >= 500) return StatusCode::kUnavailable;
  return StatusCode::kInvalidArgument;
}

}  // namespace

ApiErrorInfo parse_api_error(std::string_view body) {
  ApiErrorInfo info;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) || !root.is_object()) return info;
  info.request_id = str_field(root, "request_id");
  simdjson::dom::element err;
  if (root["error"].get(err)) return info;
  if (err.is_string()) {  // some compatible servers send {"error": "text"}
    info.message = std::string(err.get_string().value_unsafe());
    return info;
  }
  if (!err.is_object()) return info;
  info.type = str_field(err, "type");
  info.message = str_field(err, "message");
  info.code = str_field(err, "code");
  int64_t icode = 0;
  if (info.code.empty() && !err["code"].get_int64().get(icode)) info.code = std::to_string(icode);
  simdjson::dom::element details;
  if (info.code.empty() && !err["details"].get(details) && details.is_object()) {
    info.code = str_field(details, "error_code");
  }
  return info;
}

Status api_error_status(std::string_view who, int http_status, std::string_view body) {
  ApiErrorInfo e = parse_api_error(body);
  std::string msg = std::string(who) + ": HTTP " + std::to_string(http_status);
  if (!e.type.empty()) msg += " " + e.type;
  if (!e.code.empty() && e.code != e.type) msg += " (" + e.code + ")";
  if (!e.message.empty()) {
    msg += ": " + truncated(e.message, 500);
  } else if (!body.empty()) {
    msg += ": " + truncated(body, 200);
  }
  if (!e.request_id.empty()) msg += " [request_id " + e.request_id + "]";
  return Status(code_for(http_status, e, body), std::move(msg));
}

Status stream_error_status(std::string_view who, std::string_view event_json) {
  ApiErrorInfo e = parse_api_error(event_json);
  int status = 500;
  if (e.type == "overloaded_error") status = 529;
  else if (e.type == "rate_limit_error" || e.code == "rate_limit_exceeded") status = 429;
  else if (e.type == "invalid_request_error") status = 400;
  else if (e.type == "authentication_error") status = 401;
  else if (e.type == "permission_error") status = 403;
  else if (e.type == "not_found_error") status = 404;
  return api_error_status(who, status, event_json).with_prefix("error event in stream");
}

bool is_retryable_status(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

}  // namespace assay
