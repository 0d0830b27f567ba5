#include "engines/local/hparams.h"

#include <cmath>
#include <optional>
#include <string_view>

#include "engines/local/gguf_reader.h"
#include "engines/local/hf_config.h"

namespace assay {
namespace {

// The one table of supported architectures.
struct ArchEntry {
  LlamaArch arch;
  std::string_view gguf_name;
  std::string_view hf_model_types[2];
  RopeType rope_type;
  bool qkv_bias;
};
constexpr ArchEntry kArchs[] = {
    {LlamaArch::kLlama, "llama", {"llama", "mistral"}, RopeType::kNorm, false},
    {LlamaArch::kQwen2, "qwen2", {"qwen2", ""}, RopeType::kNeox, true},
};

const ArchEntry* arch_by_gguf(std::string_view name) {
  for (const ArchEntry& a : kArchs) {
    if (a.gguf_name == name) return &a;
  }
  return nullptr;
}
const ArchEntry* arch_by_hf(std::string_view model_type) {
  for (const ArchEntry& a : kArchs) {
    for (std::string_view t : a.hf_model_types) {
      if (!t.empty() && t == model_type) return &a;
    }
  }
  return nullptr;
}

Status check_shapes(LlamaHparams& hp, const std::string& name) {
  auto pos = [&](int64_t v, const char* what) -> Status {
    if (v <= 0) return corrupt(name + ": " + what + " must be positive, got " + std::to_string(v));
    return Status::OK();
  };
  ASSAY_RETURN_IF_ERROR(pos(hp.n_embd, "embedding size"));
  ASSAY_RETURN_IF_ERROR(pos(hp.n_layer, "layer count"));
  ASSAY_RETURN_IF_ERROR(pos(hp.n_head, "attention head count"));
  ASSAY_RETURN_IF_ERROR(pos(hp.n_head_kv, "key/value head count"));
  ASSAY_RETURN_IF_ERROR(pos(hp.n_ff, "feed-forward size"));
  ASSAY_RETURN_IF_ERROR(pos(hp.n_vocab, "vocabulary size"));
  if (hp.head_dim == 0) {
    if (hp.n_embd % hp.n_head != 0) {
      return corrupt(name + ": embedding size " + std::to_string(hp.n_embd) +
                     " is not divisible by the head count " + std::to_string(hp.n_head));
    }
    hp.head_dim = hp.n_embd / hp.n_head;
  }
  ASSAY_RETURN_IF_ERROR(pos(hp.head_dim, "head dim"));
  if (hp.head_dim % 2 != 0)
    return corrupt(name + ": head dim " + std::to_string(hp.head_dim) + " is odd");
  if (hp.n_head % hp.n_head_kv != 0) {
    return corrupt(name + ": head count " + std::to_string(hp.n_head) +
                   " is not a multiple of the key/value head count " +
                   std::to_string(hp.n_head_kv));
  }
  if (hp.n_rot == 0) hp.n_rot = hp.head_dim;
  if (hp.n_rot != hp.head_dim) {
    return unsupported(name + ": rotary dims " + std::to_string(hp.n_rot) +
                       " differ from head dim " + std::to_string(hp.head_dim) +
                       " (partial RoPE is not supported)");
  }
  if (hp.n_layer > 4096 || hp.n_head > 4096 || hp.head_dim > 4096) {
    return corrupt(name + ": implausible sizes (n_layer " + std::to_string(hp.n_layer) +
                   ", n_head " + std::to_string(hp.n_head) + ")");
  }
  if (!(hp.rms_eps > 0) || !(hp.rope_theta > 0)) {
    return corrupt(name + ": rms epsilon and rope theta must be positive");
  }
  return Status::OK();
}

}  // namespace

const char* llama_arch_name(LlamaArch a) { return a == LlamaArch::kLlama ? "llama" : "qwen2"; }
const char* rope_type_name(RopeType t) { return t == RopeType::kNorm ? "norm" : "neox"; }
const char* rope_scaling_name(RopeScalingType t) {
  switch (t) {
    case RopeScalingType::kNone:
      return "none";
    case RopeScalingType::kLinear:
      return "linear";
    case RopeScalingType::kLlama3:
      return "llama3";
  }
  return "?";
}

Result<LlamaHparams> hparams_from_gguf(const GgufFile& f) {
  ASSAY_ASSIGN_OR_RETURN(auto arch_name, f.get_string("general.architecture"));
  if (!arch_name) return corrupt(f.path() + ": missing metadata 'general.architecture'");
  const ArchEntry* arch = arch_by_gguf(*arch_name);
  if (arch == nullptr) {
    return unsupported(f.path() + ": architecture '" + std::string(*arch_name) +
                       "' is not supported (assay runs llama and qwen2)");
  }
  const std::string p = std::string(arch->gguf_name) + ".";
  auto need_int = [&](const std::string& key, int64_t* out) -> Status {
    auto v = f.get_int(key);
    if (!v.ok()) return v.status();
    if (!v->has_value()) return corrupt(f.path() + ": missing metadata '" + key + "'");
    *out = **v;
    return Status::OK();
  };
  auto opt_int = [&](const std::string& key, int64_t* out) -> Status {
    auto v = f.get_int(key);
    if (!v.ok()) return v.status();
    if (v->has_value()) *out = **v;
    return Status::OK();
  };
  auto opt_float = [&](const std::string& key, float* out) -> Status {
    auto v = f.get_float(key);
    if (!v.ok()) return v.status();
    if (v->has_value()) *out = static_cast<float>(**v);
    return Status::OK();
  };
  LlamaHparams hp;
  hp.arch = arch->arch;
  hp.rope_type = arch->rope_type;
  hp.qkv_bias = arch->qkv_bias;
  ASSAY_RETURN_IF_ERROR(need_int(p + "context_length", &hp.n_ctx_train));
  ASSAY_RETURN_IF_ERROR(need_int(p + "embedding_length", &hp.n_embd));
  ASSAY_RETURN_IF_ERROR(need_int(p + "block_count", &hp.n_layer));
  ASSAY_RETURN_IF_ERROR(need_int(p + "feed_forward_length", &hp.n_ff));
  ASSAY_RETURN_IF_ERROR(need_int(p + "attention.head_count", &hp.n_head));
  hp.n_head_kv = hp.n_head;
  ASSAY_RETURN_IF_ERROR(opt_int(p + "attention.head_count_kv", &hp.n_head_kv));
  ASSAY_RETURN_IF_ERROR(opt_int(p + "attention.key_length", &hp.head_dim));
  int64_t value_length = 0;
  ASSAY_RETURN_IF_ERROR(opt_int(p + "attention.value_length", &value_length));
  if (value_length != 0 && hp.head_dim != 0 && value_length != hp.head_dim) {
    return unsupported(f.path() + ": key_length and value_length differ");
  }
  ASSAY_RETURN_IF_ERROR(opt_int(p + "rope.dimension_count", &hp.n_rot));
  {
    auto eps = f.get_float(p + "attention.layer_norm_rms_epsilon");
    if (!eps.ok()) return eps.status();
    if (!eps->has_value()) {
      return corrupt(f.path() + ": missing metadata '" + p + "attention.layer_norm_rms_epsilon'");
    }
    hp.rms_eps = static_cast<float>(**eps);
  }
  ASSAY_RETURN_IF_ERROR(opt_float(p + "rope.freq_base", &hp.rope_theta));
  // Scaling: rope.scaling.type + factor, or the legacy rope.scale_linear.
  ASSAY_ASSIGN_OR_RETURN(auto scaling, f.get_string(p + "rope.scaling.type"));
  float factor = 0.0f;
  ASSAY_RETURN_IF_ERROR(opt_float(p + "rope.scaling.factor", &factor));
  if (scaling && *scaling != "none") {
    if (*scaling != "linear") {
      return unsupported(f.path() + ": rope scaling type '" + std::string(*scaling) +
                         "' is not supported (none, linear, and llama3 via rope_freqs)");
    }
    hp.rope_scaling = RopeScalingType::kLinear;
    hp.rope_scale_factor = factor > 0 ? factor : 1.0f;
  } else {
    float legacy = 0.0f;
    ASSAY_RETURN_IF_ERROR(opt_float(p + "rope.scale_linear", &legacy));
    if (legacy > 0 && legacy != 1.0f) {
      hp.rope_scaling = RopeScalingType::kLinear;
      hp.rope_scale_factor = legacy;
    }
  }
  if (f.tensor("rope_freqs.weight") != nullptr) {
    if (hp.rope_scaling == RopeScalingType::kLinear) {
      return unsupported(f.path() + ": both linear rope scaling and rope_freqs present");
    }
    hp.rope_scaling = RopeScalingType::kLlama3;
  }
  // Vocabulary size: explicit key, else the tokenizer, else the embedding matrix.
  ASSAY_RETURN_IF_ERROR(opt_int(p + "vocab_size", &hp.n_vocab));
  if (hp.n_vocab == 0) {
    if (const GgufValue* toks = f.find("tokenizer.ggml.tokens")) {
      if (const auto* a = std::get_if<std::vector<std::string_view>>(&toks->v)) {
        hp.n_vocab = static_cast<int64_t>(a->size());
      }
    }
  }
  if (hp.n_vocab == 0) {
    if (const GgufTensorInfo* t = f.tensor("token_embd.weight"); t && t->ne.size() == 2) {
      hp.n_vocab = t->ne[1];
    }
  }
  hp.tied_embeddings = f.tensor("output.weight") == nullptr;
  // Llama checkpoints with attention_bias keep their biases under the same names.
  if (f.tensor("blk.0.attn_q.bias") != nullptr) hp.qkv_bias = true;
  ASSAY_RETURN_IF_ERROR(check_shapes(hp, f.path()));
  return hp;
}

Result<LlamaHparams> hparams_from_hf_config(const HfConfig& c, const std::string& name) {
  const ArchEntry* arch = arch_by_hf(c.model_type);
  if (arch == nullptr) {
    std::string what = c.model_type.empty() ? "(no model_type)" : "'" + c.model_type + "'";
    if (!c.architectures.empty()) what += " / " + c.architectures[0];
    return unsupported(name + ": model type " + what +
                       " is not supported (assay runs llama, mistral and qwen2)");
  }
  auto need = [&](const std::optional<int64_t>& v, const char* key, int64_t* out) -> Status {
    if (!v) return corrupt(name + ": missing field '" + key + "'");
    *out = *v;
    return Status::OK();
  };
  LlamaHparams hp;
  hp.arch = arch->arch;
  hp.rope_type = arch->rope_type;
  hp.qkv_bias = arch->qkv_bias || c.attention_bias.value_or(false);
  ASSAY_RETURN_IF_ERROR(need(c.hidden_size, "hidden_size", &hp.n_embd));
  ASSAY_RETURN_IF_ERROR(need(c.num_hidden_layers, "num_hidden_layers", &hp.n_layer));
  ASSAY_RETURN_IF_ERROR(need(c.num_attention_heads, "num_attention_heads", &hp.n_head));
  ASSAY_RETURN_IF_ERROR(need(c.intermediate_size, "intermediate_size", &hp.n_ff));
  ASSAY_RETURN_IF_ERROR(need(c.vocab_size, "vocab_size", &hp.n_vocab));
  hp.n_head_kv = c.num_key_value_heads.value_or(hp.n_head);
  hp.head_dim = c.head_dim.value_or(0);
  hp.n_ctx_train = c.max_position_embeddings.value_or(2048);
  hp.rms_eps = static_cast<float>(c.rms_norm_eps.value_or(1e-6));
  hp.rope_theta = static_cast<float>(c.rope_theta.value_or(10000.0));
  hp.tied_embeddings = c.tie_word_embeddings.value_or(false);
  if (c.rope_scaling) {
    const HfRopeScaling& s = *c.rope_scaling;
    if (s.type == "linear") {
      hp.rope_scaling = RopeScalingType::kLinear;
      hp.rope_scale_factor = static_cast<float>(s.factor.value_or(1.0));
    } else if (s.type == "llama3") {
      // Defaults are convert_hf_to_gguf's.
      hp.rope_scaling = RopeScalingType::kLlama3;
      hp.rope_scale_factor = static_cast<float>(s.factor.value_or(8.0));
      hp.rope_low_freq_factor = static_cast<float>(s.low_freq_factor.value_or(1.0));
      hp.rope_high_freq_factor = static_cast<float>(s.high_freq_factor.value_or(4.0));
      hp.rope_orig_ctx = s.original_max_position_embeddings.value_or(8192);
      if (hp.rope_high_freq_factor <= hp.rope_low_freq_factor || hp.rope_orig_ctx <= 0) {
        return corrupt(name +
                       ": rope_scaling llama3 needs high_freq_factor > low_freq_factor "
                       "and original_max_position_embeddings > 0");
      }
    } else if (!s.type.empty() && s.type != "default") {
      return unsupported(name + ": rope_scaling type '" + s.type +
                         "' is not supported (linear, llama3)");
    }
    if (hp.rope_scaling != RopeScalingType::kNone && !(hp.rope_scale_factor > 0)) {
      return corrupt(name + ": rope_scaling factor must be positive");
    }
  }
  ASSAY_RETURN_IF_ERROR(check_shapes(hp, name));
  return hp;
}

std::vector<float> llama3_rope_freq_divisors(const LlamaHparams& hp) {
  const double base = hp.rope_theta;
  const double factor = hp.rope_scale_factor;
  const double low = hp.rope_low_freq_factor;
  const double high = hp.rope_high_freq_factor;
  const double orig = static_cast<double>(hp.rope_orig_ctx);
  const double low_wavelen = orig / low;
  const double high_wavelen = orig / high;
  const double kPi = 3.14159265358979323846;
  std::vector<float> out;
  for (int64_t i = 0; i < hp.n_rot / 2; ++i) {
    const double freq =
        std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(hp.n_rot));
    const double wavelen = 2 * kPi / freq;
    double d;
    if (wavelen < high_wavelen) {
      d = 1.0;
    } else if (wavelen > low_wavelen) {
      d = factor;
    } else {
      const double smooth = (orig / wavelen - low) / (high - low);
      d = 1.0 / ((1 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(d));
  }
  return out;
}

}  // namespace assay
