// Anthropic Messages API payloads and parsers (`POST /v1/messages`,
// shared/reference/apis-and-retries.md §3.2, §6). Pure functions; no I/O.
//
// Request mapping from GenerateRequest:
//   - "system" messages become the top-level `system` string (joined with "\n\n"); Anthropic has
//     no system role inside `messages`;
//   - no messages: one user message holding `context`;
//   - max_tokens = max_gen_toks (required by the API); temperature 0 unless do_sample;
//   - stop_sequences = until minus whitespace-only strings (the API rejects those); all stop
//     strings are applied again client-side by the caller (truncate_at_stop).
// Anthropic returns no logprobs at all: loglikelihood is unsupported on this backend.
// stop_reason maps: end_turn / stop_sequence -> "stop", max_tokens -> "length".
//
// Thread safety: pure functions; AnthropicStreamAccumulator is one per stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engines/remote/openai_api.h"
#include "engines/remote/sse_parser.h"
#include "harness/request.h"
#include "harness/status.h"

namespace assay {

inline constexpr const char* kAnthropicVersion = "2023-06-01";

struct AnthropicOptions {
  std::string model;
  bool stream = false;
};

std::string anthropic_messages_body(const GenerateRequest& req, const AnthropicOptions& opt);

// One choice with the concatenated text blocks; usage input_tokens/output_tokens map onto
// prompt_tokens/completion_tokens; finish_reason is already normalised.
Result<ApiResponse> parse_anthropic_response(std::string_view body);

// Reassembles a streamed Messages response: message_start (id, model, input usage),
// content_block_delta text_delta pieces, message_delta (stop_reason, cumulative output usage),
// message_stop; ping ignored; an "error" event (which may follow an HTTP 200) fails the stream.
class AnthropicStreamAccumulator {
 public:
  Status on_event(const SseEvent& event);
  bool done() const { return done_; }
  // kCorrupt when the stream ended before message_stop.
  Result<ApiResponse> finish() const;

 private:
  ApiResponse response_;
  bool done_ = false;
};

}  // namespace assay
