// OpenAiService: the OpenAI-compatible API over a LocalModel, independent of HTTP. One method
// takes (method, path, body) and answers status + JSON (or the events of an SSE stream).
//
//   GET  /health                 {"status": "ok"}
//   GET  /v1/models[/ID]         the one served model (id = the model's display id)
//   POST /v1/completions         prompt string or list; echo + logprobs give prompt-token
//                                log-probs as vLLM / legacy OpenAI do (tokens, token_logprobs
//                                with null first, top_logprobs, text_offset in code points)
//   POST /v1/chat/completions    the model's chat template; stream: true -> SSE chunks
//   POST /tokenize, /detokenize, GET /tokenizer_info   vLLM's tokenizer endpoints, so
//                                lm-eval's local-completions can run with
//                                tokenizer_backend=remote (no tokenizer download) and send
//                                token-id prompts, which /v1/completions accepts
//
// Engine work goes through the EngineWorker, so concurrent requests are batched. Chat streaming
// is incremental: text is sent as the engine generates it (held back by the longest stop string
// less one byte, so nothing sent is ever cut). Completions streaming is not: the whole answer is
// generated, then sent as one SSE chunk per token. Either way the concatenated stream equals the
// non-streamed text.
// Logprobs of generated tokens are computed for greedy decoding (temperature 0) only.
// Errors are OpenAI error objects (serve_protocol.h). A `model` field that names another model
// is a 404 model_not_found, as OpenAI and vLLM answer.
//
// Thread safety: handle() may be called from many threads at once.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engines/serve/engine_worker.h"
#include "engines/serve/serve_protocol.h"

namespace assay::serve {

struct ServeReply {
  int status = 200;
  std::string body;  // JSON (when !sse)
  bool sse = false;
  std::vector<std::string> events;  // SSE: the JSON of each `data:` event, "[DONE]" last
  // SSE produced while the engine works: called once on the connection's thread with a `send`
  // that writes one `data:` event and returns false once the client is gone. Set instead of
  // `events`.
  std::function<void(const std::function<bool(const std::string&)>& send)> stream;
};

class OpenAiService {
 public:
  // Reads the model's id, context length and tokenizer facts once; the model itself is touched
  // only on the worker's thread.
  OpenAiService(LocalModel& model, EngineWorker& worker);

  ServeReply handle(std::string_view method, std::string_view path, std::string_view body);
  const std::string& model_id() const { return model_id_; }

 private:
  ServeReply models(std::string_view path) const;
  ServeReply completions(std::string_view body);
  ServeReply chat(std::string_view body);
  ServeReply chat_stream(const ChatRequest& req);
  struct StreamShape {
    const char* id_prefix;   // "chatcmpl-", "cmpl-"
    std::string object;      // each chunk's "object"
    bool chat;               // delta chunks (chat) or text chunks (completions)
    std::string leading_text;  // completions with echo: the prompt, sent first
  };
  ServeReply stream_generation(GenerateRequest g, const SamplingFields& s, StreamShape shape);
  ServeReply tokenize(std::string_view body);
  ServeReply detokenize(std::string_view body);
  ServeReply tokenizer_info() const;
  std::optional<ApiError> check_model(const std::string& requested) const;
  std::string next_id(const char* prefix);

  EngineWorker& worker_;
  std::string model_id_;
  std::string identity_;
  std::string spec_;
  int64_t n_ctx_ = 0;
  int64_t created_ = 0;
  std::string bos_token_, eos_token_;  // "" when the vocabulary has none
  std::atomic<uint64_t> counter_{0};
};

}  // namespace assay::serve
