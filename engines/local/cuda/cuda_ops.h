// CUDA backend of the local engine (see engines/local/ops.h for the contract of every op).
//
// This header compiles without the CUDA toolkit so that the CLI and tests can name the backend
// under #ifdef ASSAY_HAVE_CUDA without pulling CUDA headers into every translation unit.
//
// Memory is cudaMalloc'd device memory; every op is queued on one private stream and runs
// asynchronously; upload/download/token_logprobs/sample_tokens wait for the stream. Host metadata spans
// (token ids, positions, KV row lists) are staged through a pinned ring buffer so the caller's
// spans may die as soon as the call returns.
//
// matmul: up to gemv_max_tokens tokens read the quantized weight blocks directly (fused
// dequantize-and-dot, a warp per 2-4 output rows, F32 math); larger batches dequantize the weight
// to BF16 in tiles of output rows and run a cuBLAS GEMM with F32 accumulation (activations
// rounded to BF16; F32 weights use an FP32 GEMM).
// attention: runs of >= 32 consecutive tokens of one sequence (prefill) gather their KV rows and
// run S = QK^T, a masked softmax and PV as batched F16 GEMMs (F32 accumulation); other tokens
// use a kernel with one block per (token, head) whose warps split the KV rows; when that is too
// few blocks for the SMs (decode of a few sequences over long contexts), each (token, head) is
// split over several blocks by KV rows and a second kernel merges their partial softmaxes
// (flash-decoding). With flash_prefill, the runs go through one tiled flash-attention kernel
// over the paged cache instead. With an F16 cache, q is rounded to F16 as CpuOps does.
// Graphs (options.graphs): forward passes of up to gemv_max_tokens tokens are recorded by stream capture
// (Ops::begin_graph/end_graph) and launched as one CUDA graph, updated in place from step to step;
// a recording that would need a buffer to grow is dropped and the step re-issued as plain ops.
// Unlike CpuOps, a row's result is not bit-identical across batch compositions: the GEMV/GEMM
// and attention paths round differently, within BF16/F16 tolerance.
//
// Thread safety: one caller at a time per object.
#pragma once

#include <memory>
#include <string>

#include "engines/local/ops.h"

namespace assay {

struct CudaOpsOptions {
  int device = 0;
  // matmul with at most this many tokens (8 at most) uses the fused quantized kernel, else the
  // GEMM path; also the largest forward pass recorded as a graph. 4 until an H100/H200 check
  // has timed 5-8 tokens both ways (the GEMM path dequantizes the whole weight to BF16 each call).
  int gemv_max_tokens = 4;
  // Bytes of the BF16 weight tile the GEMM path dequantizes into.
  size_t gemm_tile_bytes = size_t{128} << 20;
  // Split-KV blocks per (token, head) in the non-GEMM attention path: 0 picks from the SM
  // count, the batch and the context; N forces N (tests use it to reach the merge on small
  // inputs).
  int attn_splits = 0;
  // Runs of >= 32 prefill tokens with head_dim 64 or 128 use the flash-attention kernel
  // (flash_prefill.cuh) instead of gathered K/V and batched GEMMs. Off until an H100/H200 check
  // has passed it (its tiling and softmax are checked on the host; its tensor-core steps only run
  // on a GPU). ASSAY_CUDA_FLASH_PREFILL=1/0 in the environment overrides.
  bool flash_prefill = false;
  // precision=f32: float arithmetic throughout, the numbers of a float reference (transformers
  // in float32, CpuOps' f32_compute), at FP32 speed: large matmuls dequantize weight tiles to F32
  // for an FP32 GEMM (no TF32) instead of BF16, and prefill attention runs in the F32 kernel
  // instead of F16 GEMMs. Use with an F32 KV cache.
  bool f32_compute = false;
  // Forward passes of up to gemv_max_tokens tokens (small decode batches) recorded as one CUDA graph each step
  // (Ops::begin_graph) instead of ~15 launches per layer. Off until an H100/H200 check has
  // passed it (the recording only happens on a GPU); ASSAY_CUDA_GRAPHS=1/0 overrides.
  bool graphs = false;
  // q8_gemv: matmuls of up to gemv_max_tokens tokens on Q4_0, Q4_1, Q8_0, Q4_K, Q5_K and Q6_K
  // weights quantize the activations to 8 bits first (the CPU backend's ActQ8/ActQ8K: its default
  // numerics, and llama.cpp's) and take integer dot products (dp4a; gemv_q8.cuh) instead of
  // dequantizing every weight to float. Off until an H100/H200 check has passed it (its lane steps are checked on the host
  // against the CPU backend); ASSAY_CUDA_Q8_GEMV=1/0 overrides. Ignored with f32_compute.
  bool q8_gemv = false;
  // Initial size of the pinned ring that stages host lists (it grows on demand); tests make it
  // small to reach its wrap and growth.
  size_t staging_bytes = size_t{4} << 20;
};

// How the graph steps went: launched (as one graph), instantiated (a new executable graph: the
// first step, or one whose shape changed), dropped (recording abandoned, the step ran as ops).
struct CudaGraphStats {
  int64_t launched = 0, instantiated = 0, dropped = 0;
};
// The counts of a backend made by make_cuda_ops; zeros for any other.
CudaGraphStats cuda_graph_stats(const Ops& ops);

// Whether at least one CUDA device can be used (false without a driver or device).
bool cuda_device_available();
// "NVIDIA H200 (sm_90, 139 GiB)" or the reason there is none.
std::string cuda_device_description();
// The backend on options.device; aborts with a clear message if the device cannot be used.
std::unique_ptr<Ops> make_cuda_ops(const CudaOpsOptions& options = {});

}  // namespace assay
