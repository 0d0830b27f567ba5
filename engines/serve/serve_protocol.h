// The OpenAI wire format as `assay serve` speaks it: request parsing and validation, error
// objects, and the small text/number helpers the responses need. Pure functions, no I/O.
//
// Validation follows OpenAI (and vLLM where OpenAI is silent): a wrong type or an out-of-range
// value is a 400 whose error names the field in `param`; unknown fields are ignored, because
// clients send vendor extensions (top_k, repetition_penalty, ...) that a server may not know.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "harness/request.h"

namespace assay::serve {

// An OpenAI error: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" -> null
  std::string code;   // "" -> null
};
std::string error_body(const ApiError& e);

template <class T>
using Parsed = std::variant<T, ApiError>;

// Fields shared by both endpoints.
struct SamplingFields {
  std::string model;                  // "" when the client sent none
  std::optional<int64_t> max_tokens;  // absent: endpoint default
  double temperature = 1.0;           // OpenAI's default; 0 = greedy
  double top_p = 1.0;
  int32_t top_k = 0;  // vLLM extension; 0 = off
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  int32_t n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

struct CompletionRequest {
  std::vector<std::string> prompts;  // a string prompt becomes one entry
  // Token-id prompts ([1,2,3] or [[1,2],[3]]), as lm-eval sends them with a tokenizer; then
  // `prompts` is empty until the server decodes them. Never mixed with text prompts.
  std::vector<std::vector<int32_t>> token_prompts;
  SamplingFields s;
  bool echo = false;
  std::optional<int32_t> logprobs;  // top-k per position; absent = no logprobs
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  SamplingFields s;
};

inline constexpr int32_t kMaxN = 16;
inline constexpr int32_t kMaxLogprobs = 20;  // vLLM's default cap
inline constexpr size_t kMaxStopStrings = 16;

Parsed<CompletionRequest> parse_completion_request(std::string_view body);

// vLLM's tokenizer endpoints (lm-eval's tokenizer_backend=remote uses them).
struct TokenizeRequest {
  std::string prompt;
  bool add_special_tokens = true;  // vLLM's default
};
Parsed<TokenizeRequest> parse_tokenize_request(std::string_view body);
Parsed<std::vector<int32_t>> parse_detokenize_request(std::string_view body);
Parsed<ChatRequest> parse_chat_request(std::string_view body);

// GenParams for the engine: temperature 0 is greedy; max_tokens defaults to `default_max`.
GenParams to_gen_params(const SamplingFields& s, int32_t default_max);

// Unicode code points in UTF-8 text (bytes that are not continuation bytes), as Python's len().
int64_t codepoints(std::string_view s);
// Length of the longest prefix of `s` that does not end inside a UTF-8 character.
size_t complete_utf8_prefix(std::string_view s);
// Makes text safe for a JSON string: invalid UTF-8 sequences become U+FFFD.
std::string valid_utf8(std::string_view s);

// Log-softmax of one row of logits (double accumulation); the k largest as (token, logprob),
// largest first, ties to the lower id.
std::vector<std::pair<int32_t, double>> top_logprobs(const float* logits, int64_t n_vocab, int k);
// Finite log-prob for JSON: -inf and NaN become -9999 (what vLLM sends).
double json_logprob(double v);

}  // namespace assay::serve
