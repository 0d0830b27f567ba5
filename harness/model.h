// Model: the one interface every engine (local CPU/CUDA, remote APIs) implements.
//
// Batch in, batch out: each call takes all requests of a kind and returns exactly one Result per
// request, in the same order. A request that fails (context too long, API error after retries)
// fails alone; the others still answer. Engines are free to reorder, batch and share prefixes
// internally, but results must not depend on batch size or thread count.
//
// Thread safety: a Model is used from one thread at a time unless its info() says otherwise.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "harness/request.h"
#include "harness/status.h"

namespace assay {

struct ModelInfo {
  std::string spec;        // as the user wrote it: "local:/x.gguf", "openai:gpt-4o", "default"
  std::string id;          // display name, e.g. "SmolLM2-135M-Instruct.Q4_1"
  std::string identity;    // what the request cache keys on: file sha256, or endpoint + model id
  std::string backend;     // "cpu", "cuda", "openai", "anthropic", "openai-compatible"
  int64_t n_ctx = 0;       // context length in tokens (0: unknown)
  bool supports_loglikelihood = false;  // prompt log-probs available
  bool supports_rolling = false;
  bool supports_generate = true;
  bool chat_only = false;  // generate_until takes messages only (no raw completion)
  std::vector<std::pair<std::string, std::string>> details;  // architecture, quantization, ...
};

// What a run's requests need from the model, known once every task's requests are collected.
struct ModelNeeds {
  bool loglikelihood = false;
  bool rolling = false;
  bool generate = false;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  // Called by the evaluator before it sends any request, once it knows what the tasks need. An
  // engine whose capabilities can only be learned by asking (a remote endpoint: does it echo
  // prompt log-probs?) asks here, and only for what is needed; info() then says the answer. An
  // error (server unreachable, or a need it cannot serve, with the reason) stops the run before
  // any task request is sent.
  virtual Status prepare(const ModelNeeds& needs) {
    (void)needs;
    return Status::OK();
  }
  virtual std::vector<Result<LoglikelihoodResponse>> loglikelihood(
      std::span<const LoglikelihoodRequest> requests) = 0;
  virtual std::vector<Result<RollingResponse>> loglikelihood_rolling(
      std::span<const RollingRequest> requests) = 0;
  virtual std::vector<Result<GenerateResponse>> generate_until(
      std::span<const GenerateRequest> requests) = 0;
  // The exact prompt text a chat request becomes (template plus generation prompt), for sample
  // logs and for refusing chat-templated scoring up front. Engines without a template say so.
  virtual Result<std::string> render_chat(std::span<const ChatMessage> messages) const {
    (void)messages;
    return unsupported(info().spec + " renders chat messages remotely; the prompt text is not known");
  }
};

}  // namespace assay
