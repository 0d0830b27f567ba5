// Ops: the compute a Llama-family forward pass needs, behind one backend-neutral interface.
//
// forward.cpp is written once against this class; cpu/ (CpuOps) is the reference backend that
// every other backend (cuda/) is tested against.
//
// Memory model
//   * Every float*/void* argument named "device" is an address in memory the backend owns:
//     obtained from alloc() (or, when host_memory_is_device() is true, any host pointer: the CPU
//     backend computes on mmapped weights without a copy).
//   * Host <-> device traffic is explicit: upload()/download(). Both are synchronous: they return
//     once the bytes have arrived (a GPU backend waits for the ops queued before them).
//   * Ops run in issue order on one logical stream; a backend may queue them asynchronously, so
//     results are only visible to the host after download() or synchronize().
//   * Small integer metadata (token ids, positions, KV row lists) is passed as host spans; the
//     backend copies it to the device itself if it needs to. The spans need only live for the
//     duration of the call.
//
// Shapes and strides
//   * Activations are row-major f32 matrices [n_rows, n_cols]; `*_stride` is the distance between
//     consecutive rows in elements (>= n_cols), so a view of a fused tensor (e.g. the Q part of a
//     fused QKV projection) can be passed without a copy.
//   * Weights are GGUF tensors in ggml layout (TensorRef): ne0 contiguous (the input dimension),
//     ne1 rows (the output dimension). Quant blocks run along ne0.
//
// Determinism: for a given backend and machine, every op's result for one row (token) depends
// only on that row's inputs: not on the thread count, nor on which other rows share the batch.
// (CpuOps guarantees this bit for bit; it is what makes loglikelihoods independent of batching.)
//
// Errors: shape or type mismatches are programmer errors (ASSAY_CHECK). Unsupported weight types
// are rejected by supports_type() before a model is loaded.
//
// Thread safety: an Ops object is used by one thread at a time; it may use threads internally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "engines/local/ggml_types.h"

namespace assay {

// A 2-D GGUF tensor in device memory: ne1 rows of ne0 elements of `type`.
struct TensorRef {
  const void* data = nullptr;  // device address of row 0
  GgmlType type = GgmlType::F32;
  int64_t ne0 = 0;             // elements per row (contiguous); a multiple of the block size
  int64_t ne1 = 0;             // number of rows
  size_t row_bytes = 0;        // stride between rows in bytes (ggml_row_bytes(type, ne0) if packed)
};

// Writable variant (KV cache).
struct MutableTensorRef {
  void* data = nullptr;
  GgmlType type = GgmlType::F32;
  int64_t ne0 = 0;
  int64_t ne1 = 0;
  size_t row_bytes = 0;
  TensorRef view() const { return TensorRef{data, type, ne0, ne1, row_bytes}; }
};

enum class RopeStyle {
  kNorm,  // llama.cpp LLAMA_ROPE_TYPE_NORM: rotates adjacent pairs (x[2i], x[2i+1]) (GGUF llama)
  kNeox,  // llama.cpp LLAMA_ROPE_TYPE_NEOX: rotates (x[i], x[i + n_rot/2]) (qwen2, HF layout)
};

struct RopeParams {
  RopeStyle style = RopeStyle::kNorm;
  int n_rot = 0;               // rotated dims per head (<= head_dim, even); the rest pass through
  float freq_base = 10000.0f;  // theta base
  float freq_scale = 1.0f;     // linear scaling: 1 / rope.scaling.factor (positions are multiplied)
  // Llama 3.1 rope_freqs: [n_rot/2] f32 divisors of each base frequency (device); null = none.
  const float* freq_factors = nullptr;
};

// Which KV-cache rows each query token attends to. Supports paged and prefix-shared caches:
// each sequence owns an ordered list of cache rows (its positions 0, 1, 2, ... in order, which
// may be any rows of the cache, and may be shared with other sequences), and each query token
// attends to a prefix of its sequence's list.
struct AttentionLayout {
  // Concatenated per-sequence row lists: sequence s owns rows[seq_offsets[s] .. seq_offsets[s+1]).
  std::span<const int32_t> rows;
  std::span<const int32_t> seq_offsets;  // [n_seq + 1], non-decreasing, back() <= rows.size()
  std::span<const int32_t> token_seq;    // [n_tokens] sequence of each query token
  // [n_tokens] how many leading rows of its sequence's list each token attends to (causal
  // attention at position p: p + 1, the token's own K/V must already be stored). >= 1.
  std::span<const int32_t> token_n_kv;
};

struct AttentionParams {
  int n_head = 0;
  int n_head_kv = 0;  // n_head % n_head_kv == 0; query head h reads kv head h / (n_head / n_head_kv)
  int head_dim = 0;
  float scale = 0.0f;  // softmax(scale * q.k); 0 means 1/sqrt(head_dim)
};

// Checks attention()'s arguments against its contract (ASSAY_CHECK: programmer errors) and
// returns the longest token_n_kv. Shared by the backends so they accept exactly the same calls.
int64_t check_attention_args(const TensorRef& k_cache, const TensorRef& v_cache,
                             const AttentionLayout& layout, const AttentionParams& p);

// One row's settings for Ops::sample_tokens: the Sampler's (engines/local/sampler.h) plus the
// row's draw, made on the host from its sequence's generator.
struct SampleRow {
  double temperature = 1.0;  // <= 0: the argmax (lowest id on ties), no draw used
  double top_p = 1.0;        // >= 1: off
  double unit = 0.0;         // the draw, in [0, 1)
  int32_t top_k = 0;         // 0 or >= n_vocab: off
  int32_t reserved = 0;
};

class Ops {
 public:
  virtual ~Ops() = default;

  virtual std::string_view name() const = 0;
  // Whether matmul()/embed() accept weights of this type.
  virtual bool supports_type(GgmlType type) const = 0;

  // ---- memory ----
  // Device allocation of `bytes` (aligned to at least 64 bytes); aborts when out of memory.
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* device_ptr) = 0;
  virtual void upload(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* device_src, size_t bytes) = 0;
  virtual void fill_zero(void* device_dst, size_t bytes) = 0;
  // Waits for every queued op. No-op on synchronous backends.
  virtual void synchronize() = 0;
  // True when host pointers can be used directly as device addresses (CPU): weights need no copy.
  virtual bool host_memory_is_device() const = 0;
  // Bytes the backend could still allocate, or 0 when it does not size caches from its memory
  // (CPU: the KV cache keeps its fixed default there).
  virtual size_t free_memory() const { return 0; }

  // ---- ops ----

  // out[t, :] = dequantized row ids[t] of table.        table: [n_vocab rows, n_embd] any type
  // out: [ids.size(), table.ne0] f32 device, row stride out_stride (0 = table.ne0).
  virtual void embed(const TensorRef& table, std::span<const int32_t> ids, float* out,
                     int64_t out_stride = 0) = 0;

  // out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight  (weight null = no scaling).
  // x, out: [n_rows, n] f32 device (may alias); weight: [n] f32 device.
  virtual void rms_norm(const float* x, const float* weight, float* out, int64_t n_rows, int64_t n,
                        float eps) = 0;

  // out[t, j] = sum_i x[t, i] * w[j, i] (+ bias[j]).
  // x: [n_tokens, w.ne0] f32 device, row stride x_stride (0 = w.ne0).
  // w: [w.ne1 rows, w.ne0] any supported type. bias: [w.ne1] f32 device or null.
  // out: [n_tokens, w.ne1] f32 device, row stride out_stride (0 = w.ne1). Must not alias x.
  virtual void matmul(const float* x, int64_t n_tokens, const TensorRef& w, const float* bias,
                      float* out, int64_t x_stride = 0, int64_t out_stride = 0) = 0;

  // In-place rotary embedding of x: [n_tokens, n_head * head_dim] f32 device, row stride
  // x_stride (0 = n_head * head_dim); positions: [n_tokens] (host).
  virtual void rope(float* x, int64_t n_tokens, int n_head, int head_dim,
                    std::span<const int32_t> positions, const RopeParams& p,
                    int64_t x_stride = 0) = 0;

  // Writes rows of src into cache rows: dst row rows[t] = src[t, :] converted to dst.type
  // (F32 or F16). src: [rows.size(), dst.ne0] f32 device, row stride src_stride (0 = dst.ne0).
  virtual void store_rows(const float* src, std::span<const int32_t> rows, MutableTensorRef dst,
                          int64_t src_stride = 0) = 0;

  // Causal grouped-query attention of n_tokens new queries over the KV cache.
  // q: [n_tokens, n_head * head_dim] f32 device, row stride q_stride (0 = packed).
  // k_cache, v_cache: [n_cache_rows, n_head_kv * head_dim] F32 or F16 device.
  // out: [n_tokens, n_head * head_dim] f32 device, row stride out_stride (0 = packed).
  // Softmax in f32 with max subtraction.
  virtual void attention(const float* q, const TensorRef& k_cache, const TensorRef& v_cache,
                         const AttentionLayout& layout, const AttentionParams& p, float* out,
                         int64_t q_stride = 0, int64_t out_stride = 0) = 0;

  // out[i] = silu(gate[i]) * up[i] for i < n_rows * n; silu(x) = x / (1 + exp(-x)).
  // gate, up, out: [n_rows, n] f32 device with their own row strides (0 = n); out may alias.
  virtual void swiglu(const float* gate, const float* up, float* out, int64_t n_rows, int64_t n,
                      int64_t gate_stride = 0, int64_t up_stride = 0, int64_t out_stride = 0) = 0;

  // out = a + b, n contiguous f32 elements (device); out may alias a or b.
  virtual void add(const float* a, const float* b, float* out, int64_t n) = 0;

  // dst[i, :] = src[rows[i], :].  src rows of `width` f32 with stride src_stride; dst packed
  // [rows.size(), width]. Used to keep only the tokens whose logits are wanted.
  virtual void gather_rows(const float* src, int64_t src_stride, std::span<const int32_t> rows,
                           int64_t width, float* dst) = 0;

  // Per row r of logits [n_rows, n_vocab] f32 device (row stride = n_vocab), into HOST arrays
  // (each may be null):
  //   logprob[r]   = log softmax(logits[r])[targets[r]]  (NaN where targets[r] < 0)
  //   argmax[r]    = index of the largest logit (lowest index on ties)
  //   logsumexp[r] = log sum_j exp(logits[r, j])  (full log-softmax = logits - logsumexp)
  // targets: [n_rows] host (may be empty when logprob is null). Sums are accumulated in double.
  virtual void token_logprobs(const float* logits, int64_t n_rows, int64_t n_vocab,
                              std::span<const int32_t> targets, float* logprob, int32_t* argmax,
                              float* logsumexp) = 0;

  // One token per row of logits [n_rows, n_vocab] f32 device (row stride = n_vocab), drawn as
  // Sampler::sample(row, {temperature, top_k, top_p}, unit) draws it, into HOST out[n_rows].
  // The base implementation downloads the rows and runs the host Sampler; CudaOps samples on the
  // device (the same kept set and id-order walk; the same token up to the rounding of sums).
  virtual void sample_tokens(const float* logits, int64_t n_rows, int64_t n_vocab,
                             std::span<const SampleRow> rows, int32_t* out);

  // ---- recorded steps (CUDA graphs) ----
  // A backend that returns true from begin_graph() records the ops that follow instead of
  // running them, until end_graph(), which runs the whole recording as one launch and returns
  // true, or returns false when the recording failed: then nothing ran, and the caller must issue
  // the same ops again (they run as usual). n_tokens is the batch of the ops to come and
  // stage_bytes bounds the host lists (ids, positions, rows, layouts) they hand over, each list
  // counted once. In between, only the ops above that queue work may be called: no memory
  // calls (alloc, free, upload, download, fill_zero, synchronize) and no token_logprobs or
  // sample_tokens. The default records nothing.
  virtual bool begin_graph(int64_t n_tokens, size_t stage_bytes) {
    (void)n_tokens, (void)stage_bytes;
    return false;
  }
  virtual bool end_graph() { return true; }
};

}  // namespace assay
