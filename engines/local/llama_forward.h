// LlamaForward: the Llama-family forward pass, written once against Ops (engines/local/ops.h).
//
// It computes a batch of new tokens, each at its own position, storing their keys and values
// into given KV-cache rows and attending over the rows an AttentionLayout names (which is what
// makes prefix sharing and mixed batches possible). It returns the final-normed hidden state of
// every token; logits() projects chosen hidden states to the vocabulary, so the full-vocabulary
// matmul runs only for the positions whose log-probs are wanted.
//
// Weights come from ModelFiles in GGUF layout (Q/K already in llama.cpp order for arch llama);
// on a backend whose host memory is device memory they are used in place (mmap), never copied
// or dequantized whole.
// Thread safety: one thread at a time (the Ops it drives is single-stream).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "engines/local/hparams.h"
#include "engines/local/model_files.h"
#include "engines/local/ops.h"
#include "harness/status.h"

namespace assay {

struct LlamaLayerWeights {
  const float* attn_norm = nullptr;  // [n_embd] f32 device
  TensorRef wq, wk, wv, wo;          // ggml layout, any supported type
  const float* bq = nullptr;         // qwen2 biases, [n_head*hd], [n_kv*hd] f32 device or null
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* ffn_norm = nullptr;   // [n_embd]
  TensorRef w_gate, w_up, w_down;
  // On backends that copy the weights, projections of one input stacked by rows when their
  // types agree (data null otherwise): one matmul instead of three (Q|K|V, with their biases)
  // and of two (gate|up). wq..w_up then view rows of these.
  TensorRef wqkv, w_gate_up;
  const float* bqkv = nullptr;
};

struct LlamaWeights {
  TensorRef tok_embd;                // [n_vocab rows, n_embd]
  TensorRef output;                  // [n_vocab rows, n_embd] (tok_embd when tied)
  const float* output_norm = nullptr;
  const float* rope_freqs = nullptr; // llama3 divisors [n_rot/2] or null
  std::vector<LlamaLayerWeights> layers;
};

// KV rows for a device with free_bytes left after the weights: 85% of what remains once
// reserve_bytes (the backend's and the forward's scratch) are set aside, divided by the bytes
// one row costs, at least min_rows and at most kMaxAutoCacheRows. free_bytes = 0 (a backend
// that does not report its memory): min_rows.
inline constexpr int32_t kMaxAutoCacheRows = 1 << 20;
int32_t auto_cache_rows(size_t free_bytes, size_t reserve_bytes, size_t row_bytes, int32_t min_rows);

class LlamaForward {
 public:
  // n_cache_rows: KV rows per layer; max_tokens: most tokens one forward() may take.
  // With n_cache_rows = 0 the rows come from the memory the backend reports free once the
  // weights are in (auto_cache_rows), at least min_rows; extra_row_bytes is what the caller
  // allocates per row besides the KV (LocalModel's hidden states).
  static Result<std::unique_ptr<LlamaForward>> create(Ops& ops, const ModelFiles& files,
                                                      int32_t n_cache_rows, int32_t max_tokens,
                                                      GgmlType kv_type, int32_t min_rows = 1,
                                                      size_t extra_row_bytes = 0);
  ~LlamaForward();

  const LlamaHparams& hparams() const { return hp_; }
  int32_t max_tokens() const { return max_tokens_; }
  int64_t kv_bytes() const { return kv_bytes_; }
  int32_t cache_rows() const { return cache_rows_; }

  // ids/positions/rows: [n] host. hidden_out: [n, n_embd] f32 device (row stride n_embd).
  // Offered to the backend as one recorded graph (Ops::begin_graph); run again as plain ops
  // when the recording fails.
  void forward(std::span<const int32_t> ids, std::span<const int32_t> positions,
               std::span<const int32_t> rows, const AttentionLayout& layout, float* hidden_out);
  // Bytes of host lists one forward() of n_tokens over `layout` stages, each list once
  // (Ops::begin_graph's stage_bytes).
  static size_t stage_bound(int64_t n_tokens, const AttentionLayout& layout);
  // logits_out[i, :] = output · hidden[i, :]. hidden: [n, n_embd] f32 device; logits_out
  // [n, n_vocab] f32 device. n <= max_tokens.
  void logits(const float* hidden, int64_t n, float* logits_out);

 private:
  LlamaForward(Ops& ops) : ops_(ops) {}
  void run(std::span<const int32_t> ids, std::span<const int32_t> positions, std::span<const int32_t> rows,
           const AttentionLayout& layout, float* hidden_out);
  Ops& ops_;
  LlamaHparams hp_;
  LlamaWeights w_;
  RopeParams rope_;
  AttentionParams attn_;
  int32_t max_tokens_ = 0;
  int64_t kv_bytes_ = 0;
  int32_t cache_rows_ = 0;
  std::vector<MutableTensorRef> k_cache_, v_cache_;
  std::vector<void*> owned_;  // device allocations (weights copies, caches, scratch)
  float *x_ = nullptr, *xn_ = nullptr, *q_ = nullptr, *k_ = nullptr, *v_ = nullptr,
        *attn_out_ = nullptr, *tmp_ = nullptr, *gate_ = nullptr, *up_ = nullptr, *qkv_ = nullptr,
        *gate_up_ = nullptr;
};

}  // namespace assay
