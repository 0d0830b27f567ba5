// CPU backend kernel speed: matvec (decode, 1 token) and matmul (prefill) per weight type, and
// attention. Counters: GFLOP/s (2*n*k*tokens per call) and weight GB/s (weight bytes per call).
//
//   build-cpu/benchmarks/cpu_ops_bench --benchmark_filter=Matvec
//
// Arguments: {k, n, n_tokens, n_threads}. Shapes: SmolLM2-135M ffn_up (576 -> 1536) and ffn_down
// (1536 -> 576); 4096 x 4096 and 4096 x 1024 (7B-class projections, weights larger than L2).
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "engines/local/cpu/cpu_ops.h"
#include "engines/local/cpu/quants.h"

namespace assay {
namespace {

struct Matrix {
  std::vector<uint8_t> data;
  TensorRef ref;
};

Matrix make_matrix(GgmlType type, int64_t k, int64_t n) {
  Matrix m;
  const int64_t rb = ggml_row_bytes(type, k);
  m.data.resize(static_cast<size_t>(rb * n));
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> row(k);
  for (int64_t r = 0; r < n; ++r) {
    for (auto& v : row) v = dist(rng);
    quantize_row(type, row.data(), m.data.data() + r * rb, k);
  }
  m.ref = TensorRef{m.data.data(), type, k, n, static_cast<size_t>(rb)};
  return m;
}

void BM_Matmul(benchmark::State& state, GgmlType type, bool f32_compute = false) {
  const int64_t k = state.range(0), n = state.range(1), nt = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  CpuOps ops(CpuOpsOptions{threads, true, f32_compute});
  const Matrix w = make_matrix(type, k, n);
  std::vector<float> x(static_cast<size_t>(k * nt)), out(static_cast<size_t>(n * nt));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  for (auto _ : state) {
    ops.matmul(x.data(), nt, w.ref, nullptr, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double flops = 2.0 * static_cast<double>(k) * n * nt;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(w.data.size()) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(ops.name()));
}

// K-quants need k % 256 == 0: they use 768 -> 1536 and 1536 -> 576 instead of 576 -> 1536.
void shapes(benchmark::internal::Benchmark* b, bool prefill, bool kquant) {
  const int64_t k_up = kquant ? 768 : 576;
  for (int threads : {1, 2}) {
    if (prefill) {
      b->Args({k_up, 1536, 512, threads});
      b->Args({1536, 576, 512, threads});
      b->Args({4096, 1024, 128, threads});
    } else {
      b->Args({k_up, 1536, 1, threads});
      b->Args({1536, 576, 1, threads});
      b->Args({4096, 4096, 1, threads});
    }
  }
  b->UseRealTime();
}

#define ASSAY_MATMUL_BENCH(T, KQ)                                                      \
  BENCHMARK_CAPTURE(BM_Matmul, Matvec_##T, GgmlType::T)->Apply([](auto* b) { shapes(b, false, KQ); }); \
  BENCHMARK_CAPTURE(BM_Matmul, Prefill_##T, GgmlType::T)->Apply([](auto* b) { shapes(b, true, KQ); });

ASSAY_MATMUL_BENCH(Q4_1, false)
ASSAY_MATMUL_BENCH(Q8_0, false)
ASSAY_MATMUL_BENCH(Q4_0, false)
ASSAY_MATMUL_BENCH(F32, false)
ASSAY_MATMUL_BENCH(F16, false)
ASSAY_MATMUL_BENCH(BF16, false)
ASSAY_MATMUL_BENCH(Q4_K, true)
ASSAY_MATMUL_BENCH(Q5_K, true)
ASSAY_MATMUL_BENCH(Q6_K, true)
// precision=f32: quantized rows dequantized per tile into the float kernel.
BENCHMARK_CAPTURE(BM_Matmul, Prefill_Q4_1_f32, GgmlType::Q4_1, true)->Apply([](auto* b) { shapes(b, true, false); });
BENCHMARK_CAPTURE(BM_Matmul, Matvec_Q4_1_f32, GgmlType::Q4_1, true)->Apply([](auto* b) { shapes(b, false, false); });
BENCHMARK_CAPTURE(BM_Matmul, Prefill_Q4_K_f32, GgmlType::Q4_K, true)->Apply([](auto* b) { shapes(b, true, true); });

// Causal prefill attention of n_tokens over themselves, SmolLM2 shape (9 heads, 3 kv, 64).
// kv_f32: an F32 cache (precision=f32) instead of F16.
void BM_AttentionPrefill(benchmark::State& state, bool kv_f32) {
  const int nt = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const int n_head = 9, n_head_kv = 3, hd = 64;
  CpuOps ops(CpuOpsOptions{threads, true});
  std::vector<float> q(static_cast<size_t>(nt) * n_head * hd, 0.1f), out(q.size());
  // F16 0x2e66 is about 0.1; an F32 cache holds the same value in twice the 16-bit slots.
  std::vector<uint16_t> k(static_cast<size_t>(nt) * n_head_kv * hd * (kv_f32 ? 2 : 1), 0x2e66),
      v(k.size(), 0x2e66);
  if (kv_f32) {
    auto* kf = reinterpret_cast<float*>(k.data());
    auto* vf = reinterpret_cast<float*>(v.data());
    for (size_t i = 0; i < k.size() / 2; ++i) kf[i] = vf[i] = 0.1f;
  }
  const GgmlType kv = kv_f32 ? GgmlType::F32 : GgmlType::F16;
  std::vector<int32_t> rows(nt), off = {0, nt}, seq(nt, 0), nkv(nt);
  for (int t = 0; t < nt; ++t) {
    rows[t] = t;
    nkv[t] = t + 1;
  }
  const size_t rb = static_cast<size_t>(n_head_kv) * hd * (kv_f32 ? 4 : 2);
  const TensorRef kr{k.data(), kv, n_head_kv * hd, nt, rb};
  const TensorRef vr{v.data(), kv, n_head_kv * hd, nt, rb};
  for (auto _ : state) {
    ops.attention(q.data(), kr, vr, AttentionLayout{rows, off, seq, nkv},
                  AttentionParams{n_head, n_head_kv, hd, 0.0f}, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  // QK^T and PV: 2 * 2 * head_dim flops per (token, head, visible row).
  const double flops = 4.0 * hd * n_head * (static_cast<double>(nt) * (nt + 1) / 2);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_AttentionPrefill, F16, false)->Args({512, 1})->Args({512, 2})->UseRealTime();
BENCHMARK_CAPTURE(BM_AttentionPrefill, F32, true)->Args({512, 1})->Args({512, 2})->UseRealTime();

}  // namespace
}  // namespace assay

BENCHMARK_MAIN();
