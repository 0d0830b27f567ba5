// HfConfig: the fields of a Hugging Face config.json (and generation_config.json when present)
// that a Llama-family loader needs. Absent fields stay empty optionals; hparams.cpp decides the
// defaults, as transformers' LlamaConfig does.
//
// Errors: kNotFound if config.json is missing; kCorrupt naming the file and field when JSON is
// invalid or a field has the wrong type. Unknown fields are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/status.h"

namespace assay {

struct HfRopeScaling {
  std::string type;  // "llama3", "linear", "dynamic", "yarn", ... ("rope_type" or "type")
  std::optional<double> factor;
  std::optional<double> low_freq_factor;
  std::optional<double> high_freq_factor;
  std::optional<int64_t> original_max_position_embeddings;
};

struct HfConfig {
  std::vector<std::string> architectures;  // "LlamaForCausalLM"
  std::string model_type;                  // "llama", "mistral", "qwen2"
  std::optional<int64_t> hidden_size;
  std::optional<int64_t> num_hidden_layers;
  std::optional<int64_t> num_attention_heads;
  std::optional<int64_t> num_key_value_heads;
  std::optional<int64_t> intermediate_size;
  std::optional<int64_t> head_dim;
  std::optional<int64_t> max_position_embeddings;
  std::optional<int64_t> vocab_size;
  std::optional<double> rms_norm_eps;
  std::optional<double> rope_theta;
  std::optional<HfRopeScaling> rope_scaling;  // absent or null -> none
  std::optional<bool> tie_word_embeddings;
  std::optional<bool> attention_bias;
  std::vector<int64_t> bos_token_ids;  // config, then generation_config overrides
  std::vector<int64_t> eos_token_ids;  // an int or a list in the files
  std::string torch_dtype;             // "bfloat16" ("dtype" in newer transformers)
};

// Parses config.json text; `name` is used in messages.
Result<HfConfig> parse_hf_config(std::string_view json, const std::string& name);
// Applies generation_config.json text: its bos/eos ids replace the config's when present.
Status apply_hf_generation_config(std::string_view json, const std::string& name, HfConfig* cfg);
// Reads dir/config.json and, if it exists, dir/generation_config.json.
Result<HfConfig> load_hf_config(const std::string& dir);

}  // namespace assay
