#include "engines/local/hparams.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engines/local/gguf_reader.h"
#include "engines/local/hf_config.h"
#include "engines/local/tensor_names.h"
#include "tests/support/tiny_model_writer.h"

namespace assay {
namespace {

using ::testing::HasSubstr;

// meta-llama/Llama-3.1-8B-Instruct config.json as published.
constexpr const char* kLlama31Config = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3", "use_cache": true, "vocab_size": 128256})";

// HuggingFaceTB/SmolLM2-135M-Instruct config.json (abridged to the fields read).
constexpr const char* kSmolConfig = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_size": 576, "intermediate_size": 1536, "max_position_embeddings": 8192,
  "model_type": "llama", "num_attention_heads": 9, "num_hidden_layers": 30,
  "num_key_value_heads": 3, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 100000,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 49152})";

// transformers >= 5 folds rope_theta and the scaling fields into "rope_parameters" (what its
// save_pretrained wrote for a random LlamaForCausalLM in the issue #7 device check).
TEST(HfConfig, ReadsTransformers5RopeParameters) {
  auto plain = parse_hf_config(R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}})", "config.json");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(*plain->rope_theta, 10000.0);
  ASSERT_TRUE(plain->rope_scaling.has_value());
  EXPECT_EQ(plain->rope_scaling->type, "default");
  auto scaled = parse_hf_config(R"({"model_type": "llama", "rope_parameters": {"rope_theta": 500000.0,
    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192}})", "config.json");
  ASSERT_TRUE(scaled.ok()) << scaled.status().message();
  EXPECT_EQ(*scaled->rope_theta, 500000.0);
  EXPECT_EQ(scaled->rope_scaling->type, "llama3");
  EXPECT_EQ(*scaled->rope_scaling->factor, 8.0);
  // A top-level rope_theta (older writers) wins.
  auto both = parse_hf_config(R"({"rope_theta": 100000, "rope_parameters": {"rope_theta": 1.0}})", "c.json");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(*both->rope_theta, 100000.0);
  auto bad = parse_hf_config(R"({"rope_parameters": 3})", "c.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("rope_parameters"));
}

TEST(HfConfig, ParsesLlama31) {
  auto c = parse_hf_config(kLlama31Config, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->architectures, std::vector<std::string>{"LlamaForCausalLM"});
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(*c->hidden_size, 4096);
  EXPECT_EQ(*c->num_key_value_heads, 8);
  EXPECT_EQ(*c->rms_norm_eps, 1e-5);
  EXPECT_EQ(*c->rope_theta, 500000.0);
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(c->rope_scaling->type, "llama3");
  EXPECT_EQ(*c->rope_scaling->high_freq_factor, 4.0);
  EXPECT_EQ(*c->rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_EQ(c->bos_token_ids, std::vector<int64_t>{128000});
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c->torch_dtype, "bfloat16");
  EXPECT_FALSE(*c->attention_bias);
  EXPECT_FALSE(c->head_dim.has_value());
  ASSERT_TRUE(apply_hf_generation_config(R"({"eos_token_id": 128009})", "gen.json", &*c).ok());
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{128009});
  EXPECT_EQ(c->bos_token_ids, std::vector<int64_t>{128000});
}

TEST(HfConfig, Errors) {
  auto bad = parse_hf_config("{\"hidden_size\": \"big\"}", "cfg.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("cfg.json"));
  EXPECT_THAT(bad.status().message(), HasSubstr("hidden_size"));
  EXPECT_FALSE(parse_hf_config("{", "cfg.json").ok());
  EXPECT_FALSE(parse_hf_config("[]", "cfg.json").ok());
  EXPECT_FALSE(parse_hf_config("{\"eos_token_id\": [1, \"x\"]}", "cfg.json").ok());
  EXPECT_FALSE(parse_hf_config("{\"rope_scaling\": 3}", "cfg.json").ok());
  EXPECT_TRUE(parse_hf_config("{\"hidden_size\": 4096.0}", "cfg.json").ok());
  auto missing = load_hf_config(testing::TempDir() + "/no_such_model_dir");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(Hparams, FromLlama31Config) {
  auto c = parse_hf_config(kLlama31Config, "config.json");
  ASSERT_TRUE(c.ok());
  auto hp = hparams_from_hf_config(*c, "config.json");
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->arch, LlamaArch::kLlama);
  EXPECT_EQ(hp->n_vocab, 128256);
  EXPECT_EQ(hp->n_ctx_train, 131072);
  EXPECT_EQ(hp->n_embd, 4096);
  EXPECT_EQ(hp->n_layer, 32);
  EXPECT_EQ(hp->n_head, 32);
  EXPECT_EQ(hp->n_head_kv, 8);
  EXPECT_EQ(hp->head_dim, 128);
  EXPECT_EQ(hp->n_rot, 128);
  EXPECT_EQ(hp->n_ff, 14336);
  EXPECT_FLOAT_EQ(hp->rms_eps, 1e-5f);
  EXPECT_EQ(hp->rope_theta, 500000.0f);
  EXPECT_EQ(hp->rope_type, RopeType::kNorm);
  EXPECT_EQ(hp->rope_scaling, RopeScalingType::kLlama3);
  EXPECT_EQ(hp->rope_scale_factor, 8.0f);
  EXPECT_EQ(hp->rope_orig_ctx, 8192);
  EXPECT_FALSE(hp->tied_embeddings);
  EXPECT_FALSE(hp->qkv_bias);
  // Divisors as convert_hf_to_gguf computes them (numpy, float32 base frequencies):
  // 29 ones, the smooth band at i = 29..34, then 29 eights.
  const std::vector<float> d = llama3_rope_freq_divisors(*hp);
  ASSERT_EQ(d.size(), 64u);
  for (int i = 0; i < 29; ++i) EXPECT_EQ(d[i], 1.0f) << i;
  const float band[] = {1.2074838876724243f, 1.5534145832061768f, 2.026313066482544f,
                        2.6945300102233887f, 3.684253215789795f,  5.257327079772949f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(d[29 + i], band[i], 2e-5f * band[i]) << 29 + i;
  for (int i = 35; i < 64; ++i) EXPECT_EQ(d[i], 8.0f) << i;
}

TEST(Hparams, FromSmolConfigAndQwenAndErrors) {
  auto c = parse_hf_config(kSmolConfig, "config.json");
  ASSERT_TRUE(c.ok());
  auto hp = hparams_from_hf_config(*c, "config.json");
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->head_dim, 64);
  EXPECT_TRUE(hp->tied_embeddings);
  EXPECT_EQ(hp->rope_scaling, RopeScalingType::kNone);
  EXPECT_EQ(hp->rope_theta, 100000.0f);

  c->model_type = "qwen2";
  hp = hparams_from_hf_config(*c, "config.json");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->arch, LlamaArch::kQwen2);
  EXPECT_EQ(hp->rope_type, RopeType::kNeox);
  EXPECT_TRUE(hp->qkv_bias);

  c->model_type = "mistral";
  EXPECT_EQ(hparams_from_hf_config(*c, "config.json")->arch, LlamaArch::kLlama);

  c->model_type = "gemma2";
  auto un = hparams_from_hf_config(*c, "m/config.json");
  ASSERT_FALSE(un.ok());
  EXPECT_EQ(un.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(un.status().message(), HasSubstr("gemma2"));
  EXPECT_THAT(un.status().message(), HasSubstr("m/config.json"));

  c->model_type = "llama";
  c->num_key_value_heads = 4;  // 9 heads not a multiple of 4
  EXPECT_FALSE(hparams_from_hf_config(*c, "config.json").ok());
  c->num_key_value_heads = 3;
  c->hidden_size.reset();
  auto miss = hparams_from_hf_config(*c, "config.json");
  ASSERT_FALSE(miss.ok());
  EXPECT_THAT(miss.status().message(), HasSubstr("hidden_size"));
}

TEST(Hparams, FromGguf) {
  TinyModelSpec spec;
  spec.n_vocab = 300;
  spec.tied_embeddings = true;
  spec.llama3_rope_scaling = true;
  const std::string path = testing::TempDir() + "/hparams_tiny.gguf";
  ASSERT_TRUE(write_tiny_gguf_model(spec, path).ok());
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto hp = hparams_from_gguf(**f);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->arch, LlamaArch::kLlama);
  EXPECT_EQ(hp->n_vocab, 300);
  EXPECT_EQ(hp->n_embd, 64);
  EXPECT_EQ(hp->n_layer, 2);
  EXPECT_EQ(hp->n_head, 4);
  EXPECT_EQ(hp->n_head_kv, 2);
  EXPECT_EQ(hp->head_dim, 16);
  EXPECT_EQ(hp->n_ff, 128);
  EXPECT_EQ(hp->n_ctx_train, 256);
  EXPECT_TRUE(hp->tied_embeddings);
  EXPECT_EQ(hp->rope_scaling, RopeScalingType::kLlama3);
  EXPECT_EQ(hp->rope_type, RopeType::kNorm);

  // Integer keys may be any width; vocab falls back to the token list.
  GgufBuilder g;
  g.kv_str("general.architecture", "qwen2")
      .kv_u64("qwen2.context_length", 32768)
      .kv_i32("qwen2.embedding_length", 896)
      .kv_u16("qwen2.block_count", 24)
      .kv_u32("qwen2.feed_forward_length", 4864)
      .kv_u8("qwen2.attention.head_count", 14)
      .kv_u32("qwen2.attention.head_count_kv", 2)
      .kv_f32("qwen2.rope.freq_base", 1e6f)
      .kv_f64("qwen2.attention.layer_norm_rms_epsilon", 1e-6)
      .kv_str_array("tokenizer.ggml.tokens", {"a", "b", "c"});
  std::vector<uint8_t> b = g.build();
  auto q = GgufFile::from_memory(b.data(), b.size(), "q.gguf");
  ASSERT_TRUE(q.ok());
  auto qhp = hparams_from_gguf(**q);
  ASSERT_TRUE(qhp.ok()) << qhp.status().message();
  EXPECT_EQ(qhp->arch, LlamaArch::kQwen2);
  EXPECT_EQ(qhp->rope_type, RopeType::kNeox);
  EXPECT_EQ(qhp->n_ctx_train, 32768);
  EXPECT_EQ(qhp->head_dim, 64);
  EXPECT_EQ(qhp->n_vocab, 3);
  EXPECT_TRUE(qhp->qkv_bias);
  EXPECT_EQ(qhp->rope_theta, 1e6f);

  GgufBuilder u;
  u.kv_str("general.architecture", "falcon");
  b = u.build();
  auto fal = GgufFile::from_memory(b.data(), b.size(), "f.gguf");
  ASSERT_TRUE(fal.ok());
  auto err = hparams_from_gguf(**fal);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(err.status().message(), HasSubstr("'falcon'"));
  EXPECT_THAT(err.status().message(), HasSubstr("f.gguf"));

  GgufBuilder m;
  m.kv_str("general.architecture", "llama").kv_u32("llama.context_length", 10);
  b = m.build();
  auto ml = GgufFile::from_memory(b.data(), b.size(), "m.gguf");
  auto merr = hparams_from_gguf(**ml);
  ASSERT_FALSE(merr.ok());
  EXPECT_THAT(merr.status().message(), HasSubstr("llama.embedding_length"));
}

TEST(TensorNames, HfToGguf) {
  EXPECT_EQ(*hf_to_gguf_tensor_name("model.embed_tokens.weight"), "token_embd.weight");
  EXPECT_EQ(*hf_to_gguf_tensor_name("lm_head.weight"), "output.weight");
  EXPECT_EQ(*hf_to_gguf_tensor_name("model.norm.weight"), "output_norm.weight");
  EXPECT_EQ(*hf_to_gguf_tensor_name("model.layers.17.self_attn.q_proj.weight"),
            "blk.17.attn_q.weight");
  EXPECT_EQ(*hf_to_gguf_tensor_name("model.layers.0.self_attn.k_proj.bias"), "blk.0.attn_k.bias");
  EXPECT_EQ(*hf_to_gguf_tensor_name("model.layers.3.post_attention_layernorm.weight"),
            "blk.3.ffn_norm.weight");
  EXPECT_EQ(*hf_to_gguf_tensor_name("model.layers.3.mlp.down_proj.weight"),
            "blk.3.ffn_down.weight");
  EXPECT_FALSE(hf_to_gguf_tensor_name("model.layers.0.self_attn.rotary_emb.inv_freq"));
  EXPECT_FALSE(hf_to_gguf_tensor_name("model.layers.x.mlp.up_proj.weight"));
  EXPECT_FALSE(hf_to_gguf_tensor_name("model.layers.01.mlp.up_proj.weight"));
  EXPECT_FALSE(hf_to_gguf_tensor_name("model.layers.1"));

  LlamaHparams hp;
  hp.n_vocab = 10;
  hp.n_embd = 8;
  hp.n_layer = 2;
  hp.n_head = 2;
  hp.n_head_kv = 1;
  hp.head_dim = 4;
  hp.n_ff = 16;
  hp.n_rot = 4;
  auto specs = llama_tensor_specs(hp);
  EXPECT_EQ(specs.size(), 4u + 2 * 9);
  int n_perm = 0;
  for (const auto& s : specs) {
    if (s.gguf_name == "blk.1.attn_k.weight") {
      EXPECT_EQ(s.ne, (std::vector<int64_t>{8, 4}));
      EXPECT_EQ(s.permute, QkPermute::kKey);
    }
    if (s.gguf_name == "blk.0.ffn_down.weight") {
      EXPECT_EQ(s.ne, (std::vector<int64_t>{16, 8}));
    }
    n_perm += s.permute != QkPermute::kNone;
  }
  EXPECT_EQ(n_perm, 4);
  hp.arch = LlamaArch::kQwen2;
  hp.qkv_bias = true;
  specs = llama_tensor_specs(hp);
  EXPECT_EQ(specs.size(), 4u + 2 * 12);
  for (const auto& s : specs) EXPECT_EQ(s.permute, QkPermute::kNone) << s.gguf_name;
}

}  // namespace
}  // namespace assay
