// RemoteModel: assay::Model over an HTTP API — OpenAI, Anthropic, or any OpenAI-compatible server
// (vLLM, SGLang, llama.cpp, Ollama, `assay serve`). All the API specifics live in the pure
// payload/parse files (openai_api.h, anthropic_api.h); this class only batches requests through
// HttpClient and maps outcomes onto Results, one per request, in order. A request that fails
// after its retries fails alone; its Status says why (infrastructure failures are errors, never
// wrong answers).
//
//   generate_until:  chat endpoint (default; requests without messages become one user
//                    message), or /completions with the raw context (chat=false), or Anthropic
//                    Messages. Stop strings are applied again client-side. params.n > 1 fills
//                    `extra` (OpenAI only).
//   loglikelihood:   /completions with echo + logprobs, lm-eval local-completions form (see
//                    openai_api.h). Only when the endpoint supports it (config.loglikelihood,
//                    set by the user or by probe_echo_logprobs()); otherwise every request fails
//                    with kUnsupported before anything is sent. A plain URL (vLLM, llama-server,
//                    assay serve, ...) probes by default, once and only when a run needs
//                    log-likelihoods (prepare()); openai:/anthropic: never probe by default.
//   loglikelihood_rolling: kUnsupported (needs token ids to prepend BOS; see report).
// Every answer carries the API's usage (TokenUsage, reported=true) when the server sent one;
// pricing happens later, in the evaluator (harness/usage.h).
//
// Model args (k=v, from --model-args): model, base_url, api_key_env, api_key_file,
// num_concurrent, max_retries, timeout, chat (true/false), loglikelihood (true/false/probe/auto:
// probe at create / probe when first needed; auto is the default for a plain URL),
// stream (true/false), rpm, tpm, seed, n_ctx, max_completion_tokens (true/false),
// loglikelihood_max_tokens (1, default: works on vLLM; 0: the old OpenAI form, nothing generated).
//
// Thread safety: one thread at a time (HttpClient serialises run()).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engines/remote/anthropic_api.h"
#include "engines/remote/http_client.h"
#include "engines/remote/openai_api.h"
#include "harness/model.h"

namespace assay {

enum class RemoteApi { kOpenAI, kAnthropic };

struct RemoteModelConfig {
  std::string spec;                 // as the user wrote it
  RemoteApi api = RemoteApi::kOpenAI;
  std::string backend = "openai";   // "openai", "anthropic", "openai-compatible"
  std::string base_url;             // ".../v1", no trailing slash
  std::string model;
  ApiKeySource key;                 // both empty: send no key (local servers)
  bool chat = true;
  bool loglikelihood = false;
  bool probe_loglikelihood = false; // decide `loglikelihood` by probing at create()
  bool probe_when_needed = false;   // decide it by probing in prepare(), if a run needs it
  bool stream = false;
  int64_t n_ctx = 0;
  OpenAiOptions openai;             // model filled from `model`
  HttpClientOptions http;
};

using ModelArgs = std::vector<std::pair<std::string, std::string>>;

// Builds a config from a remote spec ("openai:MODEL", "anthropic:MODEL", "http(s)://.../v1") and
// model args. Defaults: OpenAI and Anthropic read OPENAI_API_KEY / ANTHROPIC_API_KEY; a plain URL
// sends no key unless api_key_env / api_key_file is given, uses chat unless chat=false, and may
// omit model=... (create() then takes the one model GET /models lists, or fails naming them).
// Unknown args are an error (with the list of known ones).
Result<RemoteModelConfig> remote_config_from_spec(const std::string& spec, const ModelArgs& args);

class RemoteModel;

// The engine-registry entry point: spec + model args -> a ready Model (key resolved, model id
// discovered or probe run where asked).
Result<std::unique_ptr<Model>> make_remote_model(const std::string& spec, const ModelArgs& args);

class RemoteModel : public Model {
 public:
  // Resolves the API key. Sends no request unless probe_loglikelihood is set or the model id
  // must be discovered. (probe_when_needed waits for prepare() or the first loglikelihood call.)
  static Result<std::unique_ptr<RemoteModel>> create(RemoteModelConfig config);

  const ModelInfo& info() const override { return info_; }
  std::vector<Result<LoglikelihoodResponse>> loglikelihood(std::span<const LoglikelihoodRequest> requests) override;
  std::vector<Result<RollingResponse>> loglikelihood_rolling(std::span<const RollingRequest> requests) override;
  std::vector<Result<GenerateResponse>> generate_until(std::span<const GenerateRequest> requests) override;
  Status prepare(const ModelNeeds& needs) override;

  // Sends one echo+logprobs request and says whether the endpoint returns prompt logprobs in a
  // usable shape (false for llama-server, which rejects echo, and for chat-only endpoints).
  // A transport failure or auth error is returned as a Status, not as "false".
  Result<bool> probe_echo_logprobs();

  HttpClientStats http_stats() const { return client_->stats(); }

 private:
  explicit RemoteModel(RemoteModelConfig config, std::string key);
  HttpRequest make_request(const std::string& path, std::string body, int64_t estimated_tokens) const;
  // GET /models; the id when exactly one is served. An `assay serve` card also names the
  // weights it serves (assay_identity), kept in *served_identity.
  Result<std::string> discover_model_id(std::string* served_identity);
  Status run_probe();                        // probe once; record the answer in info_
  std::string no_loglikelihood_reason() const;

  RemoteModelConfig config_;
  std::string key_;
  ModelInfo info_;
  std::unique_ptr<HttpClient> client_;
};

}  // namespace assay
