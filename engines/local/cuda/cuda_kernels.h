// Launchers of the CUDA kernels, callable from plain C++ (no CUDA headers): cuda_ops.cpp owns
// the state and the metadata staging; the .cu files own the kernels. Every pointer is a device
// address; `stream` is a cudaStream_t. Launchers only queue work.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engines/local/ggml_types.h"

namespace assay::cuda {

bool kernel_supports_type(GgmlType type);

void launch_embed(GgmlType type, const void* table, size_t row_bytes, int64_t ne0,
                  const int32_t* ids, int64_t n_ids, float* out, int64_t out_stride, void* stream);
void launch_rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t n,
                     float eps, void* stream);
void launch_rope(float* x, int64_t n_tokens, int n_head, int head_dim, int64_t x_stride,
                 const int32_t* positions, bool neox, int n_rot, float freq_base,
                 float freq_scale, const float* freq_factors, void* stream);
void launch_store_rows(const float* src, int64_t src_stride, const int32_t* rows, int64_t n_rows,
                       void* dst, bool dst_f16, size_t dst_row_bytes, int64_t ne0, void* stream);
struct AttnLaunch {
  const float* q;
  int64_t q_stride;
  const void* k;
  size_t k_row_bytes;
  bool k_f16;
  const void* v;
  size_t v_row_bytes;
  bool v_f16;
  const int32_t* rows;         // concatenated row lists
  const int32_t* seq_offsets;  // [n_seq + 1]
  const int32_t* token_seq;    // [n_tokens]
  const int32_t* token_n_kv;   // [n_tokens]
  int64_t n_tokens;            // tokens to compute: token_list[0..n_tokens), or 0..n_tokens
  const int32_t* token_list;   // null: all tokens in order
  int n_head, n_head_kv, head_dim;
  float scale;
  float* out;
  int64_t out_stride;
  // Split-KV (flash-decoding): with n_split > 1 each (token, head) is n_split blocks, each over
  // its own slice of the KV rows, writing (max, sum, unnormalised output) to
  // part[((i * n_head + h) * n_split + z) * (head_dim + 2)] (i: index in the launch), and a
  // second kernel merges the slices into out. Decode steps have too few (token, head) blocks to
  // fill the SMs otherwise.
  int n_split = 1;
  float* part = nullptr;
};
void launch_attention(const AttnLaunch& a, void* stream);
// Prefill attention as one flash-attention kernel (flash_prefill.cuh): tokens [t0, t0 + n) of
// an attention call, one sequence's run, whose cache rows are attn.rows[row0 ..].
struct FlashArgs {
  AttnLaunch attn;
  int64_t t0, n, row0;
};
// Whether the kernel can take this call's runs on a device allowing smem_optin bytes of shared
// memory per block: head_dim 64 or 128 (72 / 112 KiB: Hopper and A100 allow both, Ada only the
// first) and 16-byte aligned cache rows.
bool flash_prefill_usable(const AttnLaunch& attn, size_t smem_optin);
void launch_flash_prefill(const FlashArgs& f, void* stream);
// Prefill attention through GEMMs (cuda_ops.cpp): the pieces around them.
// Head-major F16 copies, one [n, head_dim] matrix per query head (KV heads repeated for GQA):
// out[h][j][d] = cache row rows[j], element (h / group) * head_dim + d, for j < n.
void launch_gather_kv_heads(const void* cache, bool f16, size_t row_bytes, const int32_t* rows,
                            int64_t n, int n_head, int group, int head_dim, uint16_t* out,
                            void* stream);
// out[h][i][d] = f16(q[(t0 + i) * q_stride + h * head_dim + d]) for i < n.
void launch_gather_q_heads(const float* q, int64_t q_stride, int64_t t0, int64_t n, int n_head,
                           int head_dim, uint16_t* out, void* stream);
// Softmax of the scores s [n_head * n_q rows of ld floats] (row h * n_q + i belongs to token
// t0 + i and keeps its first n_kv[t0 + i] columns; the rest become 0) into p (f16, same ld).
void launch_attn_softmax(const float* s, int64_t ld, int64_t n_rows, int64_t n_q, int64_t n_cols,
                         const int32_t* n_kv, int64_t t0, uint16_t* p, void* stream);
void launch_swiglu(const float* g, const float* u, float* out, int64_t n_rows, int64_t n,
                   int64_t gs, int64_t us, int64_t os, void* stream);
void launch_add(const float* a, const float* b, float* out, int64_t n, void* stream);
void launch_add_bias(float* out, int64_t out_stride, const float* bias, int64_t n_rows,
                     int64_t n, void* stream);
void launch_gather_rows(const float* src, int64_t src_stride, const int32_t* rows, int64_t n_rows,
                        int64_t width, float* dst, void* stream);
// Per row: out[3 * r + 0] = logprob (NaN if target < 0 or targets null), bits of
// out[3 * r + 1] = argmax (int32), out[3 * r + 2] = logsumexp.
// Ops::sample_tokens' SampleRow (ops.h is C++20, the .cu files C++17): the same fields.
struct SampleArgs {
  double temperature;
  double top_p;
  double unit;
  int32_t top_k;
  int32_t reserved;
};
// out[r] = the token sampled from row r of logits [n_rows, n_vocab] (cuda_sampling.cuh).
// scratch: sample_scratch_bytes(n_rows, n_vocab) bytes of device memory.
void launch_sample(const float* logits, int64_t n_rows, int64_t n_vocab, const SampleArgs* rows,
                   int32_t* out, void* scratch, void* stream);
inline size_t sample_scratch_bytes(int64_t n_rows, int64_t n_vocab) {
  const size_t n = static_cast<size_t>(n_rows * n_vocab);
  return 4 * ((n + 1) & ~size_t{1}) + 8 * n;
}
void launch_token_logprobs(const float* logits, int64_t n_rows, int64_t n_vocab,
                           const int32_t* targets, float* out, void* stream);

// The most tokens the GEMV kernels take (the engine uses them up to CudaOpsOptions::gemv_max_tokens).
constexpr int kGemvMaxTokens = 8;
// Fused dequantize-and-dot for 1..kGemvMaxTokens tokens: out[t, j] = sum_i x[t, i] w[j, i] (+ bias[j]).
// x rows must be 16-byte aligned (x_stride % 4 == 0).
void launch_gemv(GgmlType type, const void* w, size_t row_bytes, int64_t ne0, int64_t ne1,
                 const float* x, int64_t x_stride, int n_tokens, const float* bias, float* out,
                 int64_t out_stride, void* stream);
// The same on 8-bit activations (gemv_q8.cuh; CudaOpsOptions::q8_gemv) for Q4_0, Q4_1, Q8_0,
// Q4_K, Q5_K and Q6_K weights whose rows are a whole number of blocks, aligned as the kernels
// read them.
bool gemv_q8_usable(GgmlType type, const void* w, size_t row_bytes, int64_t ne0);
// Bytes of one token's quantized activations (k values) for weights of `type`: the stride
// launch_quantize_act writes and launch_gemv_q8 reads.
int64_t act_q8_row_bytes(GgmlType type, int64_t k);
// x [n_tokens, k] f32 (row stride x_stride) -> act [n_tokens rows of act_q8_row_bytes]: the CPU
// backend's activation numbers for that weight type (quantize_act_q8k for K-quants,
// quantize_act_q8 for the others), in the device layout.
void launch_quantize_act(GgmlType type, const float* x, int64_t x_stride, int64_t n_tokens, int64_t k,
                         void* act, void* stream);
// out[t, j] = w[j, :] . act[t] (+ bias[j]) for 1..kGemvMaxTokens tokens, on launch_quantize_act's
// output.
void launch_gemv_q8(GgmlType type, const void* w, size_t row_bytes, int64_t ne0, int64_t ne1,
                    const void* act, int n_tokens, const float* bias, float* out, int64_t out_stride,
                    void* stream);
// Rows [row0, row0 + n_rows) of w, dequantized to packed BF16 [n_rows, ne0].
void launch_dequant_bf16(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                         int64_t row0, int64_t n_rows, uint16_t* out, void* stream);
// The same as F16 (saturating at +-65504): the tiles of quantized and F16 weights.
void launch_dequant_f16(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                        int64_t row0, int64_t n_rows, uint16_t* out, void* stream);
// The same as F32 (precision=f32: an FP32 GEMM on the dequantized tile).
void launch_dequant_f32(GgmlType type, const void* w, size_t row_bytes, int64_t ne0,
                        int64_t row0, int64_t n_rows, float* out, void* stream);
// x [n_rows, n] f32 (row stride) -> packed BF16.
void launch_f32_to_bf16(const float* x, int64_t x_stride, int64_t n_rows, int64_t n,
                        uint16_t* out, void* stream);
// The same to packed F16, saturating at +-65504.
void launch_f32_to_f16(const float* x, int64_t x_stride, int64_t n_rows, int64_t n, uint16_t* out,
                       void* stream);

}  // namespace assay::cuda
