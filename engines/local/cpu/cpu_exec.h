// CpuExec: how a CPU kernel runs: which ISA path and which thread pool.
//
// Kernels split work into independent items whose results do not depend on how the items are
// distributed, so any thread count gives bit-identical results.
#pragma once

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/task_arena.h>

#include <cstdint>
#include <vector>

namespace assay {

struct CpuExec {
  bool avx2 = false;                  // use the AVX2+FMA+F16C kernels (caller checked the CPU)
  tbb::task_arena* arena = nullptr;   // null: run everything on the calling thread
  int n_threads = 1;
  // Reusable buffer for quantized activations (owned by the caller, e.g. CpuOps); null: each call
  // allocates its own. Not thread-local on purpose: a TBB thread that steals another task while
  // it waits must not find its buffer reused.
  std::vector<uint8_t>* act_scratch = nullptr;
  // Quantized weights are dequantized to f32 (exactly, as ggml/gguf-py dequantize them) and
  // multiplied with the f32 activations, instead of quantizing the activations to 8 bits: the
  // numbers of a float reference that reads the same file (transformers loading a GGUF), at
  // about the speed of F32 weights.
  bool f32_compute = false;
};

// True when this CPU has AVX2, FMA and F16C.
bool cpu_has_avx2();

// Calls fn(begin, end) over [0, n) in chunks of `grain` items (the last may be shorter), on the
// arena's threads. Chunk boundaries depend only on n and grain, never on the thread count.
template <typename Fn>
void cpu_parallel_for(const CpuExec& ex, int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t n_chunks = (n + grain - 1) / grain;
  auto body = [&](const tbb::blocked_range<int64_t>& r) {
    for (int64_t c = r.begin(); c < r.end(); ++c) {
      const int64_t b = c * grain;
      const int64_t e = b + grain < n ? b + grain : n;
      fn(b, e);
    }
  };
  if (ex.arena == nullptr || ex.n_threads <= 1 || n_chunks == 1) {
    body(tbb::blocked_range<int64_t>(0, n_chunks, 1));
    return;
  }
  ex.arena->execute([&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n_chunks, 1), body,
                      tbb::simple_partitioner());
  });
}

}  // namespace assay
