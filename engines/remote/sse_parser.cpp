#include "engines/remote/sse_parser.h"

#include <string>

namespace assay {

Status SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  if (!failed_.ok()) return failed_;
  size_t i = 0;
  if (skip_lf_ && !bytes.empty()) {
    skip_lf_ = false;
    if (bytes[0] == '\n') i = 1;
  }
  while (i < bytes.size()) {
    // Find the next line end in this chunk.
    size_t j = i;
    while (j < bytes.size() && bytes[j] != '\n' && bytes[j] != '\r') ++j;
    if (line_.size() + (j - i) > limits_.max_line_bytes) {
      failed_ = resource_exhausted("SSE line longer than " + std::to_string(limits_.max_line_bytes) +
                                   " bytes");
      line_.clear();
      return failed_;
    }
    if (j == bytes.size()) {  // no line end yet: keep the partial line
      line_.append(bytes.substr(i));
      break;
    }
    Status st;
    if (line_.empty()) {
      st = process_line(bytes.substr(i, j - i), out);
    } else {
      line_.append(bytes.substr(i, j - i));
      st = process_line(line_, out);
      line_.clear();
    }
    if (!st.ok()) {
      failed_ = st;
      return failed_;
    }
    if (bytes[j] == '\r') {
      if (j + 1 < bytes.size()) {
        if (bytes[j + 1] == '\n') ++j;
      } else {
        skip_lf_ = true;  // the '\n' of a "\r\n" may start the next chunk
      }
    }
    i = j + 1;
  }
  return Status::OK();
}

Status SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {
    dispatch(out);
    return Status::OK();
  }
  if (line[0] == ':') return Status::OK();  // comment / keep-alive
  in_event_ = true;
  std::string_view field = line, value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (data_.size() + value.size() + 1 > limits_.max_event_bytes) {
      return resource_exhausted("SSE event data larger than " +
                                std::to_string(limits_.max_event_bytes) + " bytes");
    }
    data_.append(value);
    data_.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  } else if (field == "retry") {
    bool digits = !value.empty() && value.size() <= 18;
    for (char c : value) digits = digits && c >= '0' && c <= '9';
    if (digits) retry_ = std::stoll(std::string(value));
  }
  return Status::OK();
}

void SseParser::dispatch(std::vector<SseEvent>& out) {
  in_event_ = false;
  if (has_data_) {
    SseEvent e;
    e.event = std::move(event_);
    data_.pop_back();  // the spec removes the final "\n"
    e.data = std::move(data_);
    e.id = last_id_;
    e.retry_ms = retry_;
    out.push_back(std::move(e));
  }
  data_.clear();
  event_.clear();
  retry_.reset();
  has_data_ = false;
}

Status SseParser::finish() {
  if (!failed_.ok()) return failed_;
  if (!line_.empty() || in_event_) {
    return corrupt("SSE stream ended in the middle of an event (truncated response?)");
  }
  return Status::OK();
}

}  // namespace assay
