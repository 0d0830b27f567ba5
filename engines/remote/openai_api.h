// OpenAI (and OpenAI-compatible: vLLM, SGLang, llama.cpp, Ollama, `assay serve`) payloads and
// parsers. Pure functions: JSON text in, JSON text out; no I/O.
//
// Endpoints (shared/reference/apis-and-retries.md §1-3, lm-eval-parity.md §6.1):
//   - Chat Completions `/v1/chat/completions`: generate_until on chat models;
//   - legacy Completions `/v1/completions`: generate_until on raw prompts, and loglikelihood in
//     lm-eval's local-completions shape: prompt = context + continuation, echo true, logprobs 1,
//     max_tokens 1 (vLLM rejects 0), temperature 0; then
//        ctx = first token whose text_offset >= length of the context
//        logprob  = sum token_logprobs[ctx : -1]   (the last entry is the generated token)
//        is_greedy: for each of those positions, token_logprob == max(top_logprobs[i].values())
//     text_offset counts Unicode code points (Python len()), so the context length is measured
//     in code points too.
// Every sampling parameter is sent explicitly (vLLM applies the model's generation_config
// defaults otherwise). Stop strings are also applied client-side (truncate_at_stop): servers cap
// them at 4 and some ignore them.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engines/remote/sse_parser.h"
#include "harness/request.h"
#include "harness/status.h"

namespace assay {

struct OpenAiOptions {
  std::string model;
  // Chat: send max_completion_tokens (OpenAI o-series and newer) instead of max_tokens.
  bool use_max_completion_tokens = false;
  int max_stop_strings = 4;          // OpenAI's cap; the rest are applied client-side
  std::optional<uint64_t> seed;      // used when the request has none
  int loglikelihood_max_tokens = 1;  // 0 only for servers known to accept it
  int loglikelihood_top_logprobs = 1;
  bool stream = false;
  bool stream_include_usage = true;
};

// Request bodies (JSON text).
std::string openai_chat_body(const GenerateRequest& req, const OpenAiOptions& opt);
// For a request with messages, completions uses only `context` (the caller renders the template).
std::string openai_completion_body(const GenerateRequest& req, const OpenAiOptions& opt);
std::string openai_loglikelihood_body(const LoglikelihoodRequest& req, const OpenAiOptions& opt);

struct CompletionLogprobs {
  std::vector<std::string> tokens;
  std::vector<std::optional<double>> token_logprobs;                   // null for the first prompt token
  std::vector<std::vector<std::pair<std::string, double>>> top_logprobs;  // empty where null
  std::vector<int64_t> text_offset;
};

struct ApiChoice {
  int64_t index = 0;
  std::string text;           // completions: text; chat: message.content ("" when null)
  std::string finish_reason;  // as the server sent it ("stop", "length", ...)
  std::optional<CompletionLogprobs> logprobs;  // completions only
};

struct ApiResponse {
  std::vector<ApiChoice> choices;  // sorted by index
  std::optional<TokenUsage> usage;
  std::string id;
  std::string model;
  std::string system_fingerprint;
};

Result<ApiResponse> parse_openai_completion_response(std::string_view body);
Result<ApiResponse> parse_openai_chat_response(std::string_view body);

// Scores an echo+logprobs completion (see the header comment). Lengths are in code points
// (utf8_codepoint_count). `drop_last` drops the generated token (max_tokens >= 1). kCorrupt when the
// response cannot be an echo of context+continuation (offsets missing, the generated token
// starting inside the prompt — a server that ignored echo — or a null continuation logprob),
// so a mis-detected capability fails loudly instead of scoring at chance.
Result<LoglikelihoodResponse> score_echo_logprobs(const CompletionLogprobs& lp, int64_t context_chars,
                                                  int64_t continuation_chars, bool drop_last = true);
// Number of Unicode code points in UTF-8 text (bytes that are not continuation bytes).
int64_t utf8_codepoint_count(std::string_view s);

// Cuts `text` at the earliest occurrence of any stop string (stop string excluded).
std::string truncate_at_stop(std::string_view text, const std::vector<std::string>& until);

// Maps API finish reasons onto assay's: "stop", "length", or the original string.
std::string normalize_finish_reason(std::string_view reason);

// Reassembles a streamed Chat Completions or Completions response from its SSE events. Handles
// role/content deltas for several choices, finish_reason, the usage chunk of include_usage,
// [DONE], and {"error": ...} objects inside the stream.
// Thread safety: none; one per stream.
class OpenAiStreamAccumulator {
 public:
  explicit OpenAiStreamAccumulator(std::string who = "openai") : who_(std::move(who)) {}
  // Applies one event. An error chunk or unparseable JSON returns its Status (the stream failed).
  Status on_event(const SseEvent& event);
  bool done() const { return done_; }
  // The assembled response; kCorrupt when the stream ended before [DONE].
  Result<ApiResponse> finish() const;

 private:
  std::string who_;
  ApiResponse response_;
  bool done_ = false;
};

}  // namespace assay
