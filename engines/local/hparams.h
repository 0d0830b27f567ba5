// LlamaHparams: the shape and numerics of a Llama-family model, filled from GGUF metadata or
// from a Hugging Face config.json, so the engine never looks at either format.
//
// Supported architectures (one table in hparams.cpp):
//   llama  — Llama 2/3/3.1/3.2, Mistral, SmolLM2, TinyLlama. RoPE NORM (adjacent pairs) once
//            q/k are in GGUF layout (see model_files.h for the convention). HF model_type
//            "llama" or "mistral".
//   qwen2  — Qwen2/2.5: q/k/v biases, RoPE NEOX (half split), no q/k permutation.
// Anything else is kUnsupported naming the architecture. Missing required fields are kCorrupt
// naming the key; inconsistent shapes (n_head not dividing n_embd without head_dim, n_head_kv
// not dividing n_head) are kCorrupt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/status.h"

namespace assay {

class GgufFile;
struct HfConfig;

enum class LlamaArch { kLlama, kQwen2 };
enum class RopeType { kNorm, kNeox };  // llama.cpp LLAMA_ROPE_TYPE_NORM / _NEOX
enum class RopeScalingType { kNone, kLinear, kLlama3 };

const char* llama_arch_name(LlamaArch a);  // GGUF spelling: "llama", "qwen2"
const char* rope_type_name(RopeType t);    // "norm", "neox"
const char* rope_scaling_name(RopeScalingType t);

struct LlamaHparams {
  LlamaArch arch = LlamaArch::kLlama;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // n_embd / n_head unless the file says otherwise
  int64_t n_ff = 0;
  int64_t n_rot = 0;  // rotary dims; head_dim for every supported arch
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeType rope_type = RopeType::kNorm;
  // Linear: positions divided by rope_scale_factor. Llama3: per-frequency divisors, which the
  // engine reads from the `rope_freqs.weight` tensor (GGUF stores it; for HF folders model_files
  // computes it with llama3_rope_freq_divisors). The llama3 parameters below are known only from
  // HF configs (GGUF does not store them) and are 0 otherwise.
  RopeScalingType rope_scaling = RopeScalingType::kNone;
  float rope_scale_factor = 1.0f;
  float rope_low_freq_factor = 0.0f;
  float rope_high_freq_factor = 0.0f;
  int64_t rope_orig_ctx = 0;
  bool tied_embeddings = false;  // no output.weight: the output projection reuses token_embd
  bool qkv_bias = false;         // attn_q/k/v have .bias tensors
};

// From GGUF metadata ({arch}.* keys). n_vocab: {arch}.vocab_size, else the length of
// tokenizer.ggml.tokens, else token_embd's ne[1]. tied_embeddings: output.weight absent;
// rope_scaling kLlama3 when a rope_freqs.weight tensor is present; qkv_bias also when
// blk.0.attn_q.bias is present (llama checkpoints with attention_bias).
Result<LlamaHparams> hparams_from_gguf(const GgufFile& f);

// From a config.json; `name` (usually its path) is used in messages. tied_embeddings follows
// tie_word_embeddings (default false, as in LlamaConfig); model_files additionally treats a
// missing lm_head.weight as tied.
Result<LlamaHparams> hparams_from_hf_config(const HfConfig& c, const std::string& name);

// Llama 3.1 rope_freqs divisors (n_rot/2 values): what convert_hf_to_gguf writes as
// rope_freqs.weight, following Meta's apply_scaling. Effective frequency = base freq / divisor.
std::vector<float> llama3_rope_freq_divisors(const LlamaHparams& hp);

}  // namespace assay
