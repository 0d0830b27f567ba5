// The tensor-name table of the llama family: GGUF names (what the engine uses), the Hugging Face
// names they convert from, and the shape each must have for given hparams.
//
// GGUF shapes are ggml `ne` order (ne[0] contiguous): attn_q is {n_embd, n_head*head_dim}.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engines/local/hparams.h"

namespace assay {

// Which q/k row permutation (if any) HF->GGUF conversion applies to a tensor (reference §5).
enum class QkPermute { kNone, kQuery, kKey };

struct TensorSpec {
  std::string gguf_name;    // "blk.3.attn_q.weight"
  std::string hf_name;      // "model.layers.3.self_attn.q_proj.weight"; empty if computed
  std::vector<int64_t> ne;  // expected ggml shape
  bool required = true;     // output.weight and rope_freqs.weight are optional
  QkPermute permute = QkPermute::kNone;  // for arch llama only
};

// Every tensor the forward pass may use, in a stable order (globals, then layer by layer).
std::vector<TensorSpec> llama_tensor_specs(const LlamaHparams& hp);

// HF name -> GGUF name for the llama family ("model.norm.weight" -> "output_norm.weight");
// nullopt for names outside the table (e.g. rotary_emb.inv_freq buffers of old checkpoints).
std::optional<std::string> hf_to_gguf_tensor_name(std::string_view hf_name);

}  // namespace assay
