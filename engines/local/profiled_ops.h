// ProfiledOps: an Ops that forwards every call to another and times it, to show where a forward
// pass spends its time (`--model-args profile_ops=1`, and cuda_bench's decode breakdown).
//
// Each op is timed alone: the backend is synchronized before and after it, so on an asynchronous
// backend (CUDA) a call's time includes its launch latency and the sum exceeds the unprofiled
// step, which overlaps launches with execution. On the CPU the figures are the op's own.
// Matmuls are kept apart by weight shape, type and batch size (1-4 tokens take the GEMV path on
// CUDA), the other ops by name.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "engines/local/ops.h"

namespace assay {

class ProfiledOps final : public Ops {
 public:
  struct Stat {
    int64_t calls = 0;
    double seconds = 0;
  };

  explicit ProfiledOps(std::unique_ptr<Ops> inner) : owned_(std::move(inner)), inner_(owned_.get()) {}
  // Borrows `inner`, which must outlive this object.
  explicit ProfiledOps(Ops* inner) : inner_(inner) {}
  // Prints the table to stderr when print_on_destroy (the --model-args path: the model owns the
  // ops and is destroyed at the end of the command).
  ~ProfiledOps() override;

  void set_print_on_destroy(bool on) { print_on_destroy_ = on; }
  const std::map<std::string, Stat>& stats() const { return stats_; }
  void reset() { stats_.clear(); }
  // The table, slowest first: op, calls, total ms, us per call, share of the total.
  std::string table() const;

  std::string_view name() const override { return inner_->name(); }
  bool supports_type(GgmlType type) const override { return inner_->supports_type(type); }
  void* alloc(size_t bytes) override { return inner_->alloc(bytes); }
  void free(void* p) override { inner_->free(p); }
  void upload(void* dst, const void* src, size_t bytes) override;
  void download(void* dst, const void* src, size_t bytes) override;
  void fill_zero(void* dst, size_t bytes) override;
  void synchronize() override { inner_->synchronize(); }
  bool host_memory_is_device() const override { return inner_->host_memory_is_device(); }
  size_t free_memory() const override { return inner_->free_memory(); }

  void embed(const TensorRef& table, std::span<const int32_t> ids, float* out, int64_t out_stride) override;
  void rms_norm(const float* x, const float* weight, float* out, int64_t n_rows, int64_t n, float eps) override;
  void matmul(const float* x, int64_t n_tokens, const TensorRef& w, const float* bias, float* out,
              int64_t x_stride, int64_t out_stride) override;
  void rope(float* x, int64_t n_tokens, int n_head, int head_dim, std::span<const int32_t> positions,
            const RopeParams& p, int64_t x_stride) override;
  void store_rows(const float* src, std::span<const int32_t> rows, MutableTensorRef dst,
                  int64_t src_stride) override;
  void attention(const float* q, const TensorRef& k_cache, const TensorRef& v_cache, const AttentionLayout& layout,
                 const AttentionParams& p, float* out, int64_t q_stride, int64_t out_stride) override;
  void swiglu(const float* gate, const float* up, float* out, int64_t n_rows, int64_t n, int64_t gate_stride,
              int64_t up_stride, int64_t out_stride) override;
  void add(const float* a, const float* b, float* out, int64_t n) override;
  void gather_rows(const float* src, int64_t src_stride, std::span<const int32_t> rows, int64_t width,
                   float* dst) override;
  void token_logprobs(const float* logits, int64_t n_rows, int64_t n_vocab, std::span<const int32_t> targets,
                      float* logprob, int32_t* argmax, float* logsumexp) override;
  void sample_tokens(const float* logits, int64_t n_rows, int64_t n_vocab, std::span<const SampleRow> rows,
                     int32_t* out) override;

 private:
  template <class F>
  void timed(const std::string& key, F&& f);

  std::unique_ptr<Ops> owned_;
  Ops* inner_;
  std::map<std::string, Stat> stats_;
  bool print_on_destroy_ = false;
};

}  // namespace assay
