// LocalModel: the Model interface over the local engine (LlamaForward on an Ops backend).
//
// loglikelihood: lm-eval's context/continuation split (trailing whitespace of the context moves
//   to the continuation; context+continuation is encoded whole and the context's tokens removed;
//   an empty context becomes the BOS, else EOS, token); the sum of the continuation tokens'
//   log-probs and whether each was the argmax.
// loglikelihood_rolling: lm-eval's disjoint rolling windows of n_ctx tokens with the prefix
//   token first, so every token is predicted exactly once.
// generate_until: greedy, or seeded temperature/top-k/top-p sampling; stops at a stop string
//   (matched on decoded text and cut off), an end-of-generation token, max tokens or the context.
//
// Requests are sorted so shared prefixes are adjacent and computed once through PrefixCache
// (the four options of a multiple-choice question share the question; a few-shot header stays
// cached across questions while it fits). Each token's result depends only on its own prefix, so
// results are identical whatever the batch size, request order or thread count.
// A request that cannot run (longer than the context) fails alone with a message.
// Thread safety: one call at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engines/local/llama_forward.h"
#include "engines/local/model_files.h"
#include "engines/local/prefix_cache.h"
#include "engines/local/vocab/chat_template.h"
#include "engines/local/vocab/tokenizer.h"
#include "harness/model.h"

namespace assay {

struct LocalModelOptions {
  int32_t n_ctx = 0;          // 0: min(training context, 4096)
  int32_t cache_rows = 0;     // KV rows shared by all sequences; 0: max(2 * n_ctx, 8192), or on a
                              // device (CUDA) 85% of its free memory after weights and scratch
  int32_t n_batch = 512;      // most new tokens per forward
  std::optional<bool> add_bos;  // override the tokenizer's add_bos
  GgmlType kv_type = GgmlType::F16;
  std::string chat_template;  // force a template family by name ("" = from the model file)
  // false: a model folder without tokenizer files still loads, for token-level use only
  // (score_tokens, last_logits); text requests then fail with a clear error.
  bool require_tokenizer = true;
};

// One scoring item at token level: predict tokens[n_prefix..] from what precedes each.
struct TokenScoreItem {
  std::vector<int32_t> tokens;
  int32_t n_prefix = 1;  // >= 1
  bool want_token_logprobs = false;
};
struct TokenScore {
  double logprob = 0;
  bool is_greedy = true;
  std::vector<float> token_logprobs;  // when asked
  std::vector<int32_t> argmax;        // when asked
  std::vector<float> argmax_logprobs; // when asked: the log-prob of argmax[i] (a top-1 list
                                      // without a second pass over the logits)
};

class LocalModel : public Model {
 public:
  static Result<std::unique_ptr<LocalModel>> load(const std::string& path, const std::string& spec,
                                                  std::unique_ptr<Ops> ops,
                                                  const LocalModelOptions& opts = {});
  ~LocalModel() override;

  const ModelInfo& info() const override { return info_; }
  std::vector<Result<LoglikelihoodResponse>> loglikelihood(
      std::span<const LoglikelihoodRequest> requests) override;
  std::vector<Result<RollingResponse>> loglikelihood_rolling(
      std::span<const RollingRequest> requests) override;
  std::vector<Result<GenerateResponse>> generate_until(
      std::span<const GenerateRequest> requests) override;

  // Token-level scoring (perplexity, KL divergence, tests).
  std::vector<Result<TokenScore>> score_tokens(std::span<const TokenScoreItem> items);
  // Full-vocabulary logits of the last token of each sequence (tests, KL divergence).
  Result<std::vector<float>> last_logits(std::span<const int32_t> tokens);
  // Full-vocabulary logits at positions [first, last] of one sequence (perplexity, KL base
  // files): row-major [last - first + 1, n_vocab] on the host.
  Result<std::vector<float>> logits_range(std::span<const int32_t> tokens, int32_t first,
                                          int32_t last);

  const Tokenizer& tokenizer() const { return *tokenizer_; }  // requires has_tokenizer()
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  const ModelFiles& files() const { return *files_; }
  const std::optional<ChatTemplate>& chat_template() const { return chat_template_; }
  Result<std::string> render_chat(std::span<const ChatMessage> messages) const override;
  int32_t n_ctx() const { return n_ctx_; }
  bool add_bos() const { return add_bos_; }
  Ops& ops() { return *ops_; }
  const PrefixCache& cache() const { return *cache_; }
  int64_t tokens_computed() const { return tokens_computed_; }
  // Token scores served from the per-row score cache instead of the output head (tests).
  int64_t scores_reused() const { return scores_reused_; }
  // Streaming (assay serve): during generate_until, called after each generated token with the
  // request's index in the span and its text so far, before stop strings are looked for (so it
  // may hold a stop string, or the start of one, that the final text cuts). Runs on the calling
  // thread; keep it cheap. Empty: none.
  using TextCallback = std::function<void(size_t request, const std::string& text)>;
  void set_text_callback(TextCallback cb) { text_callback_ = std::move(cb); }

 private:
  LocalModel() = default;
  struct Pending;
  // Makes sure every node on the paths is computed; nodes are pinned by the caller.
  void compute_nodes(const std::vector<int32_t>& new_nodes);
  // Log-probs of targets at nodes (device hidden rows), into host arrays; argmax_logprobs (may
  // be null): the log-prob of each row's argmax, from the same logits.
  void score_pairs(const std::vector<int32_t>& nodes, const std::vector<int32_t>& targets,
                   std::vector<float>* logprobs, std::vector<int32_t>* argmax,
                   std::vector<float>* argmax_logprobs = nullptr);
  // Pins the path for tokens[0..n) and returns its nodes, appending new ones to *created.
  // Empty optional when the cache is full of pinned rows.
  std::optional<std::vector<int32_t>> pin_path(std::span<const int32_t> tokens,
                                               std::vector<int32_t>* created);
  void unpin_path(const std::vector<int32_t>& nodes);
  std::vector<int32_t> encode(std::string_view text) const;
  Status no_tokenizer() const;

  ModelInfo info_;
  std::unique_ptr<ModelFiles> files_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  std::unique_ptr<Ops> ops_;
  std::unique_ptr<LlamaForward> forward_;
  std::unique_ptr<PrefixCache> cache_;
  int32_t n_ctx_ = 0;
  int32_t n_batch_ = 512;
  bool add_bos_ = false;
  float* hidden_store_ = nullptr;  // [cache_rows, n_embd] device: final hidden state per row
  float* hidden_tmp_ = nullptr;    // [n_batch, n_embd] device
  float* logits_ = nullptr;        // [kLogitRows, n_vocab] device
  float* pair_logits_ = nullptr;   // [kLogitRows, n_vocab] device
  // Per KV row: the score of that row's token predicted from its parent's hidden state. A
  // token's score depends only on its prefix, so it is as exact as recomputing it; it saves the
  // output head for prompt tokens scored again (assay serve's echo log-probs of a few-shot
  // header shared by every request of a subject). Forgotten when the row gets a new node.
  struct RowScore {
    float logprob = 0;
    float argmax_logprob = 0;
    int32_t argmax = -1;
    bool valid = false;
    bool has_argmax_logprob = false;
  };
  std::vector<RowScore> row_scores_;
  int64_t scores_reused_ = 0;
  int64_t tokens_computed_ = 0;
  TextCallback text_callback_;
};

// Model identity for caches: sha256 of the file(s), remembered in a side cache keyed by path,
// size and mtime so large models are hashed once.
Result<std::string> model_file_identity(const std::string& path);

}  // namespace assay
