#include "tests/support/tiny_model_writer.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

namespace assay {
namespace {

// splitmix64: small, deterministic, good enough for test weights.
uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t hash_name(std::string_view s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

std::string json_escape(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\t':
        o += "\\t";
        break;
      case '\r':
        o += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o;
}

std::string fmt_float(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  std::string s(buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

void put_bytes(std::vector<uint8_t>& b, const void* p, size_t n) {
  const auto* c = static_cast<const uint8_t*>(p);
  b.insert(b.end(), c, c + n);
}
template <typename T>
void put(std::vector<uint8_t>& b, T v) {
  put_bytes(b, &v, sizeof v);
}

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2 bytes_to_unicode, in GPT-2 vocabulary order (token 0 is "!").
std::vector<std::string> gpt2_byte_tokens() {
  std::vector<int> bs;
  for (int c = '!'; c <= '~'; ++c) bs.push_back(c);
  for (int c = 0xA1; c <= 0xAC; ++c) bs.push_back(c);
  for (int c = 0xAE; c <= 0xFF; ++c) bs.push_back(c);
  std::vector<uint32_t> cs(bs.begin(), bs.end());
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool found = false;
    for (int x : bs) found |= x == b;
    if (!found) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  }
  std::vector<std::string> out;
  for (uint32_t c : cs) out.push_back(utf8(c));
  return out;
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  int64_t bos, eos;
};

Vocab tiny_vocab(int64_t n_vocab) {
  Vocab v;
  const int64_t n_plain = n_vocab - 2;
  const std::vector<std::string> bytes = gpt2_byte_tokens();
  static const char* kMerges[][2] = {{"Ġ", "t"}, {"h", "e"}, {"Ġ", "a"}, {"i", "n"},  {"Ġt", "he"},
                                     {"e", "r"}, {"o", "n"}, {"Ġ", "s"}, {"r", "e"},  {"a", "t"},
                                     {"e", "n"}, {"Ġ", "w"}, {"o", "r"}, {"i", "s"},  {"Ġ", "o"},
                                     {"a", "n"}, {"e", "s"}, {"Ġ", "c"}, {"in", "g"}, {"Ġ", "b"}};
  for (int64_t i = 0; i < n_plain && i < 256; ++i) {
    v.tokens.push_back(bytes[static_cast<size_t>(i)]);
    v.types.push_back(1);
  }
  for (size_t m = 0; static_cast<int64_t>(v.tokens.size()) < n_plain; ++m) {
    if (n_plain >= 256 && m < sizeof kMerges / sizeof kMerges[0]) {
      v.merges.push_back(std::string(kMerges[m][0]) + " " + kMerges[m][1]);
      v.tokens.push_back(std::string(kMerges[m][0]) + kMerges[m][1]);
      v.types.push_back(1);
    } else {
      v.tokens.push_back("<|extra_" + std::to_string(v.tokens.size()) + "|>");
      v.types.push_back(4);
    }
  }
  v.bos = static_cast<int64_t>(v.tokens.size());
  v.tokens.push_back("<|im_start|>");
  v.types.push_back(3);
  v.eos = static_cast<int64_t>(v.tokens.size());
  v.tokens.push_back("<|im_end|>");
  v.types.push_back(3);
  return v;
}

float round_to(GgmlType t, float x) {
  if (t == GgmlType::F16) return tiny_fp16_to_fp32(tiny_fp32_to_fp16(x));
  if (t == GgmlType::BF16) {
    const uint32_t bits = static_cast<uint32_t>(tiny_fp32_to_bf16(x)) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  return x;
}

const char* st_dtype(GgmlType t) {
  return t == GgmlType::F16 ? "F16" : t == GgmlType::BF16 ? "BF16" : "F32";
}

// convert_hf_to_gguf's permute: w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2)
// .reshape(rows, cols), written as the numpy index mapping.
std::vector<float> permute_like_converter(const std::vector<float>& w, int64_t rows, int64_t cols,
                                          int64_t n_head) {
  const int64_t half = rows / n_head / 2;
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_head; ++h) {
    for (int64_t a = 0; a < half; ++a) {  // axis 1 after swap
      for (int64_t b = 0; b < 2; ++b) {   // axis 2 after swap
        const int64_t dst_row = (h * half + a) * 2 + b;
        const int64_t src_row = (h * 2 + b) * half + a;
        std::memcpy(&out[static_cast<size_t>(dst_row * cols)],
                    &w[static_cast<size_t>(src_row * cols)],
                    static_cast<size_t>(cols) * sizeof(float));
      }
    }
  }
  return out;
}

}  // namespace

uint16_t tiny_fp32_to_fp16(float f) {
  // Via double arithmetic rather than bit tricks, so it is independent of ggml_types.cpp.
  if (std::isnan(f)) return 0x7E00;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return sign | 0x7C00;                      // rounds to inf
  if (a < std::ldexp(1.0, -14)) {                              // subnormal: units of 2^-24
    const double q = std::nearbyint(a * std::ldexp(1.0, 24));  // default mode: ties to even
    return sign | static_cast<uint16_t>(q);
  }
  int e;
  const double m = std::frexp(a, &e);     // a = m * 2^e, m in [0.5, 1)
  double q = std::nearbyint(m * 2048.0);  // 11 significant bits
  if (q == 2048.0) {
    q = 1024.0;
    ++e;
  }
  const int biased = e - 1 + 15;
  if (biased >= 31) return sign | 0x7C00;
  return sign | static_cast<uint16_t>(biased << 10) |
         static_cast<uint16_t>(static_cast<int>(q) - 1024);
}

float tiny_fp16_to_fp32(uint16_t h) {
  const int e = (h >> 10) & 0x1F;
  const int m = h & 0x3FF;
  double v;
  if (e == 0)
    v = std::ldexp(static_cast<double>(m), -24);
  else if (e == 31)
    v = m ? NAN : INFINITY;
  else
    v = std::ldexp(1024.0 + m, e - 25);
  return static_cast<float>((h & 0x8000) ? -v : v);
}

uint16_t tiny_fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((x >> 16) | 0x40);
  const uint32_t lower = x & 0xFFFF;
  uint32_t upper = x >> 16;
  if (lower > 0x8000 || (lower == 0x8000 && (upper & 1))) ++upper;
  return static_cast<uint16_t>(upper);
}

std::vector<uint8_t> tiny_encode_row(GgmlType type, const float* x, int64_t n) {
  std::vector<uint8_t> b;
  switch (type) {
    case GgmlType::F32:
      put_bytes(b, x, static_cast<size_t>(n) * 4);
      break;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) put<uint16_t>(b, tiny_fp32_to_fp16(x[i]));
      break;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) put<uint16_t>(b, tiny_fp32_to_bf16(x[i]));
      break;
    case GgmlType::Q8_0:  // ggml quantize_row_q8_0_ref
      for (int64_t blk = 0; blk < n / 32; ++blk) {
        const float* v = x + blk * 32;
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[j]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        put<uint16_t>(b, tiny_fp32_to_fp16(d));
        for (int j = 0; j < 32; ++j) put<int8_t>(b, static_cast<int8_t>(std::round(v[j] * id)));
      }
      break;
    case GgmlType::Q4_0:  // ggml quantize_row_q4_0_ref
      for (int64_t blk = 0; blk < n / 32; ++blk) {
        const float* v = x + blk * 32;
        float amax = 0, max = 0;
        for (int j = 0; j < 32; ++j) {
          if (amax < std::fabs(v[j])) {
            amax = std::fabs(v[j]);
            max = v[j];
          }
        }
        const float d = max / -8.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        put<uint16_t>(b, tiny_fp32_to_fp16(d));
        for (int j = 0; j < 16; ++j) {
          const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(v[j] * id + 8.5f)));
          const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(v[j + 16] * id + 8.5f)));
          put<uint8_t>(b, static_cast<uint8_t>(q0 | (q1 << 4)));
        }
      }
      break;
    default:
      break;  // unsupported: empty
  }
  return b;
}

std::vector<float> tiny_decode_row(GgmlType type, const uint8_t* row, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  const bool q8 = type == GgmlType::Q8_0;
  const int64_t blk_bytes = q8 ? 34 : 18;
  for (int64_t blk = 0; blk < n / 32; ++blk) {
    const uint8_t* p = row + blk * blk_bytes;
    uint16_t dh;
    std::memcpy(&dh, p, 2);
    const float d = tiny_fp16_to_fp32(dh);
    for (int j = 0; j < 32; ++j) {
      if (q8) {
        y[blk * 32 + j] = static_cast<float>(static_cast<int8_t>(p[2 + j])) * d;
      } else {
        const int q = j < 16 ? (p[2 + j] & 0x0F) : (p[2 + j - 16] >> 4);
        y[blk * 32 + j] = static_cast<float>(q - 8) * d;
      }
    }
  }
  return y;
}

std::vector<TinyTensor> tiny_model_tensors(const TinyModelSpec& s) {
  const int64_t head_dim = s.n_embd / s.n_head;
  const int64_t q_dim = s.n_head * head_dim, kv_dim = s.n_head_kv * head_dim;
  const bool qwen = s.arch == "qwen2";
  const bool bias = qwen || s.attention_bias;
  std::vector<TinyTensor> out;
  auto add = [&](std::string hf, std::string gguf, std::vector<int64_t> shape, bool norm) {
    TinyTensor t{std::move(hf), std::move(gguf), std::move(shape), {}};
    int64_t n = 1;
    for (int64_t d : t.hf_shape) n *= d;
    uint64_t state = hash_name(t.hf_name, s.seed);
    t.values.resize(static_cast<size_t>(n));
    for (float& v : t.values) {
      const double u = static_cast<double>(splitmix(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
      v = round_to(s.hf_dtype, static_cast<float>(norm ? 1.0 + 0.1 * u : s.weight_scale * u));
    }
    out.push_back(std::move(t));
  };
  add("model.embed_tokens.weight", "token_embd.weight", {s.n_vocab, s.n_embd}, false);
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string h = "model.layers." + std::to_string(l) + ".";
    const std::string g = "blk." + std::to_string(l) + ".";
    add(h + "input_layernorm.weight", g + "attn_norm.weight", {s.n_embd}, true);
    add(h + "self_attn.q_proj.weight", g + "attn_q.weight", {q_dim, s.n_embd}, false);
    add(h + "self_attn.k_proj.weight", g + "attn_k.weight", {kv_dim, s.n_embd}, false);
    add(h + "self_attn.v_proj.weight", g + "attn_v.weight", {kv_dim, s.n_embd}, false);
    if (bias) {
      add(h + "self_attn.q_proj.bias", g + "attn_q.bias", {q_dim}, false);
      add(h + "self_attn.k_proj.bias", g + "attn_k.bias", {kv_dim}, false);
      add(h + "self_attn.v_proj.bias", g + "attn_v.bias", {kv_dim}, false);
    }
    add(h + "self_attn.o_proj.weight", g + "attn_output.weight", {s.n_embd, q_dim}, false);
    add(h + "post_attention_layernorm.weight", g + "ffn_norm.weight", {s.n_embd}, true);
    add(h + "mlp.gate_proj.weight", g + "ffn_gate.weight", {s.n_ff, s.n_embd}, false);
    add(h + "mlp.up_proj.weight", g + "ffn_up.weight", {s.n_ff, s.n_embd}, false);
    add(h + "mlp.down_proj.weight", g + "ffn_down.weight", {s.n_embd, s.n_ff}, false);
  }
  add("model.norm.weight", "output_norm.weight", {s.n_embd}, true);
  if (!s.tied_embeddings) add("lm_head.weight", "output.weight", {s.n_vocab, s.n_embd}, false);
  return out;
}

Status write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return io_error(path + ": cannot create: " + std::strerror(errno));
  const size_t n = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
  const bool ok = n == bytes.size() && std::fclose(f) == 0;
  if (!ok) return io_error(path + ": write failed");
  return Status::OK();
}

static Status write_text(const std::string& path, const std::string& text) {
  return write_file_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

Status write_tiny_hf_model(const TinyModelSpec& s, const std::string& dir, int n_shards) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create folder: " + ec.message());
  const bool qwen = s.arch == "qwen2";
  const Vocab vocab = tiny_vocab(s.n_vocab);
  std::string c = "{\n";
  c += std::string("  \"architectures\": [\"") + (qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM") +
       "\"],\n";
  c += std::string("  \"model_type\": \"") + (qwen ? "qwen2" : "llama") + "\",\n";
  c += "  \"hidden_size\": " + std::to_string(s.n_embd) + ",\n";
  c += "  \"num_hidden_layers\": " + std::to_string(s.n_layer) + ",\n";
  c += "  \"num_attention_heads\": " + std::to_string(s.n_head) + ",\n";
  c += "  \"num_key_value_heads\": " + std::to_string(s.n_head_kv) + ",\n";
  c += "  \"intermediate_size\": " + std::to_string(s.n_ff) + ",\n";
  c += "  \"max_position_embeddings\": " + std::to_string(s.n_ctx_train) + ",\n";
  c += "  \"vocab_size\": " + std::to_string(s.n_vocab) + ",\n";
  c += "  \"rms_norm_eps\": " + fmt_float(s.rms_eps) + ",\n";
  c += "  \"rope_theta\": " + fmt_float(s.rope_theta) + ",\n";
  if (s.llama3_rope_scaling) {
    c += "  \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": "
         "4.0, "
         "\"original_max_position_embeddings\": 64, \"rope_type\": \"llama3\"},\n";
  } else {
    c += "  \"rope_scaling\": null,\n";
  }
  c +=
      std::string("  \"attention_bias\": ") + (s.attention_bias || qwen ? "true" : "false") + ",\n";
  c += std::string("  \"tie_word_embeddings\": ") + (s.tied_embeddings ? "true" : "false") + ",\n";
  c += "  \"bos_token_id\": " + std::to_string(vocab.bos) + ",\n";
  c += "  \"eos_token_id\": " + std::to_string(vocab.eos) + ",\n";
  c += std::string("  \"torch_dtype\": \"") +
       (s.hf_dtype == GgmlType::F16    ? "float16"
        : s.hf_dtype == GgmlType::BF16 ? "bfloat16"
                                       : "float32") +
       "\"\n}\n";
  ASSAY_RETURN_IF_ERROR(write_text((fs::path(dir) / "config.json").string(), c));
  ASSAY_RETURN_IF_ERROR(write_text((fs::path(dir) / "generation_config.json").string(),
                                   "{\"bos_token_id\": " + std::to_string(vocab.bos) +
                                       ", \"eos_token_id\": [" + std::to_string(vocab.eos) +
                                       "]}\n"));
  if (!s.chat_template.empty()) {
    ASSAY_RETURN_IF_ERROR(
        write_text((fs::path(dir) / "tokenizer_config.json").string(),
                   "{\"chat_template\": \"" + json_escape(s.chat_template) + "\"}\n"));
  }
  const std::vector<TinyTensor> tensors = tiny_model_tensors(s);
  if (n_shards < 1) n_shards = 1;
  std::vector<SafetensorsBuilder> shards(static_cast<size_t>(n_shards));
  std::map<std::string, std::string> weight_map;
  auto shard_name = [&](int i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i + 1, n_shards);
    return std::string(buf);
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TinyTensor& t = tensors[i];
    const int shard = static_cast<int>(i * static_cast<size_t>(n_shards) / tensors.size());
    shards[static_cast<size_t>(shard)].tensor(
        t.hf_name, st_dtype(s.hf_dtype), t.hf_shape,
        tiny_encode_row(s.hf_dtype, t.values.data(), static_cast<int64_t>(t.values.size())));
    weight_map[t.hf_name] = shard_name(shard);
  }
  shards[0].metadata("format", "pt");
  if (n_shards == 1) return shards[0].write((fs::path(dir) / "model.safetensors").string());
  std::string idx = "{\"metadata\": {}, \"weight_map\": {";
  bool first = true;
  for (const auto& [k, v] : weight_map) {
    idx += std::string(first ? "" : ", ") + "\"" + json_escape(k) + "\": \"" + v + "\"";
    first = false;
  }
  idx += "}}\n";
  ASSAY_RETURN_IF_ERROR(write_text((fs::path(dir) / "model.safetensors.index.json").string(), idx));
  for (int i = 0; i < n_shards; ++i) {
    ASSAY_RETURN_IF_ERROR(
        shards[static_cast<size_t>(i)].write((fs::path(dir) / shard_name(i)).string()));
  }
  return Status::OK();
}

Status write_tiny_gguf_model(const TinyModelSpec& s, const std::string& path) {
  const bool qwen = s.arch == "qwen2";
  const std::string a = qwen ? "qwen2" : "llama";
  const int64_t head_dim = s.n_embd / s.n_head;
  const Vocab vocab = tiny_vocab(s.n_vocab);
  GgufBuilder b;
  b.kv_str("general.architecture", a);
  b.kv_str("general.name", "tiny-random-" + a);
  b.kv_u32("general.alignment", 32);
  b.kv_u32(a + ".context_length", static_cast<uint32_t>(s.n_ctx_train));
  b.kv_u32(a + ".embedding_length", static_cast<uint32_t>(s.n_embd));
  b.kv_u32(a + ".block_count", static_cast<uint32_t>(s.n_layer));
  b.kv_u32(a + ".feed_forward_length", static_cast<uint32_t>(s.n_ff));
  b.kv_u32(a + ".attention.head_count", static_cast<uint32_t>(s.n_head));
  b.kv_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  b.kv_f32(a + ".rope.freq_base", s.rope_theta);
  b.kv_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
  b.kv_u32(a + ".rope.dimension_count", static_cast<uint32_t>(head_dim));
  b.kv_u32(a + ".vocab_size", static_cast<uint32_t>(s.n_vocab));
  const bool quant = s.gguf_type == GgmlType::Q8_0 || s.gguf_type == GgmlType::Q4_0;
  if (quant) b.kv_u32("general.quantization_version", 2);
  b.kv_str("tokenizer.ggml.model", "gpt2");
  b.kv_str("tokenizer.ggml.pre", "default");
  b.kv_str_array("tokenizer.ggml.tokens", vocab.tokens);
  b.kv_i32_array("tokenizer.ggml.token_type", vocab.types);
  b.kv_str_array("tokenizer.ggml.merges", vocab.merges);
  b.kv_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab.bos));
  b.kv_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab.eos));
  b.kv_bool("tokenizer.ggml.add_bos_token", false);
  if (!s.chat_template.empty()) b.kv_str("tokenizer.chat_template", s.chat_template);
  if (s.llama3_rope_scaling) {
    // convert_hf_to_gguf's rope_freqs with factor 8, low 1, high 4, original ctx 64.
    std::vector<float> f;
    const double lo_wl = 64.0 / 1.0, hi_wl = 64.0 / 4.0;
    for (int64_t i = 0; i < head_dim / 2; ++i) {
      const float freq =
          1.0f / std::pow(s.rope_theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
      const double wl = 2 * M_PI / freq;
      if (wl < hi_wl)
        f.push_back(1.0f);
      else if (wl > lo_wl)
        f.push_back(8.0f);
      else {
        const double smooth = (64.0 / wl - 1.0) / (4.0 - 1.0);
        f.push_back(static_cast<float>(1.0 / ((1 - smooth) / 8.0 + smooth)));
      }
    }
    b.tensor("rope_freqs.weight", GgmlType::F32, {head_dim / 2},
             tiny_encode_row(GgmlType::F32, f.data(), static_cast<int64_t>(f.size())));
  }
  for (const TinyTensor& t : tiny_model_tensors(s)) {
    std::vector<float> v = t.values;
    const bool is_q = t.gguf_name.find("attn_q.") != std::string::npos;
    const bool is_k = t.gguf_name.find("attn_k.") != std::string::npos;
    if (!qwen && (is_q || is_k)) {
      const int64_t rows = t.hf_shape[0];
      const int64_t cols = t.hf_shape.size() == 2 ? t.hf_shape[1] : 1;
      v = permute_like_converter(v, rows, cols, is_q ? s.n_head : s.n_head_kv);
    }
    std::vector<int64_t> ne(t.hf_shape.rbegin(), t.hf_shape.rend());
    GgmlType type = GgmlType::F32;
    if (ne.size() == 2) {
      type = s.gguf_type;
      if (ne[0] % 32 != 0 && quant) type = GgmlType::F16;
    }
    std::vector<uint8_t> bytes;
    const int64_t rows = ne.size() == 2 ? ne[1] : 1;
    const bool round = (s.round_through == GgmlType::Q8_0 || s.round_through == GgmlType::Q4_0) &&
                       ne.size() == 2 && ne[0] % 32 == 0;
    for (int64_t r = 0; r < rows; ++r) {
      if (round) {
        const std::vector<uint8_t> q = tiny_encode_row(s.round_through, v.data() + r * ne[0], ne[0]);
        const std::vector<float> back = tiny_decode_row(s.round_through, q.data(), ne[0]);
        std::copy(back.begin(), back.end(), v.begin() + r * ne[0]);
      }
      std::vector<uint8_t> row = tiny_encode_row(type, v.data() + r * ne[0], ne[0]);
      if (row.empty())
        return unsupported("tiny_model_writer: cannot encode GGUF type id " +
                           std::to_string(static_cast<uint32_t>(type)));
      bytes.insert(bytes.end(), row.begin(), row.end());
    }
    b.tensor(t.gguf_name, type, ne, std::move(bytes));
  }
  return b.write(path);
}

// ---- GgufBuilder ----

void GgufBuilder::put_u32(std::vector<uint8_t>& b, uint32_t v) { put(b, v); }
void GgufBuilder::put_u64(std::vector<uint8_t>& b, uint64_t v) { put(b, v); }
void GgufBuilder::put_str(std::vector<uint8_t>& b, std::string_view s) {
  put<uint64_t>(b, s.size());
  put_bytes(b, s.data(), s.size());
}

GgufBuilder& GgufBuilder::kv_raw(std::string_view key, uint32_t type, std::vector<uint8_t> value) {
  put_str(kv_, key);
  put(kv_, type);
  kv_.insert(kv_.end(), value.begin(), value.end());
  ++n_kv_;
  return *this;
}

#define ASSAY_KV_SCALAR(NAME, CTYPE, TYPE_ID)                     \
  GgufBuilder& GgufBuilder::NAME(std::string_view key, CTYPE v) { \
    std::vector<uint8_t> b;                                       \
    put<CTYPE>(b, v);                                             \
    return kv_raw(key, TYPE_ID, std::move(b));                    \
  }
ASSAY_KV_SCALAR(kv_u8, uint8_t, 0)
ASSAY_KV_SCALAR(kv_i8, int8_t, 1)
ASSAY_KV_SCALAR(kv_u16, uint16_t, 2)
ASSAY_KV_SCALAR(kv_i16, int16_t, 3)
ASSAY_KV_SCALAR(kv_u32, uint32_t, 4)
ASSAY_KV_SCALAR(kv_i32, int32_t, 5)
ASSAY_KV_SCALAR(kv_f32, float, 6)
ASSAY_KV_SCALAR(kv_u64, uint64_t, 10)
ASSAY_KV_SCALAR(kv_i64, int64_t, 11)
ASSAY_KV_SCALAR(kv_f64, double, 12)
#undef ASSAY_KV_SCALAR

GgufBuilder& GgufBuilder::kv_bool(std::string_view key, bool v) {
  return kv_raw(key, 7, {static_cast<uint8_t>(v ? 1 : 0)});
}
GgufBuilder& GgufBuilder::kv_str(std::string_view key, std::string_view v) {
  std::vector<uint8_t> b;
  put_str(b, v);
  return kv_raw(key, 8, std::move(b));
}
GgufBuilder& GgufBuilder::kv_str_array(std::string_view key, const std::vector<std::string>& v) {
  std::vector<uint8_t> b;
  put<uint32_t>(b, 8);
  put<uint64_t>(b, v.size());
  for (const std::string& s : v) put_str(b, s);
  return kv_raw(key, 9, std::move(b));
}
GgufBuilder& GgufBuilder::kv_f32_array(std::string_view key, const std::vector<float>& v) {
  std::vector<uint8_t> b;
  put<uint32_t>(b, 6);
  put<uint64_t>(b, v.size());
  for (float x : v) put(b, x);
  return kv_raw(key, 9, std::move(b));
}
GgufBuilder& GgufBuilder::kv_i32_array(std::string_view key, const std::vector<int32_t>& v) {
  std::vector<uint8_t> b;
  put<uint32_t>(b, 5);
  put<uint64_t>(b, v.size());
  for (int32_t x : v) put(b, x);
  return kv_raw(key, 9, std::move(b));
}

GgufBuilder& GgufBuilder::tensor(std::string_view name, GgmlType type, std::vector<int64_t> ne,
                                 std::vector<uint8_t> data, int64_t offset) {
  return tensor_raw_type(name, static_cast<uint32_t>(type), std::move(ne), std::move(data), offset);
}
GgufBuilder& GgufBuilder::tensor_raw_type(std::string_view name, uint32_t type_id,
                                          std::vector<int64_t> ne, std::vector<uint8_t> data,
                                          int64_t offset) {
  tensors_.push_back({std::string(name), type_id, std::move(ne), std::move(data), offset});
  return *this;
}

std::vector<uint8_t> GgufBuilder::build() const {
  std::vector<uint8_t> b;
  put<uint32_t>(b, 0x46554747);
  put<uint32_t>(b, version_);
  put<uint64_t>(b, tensors_.size());
  put<uint64_t>(b, n_kv_);
  b.insert(b.end(), kv_.begin(), kv_.end());
  const uint64_t a = alignment_ ? alignment_ : 1;
  std::vector<uint64_t> offsets;
  uint64_t next = 0;
  for (const Tensor& t : tensors_) {
    const uint64_t off = t.offset >= 0 ? static_cast<uint64_t>(t.offset) : next;
    offsets.push_back(off);
    next = off + t.data.size();
    next += (a - next % a) % a;
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    put_str(b, t.name);
    put<uint32_t>(b, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(b, static_cast<uint64_t>(d));
    put<uint32_t>(b, t.type);
    put<uint64_t>(b, offsets[i]);
  }
  if (tensors_.empty()) return b;
  b.resize(b.size() + (a - b.size() % a) % a, 0);
  const size_t data_start = b.size();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const size_t end = data_start + offsets[i] + tensors_[i].data.size();
    if (b.size() < end) b.resize(end, 0);
    std::memcpy(b.data() + data_start + offsets[i], tensors_[i].data.data(),
                tensors_[i].data.size());
  }
  b.resize(b.size() + (a - b.size() % a) % a, 0);
  return b;
}

Status GgufBuilder::write(const std::string& path) const { return write_file_bytes(path, build()); }

// ---- SafetensorsBuilder ----

SafetensorsBuilder& SafetensorsBuilder::tensor(std::string_view name, std::string_view dtype,
                                               std::vector<int64_t> shape,
                                               std::vector<uint8_t> data) {
  tensors_.push_back({std::string(name), std::string(dtype), std::move(shape), std::move(data)});
  return *this;
}
SafetensorsBuilder& SafetensorsBuilder::metadata(std::string_view key, std::string_view value) {
  metadata_.emplace_back(std::string(key), std::string(value));
  return *this;
}

std::string SafetensorsBuilder::header_json() const {
  std::string j = "{";
  bool first = true;
  if (!metadata_.empty()) {
    j += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata_.size(); ++i) {
      j += (i ? "," : "") + std::string("\"") + json_escape(metadata_[i].first) + "\":\"" +
           json_escape(metadata_[i].second) + "\"";
    }
    j += "}";
    first = false;
  }
  uint64_t off = 0;
  for (const Tensor& t : tensors_) {
    j += std::string(first ? "" : ",") + "\"" + json_escape(t.name) + "\":{\"dtype\":\"" + t.dtype +
         "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) j += (i ? "," : "") + std::to_string(t.shape[i]);
    j += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.data.size()) +
         "]}";
    off += t.data.size();
    first = false;
  }
  j += "}";
  // Pad with spaces to a multiple of 8, as the reference writer does.
  while ((j.size() + 8) % 8 != 0) j += ' ';
  return j;
}

std::vector<uint8_t> SafetensorsBuilder::build_with_header(std::string_view json) const {
  std::vector<uint8_t> b;
  put<uint64_t>(b, json.size());
  put_bytes(b, json.data(), json.size());
  for (const Tensor& t : tensors_) b.insert(b.end(), t.data.begin(), t.data.end());
  return b;
}

std::vector<uint8_t> SafetensorsBuilder::build() const { return build_with_header(header_json()); }

Status SafetensorsBuilder::write(const std::string& path) const {
  return write_file_bytes(path, build());
}

}  // namespace assay
