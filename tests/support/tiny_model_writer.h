// Tiny random Llama-family models for tests, written both as a Hugging Face folder
// (config.json + model.safetensors, optionally sharded) and as a GGUF file the way
// llama.cpp's convert_hf_to_gguf would write the same weights (GGUF names, ggml shapes, q/k row
// permutation for arch llama, 1-D tensors in F32, rope_freqs for llama3 scaling, a minimal
// byte-level "gpt2" tokenizer).
//
// The weights are a deterministic function of the spec (seed included), so the two formats hold
// the same values. Deliberately independent of engines/local (its own fp16 conversion,
// quantizers and GGUF/safetensors encoders) so reader tests are checked against a second
// implementation.
//
// Also GgufBuilder and SafetensorsBuilder for hand-made (and deliberately broken) files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engines/local/ggml_types.h"
#include "harness/status.h"

namespace assay {

struct TinyModelSpec {
  std::string arch = "llama";  // "llama" (HF model_type llama) or "qwen2"
  int64_t n_vocab = 96;
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 2;
  int64_t n_ff = 128;
  int64_t n_ctx_train = 256;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tied_embeddings = false;
  bool llama3_rope_scaling = false;  // factor 8, low 1, high 4, original ctx 64
  bool attention_bias = false;       // q/k/v biases for llama (qwen2 always has them)
  uint64_t seed = 1;
  float weight_scale = 0.1f;
  GgmlType hf_dtype = GgmlType::F32;   // safetensors dtype of every tensor: F32, F16, BF16
  GgmlType gguf_type = GgmlType::F32;  // GGUF type of 2-D weights: F32 F16 BF16 Q8_0 Q4_0
  // Q8_0 or Q4_0: the 2-D GGUF weights are quantized to this type and decoded back before they
  // are written as gguf_type: with gguf_type F32, the float twin of a quantized file.
  GgmlType round_through = GgmlType::F32;
  std::string chat_template;           // written to both formats when non-empty
};

// One weight in HF naming and layout (row-major, shape[0] = output rows), before any
// permutation, already rounded to hf_dtype.
struct TinyTensor {
  std::string hf_name;
  std::string gguf_name;
  std::vector<int64_t> hf_shape;
  std::vector<float> values;
};
std::vector<TinyTensor> tiny_model_tensors(const TinyModelSpec& spec);

// Creates `dir` (and parents). n_shards > 1 writes model-0000i-of-0000n.safetensors and
// model.safetensors.index.json.
Status write_tiny_hf_model(const TinyModelSpec& spec, const std::string& dir, int n_shards = 1);
Status write_tiny_gguf_model(const TinyModelSpec& spec, const std::string& path);

// Independent binary16/bfloat16 encoders (round to nearest even).
uint16_t tiny_fp32_to_fp16(float f);
float tiny_fp16_to_fp32(uint16_t h);
uint16_t tiny_fp32_to_bf16(float f);

// Encodes one row of n floats as `type` (F32 F16 BF16 Q8_0 Q4_0, ggml reference quantizers).
std::vector<uint8_t> tiny_encode_row(GgmlType type, const float* x, int64_t n);
// Decodes a Q8_0 or Q4_0 row of n values (ggml dequantize_row_*: d * q, d * (q - 8)).
std::vector<float> tiny_decode_row(GgmlType type, const uint8_t* row, int64_t n);

// A GGUF file assembled by hand. Values are encoded as given; nothing is validated, so tests
// can write broken files. build() lays out header, KV pairs, tensor infos, padding to the
// alignment and the tensor data (each tensor at the next aligned offset unless an explicit
// offset is given).
class GgufBuilder {
 public:
  GgufBuilder& version(uint32_t v) {
    version_ = v;
    return *this;
  }
  GgufBuilder& alignment(uint64_t a) {
    alignment_ = a;
    return *this;
  }  // layout only; add the key too
  // Raw value bytes after key and type (for any type, including nested arrays).
  GgufBuilder& kv_raw(std::string_view key, uint32_t type, std::vector<uint8_t> value);
  GgufBuilder& kv_u8(std::string_view key, uint8_t v);
  GgufBuilder& kv_i8(std::string_view key, int8_t v);
  GgufBuilder& kv_u16(std::string_view key, uint16_t v);
  GgufBuilder& kv_i16(std::string_view key, int16_t v);
  GgufBuilder& kv_u32(std::string_view key, uint32_t v);
  GgufBuilder& kv_i32(std::string_view key, int32_t v);
  GgufBuilder& kv_u64(std::string_view key, uint64_t v);
  GgufBuilder& kv_i64(std::string_view key, int64_t v);
  GgufBuilder& kv_f32(std::string_view key, float v);
  GgufBuilder& kv_f64(std::string_view key, double v);
  GgufBuilder& kv_bool(std::string_view key, bool v);
  GgufBuilder& kv_str(std::string_view key, std::string_view v);
  GgufBuilder& kv_str_array(std::string_view key, const std::vector<std::string>& v);
  GgufBuilder& kv_f32_array(std::string_view key, const std::vector<float>& v);
  GgufBuilder& kv_i32_array(std::string_view key, const std::vector<int32_t>& v);
  // offset < 0: place at the next aligned position after the previous tensor.
  GgufBuilder& tensor(std::string_view name, GgmlType type, std::vector<int64_t> ne,
                      std::vector<uint8_t> data, int64_t offset = -1);
  GgufBuilder& tensor_raw_type(std::string_view name, uint32_t type_id, std::vector<int64_t> ne,
                               std::vector<uint8_t> data, int64_t offset = -1);
  std::vector<uint8_t> build() const;
  Status write(const std::string& path) const;

  // Encoders for kv_raw.
  static void put_u32(std::vector<uint8_t>& b, uint32_t v);
  static void put_u64(std::vector<uint8_t>& b, uint64_t v);
  static void put_str(std::vector<uint8_t>& b, std::string_view s);

 private:
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
    int64_t offset;
  };
  uint32_t version_ = 3;
  uint64_t alignment_ = 32;
  uint64_t n_kv_ = 0;
  std::vector<uint8_t> kv_;
  std::vector<Tensor> tensors_;
};

// A safetensors file assembled by hand; header_override replaces the generated JSON.
class SafetensorsBuilder {
 public:
  SafetensorsBuilder& tensor(std::string_view name, std::string_view dtype,
                             std::vector<int64_t> shape, std::vector<uint8_t> data);
  SafetensorsBuilder& metadata(std::string_view key, std::string_view value);
  std::string header_json() const;
  std::vector<uint8_t> build() const;
  std::vector<uint8_t> build_with_header(std::string_view json) const;
  Status write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  std::vector<Tensor> tensors_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

Status write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace assay
