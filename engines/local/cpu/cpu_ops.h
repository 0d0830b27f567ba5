// CpuOps: the reference Ops backend (see engines/local/ops.h for the contract of every op).
//
// Device memory is host memory (host_memory_is_device() is true): weights are used in place from
// the mmapped GGUF file. Ops run synchronously on the calling thread plus a private oneTBB arena
// of n_threads threads. Results are bit-identical for any n_threads (each output element is
// computed by one thread in a fixed order). Two ISA paths: AVX2+FMA+F16C (chosen at runtime when
// the CPU has it) and portable scalar C++; they agree to rounding.
//
// Thread safety: one caller at a time per CpuOps object.
#pragma once

#include <memory>
#include <vector>

#include "engines/local/cpu/cpu_exec.h"
#include "engines/local/ops.h"

namespace assay {

struct CpuOpsOptions {
  int n_threads = 0;        // 0: all hardware threads
  bool allow_avx2 = true;   // false forces the scalar kernels (tests, old CPUs)
  bool f32_compute = false; // CpuExec::f32_compute (`--model-args precision=f32`)
  // What free_memory() reports. 0 (the default): the KV cache keeps its fixed size on the CPU;
  // a byte count sizes it as on a device (tests of that sizing; a memory budget).
  size_t report_free_memory = 0;
  // Act like a device with its own memory (host_memory_is_device() false): the forward copies
  // the weights, and stacks projections that share an input (tests of the GPU weight layout).
  bool copy_weights = false;
};

class CpuOps final : public Ops {
 public:
  explicit CpuOps(CpuOpsOptions options = {});
  ~CpuOps() override;

  // The name says what changes the numbers: the ISA path and the f32-compute mode.
  std::string_view name() const override {
    if (exec_.f32_compute) return exec_.avx2 ? "cpu-avx2-f32" : "cpu-scalar-f32";
    return exec_.avx2 ? "cpu-avx2" : "cpu-scalar";
  }
  bool supports_type(GgmlType type) const override;
  const CpuExec& exec() const { return exec_; }
  int n_threads() const { return exec_.n_threads; }

  void* alloc(size_t bytes) override;
  void free(void* device_ptr) override;
  void upload(void* device_dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* device_src, size_t bytes) override;
  void fill_zero(void* device_dst, size_t bytes) override;
  void synchronize() override {}
  bool host_memory_is_device() const override { return !copy_weights_; }
  size_t free_memory() const override { return report_free_memory_; }

  void embed(const TensorRef& table, std::span<const int32_t> ids, float* out,
             int64_t out_stride = 0) override;
  void rms_norm(const float* x, const float* weight, float* out, int64_t n_rows, int64_t n,
                float eps) override;
  void matmul(const float* x, int64_t n_tokens, const TensorRef& w, const float* bias, float* out,
              int64_t x_stride = 0, int64_t out_stride = 0) override;
  void rope(float* x, int64_t n_tokens, int n_head, int head_dim,
            std::span<const int32_t> positions, const RopeParams& p,
            int64_t x_stride = 0) override;
  void store_rows(const float* src, std::span<const int32_t> rows, MutableTensorRef dst,
                  int64_t src_stride = 0) override;
  void attention(const float* q, const TensorRef& k_cache, const TensorRef& v_cache,
                 const AttentionLayout& layout, const AttentionParams& p, float* out,
                 int64_t q_stride = 0, int64_t out_stride = 0) override;
  void swiglu(const float* gate, const float* up, float* out, int64_t n_rows, int64_t n,
              int64_t gate_stride = 0, int64_t up_stride = 0, int64_t out_stride = 0) override;
  void add(const float* a, const float* b, float* out, int64_t n) override;
  void gather_rows(const float* src, int64_t src_stride, std::span<const int32_t> rows,
                   int64_t width, float* dst) override;
  void token_logprobs(const float* logits, int64_t n_rows, int64_t n_vocab,
                      std::span<const int32_t> targets, float* logprob, int32_t* argmax,
                      float* logsumexp) override;

 private:
  std::unique_ptr<tbb::task_arena> arena_;
  std::vector<uint8_t> act_scratch_;  // quantized activations of the current matmul
  std::vector<float> q_f16_;          // attention queries rounded to fp16 (F16 KV cache)
  CpuExec exec_;
  size_t report_free_memory_ = 0;
  bool copy_weights_ = false;
};

}  // namespace assay
