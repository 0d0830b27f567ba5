// The request and response types of the Model interface (harness/model.h).
//
// They follow lm-evaluation-harness: loglikelihood(context, continuation),
// loglikelihood_rolling(text), generate_until(context, gen_kwargs). All text is UTF-8 bytes
// exactly as the task rendered it; engines tokenize (lm-eval splits context and continuation as
// text and tokenizes context+continuation together, see the engine for details).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace assay {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
  bool operator==(const ChatMessage&) const = default;
};

struct LoglikelihoodRequest {
  std::string context;
  std::string continuation;
};

struct LoglikelihoodResponse {
  double logprob = 0;     // sum of log p(continuation token | prefix), natural log
  bool is_greedy = false; // every continuation token was the argmax
  int32_t n_tokens = 0;   // continuation length in tokens
};

struct RollingRequest {
  std::string text;
};

struct RollingResponse {
  double logprob = 0;     // sum over every token of the text, each predicted once
  int64_t n_tokens = 0;
};

// Generation parameters as lm-eval's gen_kwargs understands them.
struct GenParams {
  std::vector<std::string> until;  // stop strings, matched on decoded text; not included in output
  int32_t max_gen_toks = 256;
  bool do_sample = false;          // false: greedy (temperature ignored)
  double temperature = 0.0;
  int32_t top_k = 0;               // 0: off
  double top_p = 1.0;              // 1: off
  std::optional<uint64_t> seed;
  int32_t n = 1;                   // completions per request (APIs); local engine: 1
};

struct GenerateRequest {
  std::string context;               // the full prompt when messages is empty
  std::vector<ChatMessage> messages; // non-empty: a chat request (engine applies its template)
  GenParams params;
};

struct TokenUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct GenerateResponse {
  std::string text;               // stop string removed
  std::vector<std::string> extra; // further completions when params.n > 1
  std::string finish_reason;      // "stop", "length", "eos"
  TokenUsage usage;
};

}  // namespace assay
