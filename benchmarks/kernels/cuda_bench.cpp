// assay_cuda_bench: the CUDA backend against the card's own limits, measured in the same run.
//
//   1. device-to-device copy bandwidth (bytes read + written per second), and the rate of a large
//      cuBLAS BF16 GEMM (F32 accumulation, the configuration the prefill path uses);
//   2. a randomly initialised Llama-3-8B-shaped model (32 layers, 4096 wide, GQA 32/8, FFN 14336,
//      vocab 128256) built in device memory for each weight type asked for (default BF16 and
//      Q4_K), driven through the Ops interface in exactly the order LlamaForward issues ops:
//      batch-1 decode tokens/s (as a fraction of copy bandwidth: weight bytes per token / time)
//      and a 4096-token prefill (matmul FLOPs / time as a fraction of the GEMM rate).
//
// Weights are a random pool of valid blocks (64 MiB, larger than L2) tiled over every tensor:
// the values do not matter for speed, only that every byte is read from HBM.
//
// Usage: assay_cuda_bench [--types BF16,Q4_K] [--layers N] [--prefill N] [--decode-ctx N]
//        assay_cuda_bench --logits MODEL TOKENS.i32 OUT.f32 [cpu]
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/kernels/gemv_variants.h"
#include "engines/local/cpu/quants.h"
#include "engines/local/cpu/cpu_ops.h"
#include "engines/local/cuda/cuda_ops.h"
#include "engines/local/llama_forward.h"
#include "engines/local/local_model.h"
#include "engines/local/profiled_ops.h"

namespace assay {
namespace {

#define CK(x)                                                                         \
  do {                                                                                \
    cudaError_t e_ = (x);                                                             \
    if (e_ != cudaSuccess) {                                                          \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));                  \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

double copy_bandwidth_gbs() {
  const size_t bytes = size_t{2} << 30;
  void *a, *b;
  CK(cudaMalloc(&a, bytes));
  CK(cudaMalloc(&b, bytes));
  CK(cudaMemset(a, 1, bytes));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
  const int iters = 10;
  cudaEventRecord(e0);
  for (int i = 0; i < iters; ++i) cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e1);
  CK(cudaEventSynchronize(e1));
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) * iters / (ms * 1e-3) / 1e9;
}

double gemm_tflops(int n) {
  void *a, *b, *c;
  const size_t nn = static_cast<size_t>(n) * n;
  CK(cudaMalloc(&a, nn * 2));
  CK(cudaMalloc(&b, nn * 2));
  CK(cudaMalloc(&c, nn * 4));
  CK(cudaMemset(a, 0, nn * 2));
  CK(cudaMemset(b, 0, nn * 2));
  cublasHandle_t h;
  cublasCreate(&h);
  const float one = 1, zero = 0;
  auto run = [&] {
    cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_16BF, n, b, CUDA_R_16BF, n, &zero, c,
                 CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  run();
  CK(cudaDeviceSynchronize());
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  const int iters = 20;
  cudaEventRecord(e0);
  for (int i = 0; i < iters; ++i) run();
  cudaEventRecord(e1);
  CK(cudaEventSynchronize(e1));
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cublasDestroy(h);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  return 2.0 * n * static_cast<double>(n) * n * iters / (ms * 1e-3) / 1e12;
}

// A pool of valid random rows of `type` (k values per row), at least `bytes` long.
std::vector<uint8_t> random_pool(GgmlType type, int64_t k, size_t bytes) {
  const size_t rb = static_cast<size_t>(ggml_row_bytes(type, k));
  const size_t n_rows = (bytes + rb - 1) / rb;
  std::vector<uint8_t> pool(n_rows * rb);
  const int n_thr = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<std::thread> th;
  for (int t = 0; t < n_thr; ++t) {
    th.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      std::normal_distribution<float> dist(0.0f, 0.02f);
      std::vector<float> row(static_cast<size_t>(k));
      for (size_t r = t; r < n_rows; r += n_thr) {
        for (auto& v : row) v = dist(rng);
        quantize_row(type, row.data(), pool.data() + r * rb, k);
      }
    });
  }
  for (auto& t : th) t.join();
  return pool;
}

struct Shape {
  int64_t n_vocab = 128256, n_embd = 4096, n_layer = 32, n_head = 32, n_head_kv = 8, n_ff = 14336;
  int64_t head_dim() const { return n_embd / n_head; }
};

struct BenchModel {
  Ops* ops;
  Shape s;
  GgmlType type;
  std::vector<void*> owned;
  TensorRef tok_embd, output;
  const float* output_norm;
  struct Layer {
    const float *attn_norm, *ffn_norm;
    TensorRef wq, wk, wv, wo, gate, up, down, wqkv, gate_up;
  };
  bool stacked = true;  // one matmul for Q|K|V and one for gate|up, as the engine on a device
  bool graphs = false;  // offer every step to ops->begin_graph (CUDA graphs: it takes small ones)
  static TensorRef rows_of(const TensorRef& t, int64_t r0, int64_t n) {
    return TensorRef{static_cast<const uint8_t*>(t.data) + r0 * t.row_bytes, t.type, t.ne0, n, t.row_bytes};
  }
  std::vector<Layer> layers;
  std::vector<MutableTensorRef> kc, vc;
  float *x, *xn, *q, *k, *v, *att, *tmp, *g, *u, *logits, *qkv, *gu;
  int64_t weight_bytes = 0, matmul_params = 0;
  RopeParams rope;
  AttentionParams attn;

  void* alloc(size_t b) {
    void* p = ops->alloc(b);
    owned.push_back(p);
    return p;
  }
  TensorRef tensor(const void* pool, size_t pool_bytes, int64_t ne0, int64_t ne1, bool count_matmul) {
    const size_t rb = static_cast<size_t>(ggml_row_bytes(type, ne0));
    const size_t bytes = rb * ne1;
    auto* d = static_cast<uint8_t*>(alloc(bytes));
    // Tile the pool; the pool holds whole blocks, so every copy starts on a block boundary.
    const size_t step = pool_bytes / rb * rb;
    for (size_t off = 0; off < bytes; off += step)
      CK(cudaMemcpy(d + off, pool, std::min(step, bytes - off), cudaMemcpyDeviceToDevice));
    weight_bytes += static_cast<int64_t>(bytes);
    if (count_matmul) matmul_params += ne0 * ne1;
    return TensorRef{d, type, ne0, ne1, rb};
  }
  const float* ones(int64_t n) {
    std::vector<float> h(static_cast<size_t>(n), 1.0f);
    void* p = alloc(n * 4);
    ops->upload(p, h.data(), n * 4);
    return static_cast<const float*>(p);
  }
  float* buf(int64_t n) { return static_cast<float*>(alloc(static_cast<size_t>(n) * 4)); }

  BenchModel(Ops* o, Shape sh, GgmlType t, int64_t max_tokens, int64_t cache_rows) : ops(o), s(sh), type(t) {
    const int64_t hd = s.head_dim(), nq = s.n_head * hd, nkv = s.n_head_kv * hd;
    const int64_t k = s.n_embd;
    auto pool_h = random_pool(type, k, size_t{64} << 20);
    void* pool = alloc(pool_h.size());
    ops->upload(pool, pool_h.data(), pool_h.size());
    // Rows of any length: a pool of whole blocks works for every ne0 that is a block multiple.
    tok_embd = tensor(pool, pool_h.size(), k, s.n_vocab, false);
    output = tensor(pool, pool_h.size(), k, s.n_vocab, false);
    output_norm = ones(k);
    for (int64_t l = 0; l < s.n_layer; ++l) {
      Layer L;
      L.attn_norm = ones(k);
      L.ffn_norm = ones(k);
      // Q|K|V and gate|up stacked as the engine stacks them on a device (llama_forward.cpp);
      // the parts are row views, for the unstacked comparison.
      L.wqkv = tensor(pool, pool_h.size(), k, nq + 2 * nkv, true);
      L.wq = rows_of(L.wqkv, 0, nq);
      L.wk = rows_of(L.wqkv, nq, nkv);
      L.wv = rows_of(L.wqkv, nq + nkv, nkv);
      L.wo = tensor(pool, pool_h.size(), nq, k, true);
      L.gate_up = tensor(pool, pool_h.size(), k, 2 * s.n_ff, true);
      L.gate = rows_of(L.gate_up, 0, s.n_ff);
      L.up = rows_of(L.gate_up, s.n_ff, s.n_ff);
      L.down = tensor(pool, pool_h.size(), s.n_ff, k, true);
      layers.push_back(L);
      for (auto* c : {&kc, &vc}) {
        const size_t rb = static_cast<size_t>(nkv) * 2;
        void* d = alloc(rb * cache_rows);
        ops->fill_zero(d, rb * cache_rows);
        c->push_back(MutableTensorRef{d, GgmlType::F16, nkv, cache_rows, rb});
      }
    }
    x = buf(max_tokens * k);
    xn = buf(max_tokens * k);
    qkv = buf(max_tokens * (nq + 2 * nkv));
    gu = buf(max_tokens * 2 * s.n_ff);
    q = buf(max_tokens * nq);
    this->k = buf(max_tokens * nkv);
    v = buf(max_tokens * nkv);
    att = buf(max_tokens * nq);
    tmp = buf(max_tokens * std::max(k, nq));
    g = buf(max_tokens * s.n_ff);
    u = buf(max_tokens * s.n_ff);
    logits = buf(s.n_vocab);
    rope = RopeParams{RopeStyle::kNorm, static_cast<int>(hd), 500000.0f, 1.0f, nullptr};
    attn = AttentionParams{static_cast<int>(s.n_head), static_cast<int>(s.n_head_kv), static_cast<int>(hd), 0.0f};
    ops->synchronize();
  }
  ~BenchModel() {
    for (void* p : owned) ops->free(p);
  }

  // Tokens [p0, p0 + n) of one sequence whose cache rows are its positions; returns the argmax
  // of the last token's logits (which also waits for the device).
  int32_t forward(const std::vector<int32_t>& ids, int32_t p0) {
    const int64_t n = static_cast<int64_t>(ids.size());
    std::vector<int32_t> pos(ids.size()), all_rows(static_cast<size_t>(p0 + n)), n_kv(ids.size()), seq(ids.size(), 0);
    for (int64_t i = 0; i < n; ++i) {
      pos[i] = p0 + static_cast<int32_t>(i);
      n_kv[i] = pos[i] + 1;
    }
    for (size_t i = 0; i < all_rows.size(); ++i) all_rows[i] = static_cast<int32_t>(i);
    const std::vector<int32_t> offsets = {0, p0 + static_cast<int32_t>(n)};
    AttentionLayout layout{all_rows, offsets, seq, n_kv};
    // As LlamaForward::forward: offered as one recorded graph, run as ops if the recording fails.
    const bool rec = graphs && ops->begin_graph(n, LlamaForward::stage_bound(n, layout));
    layers_forward(ids, pos, layout);
    if (rec && !ops->end_graph()) layers_forward(ids, pos, layout);
    const int64_t e = s.n_embd;
    ops->rms_norm(x + (n - 1) * e, output_norm, xn, 1, e, 1e-5f);
    ops->matmul(xn, 1, output, nullptr, logits);
    int32_t am = 0;
    ops->token_logprobs(logits, 1, s.n_vocab, {}, nullptr, &am, nullptr);
    return am;
  }

  void layers_forward(const std::vector<int32_t>& ids, const std::vector<int32_t>& pos, const AttentionLayout& layout) {
    const int64_t n = static_cast<int64_t>(ids.size());
    const int64_t e = s.n_embd;
    ops->embed(tok_embd, ids, x);
    for (size_t li = 0; li < layers.size(); ++li) {
      const Layer& L = layers[li];
      ops->rms_norm(x, L.attn_norm, xn, n, e, 1e-5f);
      const int64_t nq = L.wq.ne1, nkv = L.wk.ne1;
      float *qp = q, *kp = k, *vp = v;
      int64_t st = 0;
      if (stacked) {
        ops->matmul(xn, n, L.wqkv, nullptr, qkv);
        qp = qkv, kp = qkv + nq, vp = qkv + nq + nkv, st = nq + 2 * nkv;
      } else {
        ops->matmul(xn, n, L.wq, nullptr, q);
        ops->matmul(xn, n, L.wk, nullptr, k);
        ops->matmul(xn, n, L.wv, nullptr, v);
      }
      ops->rope(qp, n, attn.n_head, attn.head_dim, pos, rope, st);
      ops->rope(kp, n, attn.n_head_kv, attn.head_dim, pos, rope, st);
      ops->store_rows(kp, pos, kc[li], st);
      ops->store_rows(vp, pos, vc[li], st);
      ops->attention(qp, kc[li].view(), vc[li].view(), layout, attn, att, st);
      ops->matmul(att, n, L.wo, nullptr, tmp);
      ops->add(x, tmp, x, n * e);
      ops->rms_norm(x, L.ffn_norm, xn, n, e, 1e-5f);
      if (stacked) {
        ops->matmul(xn, n, L.gate_up, nullptr, gu);
        ops->swiglu(gu, gu + s.n_ff, g, n, s.n_ff, 2 * s.n_ff, 2 * s.n_ff, 0);
      } else {
        ops->matmul(xn, n, L.gate, nullptr, g);
        ops->matmul(xn, n, L.up, nullptr, u);
        ops->swiglu(g, u, g, n, s.n_ff);
      }
      ops->matmul(g, n, L.down, nullptr, tmp);
      ops->add(x, tmp, x, n * e);
    }
  }
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace
}  // namespace assay

// --logits DIR TOKENS OUT: full logits of every position of one sequence (int32 token ids in
// TOKENS) from the model at DIR on the CUDA backend, as float32 [n, n_vocab] into OUT; used by
// benchmarks/device/hf_compare.py against transformers.
int dump_logits(const std::string& dir, const std::string& tokens_path, const std::string& out_path,
                bool cpu) {
  using namespace assay;
  std::vector<int32_t> tokens;
  if (FILE* f = std::fopen(tokens_path.c_str(), "rb")) {
    int32_t v;
    while (std::fread(&v, 4, 1, f) == 1) tokens.push_back(v);
    std::fclose(f);
  }
  if (tokens.empty()) {
    std::fprintf(stderr, "--logits: no tokens in %s\n", tokens_path.c_str());
    return 2;
  }
  LocalModelOptions o;
  o.require_tokenizer = false;
  // ASSAY_KV_F32=1: an F32 KV cache (and unrounded queries), to tell precision from a real bug.
  if (const char* kv = std::getenv("ASSAY_KV_F32"); kv && *kv == '1') o.kv_type = GgmlType::F32;
  // ASSAY_F32=1: precision=f32 (float arithmetic throughout, F32 KV cache) on either backend.
  const char* f32_env = std::getenv("ASSAY_F32");
  const bool f32 = f32_env && *f32_env == '1';
  if (f32) o.kv_type = GgmlType::F32;
  std::unique_ptr<Ops> ops;
  if (cpu) {
    CpuOpsOptions co;
    co.f32_compute = f32;
    ops = std::make_unique<CpuOps>(co);
  } else {
    CudaOpsOptions go;
    go.f32_compute = f32;
    ops = make_cuda_ops(go);
  }
  auto m = LocalModel::load(dir, "local:" + dir, std::move(ops), o);
  if (!m.ok()) {
    std::fprintf(stderr, "--logits: %s\n", m.status().message().c_str());
    return 1;
  }
  const double t0 = now_s();
  auto lg = (*m)->logits_range(tokens, 0, static_cast<int32_t>(tokens.size()) - 1);
  if (!lg.ok()) {
    std::fprintf(stderr, "--logits: %s\n", lg.status().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "--logits: %zu positions in %.2f s on %s\n", tokens.size(), now_s() - t0,
               std::string((*m)->ops().name()).c_str());
  FILE* f = std::fopen(out_path.c_str(), "wb");
  if (!f || std::fwrite(lg->data(), 4, lg->size(), f) != lg->size()) {
    std::fprintf(stderr, "--logits: cannot write %s\n", out_path.c_str());
    return 1;
  }
  std::fclose(f);
  return 0;
}

// The weight types CudaOpsOptions::q8_gemv serves (gemv_q8.cuh).
bool has_q8_gemv(assay::GgmlType t) {
  using assay::GgmlType;
  return t == GgmlType::Q4_0 || t == GgmlType::Q4_1 || t == GgmlType::Q8_0 || t == GgmlType::Q4_K ||
         t == GgmlType::Q5_K || t == GgmlType::Q6_K;
}

int main(int argc, char** argv) {
  using namespace assay;
  if ((argc == 5 || argc == 6) && std::string(argv[1]) == "--logits")
    return dump_logits(argv[2], argv[3], argv[4], argc == 6 && std::string(argv[5]) == "cpu");
  std::vector<GgmlType> types = {GgmlType::BF16, GgmlType::Q4_K};
  Shape shape;
  int64_t prefill = 4096, decode_ctx = 256, decode_steps = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--layers") shape.n_layer = std::stoll(v);
    else if (a == "--prefill") prefill = std::stoll(v);
    else if (a == "--decode-ctx") decode_ctx = std::stoll(v);
    else if (a == "--decode-steps") decode_steps = std::stoll(v);
    else if (a == "--types") {
      types.clear();
      size_t p = 0;
      while (p <= v.size()) {
        const size_t c = v.find(',', p);
        const std::string t = v.substr(p, c == std::string::npos ? std::string::npos : c - p);
        if (t == "BF16") types.push_back(GgmlType::BF16);
        else if (t == "F16") types.push_back(GgmlType::F16);
        else if (t == "Q4_K") types.push_back(GgmlType::Q4_K);
        else if (t == "Q8_0") types.push_back(GgmlType::Q8_0);
        else if (t == "Q6_K") types.push_back(GgmlType::Q6_K);
        else if (t == "Q5_K") types.push_back(GgmlType::Q5_K);
        else if (t == "Q4_0") types.push_back(GgmlType::Q4_0);
        else if (t == "Q4_1") types.push_back(GgmlType::Q4_1);
        else { std::fprintf(stderr, "unknown type %s\n", t.c_str()); return 2; }
        if (c == std::string::npos) break;
        p = c + 1;
      }
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (!cuda_device_available()) {
    std::printf("no CUDA device: %s\n", cuda_device_description().c_str());
    return 1;
  }
  std::printf("device: %s\n", cuda_device_description().c_str());
  const double bw = copy_bandwidth_gbs();
  const double tf = gemm_tflops(8192);
  std::printf("%-44s %10.1f GB/s\n", "D2D copy bandwidth (read+write)", bw);
  std::printf("%-44s %10.1f TFLOP/s\n", "cuBLAS BF16 GEMM 8192^3 (F32 accumulate)", tf);
  std::fflush(stdout);
  auto ops = make_cuda_ops();
  for (GgmlType t : types) {
    const double t0 = now_s();
    BenchModel m(ops.get(), shape, t, std::max<int64_t>(prefill, decode_ctx), prefill + decode_ctx + 6 * decode_steps + 128);
    std::printf("[%s] built %.2f GB of weights in %.1f s\n", std::string(ggml_type_name(t)).c_str(),
                m.weight_bytes / 1e9, now_s() - t0);
    std::mt19937 rng(1);
    auto ids = [&](int64_t n) {
      std::vector<int32_t> v(static_cast<size_t>(n));
      for (auto& x : v) x = static_cast<int32_t>(rng() % shape.n_vocab);
      return v;
    };
    // The parts on their own: one FFN-up-sized GEMV (kernel efficiency without launch gaps).
    {
      // A real input: the comparisons below of other kernels against this one mean nothing on
      // zeros (or on what the last type's model left in reused memory).
      {
        std::normal_distribution<float> nd(0.0f, 1.0f);
        std::vector<float> xh(static_cast<size_t>(8 * shape.n_embd));  // 8 tokens: see "8 tokens" below
        for (auto& v : xh) v = nd(rng);
        ops->upload(m.xn, xh.data(), xh.size() * 4);
      }
      const auto& w = m.layers[0].up;
      for (int i = 0; i < 3; ++i) ops->matmul(m.xn, 1, w, nullptr, m.u);
      ops->synchronize();
      const int reps = 50;
      const double g0 = now_s();
      for (int i = 0; i < reps; ++i) ops->matmul(m.xn, 1, m.layers[i % shape.n_layer].up, nullptr, m.u);
      ops->synchronize();
      const double gt = (now_s() - g0) / reps;
      const double b = static_cast<double>(w.row_bytes * w.ne1);
      std::printf("%-44s %10.1f us     %5.1f%% of copy bandwidth\n",
                  ("  gemv 14336x4096 " + std::string(ggml_type_name(t))).c_str(), gt * 1e6, 100.0 * b / gt / 1e9 / bw);
      // Other shapes of the same kernel (benchmarks/kernels/gemv_variants.cu), each checked
      // against the engine's output first; the fastest correct one is the candidate to promote.
      ops->matmul(m.xn, 1, w, nullptr, m.u);
      ops->synchronize();
      for (const auto& v : time_gemv_variants(t, w.data, w.row_bytes, w.ne0, w.ne1, m.xn, m.g, m.u, reps))
        std::printf("    %-40s %10.1f us     %5.1f%% of copy bandwidth  max |diff| %.1e\n", v.shape.c_str(), v.us,
                    100.0 * b / (v.us * 1e-6) / 1e9 / bw, v.max_abs_diff);
      if (has_q8_gemv(t)) {
        // The same GEMV on 8-bit activations (CudaOpsOptions::q8_gemv: quantize, then dp4a),
        // timed with its quantize step; its difference from the float GEMV is the activation
        // rounding (about 1e-2 of the largest output).
        CudaOpsOptions qo;
        qo.q8_gemv = true;
        auto qops = make_cuda_ops(qo);
        std::vector<float> flt(static_cast<size_t>(w.ne1)), q8v(flt.size());
        ops->download(flt.data(), m.u, flt.size() * 4);
        qops->matmul(m.xn, 1, w, nullptr, m.u);
        qops->download(q8v.data(), m.u, q8v.size() * 4);
        float mx = 0, md = 0;
        for (size_t i = 0; i < flt.size(); ++i) mx = std::max(mx, std::abs(flt[i])), md = std::max(md, std::abs(flt[i] - q8v[i]));
        const double q0 = now_s();
        for (int i = 0; i < reps; ++i) qops->matmul(m.xn, 1, m.layers[i % shape.n_layer].up, nullptr, m.g);
        qops->synchronize();
        const double qt = (now_s() - q0) / reps;
        std::printf("%-44s %10.1f us     %5.1f%% of copy bandwidth, %.2fx float; max |diff| %.1e of max |out| %.1e\n",
                    "  the same, 8-bit activations (q8_gemv)", qt * 1e6, 100.0 * b / qt / 1e9 / bw, gt / qt, md, mx);
        for (const auto& v : time_gemv_q8_variants(t, w.data, w.row_bytes, w.ne0, w.ne1, m.xn, m.g, m.u, reps))
          std::printf("    %-40s %10.1f us     %5.1f%% of copy bandwidth  max |diff| %.1e (kernel only)\n",
                      v.shape.c_str(), v.us, 100.0 * b / (v.us * 1e-6) / 1e9 / bw, v.max_abs_diff);
      }
    }
    {  // 8 tokens (a decode step of 8 sequences): the GEMM path (the default above 4 tokens:
       // BF16 tiles dequantized every call) against the GEMV at 8 tokens (gemv_max_tokens 8),
       // float and, for quantized types, on 8-bit activations. Decides gemv_max_tokens' default.
      const auto& w = m.layers[0].up;
      const double b = static_cast<double>(w.row_bytes * w.ne1);
      auto time8 = [&](Ops* o) {
        o->matmul(m.xn, 8, w, nullptr, m.u);
        o->synchronize();
        const int reps = 20;
        const double t0 = now_s();
        for (int i = 0; i < reps; ++i) o->matmul(m.xn, 8, m.layers[i % shape.n_layer].up, nullptr, m.u);
        o->synchronize();
        return (now_s() - t0) / reps;
      };
      CudaOpsOptions wo;
      wo.gemv_max_tokens = 8;
      auto wops = make_cuda_ops(wo);
      const double gemm_t = time8(ops.get()), gemv_t = time8(wops.get());
      std::string q8_part;
      if (has_q8_gemv(t)) {
        wo.q8_gemv = true;
        auto qops = make_cuda_ops(wo);
        const double q8_t = time8(qops.get());
        q8_part = ", 8-bit activations " + std::to_string(static_cast<int>(q8_t * 1e6)) + " us (" +
                  std::to_string(static_cast<int>(100.0 * b / q8_t / 1e9 / bw)) + "% of copy bandwidth)";
      }
      std::printf("%-44s %10.1f us     GEMV %.1f us (%.1f%% of copy bandwidth, %.2fx)%s\n",
                  ("  8 tokens " + std::to_string(w.ne1) + "x" + std::to_string(w.ne0) + ", GEMM path").c_str(),
                  gemm_t * 1e6, gemv_t * 1e6, 100.0 * b / gemv_t / 1e9 / bw, gemm_t / gemv_t, q8_part.c_str());
    }
    // Decode: context of decode_ctx tokens, then decode_steps single-token steps.
    int32_t tok = m.forward(ids(decode_ctx), 0);
    m.forward({tok}, static_cast<int32_t>(decode_ctx));  // warm-up
    const double d0 = now_s();
    for (int64_t i = 0; i < decode_steps; ++i) tok = m.forward({tok}, static_cast<int32_t>(decode_ctx + 1 + i));
    const double dt = (now_s() - d0) / decode_steps;
    // Bytes per token: every weight except the embedding table (one row is read) + the KV read.
    const double wbytes = static_cast<double>(m.weight_bytes - m.tok_embd.row_bytes * m.tok_embd.ne1);
    const double frac_bw = wbytes / dt / 1e9 / bw;
    std::printf("%-44s %10.1f tok/s  %6.2f ms/tok  %5.1f%% of copy bandwidth (%.1f GB/s effective)\n",
                ("decode batch 1, ctx " + std::to_string(decode_ctx) + ", " + std::string(ggml_type_name(t))).c_str(),
                1.0 / dt, dt * 1e3, 100.0 * frac_bw, wbytes / dt / 1e9);
    {  // The same steps with Q|K|V and gate|up as separate matmuls (as before they were stacked).
      m.stacked = false;
      const double u0 = now_s();
      for (int64_t i = 0; i < 16; ++i) tok = m.forward({tok}, static_cast<int32_t>(decode_ctx + 1 + decode_steps + i));
      const double ut = (now_s() - u0) / 16;
      m.stacked = true;
      std::printf("%-44s %10.1f tok/s  %6.2f ms/tok  (stacked: %.2f ms/tok)\n",
                  ("  unstacked Q|K|V, gate|up (ctx " + std::to_string(decode_ctx) + ")").c_str(), 1.0 / ut, ut * 1e3,
                  dt * 1e3);
    }
    int64_t next_pos = decode_ctx + 1 + decode_steps + 16;
    // One step from token `in` at next_pos on (oa, graphs ga), then the same step on (ob, gb):
    // both tokens, the largest logit difference and the largest logit. Leaves m on (ob, gb).
    struct StepPair {
      int32_t a, b;
      float max_diff = 0, max_abs = 0;
    };
    auto step_both = [&](Ops* oa, bool ga, Ops* ob, bool gb, int32_t in) {
      std::vector<float> la(static_cast<size_t>(shape.n_vocab)), lb(la.size());
      StepPair r{};
      m.ops = oa;
      m.graphs = ga;
      r.a = m.forward({in}, static_cast<int32_t>(next_pos));
      oa->download(la.data(), m.logits, la.size() * 4);
      m.ops = ob;
      m.graphs = gb;
      r.b = m.forward({in}, static_cast<int32_t>(next_pos));
      ob->download(lb.data(), m.logits, lb.size() * 4);
      for (size_t i = 0; i < la.size(); ++i) {
        r.max_diff = std::max(r.max_diff, std::abs(la[i] - lb[i]));
        r.max_abs = std::max(r.max_abs, std::abs(la[i]));
      }
      ++next_pos;
      return r;
    };
    // decode_steps steps on the current m.ops; seconds per step.
    auto timed_steps = [&] {
      const double t0 = now_s();
      for (int64_t i = 0; i < decode_steps; ++i) tok = m.forward({tok}, static_cast<int32_t>(next_pos++));
      return (now_s() - t0) / decode_steps;
    };
    {  // The same steps recorded as one CUDA graph each (CudaOpsOptions::graphs). Two steps make
       // and warm the graph; then one step both ways at the same position, whose logits must be
       // the same bit for bit (a graph launch, not a dropped recording: see the counts).
      CudaOpsOptions go;
      go.graphs = true;
      auto gops = make_cuda_ops(go);
      m.ops = gops.get();
      m.graphs = true;
      for (int i = 0; i < 2; ++i) tok = m.forward({tok}, static_cast<int32_t>(next_pos++));
      const CudaGraphStats before = cuda_graph_stats(*gops);
      const StepPair sp = step_both(ops.get(), false, gops.get(), true, tok);
      const bool was_graph = cuda_graph_stats(*gops).launched == before.launched + 1;
      tok = sp.b;
      const double ct = timed_steps();
      const CudaGraphStats st = cuda_graph_stats(*gops);
      m.ops = ops.get();
      m.graphs = false;
      std::printf("%-44s %10.1f tok/s  %6.2f ms/tok  %5.1f%% of copy bandwidth, %.2fx plain; checked step %s, same "
                  "token %s, max |diff| %.1e; %lld graphs launched, %lld instantiated, %lld dropped\n",
                  ("  CUDA graphs (ctx " + std::to_string(decode_ctx) + ")").c_str(), 1.0 / ct, ct * 1e3,
                  100.0 * wbytes / ct / 1e9 / bw, dt / ct, was_graph ? "a graph" : "NOT A GRAPH",
                  sp.a == sp.b ? "yes" : "NO", sp.max_diff,
                  static_cast<long long>(st.launched), static_cast<long long>(st.instantiated),
                  static_cast<long long>(st.dropped));
    }
    if (has_q8_gemv(t)) {
      // Decode on 8-bit activations (q8_gemv), as plain ops and as CUDA graphs. After two warm-up
      // steps (the activation buffer grows, the graph is made), one step beside the float GEMV's
      // at the same position: the activation rounding moves the logits a little. The graph
      // counts show whether the timed steps were graphs.
      for (bool with_graphs : {false, true}) {
        CudaOpsOptions qo;
        qo.q8_gemv = true;
        qo.graphs = with_graphs;
        auto qops = make_cuda_ops(qo);
        m.ops = qops.get();
        m.graphs = with_graphs;
        for (int i = 0; i < 2; ++i) tok = m.forward({tok}, static_cast<int32_t>(next_pos++));
        const StepPair sp = step_both(ops.get(), false, qops.get(), with_graphs, tok);
        tok = sp.b;
        const double qt = timed_steps();
        m.ops = ops.get();
        m.graphs = false;
        const CudaGraphStats st = cuda_graph_stats(*qops);
        std::printf("%-44s %10.1f tok/s  %6.2f ms/tok  %5.1f%% of copy bandwidth, %.2fx plain float; same token %s, "
                    "max |logit diff| %.1e of %.1e%s\n",
                    (std::string("  8-bit activations") + (with_graphs ? " + graphs" : "") + " (ctx " +
                     std::to_string(decode_ctx) + ")").c_str(),
                    1.0 / qt, qt * 1e3, 100.0 * wbytes / qt / 1e9 / bw, dt / qt, sp.a == sp.b ? "yes" : "no",
                    sp.max_diff, sp.max_abs,
                    with_graphs ? ("; " + std::to_string(st.launched) + " graphs launched, " +
                                   std::to_string(st.instantiated) + " instantiated, " + std::to_string(st.dropped) +
                                   " dropped").c_str()
                                : "");
      }
    }
    {  // Where a decode step goes: 4 more steps with every op timed alone (ProfiledOps).
      ProfiledOps prof(ops.get());
      m.ops = &prof;
      for (int64_t i = 0; i < 4; ++i) tok = m.forward({tok}, static_cast<int32_t>(next_pos++));
      m.ops = ops.get();
      std::printf("  decode step by op, 4 steps (the sum exceeds the step: each op waits for its own end)\n%s",
                  prof.table().c_str());
    }
    std::fflush(stdout);
    // Prefill: one batch of `prefill` tokens from position 0 (warm-up run first).
    if (prefill > 0) {
      const auto p_ids = ids(prefill);
      m.forward(p_ids, 0);
      const double p0 = now_s();
      m.forward(p_ids, 0);
      const double pt = now_s() - p0;
      const double flops = 2.0 * static_cast<double>(m.matmul_params) * prefill;
      {  // one layer's attention over the whole prefill, on its own
        std::vector<int32_t> all(static_cast<size_t>(prefill)), seq(all.size(), 0), nkv(all.size());
        for (int64_t i = 0; i < prefill; ++i) all[i] = static_cast<int32_t>(i), nkv[i] = static_cast<int32_t>(i + 1);
        const std::vector<int32_t> off = {0, static_cast<int32_t>(prefill)};
        AttentionLayout lay{all, off, seq, nkv};
        ops->attention(m.q, m.kc[0].view(), m.vc[0].view(), lay, m.attn, m.att);
        ops->synchronize();
        const double a0 = now_s();
        for (int i = 0; i < 3; ++i) ops->attention(m.q, m.kc[0].view(), m.vc[0].view(), lay, m.attn, m.att);
        ops->synchronize();
        const double gemm_ms = (now_s() - a0) / 3 * 1e3;
        std::printf("%-44s %10.2f ms per layer\n", "  prefill attention (causal, 1 layer)", gemm_ms);
        // The same layer through the flash-attention kernel (CudaOpsOptions::flash_prefill),
        // checked against the GEMM path's output before it is timed.
        CudaOpsOptions fo;
        fo.flash_prefill = true;
        auto fops = make_cuda_ops(fo);
        const size_t n_out = static_cast<size_t>(prefill * m.attn.n_head * m.attn.head_dim);
        std::vector<float> ref(n_out), got(n_out);
        ops->download(ref.data(), m.att, n_out * sizeof(float));
        fops->attention(m.q, m.kc[0].view(), m.vc[0].view(), lay, m.attn, m.att);
        fops->synchronize();
        fops->download(got.data(), m.att, n_out * sizeof(float));
        double max_err = 0;
        for (size_t i = 0; i < n_out; ++i) max_err = std::max<double>(max_err, std::abs(double(got[i]) - ref[i]));
        const double f0 = now_s();
        for (int i = 0; i < 3; ++i) fops->attention(m.q, m.kc[0].view(), m.vc[0].view(), lay, m.attn, m.att);
        fops->synchronize();
        const double flash_ms = (now_s() - f0) / 3 * 1e3;
        const double attn_flops = 4.0 * m.attn.n_head * m.attn.head_dim * (prefill * (prefill + 1) / 2.0);
        std::printf("%-44s %10.2f ms per layer  %.1f TFLOP/s (GEMM path %.1f), max |diff| vs GEMM path %.2e\n",
                    "  prefill attention, flash kernel", flash_ms, attn_flops / flash_ms / 1e9,
                    attn_flops / gemm_ms / 1e9, max_err);
      }
      std::printf("%-44s %10.0f tok/s  %6.1f ms      %5.1f%% of GEMM rate (%.1f TFLOP/s in matmuls)\n",
                  ("prefill " + std::to_string(prefill) + " tokens, " + std::string(ggml_type_name(t))).c_str(),
                  prefill / pt, pt * 1e3, 100.0 * flops / pt / 1e12 / tf, flops / pt / 1e12);
      std::fflush(stdout);
      // Decode after the prefill: the same steps at a long context (KV reads and attention).
      int32_t tk = p_ids.back();
      const double l0 = now_s();
      for (int64_t i = 0; i < decode_steps; ++i) tk = m.forward({tk}, static_cast<int32_t>(prefill + i));
      const double lt = (now_s() - l0) / decode_steps;
      std::printf("%-44s %10.1f tok/s  %6.2f ms/tok  %5.1f%% of copy bandwidth (weights only)\n",
                  ("decode batch 1, ctx " + std::to_string(prefill) + ", " + std::string(ggml_type_name(t))).c_str(),
                  1.0 / lt, lt * 1e3, 100.0 * wbytes / lt / 1e9 / bw);
      {  // and recorded as CUDA graphs
        CudaOpsOptions go;
        go.graphs = true;
        auto gops = make_cuda_ops(go);
        m.ops = gops.get();
        m.graphs = true;
        for (int i = 0; i < 2; ++i) tk = m.forward({tk}, static_cast<int32_t>(prefill + decode_steps + i));
        const double c0 = now_s();
        for (int64_t i = 0; i < decode_steps; ++i) tk = m.forward({tk}, static_cast<int32_t>(prefill + decode_steps + 2 + i));
        const double ct = (now_s() - c0) / decode_steps;
        m.ops = ops.get();
        m.graphs = false;
        std::printf("%-44s %10.1f tok/s  %6.2f ms/tok  %5.1f%% of copy bandwidth, %.2fx plain\n",
                    ("  CUDA graphs (ctx " + std::to_string(prefill) + ")").c_str(), 1.0 / ct, ct * 1e3,
                    100.0 * wbytes / ct / 1e9 / bw, lt / ct);
      }
      std::fflush(stdout);
    }
  }
  {  // Sampling one token per row: on the device vs downloading the rows to the host Sampler.
    const int64_t nv = shape.n_vocab;
    for (int64_t rows : {int64_t{1}, int64_t{64}}) {
      float* lg = static_cast<float*>(ops->alloc(sizeof(float) * rows * nv));
      std::mt19937 r(9);
      std::normal_distribution<float> nd(0.0f, 4.0f);
      std::vector<float> h(static_cast<size_t>(rows * nv));
      for (auto& x : h) x = nd(r);
      ops->upload(lg, h.data(), sizeof(float) * h.size());
      std::vector<SampleRow> how(static_cast<size_t>(rows), SampleRow{0.8, 0.9, 0.5, 0, 0});
      std::vector<int32_t> dev_tok(how.size()), host_tok(how.size());
      ops->sample_tokens(lg, rows, nv, how, dev_tok.data());
      const double s0 = now_s();
      for (int i = 0; i < 5; ++i) ops->sample_tokens(lg, rows, nv, how, dev_tok.data());
      const double dev_ms = (now_s() - s0) / 5 * 1e3;
      const double h0 = now_s();
      for (int i = 0; i < 5; ++i) ops->Ops::sample_tokens(lg, rows, nv, how, host_tok.data());
      const double host_ms = (now_s() - h0) / 5 * 1e3;
      int same = 0;
      for (size_t i = 0; i < how.size(); ++i) same += dev_tok[i] == host_tok[i];
      std::printf("%-44s %10.3f ms  (host Sampler %.3f ms, %.1fx; %d/%lld tokens equal)\n",
                  ("sample top-p 0.9, " + std::to_string(rows) + " x " + std::to_string(nv)).c_str(), dev_ms, host_ms,
                  host_ms / dev_ms, same, static_cast<long long>(rows));
      ops->free(lg);
    }
  }
  return 0;
}
