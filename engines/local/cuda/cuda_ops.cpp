// CudaOps: state (stream, cuBLAS, scratch, metadata staging) and the Ops methods; the kernels
// are in cuda_kernels.cu and cuda_matmul.cu. See cuda_ops.h for the design.
#include "engines/local/cuda/cuda_ops.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engines/local/cuda/cuda_kernels.h"
#include "harness/status.h"

namespace assay {
namespace {

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    check_failed(__FILE__, __LINE__, what, std::string("CUDA error: ") + cudaGetErrorString(e));
}
void cublas_check(cublasStatus_t e, const char* what) {
  if (e != CUBLAS_STATUS_SUCCESS)
    check_failed(__FILE__, __LINE__, what, std::string("cuBLAS error: ") + cublasGetStatusString(e));
}
#define CU(x) cuda_check((x), #x)
#define CUBLAS(x) cublas_check((x), #x)

class CudaOps final : public Ops {
 public:
  explicit CudaOps(const CudaOpsOptions& o) : opt_(o) {
    if (const char* e = std::getenv("ASSAY_CUDA_FLASH_PREFILL"); e && (*e == '0' || *e == '1'))
      opt_.flash_prefill = *e == '1';
    if (const char* e = std::getenv("ASSAY_CUDA_GRAPHS"); e && (*e == '0' || *e == '1')) opt_.graphs = *e == '1';
    if (const char* e = std::getenv("ASSAY_CUDA_Q8_GEMV"); e && (*e == '0' || *e == '1')) opt_.q8_gemv = *e == '1';
    if (opt_.f32_compute) opt_.q8_gemv = false;
    int n = 0;
    CU(cudaGetDeviceCount(&n));
    ASSAY_CHECK_MSG(o.device >= 0 && o.device < n, "CudaOps: no such CUDA device");
    CU(cudaSetDevice(o.device));
    cudaDeviceProp prop{};
    CU(cudaGetDeviceProperties(&prop, o.device));
    // The name is part of a model's cache identity: f32 compute and q8_gemv give other numbers.
    name_ = std::string("cuda:") + prop.name + (o.f32_compute ? " f32" : "") + (opt_.q8_gemv ? " q8" : "");
    sm_count_ = prop.multiProcessorCount;
    smem_optin_ = prop.sharedMemPerBlockOptin;
    CU(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CU(cudaEventCreateWithFlags(&staged_, cudaEventDisableTiming));
    CUBLAS(cublasCreate(&blas_));
    CUBLAS(cublasSetStream(blas_, stream_));
    // Plain FP32 for F32 weights (no TF32), so F32 models match the CPU to F32 rounding.
    CUBLAS(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    grow_staging(std::max<size_t>(opt_.staging_bytes, 256));
    CU(cudaMalloc(&lp_dev_, 3 * sizeof(float) * kLpRows));
    CU(cudaMallocHost(&lp_host_, 3 * sizeof(float) * kLpRows));
  }

  ~CudaOps() override {
    cudaStreamSynchronize(stream_);
    for (cudaGraphExec_t& g : graph_exec_)
      if (g) cudaGraphExecDestroy(g);
    cublasDestroy(blas_);
    cudaFree(stage_dev_);
    cudaFreeHost(stage_host_);
    cudaFree(wtile_);
    cudaFree(xbf_);
    cudaFree(xpack_);
    cudaFree(act_);
    for (void* b : {kvb_, qb_, s_, p_, part_, sample_scr_}) cudaFree(b);
    cudaFree(lp_dev_);
    cudaFreeHost(lp_host_);
    cudaEventDestroy(staged_);
    cudaStreamDestroy(stream_);
  }

  std::string_view name() const override { return name_; }
  bool supports_type(GgmlType type) const override { return cuda::kernel_supports_type(type); }

  void* alloc(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (e != cudaSuccess) {
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      check_failed(__FILE__, __LINE__, "cudaMalloc",
                   "CudaOps::alloc: cannot allocate " + std::to_string(bytes >> 20) + " MiB (" +
                       std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) +
                       "): " + cudaGetErrorString(e));
    }
    return p;
  }
  void free(void* p) override {
    if (!p) return;
    CU(cudaStreamSynchronize(stream_));  // queued ops may still read it
    CU(cudaFree(p));
  }
  void upload(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    CU(cudaStreamSynchronize(stream_));
  }
  void download(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    CU(cudaStreamSynchronize(stream_));
  }
  void fill_zero(void* dst, size_t bytes) override {
    if (bytes) CU(cudaMemsetAsync(dst, 0, bytes, stream_));
  }
  void synchronize() override { CU(cudaStreamSynchronize(stream_)); }
  bool host_memory_is_device() const override { return false; }
  size_t free_memory() const override {
    size_t free_b = 0, total_b = 0;
    CU(cudaMemGetInfo(&free_b, &total_b));
    return free_b;
  }

  void embed(const TensorRef& table, std::span<const int32_t> ids, float* out,
             int64_t out_stride) override {
    ASSAY_CHECK(supports_type(table.type));
    for (int32_t id : ids) ASSAY_CHECK_MSG(id >= 0 && id < table.ne1, "embed: token id out of range");
    if (ids.empty()) return;
    const int32_t* d_ids = stage(ids);
    cuda::launch_embed(table.type, table.data, table.row_bytes, table.ne0, d_ids,
                       static_cast<int64_t>(ids.size()), out, out_stride ? out_stride : table.ne0, stream_);
    after_launch("embed");
  }

  void rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t n,
                float eps) override {
    ASSAY_CHECK(n > 0);
    cuda::launch_rms_norm(x, w, out, n_rows, n, eps, stream_);
    after_launch("rms_norm");
  }

  void matmul(const float* x, int64_t n_tokens, const TensorRef& w, const float* bias, float* out,
              int64_t x_stride, int64_t out_stride) override {
    ASSAY_CHECK(supports_type(w.type));
    if (x_stride == 0) x_stride = w.ne0;
    if (out_stride == 0) out_stride = w.ne1;
    ASSAY_CHECK(x_stride >= w.ne0 && out_stride >= w.ne1);
    if (n_tokens <= 0) return;
    if (n_tokens <= opt_.gemv_max_tokens && n_tokens <= kGemvMax) {
      gemv(x, n_tokens, w, bias, out, x_stride, out_stride);
    } else {
      gemm(x, n_tokens, w, bias, out, x_stride, out_stride);
    }
    after_launch("matmul");
  }

  void rope(float* x, int64_t n_tokens, int n_head, int head_dim, std::span<const int32_t> positions,
            const RopeParams& p, int64_t x_stride) override {
    ASSAY_CHECK(static_cast<int64_t>(positions.size()) == n_tokens);
    ASSAY_CHECK(p.n_rot > 0 && p.n_rot % 2 == 0 && p.n_rot <= head_dim);
    if (n_tokens == 0) return;
    if (x_stride == 0) x_stride = static_cast<int64_t>(n_head) * head_dim;
    cuda::launch_rope(x, n_tokens, n_head, head_dim, x_stride, stage(positions),
                      p.style == RopeStyle::kNeox, p.n_rot, p.freq_base, p.freq_scale, p.freq_factors,
                      stream_);
    after_launch("rope");
  }

  void store_rows(const float* src, std::span<const int32_t> rows, MutableTensorRef dst,
                  int64_t src_stride) override {
    ASSAY_CHECK_MSG(dst.type == GgmlType::F32 || dst.type == GgmlType::F16,
                    "store_rows: cache type must be F32 or F16");
    for (int32_t r : rows) ASSAY_CHECK_MSG(r >= 0 && r < dst.ne1, "store_rows: row out of range");
    if (rows.empty()) return;
    cuda::launch_store_rows(src, src_stride ? src_stride : dst.ne0, stage(rows),
                            static_cast<int64_t>(rows.size()), dst.data, dst.type == GgmlType::F16,
                            dst.row_bytes, dst.ne0, stream_);
    after_launch("store_rows");
  }

  void attention(const float* q, const TensorRef& k_cache, const TensorRef& v_cache,
                 const AttentionLayout& layout, const AttentionParams& p, float* out,
                 int64_t q_stride, int64_t out_stride) override {
    check_attention_args(k_cache, v_cache, layout, p);
    const int64_t n_tokens = static_cast<int64_t>(layout.token_seq.size());
    const int64_t width = static_cast<int64_t>(p.n_head) * p.head_dim;
    if (n_tokens == 0) return;
    cuda::AttnLaunch a{};
    a.q = q;
    a.q_stride = q_stride ? q_stride : width;
    a.k = k_cache.data;
    a.k_row_bytes = k_cache.row_bytes;
    a.k_f16 = k_cache.type == GgmlType::F16;
    a.v = v_cache.data;
    a.v_row_bytes = v_cache.row_bytes;
    a.v_f16 = v_cache.type == GgmlType::F16;
    // Long runs of consecutive tokens of one sequence (prefill) go through tensor-core GEMMs;
    // the rest (decode steps, short continuations) through the warp-per-head kernel.
    std::vector<int32_t> rest;
    std::vector<std::pair<int64_t, int64_t>> runs;  // (first token, count)
    for (int64_t t = 0; t < n_tokens;) {
      int64_t e = t + 1;
      while (e < n_tokens && layout.token_seq[e] == layout.token_seq[t]) ++e;
      if (e - t >= kAttnGemmMinTokens && p.head_dim % 8 == 0 && !opt_.f32_compute) {
        runs.emplace_back(t, e - t);
      } else {
        for (int64_t i = t; i < e; ++i) rest.push_back(static_cast<int32_t>(i));
      }
      t = e;
    }
    // All lists in one staging block (one copy; a second staging could wrap the ring over the
    // first before its kernels are queued).
    const size_t nr = layout.rows.size(), ns = layout.seq_offsets.size();
    std::vector<int32_t>& meta = meta_tmp_;
    meta.clear();
    meta.insert(meta.end(), layout.rows.begin(), layout.rows.end());
    meta.insert(meta.end(), layout.seq_offsets.begin(), layout.seq_offsets.end());
    meta.insert(meta.end(), layout.token_seq.begin(), layout.token_seq.end());
    meta.insert(meta.end(), layout.token_n_kv.begin(), layout.token_n_kv.end());
    meta.insert(meta.end(), rest.begin(), rest.end());
    const int32_t* d = stage(std::span<const int32_t>(meta));
    a.rows = d;
    a.seq_offsets = d + nr;
    a.token_seq = d + nr + ns;
    a.token_n_kv = d + nr + ns + n_tokens;
    a.n_tokens = n_tokens;
    a.token_list = nullptr;
    a.n_head = p.n_head;
    a.n_head_kv = p.n_head_kv;
    a.head_dim = p.head_dim;
    a.scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.head_dim));
    a.out = out;
    a.out_stride = out_stride ? out_stride : width;
    if (!rest.empty()) {
      cuda::AttnLaunch w = a;
      if (static_cast<int64_t>(rest.size()) != n_tokens) {
        w.token_list = d + nr + ns + 2 * n_tokens;
        w.n_tokens = static_cast<int64_t>(rest.size());
      }
      int max_kv = 0;
      for (int32_t t : rest) max_kv = std::max(max_kv, layout.token_n_kv[t]);
      w.n_split = attention_splits(w.n_tokens * p.n_head, max_kv);
      capture_split_ = capture_split_ || (capturing_ && w.n_split > 1);
      if (w.n_split > 1)
        w.part = static_cast<float*>(scratch(&part_, &part_cap_, sizeof(float) * w.n_tokens * p.n_head *
                                                                     w.n_split * (p.head_dim + 2)));
      cuda::launch_attention(w, stream_);
      after_launch("attention");
    }
    const bool flash = opt_.flash_prefill && cuda::flash_prefill_usable(a, smem_optin_);
    for (const auto& [t0, n] : runs) {
      if (flash) {
        cuda::launch_flash_prefill(cuda::FlashArgs{a, t0, n, layout.seq_offsets[layout.token_seq[t0]]}, stream_);
        after_launch("flash prefill attention");
      } else {
        attention_gemm(a, layout, t0, n);
      }
    }
  }

  void swiglu(const float* gate, const float* up, float* out, int64_t n_rows, int64_t n,
              int64_t gs, int64_t us, int64_t os) override {
    cuda::launch_swiglu(gate, up, out, n_rows, n, gs ? gs : n, us ? us : n, os ? os : n, stream_);
    after_launch("swiglu");
  }

  void add(const float* a, const float* b, float* out, int64_t n) override {
    cuda::launch_add(a, b, out, n, stream_);
    after_launch("add");
  }

  void gather_rows(const float* src, int64_t src_stride, std::span<const int32_t> rows,
                   int64_t width, float* dst) override {
    if (rows.empty()) return;
    cuda::launch_gather_rows(src, src_stride, stage(rows), static_cast<int64_t>(rows.size()), width,
                             dst, stream_);
    after_launch("gather_rows");
  }

  void token_logprobs(const float* logits, int64_t n_rows, int64_t n_vocab,
                      std::span<const int32_t> targets, float* logprob, int32_t* argmax,
                      float* logsumexp) override {
    ASSAY_CHECK(n_vocab > 0);
    if (logprob) ASSAY_CHECK(static_cast<int64_t>(targets.size()) == n_rows);
    for (int32_t t : targets) ASSAY_CHECK_MSG(t < n_vocab, "token_logprobs: target out of range");
    for (int64_t r0 = 0; r0 < n_rows; r0 += kLpRows) {
      const int64_t nr = std::min<int64_t>(kLpRows, n_rows - r0);
      const int32_t* d_t = logprob ? stage(targets.subspan(static_cast<size_t>(r0), static_cast<size_t>(nr))) : nullptr;
      cuda::launch_token_logprobs(logits + r0 * n_vocab, nr, n_vocab, d_t, lp_dev_, stream_);
      after_launch("token_logprobs");
      CU(cudaMemcpyAsync(lp_host_, lp_dev_, 3 * sizeof(float) * nr, cudaMemcpyDeviceToHost, stream_));
      CU(cudaStreamSynchronize(stream_));
      for (int64_t r = 0; r < nr; ++r) {
        if (logprob) logprob[r0 + r] = lp_host_[3 * r];
        if (argmax) std::memcpy(&argmax[r0 + r], &lp_host_[3 * r + 1], 4);
        if (logsumexp) logsumexp[r0 + r] = lp_host_[3 * r + 2];
      }
    }
  }

  void sample_tokens(const float* logits, int64_t n_rows, int64_t n_vocab, std::span<const SampleRow> rows,
                     int32_t* out) override {
    ASSAY_CHECK(static_cast<int64_t>(rows.size()) == n_rows && n_vocab > 0);
    // 64 rows per launch bound the keys/weights scratch (12 bytes per logit).
    constexpr int64_t kSampleRows = 64;
    for (int64_t r0 = 0; r0 < n_rows; r0 += kSampleRows) {
      const int64_t nr = std::min<int64_t>(kSampleRows, n_rows - r0);
      std::vector<cuda::SampleArgs> args(static_cast<size_t>(nr));
      for (int64_t r = 0; r < nr; ++r) {
        const SampleRow& p = rows[static_cast<size_t>(r0 + r)];
        args[static_cast<size_t>(r)] = cuda::SampleArgs{p.temperature, p.top_p, p.unit, p.top_k, 0};
      }
      static_assert(sizeof(cuda::SampleArgs) % sizeof(int32_t) == 0);
      const int32_t* d_args = stage(std::span<const int32_t>(reinterpret_cast<const int32_t*>(args.data()),
                                                             args.size() * sizeof(cuda::SampleArgs) / sizeof(int32_t)));
      auto* d_out = reinterpret_cast<int32_t*>(lp_dev_);
      void* scr = scratch(&sample_scr_, &sample_scr_cap_, cuda::sample_scratch_bytes(nr, n_vocab));
      cuda::launch_sample(logits + r0 * n_vocab, nr, n_vocab, reinterpret_cast<const cuda::SampleArgs*>(d_args), d_out,
                          scr, stream_);
      after_launch("sample_tokens");
      CU(cudaMemcpyAsync(out + r0, d_out, sizeof(int32_t) * nr, cudaMemcpyDeviceToHost, stream_));
      CU(cudaStreamSynchronize(stream_));
    }
  }

  // Decode steps of up to kGemvMax tokens are recorded by stream capture and launched as one
  // graph. The recording is redone every step (the host still walks every op, but only to record
  // it) and applied by cudaGraphExecUpdate to the executable graph of its shape (token count,
  // split-KV merge or not), whose kernel arguments and copy sources change from step to step.
  // Larger batches run ops as usual: their GEMMs are long enough that launches do not matter.
  bool begin_graph(int64_t n_tokens, size_t stage_bytes) override {
    if (!opt_.graphs || graphs_off_ || n_tokens < 1 || n_tokens > kGemvMax || n_tokens > opt_.gemv_max_tokens)
      return false;
    make_stage_room(stage_bytes + 256);  // now: a recording cannot wait for the ring
    capture_retry_ = false;
    capture_split_ = false;
    capture_error_.clear();
    captured_.clear();
    if (const cudaError_t e = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal); e != cudaSuccess) {
      (void)cudaGetLastError();
      disable_graphs(std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(e));
      return false;
    }
    capturing_ = true;
    graph_tokens_ = static_cast<int>(n_tokens);
    return true;
  }

  bool end_graph() override {
    ASSAY_CHECK(capturing_);
    capturing_ = false;
    cudaGraph_t g = nullptr;
    const cudaError_t e = cudaStreamEndCapture(stream_, &g);
    if (e != cudaSuccess && capture_error_.empty()) capture_error_ = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(e);
    if (e != cudaSuccess || !capture_error_.empty() || capture_retry_) {
      if (g) cudaGraphDestroy(g);
      (void)cudaGetLastError();
      // Its lists were never copied; nothing else points at their ring slots (captured_ only).
      if (!capture_error_.empty()) disable_graphs(capture_error_);
      ++graph_stats_.dropped;
      return false;
    }
    // One executable graph per (tokens, split-KV or not): the merge kernel's node changes the
    // shape, and a batch's longest context crosses that line whenever long and short requests mix.
    cudaGraphExec_t& exec = graph_exec_[static_cast<size_t>(2 * graph_tokens_ + (capture_split_ ? 1 : 0))];
    bool kept = false;
    if (exec) {
      cudaGraphExecUpdateResultInfo info{};
      kept = cudaGraphExecUpdate(exec, g, &info) == cudaSuccess;
      if (!kept) {
        (void)cudaGetLastError();
        CU(cudaGraphExecDestroy(exec));  // a launch still running completes first (driver)
        exec = nullptr;
      }
    }
    if (!kept) {
      if (const cudaError_t ie = cudaGraphInstantiate(&exec, g, 0); ie != cudaSuccess) {
        (void)cudaGetLastError();
        exec = nullptr;
        cudaGraphDestroy(g);
        disable_graphs(std::string("cudaGraphInstantiate: ") + cudaGetErrorString(ie));
        ++graph_stats_.dropped;
        return false;
      }
      ++graph_stats_.instantiated;
    }
    CU(cudaGraphDestroy(g));
    CU(cudaGraphLaunch(exec, stream_));
    CU(cudaEventRecord(staged_, stream_));  // the ring slots the graph copies from are in use
    ++graph_stats_.launched;
    return true;
  }

  CudaGraphStats graph_stats() const { return graph_stats_; }

 private:
  static constexpr int kGemvMax = cuda::kGemvMaxTokens;
  static constexpr int64_t kLpRows = 4096;
  static constexpr int64_t kAttnGemmMinTokens = 32;
  static constexpr size_t kAttnScoreBytes = size_t{768} << 20;

  // Blocks per (token, head) of the attention kernel: enough to give every SM two blocks, but
  // at least 256 KV rows (one row per thread) per block; options.attn_splits overrides.
  int attention_splits(int64_t blocks, int max_kv) const {
    if (opt_.attn_splits > 0) return opt_.attn_splits;
    const int64_t want = (2 * static_cast<int64_t>(sm_count_) + blocks - 1) / std::max<int64_t>(blocks, 1);
    return static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(want, max_kv / 256), 1, 64));
  }

  // Kernel launch errors surface at the launch; execution errors at the next synchronizing call.
  void after_launch(const char* op) {
    const cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return;
    if (capturing_) {  // the step runs again without a graph, where a real error surfaces
      capture_error_ = capture_error_.empty() ? std::string(op) + ": " + cudaGetErrorString(e) : capture_error_;
      return;
    }
    check_failed(__FILE__, __LINE__, op, std::string("CUDA launch failed: ") + cudaGetErrorString(e));
  }

  // Makes `bytes` of the ring free at stage_pos_: a larger ring, or the start of this one once the
  // copies queued from it have run. Either way the recent lists' device copies are gone.
  void make_stage_room(size_t bytes) {
    if (bytes > stage_cap_) {
      grow_staging(std::max(bytes, 2 * stage_cap_));
    } else if (stage_pos_ + bytes > stage_cap_) {
      CU(cudaEventSynchronize(staged_));
      stage_pos_ = 0;
    } else {
      return;
    }
    for (Recent& r : recent_) r.dev = nullptr;
  }

  void grow_staging(size_t bytes) {
    if (stage_host_) {
      CU(cudaStreamSynchronize(stream_));
      cudaFreeHost(stage_host_);
      cudaFree(stage_dev_);
    }
    stage_cap_ = bytes;
    CU(cudaMallocHost(&stage_host_, bytes));
    CU(cudaMalloc(&stage_dev_, bytes));
    stage_pos_ = 0;
  }

  // Copies host metadata to the device in stream order and returns its device address. The
  // pinned host ring is reused only after the copies queued from it have run (the event);
  // the device side needs no fence since later copies are ordered after earlier kernels.
  //
  // A forward pass hands the same lists to every layer (positions to both ropes, rows to both
  // stores, the layout to each attention): a list equal to a recent one reuses its device copy,
  // which saves a copy per op in decode steps, where such copies cost as much as the kernels.
  const int32_t* stage(std::span<const int32_t> v) {
    const size_t bytes = (v.size_bytes() + 255) & ~size_t{255};
    if (capturing_) return stage_captured(v, bytes);
    for (const Recent& r : recent_)
      if (r.dev && r.host.size() == v.size() && std::memcmp(r.host.data(), v.data(), v.size_bytes()) == 0)
        return r.dev;
    make_stage_room(bytes);
    auto* h = static_cast<uint8_t*>(stage_host_) + stage_pos_;
    auto* d = static_cast<uint8_t*>(stage_dev_) + stage_pos_;
    std::memcpy(h, v.data(), v.size_bytes());
    CU(cudaMemcpyAsync(d, h, v.size_bytes(), cudaMemcpyHostToDevice, stream_));
    CU(cudaEventRecord(staged_, stream_));
    stage_pos_ += bytes;
    if (v.size() <= kRecentMaxElems) {
      Recent& r = recent_[recent_next_++ % recent_.size()];
      r.host.assign(v.begin(), v.end());
      r.dev = reinterpret_cast<const int32_t*>(d);
    }
    return reinterpret_cast<const int32_t*>(d);
  }
  // While recording, a list becomes a copy node of the graph from its ring slot, and no wait is
  // allowed: begin_graph() made room for the step's lists, and a list beyond it fails the
  // recording (the step then runs without a graph). Only the same list handed again in this step
  // (the same host span: positions to every layer's ropes, the layout to every attention) reuses
  // its copy, never an equal one from another step or another list: so a step's graph has one
  // copy node per list whatever the token values, and its shape stays that of the step before.
  const int32_t* stage_captured(std::span<const int32_t> v, size_t bytes) {
    for (const Captured& c : captured_)
      if (c.src == v.data() && c.host.size() == v.size() && std::memcmp(c.host.data(), v.data(), v.size_bytes()) == 0)
        return c.dev;
    if (stage_pos_ + bytes > stage_cap_) {
      capture_retry_ = true;
      return static_cast<const int32_t*>(stage_dev_);  // never read: the recording is dropped
    }
    auto* h = static_cast<uint8_t*>(stage_host_) + stage_pos_;
    auto* d = static_cast<uint8_t*>(stage_dev_) + stage_pos_;
    std::memcpy(h, v.data(), v.size_bytes());
    if (const cudaError_t e = cudaMemcpyAsync(d, h, v.size_bytes(), cudaMemcpyHostToDevice, stream_); e != cudaSuccess)
      capture_error_ = std::string("staging copy: ") + cudaGetErrorString(e);
    stage_pos_ += bytes;
    captured_.push_back(Captured{v.data(), std::vector<int32_t>(v.begin(), v.end()), reinterpret_cast<const int32_t*>(d)});
    return captured_.back().dev;
  }
  struct Captured {
    const int32_t* src;
    std::vector<int32_t> host;
    const int32_t* dev;
  };
  std::vector<Captured> captured_;  // this recording's lists

  struct Recent {
    std::vector<int32_t> host;
    const int32_t* dev = nullptr;
  };
  static constexpr size_t kRecentMaxElems = 1 << 16;
  std::array<Recent, 4> recent_;
  size_t recent_next_ = 0;

  // A device buffer that only grows; contents are scratch.
  void* scratch(void** buf, size_t* cap, size_t bytes) {
    if (bytes > *cap && capturing_) {
      // Growing would free memory the stream may still use, which a recording cannot wait for:
      // the step runs without a graph, grows the buffer, and the next step records.
      capture_retry_ = true;
      return *buf ? *buf : stage_dev_;  // never read: the recording is dropped
    }
    if (bytes > *cap) {
      if (*buf) {
        CU(cudaStreamSynchronize(stream_));
        CU(cudaFree(*buf));
      }
      CU(cudaMalloc(buf, bytes));
      *cap = bytes;
    }
    return *buf;
  }

  void gemv(const float* x, int64_t n_tokens, const TensorRef& w, const float* bias, float* out,
            int64_t xs, int64_t os) {
    if (opt_.q8_gemv && cuda::gemv_q8_usable(w.type, w.data, w.row_bytes, w.ne0)) {
      void* act = scratch(&act_, &act_cap_, static_cast<size_t>(cuda::act_q8_row_bytes(w.type, w.ne0) * n_tokens));
      cuda::launch_quantize_act(w.type, x, xs, n_tokens, w.ne0, act, stream_);
      cuda::launch_gemv_q8(w.type, w.data, w.row_bytes, w.ne0, w.ne1, act, static_cast<int>(n_tokens), bias, out,
                           os, stream_);
      return;
    }
    // The kernel reads activations as float4: repack rows that are not 16-byte aligned.
    if (xs % 4 != 0 || (reinterpret_cast<uintptr_t>(x) & 15) != 0) {
      const int64_t packed = (w.ne0 + 3) & ~int64_t{3};
      auto* xp = static_cast<float*>(scratch(&xpack_, &xpack_cap_, sizeof(float) * packed * n_tokens));
      const cudaError_t e = cudaMemcpy2DAsync(xp, sizeof(float) * packed, x, sizeof(float) * xs, sizeof(float) * w.ne0,
                                              n_tokens, cudaMemcpyDeviceToDevice, stream_);
      if (e != cudaSuccess && capturing_) {
        capture_error_ = std::string("activation repack: ") + cudaGetErrorString(e);
      } else {
        CU(e);
      }
      x = xp;
      xs = packed;
    }
    cuda::launch_gemv(w.type, w.data, w.row_bytes, w.ne0, w.ne1, x, xs, static_cast<int>(n_tokens),
                      bias, out, os, stream_);
  }

  void gemm(const float* x, int64_t n_tokens, const TensorRef& w, const float* bias, float* out,
            int64_t xs, int64_t os) {
    const int m_all = static_cast<int>(w.ne1), n = static_cast<int>(n_tokens), k = static_cast<int>(w.ne0);
    const float one = 1.0f, zero = 0.0f;
    if (w.type == GgmlType::F32) {
      ASSAY_CHECK(w.row_bytes % 4 == 0);
      CUBLAS(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, m_all, n, k, &one,
                         static_cast<const float*>(w.data), static_cast<int>(w.row_bytes / 4), x,
                         static_cast<int>(xs), &zero, out, static_cast<int>(os)));
    } else if (opt_.f32_compute) {
      // Dequantized F32 tiles of output rows and an FP32 GEMM on the F32 activations.
      for_weight_tiles<float>(w, [&](int64_t r0, int64_t nr, float* wt) {
        cuda::launch_dequant_f32(w.type, w.data, w.row_bytes, w.ne0, r0, nr, wt, stream_);
        CUBLAS(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nr), n, k, &one, wt, k, x,
                           static_cast<int>(xs), &zero, out + r0, static_cast<int>(os)));
      });
    } else if (w.type == GgmlType::BF16) {
      // BF16 weights: BF16 activations too, the arithmetic of transformers on a BF16 model.
      auto* xb = static_cast<uint16_t*>(scratch(&xbf_, &xbf_cap_, sizeof(uint16_t) * k * n_tokens));
      cuda::launch_f32_to_bf16(x, xs, n_tokens, k, xb, stream_);
      if (w.row_bytes % 2 == 0) {
        half_gemm(CUDA_R_16BF, w.data, static_cast<int>(w.row_bytes / 2), m_all, n, k, xb, out, os);
      } else {
        for_weight_tiles<uint16_t>(w, [&](int64_t r0, int64_t nr, uint16_t* wt) {
          cuda::launch_dequant_bf16(w.type, w.data, w.row_bytes, w.ne0, r0, nr, wt, stream_);
          half_gemm(CUDA_R_16BF, wt, k, static_cast<int>(nr), n, k, xb, out + r0, os);
        });
      }
    } else {
      // Quantized and F16 weights: F16 tiles and F16 activations (saturating), as llama.cpp's
      // cuBLAS path. F16 keeps 3 more mantissa bits than BF16: the default model's (Q4_1) prefill
      // is 1.1e-5 in mean KL from exact F32 arithmetic, 2.6e-4 with BF16 tiles.
      auto* xh = static_cast<uint16_t*>(scratch(&xbf_, &xbf_cap_, sizeof(uint16_t) * k * n_tokens));
      cuda::launch_f32_to_f16(x, xs, n_tokens, k, xh, stream_);
      for_weight_tiles<uint16_t>(w, [&](int64_t r0, int64_t nr, uint16_t* wt) {
        cuda::launch_dequant_f16(w.type, w.data, w.row_bytes, w.ne0, r0, nr, wt, stream_);
        half_gemm(CUDA_R_16F, wt, k, static_cast<int>(nr), n, k, xh, out + r0, os);
      });
    }
    if (bias) cuda::launch_add_bias(out, os, bias, n_tokens, w.ne1, stream_);
  }

  // f(r0, nr, tile) for tiles of w's output rows, each to be dequantized into `tile` (T elements,
  // at most gemm_tile_bytes, at least 64 rows).
  template <class T, class F>
  void for_weight_tiles(const TensorRef& w, F&& f) {
    const int64_t k = w.ne0;
    const int64_t tile_rows = std::max<int64_t>(
        64, static_cast<int64_t>(opt_.gemm_tile_bytes / (sizeof(T) * static_cast<size_t>(k))) & ~int64_t{63});
    const int64_t tr = std::min<int64_t>(tile_rows, w.ne1);
    auto* wt = static_cast<T*>(scratch(&wtile_, &wtile_cap_, sizeof(T) * k * tr));
    for (int64_t r0 = 0; r0 < w.ne1; r0 += tr) f(r0, std::min<int64_t>(tr, w.ne1 - r0), wt);
  }

  // Attention of tokens [t0, t0 + n) of one sequence: gather its K/V rows into head-major F16
  // (KV heads repeated per query head, so every head is one item of a strided batch), then
  // S = scale * Q K^T (F32), a masked softmax to P (F16), O = P V straight into `out`, in chunks
  // of queries so S stays within kAttnScoreBytes. Causal masking comes from each token's n_kv.
  void attention_gemm(const cuda::AttnLaunch& a, const AttentionLayout& layout, int64_t t0, int64_t n) {
    const int hd = a.head_dim, nh = a.n_head, group = a.n_head / a.n_head_kv;
    const int32_t seq = layout.token_seq[t0];
    int64_t L = 0;
    for (int64_t i = 0; i < n; ++i) L = std::max<int64_t>(L, layout.token_n_kv[t0 + i]);
    const int32_t* seq_rows = a.rows + layout.seq_offsets[seq];
    const int64_t head_elems = L * hd;
    auto* kb = static_cast<uint16_t*>(scratch(&kvb_, &kvb_cap_, sizeof(uint16_t) * 2 * nh * head_elems));
    uint16_t* vb = kb + nh * head_elems;
    cuda::launch_gather_kv_heads(a.k, a.k_f16, a.k_row_bytes, seq_rows, L, nh, group, hd, kb, stream_);
    cuda::launch_gather_kv_heads(a.v, a.v_f16, a.v_row_bytes, seq_rows, L, nh, group, hd, vb, stream_);
    int64_t qc = static_cast<int64_t>(kAttnScoreBytes / (6 * static_cast<size_t>(nh) * L));
    qc = std::clamp<int64_t>(qc & ~int64_t{15}, 16, n);
    auto* qb = static_cast<uint16_t*>(scratch(&qb_, &qb_cap_, sizeof(uint16_t) * qc * nh * hd));
    auto* sbuf = static_cast<float*>(scratch(&s_, &s_cap_, sizeof(float) * nh * qc * L));
    auto* pbuf = static_cast<uint16_t*>(scratch(&p_, &p_cap_, sizeof(uint16_t) * nh * qc * L));
    const float one = 1.0f, zero = 0.0f;
    for (int64_t c0 = 0; c0 < n; c0 += qc) {
      const int64_t nq = std::min(qc, n - c0);
      int64_t lc = 0;
      for (int64_t i = 0; i < nq; ++i) lc = std::max<int64_t>(lc, layout.token_n_kv[t0 + c0 + i]);
      // q is rounded to F16 unscaled and the scale applied to the F32 dot products (alpha),
      // which is CpuOps' arithmetic for an F16 cache.
      cuda::launch_gather_q_heads(a.q, a.q_stride, t0 + c0, nq, nh, hd, qb, stream_);
      CUBLAS(cublasGemmStridedBatchedEx(
          blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(lc), static_cast<int>(nq), hd, &a.scale,
          kb, CUDA_R_16F, hd, head_elems, qb, CUDA_R_16F, hd, nq * hd, &zero,
          sbuf, CUDA_R_32F, static_cast<int>(lc), nq * lc, nh, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      cuda::launch_attn_softmax(sbuf, lc, nh * nq, nq, lc, a.token_n_kv, t0 + c0, pbuf, stream_);
      after_launch("attention softmax");
      CUBLAS(cublasGemmStridedBatchedEx(
          blas_, CUBLAS_OP_N, CUBLAS_OP_N, hd, static_cast<int>(nq), static_cast<int>(lc), &one,
          vb, CUDA_R_16F, hd, head_elems, pbuf, CUDA_R_16F, static_cast<int>(lc), nq * lc, &zero,
          a.out + (t0 + c0) * a.out_stride, CUDA_R_32F, static_cast<int>(a.out_stride), hd, nh,
          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }

  // out[t, j] (ld os) = sum_i xb[t, i] * w[j, i] (ld lda), both of type t (BF16 or F16), F32
  // accumulation: column-major C = A^T B with A = w.
  void half_gemm(cudaDataType t, const void* w, int lda, int m, int n, int k, const uint16_t* xb, float* out,
                 int64_t os) {
    const float one = 1.0f, zero = 0.0f;
    CUBLAS(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w, t, lda, xb, t, k, &zero, out,
                        CUDA_R_32F, static_cast<int>(os),
                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }

  CudaOpsOptions opt_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t staged_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* stage_host_ = nullptr;
  void* stage_dev_ = nullptr;
  size_t stage_cap_ = 0, stage_pos_ = 0;
  void* wtile_ = nullptr;
  size_t wtile_cap_ = 0;
  void* xbf_ = nullptr;
  size_t xbf_cap_ = 0;
  void* xpack_ = nullptr;
  size_t xpack_cap_ = 0;
  void* act_ = nullptr;  // 8-bit activations of the q8_gemv path
  size_t act_cap_ = 0;
  void *kvb_ = nullptr, *qb_ = nullptr, *s_ = nullptr, *p_ = nullptr;
  size_t kvb_cap_ = 0, qb_cap_ = 0, s_cap_ = 0, p_cap_ = 0;
  void* part_ = nullptr;
  size_t part_cap_ = 0;
  void* sample_scr_ = nullptr;
  size_t sample_scr_cap_ = 0;
  int sm_count_ = 1;
  size_t smem_optin_ = 0;  // shared memory a block may opt in to on this device
  float* lp_dev_ = nullptr;
  float* lp_host_ = nullptr;
  std::vector<int32_t> meta_tmp_;
  // Recording state: capture_retry_ when the step needed a buffer to grow (fine next step),
  // capture_error_ when CUDA refused the recording (graphs are then off for this object).
  bool capturing_ = false, capture_retry_ = false, capture_split_ = false, graphs_off_ = false;
  std::string capture_error_;
  int graph_tokens_ = 0;
  std::array<cudaGraphExec_t, 2 * (kGemvMax + 1)> graph_exec_{};  // by tokens per step, split-KV
  CudaGraphStats graph_stats_;

  void disable_graphs(const std::string& why) {
    graphs_off_ = true;
    std::fprintf(stderr, "assay: CUDA graphs off for this model: %s\n", why.c_str());
  }
};

}  // namespace

bool cuda_device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::string cuda_device_description() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return std::string("no CUDA device: ") + cudaGetErrorString(e);
  if (n == 0) return "no CUDA device";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "CUDA device 0: properties unavailable";
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.totalGlobalMem >> 30) + " GiB)";
}

CudaGraphStats cuda_graph_stats(const Ops& ops) {
  const auto* c = dynamic_cast<const CudaOps*>(&ops);
  return c ? c->graph_stats() : CudaGraphStats{};
}

std::unique_ptr<Ops> make_cuda_ops(const CudaOpsOptions& options) {
  ASSAY_CHECK_MSG(cuda_device_available(), "make_cuda_ops: " + cuda_device_description());
  return std::make_unique<CudaOps>(options);
}

}  // namespace assay
