#include "engines/local/llama_forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engines/local/tensor_names.h"

namespace assay {
namespace {

// Places a tensor on the device: in place when host memory is device memory.
const void* device_data(Ops& ops, const TensorView& t, std::vector<void*>* owned) {
  if (ops.host_memory_is_device()) return t.data;
  void* d = ops.alloc(t.n_bytes);
  ops.upload(d, t.data, t.n_bytes);
  owned->push_back(d);
  return d;
}

Result<const TensorView*> checked_matrix(Ops& ops, const ModelFiles& f, const std::string& name, int64_t ne0,
                                         int64_t ne1) {
  const TensorView* t = f.tensor(name);
  if (!t) return not_found(f.path() + ": tensor " + name + " is missing");
  if (t->ne.size() != 2 || t->ne[0] != ne0 || t->ne[1] != ne1) {
    return corrupt(f.path() + ": tensor " + name + " has the wrong shape");
  }
  if (!ops.supports_type(t->type)) {
    return unsupported(f.path() + ": tensor " + name + " has type " +
                       std::string(ggml_type_traits(static_cast<uint32_t>(t->type))->name) +
                       ", which the " + std::string(ops.name()) + " backend cannot compute with");
  }
  return t;
}

TensorRef packed_ref(const void* data, GgmlType type, int64_t ne0, int64_t ne1) {
  return TensorRef{data, type, ne0, ne1, static_cast<size_t>(ggml_row_bytes(type, ne0))};
}

// Rows [r0, r0 + n) of t.
TensorRef rows_of(const TensorRef& t, int64_t r0, int64_t n) {
  return TensorRef{static_cast<const uint8_t*>(t.data) + r0 * t.row_bytes, t.type, t.ne0, n, t.row_bytes};
}

Result<TensorRef> matrix(Ops& ops, const ModelFiles& f, const std::string& name, int64_t ne0,
                         int64_t ne1, std::vector<void*>* owned) {
  ASSAY_ASSIGN_OR_RETURN(const TensorView* t, checked_matrix(ops, f, name, ne0, ne1));
  return packed_ref(device_data(ops, *t, owned), t->type, ne0, ne1);
}

// Matrices of one input (same ne0) stacked by rows into one device allocation, so one matmul
// computes them all: fewer launches, and the small K/V projections no longer run alone on a GPU.
// Only where the weights are copied anyway (not on the CPU, which computes on the mapped file),
// and only when their types agree (Q4_K_M files keep some attn_v in Q6_K): data null otherwise.
Result<TensorRef> stacked(Ops& ops, const ModelFiles& f, const std::vector<std::pair<std::string, int64_t>>& parts,
                          int64_t ne0, std::vector<void*>* owned) {
  if (ops.host_memory_is_device()) return TensorRef{};
  std::vector<const TensorView*> ts;
  int64_t rows = 0;
  size_t bytes = 0;
  for (const auto& [name, ne1] : parts) {
    ASSAY_ASSIGN_OR_RETURN(const TensorView* t, checked_matrix(ops, f, name, ne0, ne1));
    if (!ts.empty() && t->type != ts[0]->type) return TensorRef{};
    if (t->n_bytes != static_cast<size_t>(ggml_row_bytes(t->type, ne0)) * static_cast<size_t>(ne1)) return TensorRef{};
    ts.push_back(t);
    rows += ne1;
    bytes += t->n_bytes;
  }
  auto* d = static_cast<uint8_t*>(ops.alloc(bytes));
  owned->push_back(d);
  size_t off = 0;
  for (const TensorView* t : ts) {
    ops.upload(d + off, t->data, t->n_bytes);
    off += t->n_bytes;
  }
  return packed_ref(d, ts[0]->type, ne0, rows);
}

// F32 vectors placed end to end on the device (the biases of a stacked matrix). A missing part is
// an error when `required`, else zeros (adding them changes nothing, as leaving it out would).
Result<const float*> stacked_vec(Ops& ops, const ModelFiles& f, const std::vector<std::pair<std::string, int64_t>>& parts,
                                 bool required, std::vector<void*>* owned) {
  int64_t n = 0;
  for (const auto& [name, len] : parts) {
    const TensorView* t = f.tensor(name);
    if (!t && required) return not_found(f.path() + ": tensor " + name + " is missing");
    if (t && (t->type != GgmlType::F32 || t->n_elements() != len)) {
      return corrupt(f.path() + ": tensor " + name + " must be F32 with " + std::to_string(len) + " elements");
    }
    n += len;
  }
  auto* d = static_cast<float*>(ops.alloc(sizeof(float) * static_cast<size_t>(n)));
  owned->push_back(d);
  ops.fill_zero(d, sizeof(float) * static_cast<size_t>(n));
  int64_t at = 0;
  for (const auto& [name, len] : parts) {
    if (const TensorView* t = f.tensor(name)) ops.upload(d + at, t->data, sizeof(float) * static_cast<size_t>(len));
    at += len;
  }
  return static_cast<const float*>(d);
}

Result<const float*> vec(Ops& ops, const ModelFiles& f, const std::string& name, int64_t n,
                         bool optional, std::vector<void*>* owned) {
  const TensorView* t = f.tensor(name);
  if (!t) {
    if (optional) return static_cast<const float*>(nullptr);
    return not_found(f.path() + ": tensor " + name + " is missing");
  }
  if (t->type != GgmlType::F32 || t->n_elements() != n) {
    return corrupt(f.path() + ": tensor " + name + " must be F32 with " + std::to_string(n) +
                   " elements");
  }
  return static_cast<const float*>(device_data(ops, *t, owned));
}

// ASSAY_DEBUG_TENSORS=1: prints each intermediate tensor's sum and its rows' first and last three
// values to stderr, named and laid out as llama.cpp's llama-eval-callback prints them, so a
// divergence from llama.cpp (or between backends) can be traced to the op where it starts.
bool debug_tensors_on() {
  static const bool on = std::getenv("ASSAY_DEBUG_TENSORS") != nullptr;
  return on;
}

void dbg(Ops& ops, const char* name, int li, const float* x, int64_t n, int64_t w, int64_t stride = 0) {
  if (!debug_tensors_on()) return;
  if (stride == 0) stride = w;
  std::vector<float> h(static_cast<size_t>((n - 1) * stride + w));
  ops.download(h.data(), x, h.size() * 4);
  double sum = 0;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < w; ++i) sum += h[static_cast<size_t>(r * stride + i)];
  std::fprintf(stderr, "tensor %s-%d sum=%.6f", name, li, sum);
  for (int64_t r = 0; r < n; ++r) {
    const float* p = h.data() + r * stride;
    std::fprintf(stderr, " | %.4f %.4f %.4f .. %.4f %.4f %.4f", p[0], p[1], p[2], p[w - 3], p[w - 2], p[w - 1]);
  }
  std::fprintf(stderr, "\n");
}

}  // namespace

int32_t auto_cache_rows(size_t free_bytes, size_t reserve_bytes, size_t row_bytes, int32_t min_rows) {
  if (free_bytes == 0 || row_bytes == 0 || free_bytes <= reserve_bytes) return min_rows;
  const double usable = 0.85 * static_cast<double>(free_bytes - reserve_bytes);
  const double rows = std::floor(usable / static_cast<double>(row_bytes));
  return static_cast<int32_t>(std::clamp<double>(rows, min_rows, std::max(min_rows, kMaxAutoCacheRows)));
}

Result<std::unique_ptr<LlamaForward>> LlamaForward::create(Ops& ops, const ModelFiles& files,
                                                           int32_t n_cache_rows,
                                                           int32_t max_tokens, GgmlType kv_type,
                                                           int32_t min_rows, size_t extra_row_bytes) {
  if (!files.has_weights()) return failed_precondition(files.path() + ": " + files.weights_status());
  std::unique_ptr<LlamaForward> fw(new LlamaForward(ops));
  fw->hp_ = files.hparams();
  const LlamaHparams& hp = fw->hp_;
  fw->max_tokens_ = max_tokens;
  auto* owned = &fw->owned_;
  const int64_t n_embd = hp.n_embd, hd = hp.head_dim;
  const int64_t nq = hp.n_head * hd, nkv = hp.n_head_kv * hd;
  ASSAY_ASSIGN_OR_RETURN(fw->w_.tok_embd, matrix(ops, files, "token_embd.weight", n_embd, hp.n_vocab, owned));
  const TensorView& out = files.output_weight();
  ASSAY_ASSIGN_OR_RETURN(fw->w_.output, matrix(ops, files, out.name, n_embd, hp.n_vocab, owned));
  ASSAY_ASSIGN_OR_RETURN(fw->w_.output_norm, vec(ops, files, "output_norm.weight", n_embd, false, owned));
  ASSAY_ASSIGN_OR_RETURN(fw->w_.rope_freqs, vec(ops, files, "rope_freqs.weight", hp.n_rot / 2, true, owned));
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    LlamaLayerWeights lw;
    ASSAY_ASSIGN_OR_RETURN(lw.attn_norm, vec(ops, files, p + "attn_norm.weight", n_embd, false, owned));
    ASSAY_ASSIGN_OR_RETURN(lw.wqkv, stacked(ops, files, {{p + "attn_q.weight", nq}, {p + "attn_k.weight", nkv},
                                                         {p + "attn_v.weight", nkv}}, n_embd, owned));
    if (lw.wqkv.data) {
      lw.wq = rows_of(lw.wqkv, 0, nq);
      lw.wk = rows_of(lw.wqkv, nq, nkv);
      lw.wv = rows_of(lw.wqkv, nq + nkv, nkv);
      // The biases the unstacked path would load: all three where the architecture has them,
      // else whichever the file has (zeros stand in for the others).
      const std::string bq = p + "attn_q.bias", bk = p + "attn_k.bias", bv = p + "attn_v.bias";
      if (hp.qkv_bias || files.tensor(bq) || files.tensor(bk) || files.tensor(bv)) {
        ASSAY_ASSIGN_OR_RETURN(lw.bqkv, stacked_vec(ops, files, {{bq, nq}, {bk, nkv}, {bv, nkv}}, hp.qkv_bias, owned));
        lw.bq = files.tensor(bq) ? lw.bqkv : nullptr;
        lw.bk = files.tensor(bk) ? lw.bqkv + nq : nullptr;
        lw.bv = files.tensor(bv) ? lw.bqkv + nq + nkv : nullptr;
      }
    } else {
      ASSAY_ASSIGN_OR_RETURN(lw.wq, matrix(ops, files, p + "attn_q.weight", n_embd, nq, owned));
      ASSAY_ASSIGN_OR_RETURN(lw.wk, matrix(ops, files, p + "attn_k.weight", n_embd, nkv, owned));
      ASSAY_ASSIGN_OR_RETURN(lw.wv, matrix(ops, files, p + "attn_v.weight", n_embd, nkv, owned));
      ASSAY_ASSIGN_OR_RETURN(lw.bq, vec(ops, files, p + "attn_q.bias", nq, !hp.qkv_bias, owned));
      ASSAY_ASSIGN_OR_RETURN(lw.bk, vec(ops, files, p + "attn_k.bias", nkv, !hp.qkv_bias, owned));
      ASSAY_ASSIGN_OR_RETURN(lw.bv, vec(ops, files, p + "attn_v.bias", nkv, !hp.qkv_bias, owned));
    }
    ASSAY_ASSIGN_OR_RETURN(lw.wo, matrix(ops, files, p + "attn_output.weight", nq, n_embd, owned));
    ASSAY_ASSIGN_OR_RETURN(lw.ffn_norm, vec(ops, files, p + "ffn_norm.weight", n_embd, false, owned));
    ASSAY_ASSIGN_OR_RETURN(lw.w_gate_up, stacked(ops, files, {{p + "ffn_gate.weight", hp.n_ff},
                                                              {p + "ffn_up.weight", hp.n_ff}}, n_embd, owned));
    if (lw.w_gate_up.data) {
      lw.w_gate = rows_of(lw.w_gate_up, 0, hp.n_ff);
      lw.w_up = rows_of(lw.w_gate_up, hp.n_ff, hp.n_ff);
    } else {
      ASSAY_ASSIGN_OR_RETURN(lw.w_gate, matrix(ops, files, p + "ffn_gate.weight", n_embd, hp.n_ff, owned));
      ASSAY_ASSIGN_OR_RETURN(lw.w_up, matrix(ops, files, p + "ffn_up.weight", n_embd, hp.n_ff, owned));
    }
    ASSAY_ASSIGN_OR_RETURN(lw.w_down, matrix(ops, files, p + "ffn_down.weight", hp.n_ff, n_embd, owned));
    fw->w_.layers.push_back(lw);
  }
  fw->rope_.style = hp.rope_type == RopeType::kNeox ? RopeStyle::kNeox : RopeStyle::kNorm;
  fw->rope_.n_rot = static_cast<int>(hp.n_rot);
  fw->rope_.freq_base = hp.rope_theta;
  fw->rope_.freq_scale =
      hp.rope_scaling == RopeScalingType::kLinear && hp.rope_scale_factor > 0 ? 1.0f / hp.rope_scale_factor : 1.0f;
  fw->rope_.freq_factors = fw->w_.rope_freqs;
  fw->attn_.n_head = static_cast<int>(hp.n_head);
  fw->attn_.n_head_kv = static_cast<int>(hp.n_head_kv);
  fw->attn_.head_dim = static_cast<int>(hd);
  fw->attn_.scale = 1.0f / std::sqrt(static_cast<float>(hd));

  // KV cache: one K and one V matrix [n_cache_rows, n_kv] per layer.
  size_t row_bytes = static_cast<size_t>(ggml_row_bytes(kv_type, nkv));
  if (n_cache_rows <= 0) {
    // Set aside the forward's activation scratch (allocated below, ~16 widths of max_tokens
    // floats at most) and 4 GiB for the backend's own (GEMM tiles, attention scores).
    const size_t reserve = (size_t{4} << 30) +
                           sizeof(float) * static_cast<size_t>(max_tokens) *
                               static_cast<size_t>(4 * n_embd + 2 * nq + 2 * nkv + 3 * hp.n_ff);
    n_cache_rows = auto_cache_rows(ops.free_memory(), reserve,
                                   2 * row_bytes * static_cast<size_t>(hp.n_layer) + extra_row_bytes,
                                   std::max(min_rows, 1));
  }
  fw->cache_rows_ = n_cache_rows;
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    for (auto* cache : {&fw->k_cache_, &fw->v_cache_}) {
      MutableTensorRef c;
      c.data = ops.alloc(row_bytes * n_cache_rows);
      ops.fill_zero(c.data, row_bytes * n_cache_rows);
      owned->push_back(c.data);
      c.type = kv_type;
      c.ne0 = nkv;
      c.ne1 = n_cache_rows;
      c.row_bytes = row_bytes;
      cache->push_back(c);
      fw->kv_bytes_ += static_cast<int64_t>(row_bytes) * n_cache_rows;
    }
  }
  auto scratch = [&](int64_t width) {
    void* p = ops.alloc(sizeof(float) * static_cast<size_t>(width * max_tokens));
    owned->push_back(p);
    return static_cast<float*>(p);
  };
  fw->x_ = scratch(n_embd);
  fw->xn_ = scratch(n_embd);
  // Separate or stacked projection outputs, for whichever layers need them.
  bool any_qkv = false, any_gate_up = false, any_separate_qkv = false, any_separate_gate_up = false;
  for (const LlamaLayerWeights& lw : fw->w_.layers) {
    (lw.wqkv.data ? any_qkv : any_separate_qkv) = true;
    (lw.w_gate_up.data ? any_gate_up : any_separate_gate_up) = true;
  }
  if (any_separate_qkv) {
    fw->q_ = scratch(nq);
    fw->k_ = scratch(nkv);
    fw->v_ = scratch(nkv);
  }
  if (any_qkv) fw->qkv_ = scratch(nq + 2 * nkv);
  fw->attn_out_ = scratch(nq);
  fw->tmp_ = scratch(std::max(n_embd, nq));
  fw->gate_ = scratch(hp.n_ff);
  if (any_separate_gate_up) fw->up_ = scratch(hp.n_ff);
  if (any_gate_up) fw->gate_up_ = scratch(2 * hp.n_ff);
  return fw;
}

LlamaForward::~LlamaForward() {
  for (void* p : owned_) ops_.free(p);
}

size_t LlamaForward::stage_bound(int64_t n_tokens, const AttentionLayout& layout) {
  // ids, positions, rows; the attention's one block: rows, offsets, token_seq, token_n_kv and a
  // token list; each rounded up to the backend's 256-byte staging alignment.
  const size_t ints = static_cast<size_t>(6 * n_tokens) + layout.rows.size() + layout.seq_offsets.size();
  return sizeof(int32_t) * ints + 8 * 256;
}

void LlamaForward::forward(std::span<const int32_t> ids, std::span<const int32_t> positions,
                           std::span<const int32_t> rows, const AttentionLayout& layout,
                           float* hidden_out) {
  const int64_t n = static_cast<int64_t>(ids.size());
  ASSAY_CHECK(n > 0 && n <= max_tokens_);
  ASSAY_CHECK(positions.size() == ids.size() && rows.size() == ids.size());
  // A decode step is hundreds of small launches: a backend may record them as one graph. The
  // tensor dump reads results between ops, which a recording cannot.
  const bool graph = !debug_tensors_on() && ops_.begin_graph(n, stage_bound(n, layout));
  run(ids, positions, rows, layout, hidden_out);
  if (graph && !ops_.end_graph()) run(ids, positions, rows, layout, hidden_out);
}

void LlamaForward::run(std::span<const int32_t> ids, std::span<const int32_t> positions,
                       std::span<const int32_t> rows, const AttentionLayout& layout, float* hidden_out) {
  const int64_t n = static_cast<int64_t>(ids.size());
  const int64_t n_embd = hp_.n_embd;
  ops_.embed(w_.tok_embd, ids, x_);
  for (const LlamaLayerWeights& lw : w_.layers) {
    size_t li = static_cast<size_t>(&lw - w_.layers.data());
    int L = static_cast<int>(li);
    if (li == 0) dbg(ops_, "embd", 0, x_, n, n_embd);
    ops_.rms_norm(x_, lw.attn_norm, xn_, n, n_embd, hp_.rms_eps);
    dbg(ops_, "attn_norm", L, xn_, n, n_embd);
    const int64_t nq = static_cast<int64_t>(attn_.n_head) * attn_.head_dim;
    const int64_t nkv = static_cast<int64_t>(attn_.n_head_kv) * attn_.head_dim;
    float *q = q_, *k = k_, *v = v_;
    int64_t qkv_stride = 0;  // 0: packed q_, k_, v_
    if (lw.wqkv.data) {
      ops_.matmul(xn_, n, lw.wqkv, lw.bqkv, qkv_);
      q = qkv_;
      k = qkv_ + nq;
      v = qkv_ + nq + nkv;
      qkv_stride = nq + 2 * nkv;
    } else {
      ops_.matmul(xn_, n, lw.wq, lw.bq, q_);
      ops_.matmul(xn_, n, lw.wk, lw.bk, k_);
      ops_.matmul(xn_, n, lw.wv, lw.bv, v_);
    }
    dbg(ops_, "Qcur", L, q, n, nq, qkv_stride);
    ops_.rope(q, n, attn_.n_head, attn_.head_dim, positions, rope_, qkv_stride);
    ops_.rope(k, n, attn_.n_head_kv, attn_.head_dim, positions, rope_, qkv_stride);
    ops_.store_rows(k, rows, k_cache_[li], qkv_stride);
    ops_.store_rows(v, rows, v_cache_[li], qkv_stride);
    dbg(ops_, "Vcur", L, v, n, nkv, qkv_stride);
    ops_.attention(q, k_cache_[li].view(), v_cache_[li].view(), layout, attn_, attn_out_, qkv_stride);
    dbg(ops_, "kqv_out", L, attn_out_, n, attn_.n_head * attn_.head_dim);
    ops_.matmul(attn_out_, n, lw.wo, nullptr, tmp_);
    dbg(ops_, "attn_out", L, tmp_, n, n_embd);
    ops_.add(x_, tmp_, x_, n * n_embd);
    dbg(ops_, "ffn_inp", L, x_, n, n_embd);
    ops_.rms_norm(x_, lw.ffn_norm, xn_, n, n_embd, hp_.rms_eps);
    if (lw.w_gate_up.data) {
      ops_.matmul(xn_, n, lw.w_gate_up, nullptr, gate_up_);
      dbg(ops_, "ffn_gate", L, gate_up_, n, hp_.n_ff, 2 * hp_.n_ff);
      ops_.swiglu(gate_up_, gate_up_ + hp_.n_ff, gate_, n, hp_.n_ff, 2 * hp_.n_ff, 2 * hp_.n_ff, 0);
    } else {
      ops_.matmul(xn_, n, lw.w_gate, nullptr, gate_);
      ops_.matmul(xn_, n, lw.w_up, nullptr, up_);
      dbg(ops_, "ffn_gate", L, gate_, n, hp_.n_ff);
      ops_.swiglu(gate_, up_, gate_, n, hp_.n_ff);
    }
    dbg(ops_, "ffn_swiglu", L, gate_, n, hp_.n_ff);
    ops_.matmul(gate_, n, lw.w_down, nullptr, tmp_);
    dbg(ops_, "ffn_out", L, tmp_, n, n_embd);
    ops_.add(x_, tmp_, x_, n * n_embd);
    dbg(ops_, "l_out", L, x_, n, n_embd);
  }
  ops_.rms_norm(x_, w_.output_norm, hidden_out, n, n_embd, hp_.rms_eps);
}

void LlamaForward::logits(const float* hidden, int64_t n, float* logits_out) {
  ops_.matmul(hidden, n, w_.output, nullptr, logits_out);
}

}  // namespace assay
