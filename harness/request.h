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

// Tokens one request consumed, as the engine or API reported them. Costs are never stored here:
// they are computed later from these counts and a price table (harness/price_table.h), so a run
// can be re-priced. prompt_tokens counts every input token, cached ones included (OpenAI's
// meaning; the Anthropic parser adds its cache read/creation counts to input_tokens to match);
// completion_tokens includes reasoning tokens, which both vendors bill as output.
struct TokenUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  // Parts of the counts above, where the API says (absent: it did not say).
  std::optional<int64_t> cached_prompt_tokens;   // OpenAI cached_tokens, Anthropic cache_read_input_tokens
  std::optional<int64_t> cache_write_tokens;     // Anthropic cache_creation_input_tokens
  std::optional<int64_t> reasoning_tokens;       // OpenAI completion_tokens_details.reasoning_tokens
  // False when nobody reported usage (a server that sends none): the zeros are not measurements.
  bool reported = false;
  bool operator==(const TokenUsage&) const = default;
};

struct LoglikelihoodRequest {
  std::string context;                // ignored when messages is non-empty
  std::string continuation;
  // Non-empty: a chat-templated context (lm-eval --apply_chat_template). The engine renders the
  // conversation with its own template and generation prompt, as lm-eval renders it with the
  // tokenizer's, so only engines that hold the template can serve it.
  std::vector<ChatMessage> messages;
};

struct LoglikelihoodResponse {
  double logprob = 0;     // sum of log p(continuation token | prefix), natural log
  bool is_greedy = false; // every continuation token was the argmax
  int32_t n_tokens = 0;   // continuation length in tokens
  TokenUsage usage;       // remote: the API's usage of the echo request; local: tokens scored
};

struct RollingRequest {
  std::string text;
};

struct RollingResponse {
  double logprob = 0;     // sum over every token of the text, each predicted once
  int64_t n_tokens = 0;
  TokenUsage usage;
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


struct GenerateResponse {
  std::string text;               // stop string removed
  std::vector<std::string> extra; // further completions when params.n > 1
  std::string finish_reason;      // "stop", "length", "eos"
  TokenUsage usage;
};

}  // namespace assay
