#include "engines/local/tensor_names.h"

#include <charconv>

namespace assay {
namespace {

struct NamePair {
  std::string_view gguf;  // suffix after "blk.N." for per-layer entries
  std::string_view hf;    // suffix after "model.layers.N." for per-layer entries
};

constexpr NamePair kGlobal[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

constexpr NamePair kLayer[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

}  // namespace

std::vector<TensorSpec> llama_tensor_specs(const LlamaHparams& hp) {
  const int64_t q_dim = hp.n_head * hp.head_dim;
  const int64_t kv_dim = hp.n_head_kv * hp.head_dim;
  const bool permute = hp.arch == LlamaArch::kLlama;
  std::vector<TensorSpec> out;
  out.push_back({"token_embd.weight", "model.embed_tokens.weight", {hp.n_embd, hp.n_vocab}});
  out.push_back({"output_norm.weight", "model.norm.weight", {hp.n_embd}});
  out.push_back({"output.weight", "lm_head.weight", {hp.n_embd, hp.n_vocab}, !hp.tied_embeddings});
  out.push_back({"rope_freqs.weight", "", {hp.n_rot / 2}, false});
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const std::string g = "blk." + std::to_string(l) + ".";
    const std::string h = "model.layers." + std::to_string(l) + ".";
    auto add = [&](std::string_view gs, std::string_view hs, std::vector<int64_t> ne,
                   QkPermute p = QkPermute::kNone, bool required = true) {
      out.push_back({g + std::string(gs), h + std::string(hs), std::move(ne), required,
                     permute ? p : QkPermute::kNone});
    };
    add("attn_norm.weight", "input_layernorm.weight", {hp.n_embd});
    add("attn_q.weight", "self_attn.q_proj.weight", {hp.n_embd, q_dim}, QkPermute::kQuery);
    add("attn_k.weight", "self_attn.k_proj.weight", {hp.n_embd, kv_dim}, QkPermute::kKey);
    add("attn_v.weight", "self_attn.v_proj.weight", {hp.n_embd, kv_dim});
    if (hp.qkv_bias) {
      add("attn_q.bias", "self_attn.q_proj.bias", {q_dim}, QkPermute::kQuery);
      add("attn_k.bias", "self_attn.k_proj.bias", {kv_dim}, QkPermute::kKey);
      add("attn_v.bias", "self_attn.v_proj.bias", {kv_dim});
    }
    add("attn_output.weight", "self_attn.o_proj.weight", {q_dim, hp.n_embd});
    add("ffn_norm.weight", "post_attention_layernorm.weight", {hp.n_embd});
    add("ffn_gate.weight", "mlp.gate_proj.weight", {hp.n_embd, hp.n_ff});
    add("ffn_up.weight", "mlp.up_proj.weight", {hp.n_embd, hp.n_ff});
    add("ffn_down.weight", "mlp.down_proj.weight", {hp.n_ff, hp.n_embd});
  }
  return out;
}

std::optional<std::string> hf_to_gguf_tensor_name(std::string_view hf_name) {
  for (const NamePair& p : kGlobal) {
    if (p.hf == hf_name) return std::string(p.gguf);
  }
  constexpr std::string_view kPrefix = "model.layers.";
  if (hf_name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = hf_name.substr(kPrefix.size());
  int64_t layer = -1;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), layer);
  if (ec != std::errc() || layer < 0 || ptr == rest.data() || *ptr != '.') return std::nullopt;
  const std::string_view digits = rest.substr(0, static_cast<size_t>(ptr - rest.data()));
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;  // "01" is not layer 1
  const std::string_view suffix = rest.substr(digits.size() + 1);
  for (const NamePair& p : kLayer) {
    if (p.hf == suffix) return "blk." + std::string(digits) + "." + std::string(p.gguf);
  }
  return std::nullopt;
}

}  // namespace assay
