// ModelFiles: one entry point for the weights of a local model. Given a .gguf file or a Hugging
// Face folder (config.json + model.safetensors or a sharded index), it presents LlamaHparams and
// a uniform tensor map keyed by GGUF names, so the engine never knows which format it came from.
//
// The convention (both formats look like a llama.cpp GGUF):
//   * Names are GGUF names: "token_embd.weight", "blk.N.attn_q.weight", ... (tensor_names.h).
//   * Shapes are ggml `ne` order: ne[0] is contiguous (the input dimension).
//   * Arch llama: attn_q / attn_k rows (and their biases) are in GGUF (Meta, interleaved) order.
//     An HF folder is permuted on load exactly as convert_hf_to_gguf does, per head of
//     D = head_dim rows: GGUF row 2i = HF row i, GGUF row 2i+1 = HF row i + D/2 (n_head_kv heads
//     for K). So the engine uses RoPE NORM (adjacent pairs) for llama from either format, and
//     RoPE NEOX for qwen2 (which is never permuted); hparams().rope_type says which.
//   * 1-D tensors (norms, biases) are F32, as GGUF converters store them; HF F16/BF16 vectors
//     are widened on load. 2-D HF tensors keep their dtype (F32, F16, BF16).
//   * Llama 3.1 scaling: `rope_freqs.weight` (F32, n_rot/2 divisors) is present for both
//     formats when rope_scaling is llama3 (computed from config.json for HF folders).
//   * Tied embeddings: `output.weight` is absent and hparams().tied_embeddings is true; the
//     output projection is token_embd.weight (output_weight() returns whichever applies).
//   * Data pointers are aligned to at least their element size for F32/F16/BF16; quantized data
//     sits at the file's alignment.
// Permuted, widened or realigned tensors live in buffers owned by this object; the rest point
// into read-only mappings. Everything lives as long as the ModelFiles.
//
// Weights are validated at open(): every required tensor present, with the shape the hparams
// imply, and a type assay can compute with (ggml_types supported=true). Tokenizer-only inputs
// (a vocab-only GGUF, an HF folder without config.json) open when `require_weights` is false:
// has_weights() is then false and weights_status() says why.
//
// Errors name the file and the tensor or field. Thread safety: immutable after open().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engines/local/ggml_types.h"
#include "engines/local/gguf_reader.h"
#include "engines/local/hf_config.h"
#include "engines/local/hparams.h"
#include "harness/status.h"

namespace assay {

class SafetensorsModel;

enum class ModelFormat { kGguf, kHfFolder };

struct TensorView {
  std::string name;  // GGUF name
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;  // ggml order
  const uint8_t* data = nullptr;
  uint64_t n_bytes = 0;
  int64_t n_elements() const;
};

struct ModelFilesOptions {
  // false: open tokenizer-only or unsupported-architecture inputs for inspection/tokenizing.
  bool require_weights = true;
};

class ModelFiles {
 public:
  static Result<std::unique_ptr<ModelFiles>> open(const std::string& path,
                                                  const ModelFilesOptions& options = {});
  ~ModelFiles();

  ModelFormat format() const { return format_; }
  const std::string& path() const { return path_; }

  bool has_weights() const { return hparams_.has_value(); }
  const std::string& weights_status() const { return weights_status_; }  // empty if has_weights
  // Requires has_weights().
  const LlamaHparams& hparams() const;
  const std::map<std::string, TensorView, std::less<>>& tensors() const { return tensors_; }
  const TensorView* tensor(std::string_view gguf_name) const;
  // output.weight, or token_embd.weight when embeddings are tied. Requires has_weights().
  const TensorView& output_weight() const;
  // HF tensors not in the llama table (skipped), e.g. rotary_emb.inv_freq buffers.
  const std::vector<std::string>& ignored_tensors() const { return ignored_; }

  // Tokenizer sources. GGUF: gguf() holds tokenizer.ggml.* metadata. HF: the paths of
  // tokenizer.json / tokenizer_config.json in the folder, empty when absent.
  const GgufFile* gguf() const { return gguf_.get(); }
  const HfConfig* hf_config() const { return hf_config_ ? &*hf_config_ : nullptr; }
  const std::string& tokenizer_json_path() const { return tokenizer_json_; }
  const std::string& tokenizer_config_path() const { return tokenizer_config_; }
  // tokenizer.chat_template (GGUF) or tokenizer_config.json "chat_template" / chat_template.jinja
  // (HF; for a list of named templates, the one named "default", else the first).
  const std::optional<std::string>& chat_template() const { return chat_template_; }

 private:
  ModelFiles() = default;
  Status open_gguf(const ModelFilesOptions& options);
  Status open_hf(const ModelFilesOptions& options);
  Status load_hf_weights();
  Status validate_tensors(const std::string& where);
  const uint8_t* own(std::vector<uint8_t> bytes);

  ModelFormat format_ = ModelFormat::kGguf;
  std::string path_;
  std::optional<LlamaHparams> hparams_;
  std::string weights_status_;
  std::map<std::string, TensorView, std::less<>> tensors_;
  std::vector<std::string> ignored_;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<SafetensorsModel> safetensors_;
  std::optional<HfConfig> hf_config_;
  std::vector<std::vector<uint8_t>> owned_;
  std::string tokenizer_json_;
  std::string tokenizer_config_;
  std::optional<std::string> chat_template_;
};

// Multi-line text for `assay inspect`: format and path, architecture and hparams, tensor count
// and bytes by type, tokenizer model/pre and vocabulary size, chat template present or not.
std::string describe_model(const ModelFiles& m);
// The weights' storage types by share of bytes, largest first: "Q4_1 69%, Q8_0 31%, F32 0%"
// (what runs record as the model's quantization).
std::string weight_types(const ModelFiles& m);

// GGUF row order from HF row order for one q/k projection: `rows` rows of `row_bytes` bytes in
// n_heads heads (rows / n_heads must be even). Exposed for tests and the tiny-model writer's
// cross-checks.
std::vector<uint8_t> permute_qk_rows_hf_to_gguf(const uint8_t* src, int64_t rows, int64_t row_bytes,
                                                int64_t n_heads);

}  // namespace assay
