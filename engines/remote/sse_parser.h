// SseParser: incremental Server-Sent Events parser (WHATWG "event stream interpretation").
//
// Feed the body of a text/event-stream response in chunks of any size, split at any byte; complete
// events come out in order. Rules (https://html.spec.whatwg.org/multipage/server-sent-events.html):
//   - lines end with "\r\n", "\n" or "\r" (a "\r\n" split across two chunks is one line end);
//   - a leading UTF-8 BOM is skipped;
//   - ":" starts a comment (keep-alives such as ": ping"); it never ends the stream;
//   - "field: value" strips one space after the colon; a line without a colon is a field name
//     with an empty value; unknown fields are ignored;
//   - several "data:" lines join with "\n"; a blank line dispatches the event; an event with no
//     data line is not dispatched (its "event:" name is dropped as the spec says);
//   - "id:" sets the last event id (kept across events; ignored if it contains NUL);
//   - "retry:" with only ASCII digits sets the reconnection time.
// OpenAI ends its streams with a "data: [DONE]" event; is_done() recognises it. The parser does not
// stop there: the caller decides what follows [DONE].
//
// Limits: a line longer than max_line_bytes or an event whose data exceeds max_event_bytes is an
// error (kResourceExhausted); the parser then stays failed and ignores further input, because a
// server that sends unbounded lines is broken or hostile and the stream cannot be resynchronised.
//
// Thread safety: none; one parser per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/status.h"

namespace assay {

struct SseEvent {
  std::string event;  // the "event:" name; empty means the default type "message"
  std::string data;   // data lines joined with "\n" (no trailing newline)
  std::string id;     // the last event id seen so far on this stream (may be empty)
  std::optional<int64_t> retry_ms;  // set when this event carried a valid "retry:" field
  bool operator==(const SseEvent&) const = default;
};

struct SseLimits {
  size_t max_line_bytes = size_t{1} << 20;   // 1 MiB per line
  size_t max_event_bytes = size_t{4} << 20;  // 4 MiB of data per event
};

class SseParser {
 public:
  explicit SseParser(SseLimits limits = {}) : limits_(limits) {}

  // Parses `bytes`, appending each completed event to `out`. Returns an error once a limit is
  // exceeded (and for every later call); events completed before the error are still appended.
  Status feed(std::string_view bytes, std::vector<SseEvent>& out);

  // Declares the end of the stream. Per the spec an undispatched event is discarded; this returns
  // kCorrupt when the stream ended inside an event (partial line or data without its blank line),
  // which for an API response means a truncated body. OK for a clean end. Resets nothing else.
  Status finish();

  // True for OpenAI's end-of-stream marker "data: [DONE]".
  static bool is_done(const SseEvent& e) { return e.data == "[DONE]"; }

  const std::string& last_event_id() const { return last_id_; }

 private:
  Status process_line(std::string_view line, std::vector<SseEvent>& out);
  void dispatch(std::vector<SseEvent>& out);

  SseLimits limits_;
  std::string line_;           // the current partial line
  bool skip_lf_ = false;       // the previous chunk ended with '\r': a leading '\n' is part of it
  bool first_line_ = true;     // a BOM may only precede the first line
  std::string data_;           // data buffer of the event being built (each line + "\n")
  bool has_data_ = false;
  std::string event_;
  std::optional<int64_t> retry_;
  std::string last_id_;
  bool in_event_ = false;      // a non-blank line arrived since the last dispatch
  Status failed_;
};

}  // namespace assay
