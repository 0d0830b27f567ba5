#include "engines/local/model_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "engines/local/safetensors_reader.h"
#include "tests/support/tiny_model_writer.h"

namespace assay {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string tmp(const std::string& name) {
  const std::string p = testing::TempDir() + "/model_files_" + name;
  fs::remove_all(p);
  return p;
}

std::unique_ptr<ModelFiles> open_ok(const std::string& path, bool require = true) {
  auto m = ModelFiles::open(path, ModelFilesOptions{require});
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  const int64_t row = t.ne[0];
  const int64_t row_bytes = ggml_row_bytes(t.type, row);
  for (int64_t r = 0; r < t.n_elements() / row; ++r) {
    EXPECT_TRUE(
        dequantize_row_reference(t.type, t.data + r * row_bytes, out.data() + r * row, row));
  }
  return out;
}

struct Pair {
  std::unique_ptr<ModelFiles> hf, gguf;
};
Pair write_both(const TinyModelSpec& spec, const std::string& name) {
  const std::string dir = tmp(name + "_hf"), file = tmp(name + ".gguf");
  EXPECT_TRUE(write_tiny_hf_model(spec, dir).ok());
  EXPECT_TRUE(write_tiny_gguf_model(spec, file).ok());
  return {open_ok(dir), open_ok(file)};
}

void expect_same_hparams(const LlamaHparams& a, const LlamaHparams& b) {
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.n_vocab, b.n_vocab);
  EXPECT_EQ(a.n_ctx_train, b.n_ctx_train);
  EXPECT_EQ(a.n_embd, b.n_embd);
  EXPECT_EQ(a.n_layer, b.n_layer);
  EXPECT_EQ(a.n_head, b.n_head);
  EXPECT_EQ(a.n_head_kv, b.n_head_kv);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.n_ff, b.n_ff);
  EXPECT_EQ(a.n_rot, b.n_rot);
  EXPECT_EQ(a.rms_eps, b.rms_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_type, b.rope_type);
  EXPECT_EQ(a.rope_scaling, b.rope_scaling);
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
  EXPECT_EQ(a.qkv_bias, b.qkv_bias);
}

// Both formats of the same F32 model give byte-identical tensors under the same names.
TEST(ModelFiles, HfAndGgufAgreeF32Llama) {
  TinyModelSpec spec;
  Pair p = write_both(spec, "f32");
  ASSERT_TRUE(p.hf && p.gguf);
  EXPECT_EQ(p.hf->format(), ModelFormat::kHfFolder);
  EXPECT_EQ(p.gguf->format(), ModelFormat::kGguf);
  expect_same_hparams(p.hf->hparams(), p.gguf->hparams());
  EXPECT_EQ(p.gguf->hparams().rope_type, RopeType::kNorm);
  ASSERT_EQ(p.hf->tensors().size(), p.gguf->tensors().size());
  EXPECT_EQ(p.hf->tensors().size(), 3u + 2 * 9);
  for (const auto& [name, g] : p.gguf->tensors()) {
    const TensorView* h = p.hf->tensor(name);
    ASSERT_NE(h, nullptr) << name;
    EXPECT_EQ(h->type, g.type) << name;
    EXPECT_EQ(h->ne, g.ne) << name;
    ASSERT_EQ(h->n_bytes, g.n_bytes) << name;
    EXPECT_EQ(std::memcmp(h->data, g.data, g.n_bytes), 0) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(h->data) % 4, 0u) << name;
  }
  EXPECT_EQ(&p.hf->output_weight(), p.hf->tensor("output.weight"));
}

// The permutation itself, checked against the raw safetensors rows (reference §5.2):
// GGUF row h*D + 2i = HF row h*D + i; GGUF row h*D + 2i + 1 = HF row h*D + i + D/2.
TEST(ModelFiles, QkRowsFollowConverterPermutation) {
  TinyModelSpec spec;
  const std::string dir = tmp("perm_hf"), file = tmp("perm.gguf");
  ASSERT_TRUE(write_tiny_hf_model(spec, dir).ok());
  ASSERT_TRUE(write_tiny_gguf_model(spec, file).ok());
  auto raw = SafetensorsFile::open(dir + "/model.safetensors");
  ASSERT_TRUE(raw.ok());
  auto g = open_ok(file);
  ASSERT_TRUE(g);
  const int64_t D = spec.n_embd / spec.n_head, cols = spec.n_embd;
  for (auto [hf, gg, heads] :
       {std::tuple{"model.layers.1.self_attn.q_proj.weight", "blk.1.attn_q.weight", spec.n_head},
        std::tuple{"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight",
                   spec.n_head_kv}}) {
    const SafetensorsTensor* h = (*raw)->tensor(hf);
    const TensorView* t = g->tensor(gg);
    ASSERT_TRUE(h && t);
    const auto* hrow = reinterpret_cast<const float*>(h->data);
    const auto* grow = reinterpret_cast<const float*>(t->data);
    bool any_moved = false;
    for (int64_t hd = 0; hd < heads; ++hd) {
      for (int64_t i = 0; i < D / 2; ++i) {
        EXPECT_EQ(std::memcmp(grow + (hd * D + 2 * i) * cols, hrow + (hd * D + i) * cols, cols * 4),
                  0);
        EXPECT_EQ(std::memcmp(grow + (hd * D + 2 * i + 1) * cols,
                              hrow + (hd * D + i + D / 2) * cols, cols * 4),
                  0);
        any_moved |= std::memcmp(grow + (hd * D + 2 * i + 1) * cols,
                                 hrow + (hd * D + 2 * i + 1) * cols, cols * 4) != 0;
      }
    }
    EXPECT_TRUE(any_moved);
  }
  // V is not permuted.
  EXPECT_EQ(std::memcmp((*raw)->tensor("model.layers.0.self_attn.v_proj.weight")->data,
                        g->tensor("blk.0.attn_v.weight")->data,
                        g->tensor("blk.0.attn_v.weight")->n_bytes),
            0);
}

TEST(ModelFiles, LlamaAttentionBiasIsPermutedToo) {
  TinyModelSpec spec;
  spec.attention_bias = true;
  Pair p = write_both(spec, "llama_bias");
  ASSERT_TRUE(p.hf && p.gguf);
  EXPECT_TRUE(p.hf->hparams().qkv_bias);
  EXPECT_TRUE(p.gguf->hparams().qkv_bias);
  EXPECT_EQ(p.hf->hparams().rope_type, RopeType::kNorm);
  EXPECT_EQ(p.hf->tensors().size(), 3u + 2 * 12);
  for (const auto& [name, g] : p.gguf->tensors()) {
    const TensorView* h = p.hf->tensor(name);
    ASSERT_NE(h, nullptr) << name;
    ASSERT_EQ(h->n_bytes, g.n_bytes);
    EXPECT_EQ(std::memcmp(h->data, g.data, g.n_bytes), 0) << name;
  }
  // The bias follows its rows: GGUF element 1 of head 0 is HF element D/2.
  auto raw =
      SafetensorsFile::open(testing::TempDir() + "/model_files_llama_bias_hf/model.safetensors");
  ASSERT_TRUE(raw.ok());
  const auto* hb =
      reinterpret_cast<const float*>((*raw)->tensor("model.layers.0.self_attn.k_proj.bias")->data);
  const auto* gb = reinterpret_cast<const float*>(p.gguf->tensor("blk.0.attn_k.bias")->data);
  const int64_t D = spec.n_embd / spec.n_head;
  EXPECT_EQ(gb[1], hb[D / 2]);
  EXPECT_EQ(gb[D + 2], hb[D + 1]);
  EXPECT_NE(gb[1], hb[1]);
}

TEST(ModelFiles, HfAndGgufAgreeF16) {
  TinyModelSpec spec;
  spec.hf_dtype = GgmlType::F16;
  spec.gguf_type = GgmlType::F16;
  spec.seed = 5;
  Pair p = write_both(spec, "f16");
  ASSERT_TRUE(p.hf && p.gguf);
  for (const auto& [name, g] : p.gguf->tensors()) {
    const TensorView* h = p.hf->tensor(name);
    ASSERT_NE(h, nullptr) << name;
    // 2-D stay F16 in both; HF 1-D F16 are widened to F32 like the converter does.
    EXPECT_EQ(g.type, g.ne.size() == 2 ? GgmlType::F16 : GgmlType::F32) << name;
    EXPECT_EQ(h->type, g.type) << name;
    ASSERT_EQ(h->n_bytes, g.n_bytes) << name;
    EXPECT_EQ(std::memcmp(h->data, g.data, g.n_bytes), 0) << name;
  }
}

TEST(ModelFiles, Bf16HfMatchesF32Gguf) {
  TinyModelSpec spec;
  spec.hf_dtype = GgmlType::BF16;  // values rounded to bf16; the GGUF stores them in F32
  Pair p = write_both(spec, "bf16");
  ASSERT_TRUE(p.hf && p.gguf);
  EXPECT_EQ(p.hf->tensor("blk.0.attn_q.weight")->type, GgmlType::BF16);
  for (const auto& [name, g] : p.gguf->tensors()) {
    const TensorView* h = p.hf->tensor(name);
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(to_f32(*h), to_f32(g)) << name;
  }
}

TEST(ModelFiles, QuantizedGgufCloseToHf) {
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    TinyModelSpec spec;
    spec.gguf_type = type;
    Pair p = write_both(spec, std::string("quant_") + std::string(ggml_type_name(type)));
    ASSERT_TRUE(p.hf && p.gguf);
    const TensorView* q = p.gguf->tensor("blk.0.attn_q.weight");
    EXPECT_EQ(q->type, type);
    EXPECT_EQ(static_cast<int64_t>(q->n_bytes), ggml_row_bytes(type, 64) * 64);
    const std::vector<float> a = to_f32(*q), b = to_f32(*p.hf->tensor("blk.0.attn_q.weight"));
    double max_err = 0;
    for (size_t i = 0; i < a.size(); ++i)
      max_err = std::max(max_err, std::fabs(double(a[i]) - b[i]));
    EXPECT_LT(max_err, type == GgmlType::Q8_0 ? 0.1 / 127 : 0.1 / 7.5);
    EXPECT_GT(max_err, 0.0);
  }
}

TEST(ModelFiles, Qwen2HasBiasesAndNoPermutation) {
  TinyModelSpec spec;
  spec.arch = "qwen2";
  spec.n_vocab = 300;
  Pair p = write_both(spec, "qwen2");
  ASSERT_TRUE(p.hf && p.gguf);
  expect_same_hparams(p.hf->hparams(), p.gguf->hparams());
  EXPECT_EQ(p.hf->hparams().rope_type, RopeType::kNeox);
  EXPECT_TRUE(p.hf->hparams().qkv_bias);
  EXPECT_EQ(p.hf->tensors().size(), 3u + 2 * 12);
  for (const auto& [name, g] : p.gguf->tensors()) {
    const TensorView* h = p.hf->tensor(name);
    ASSERT_NE(h, nullptr) << name;
    ASSERT_EQ(h->n_bytes, g.n_bytes);
    EXPECT_EQ(std::memcmp(h->data, g.data, g.n_bytes), 0) << name;
  }
  // Unpermuted: the HF q_proj bytes as stored are the GGUF attn_q bytes.
  auto raw = SafetensorsFile::open(testing::TempDir() + "/model_files_qwen2_hf/model.safetensors");
  ASSERT_TRUE(raw.ok()) << raw.status().message();
  const SafetensorsTensor* q = (*raw)->tensor("model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(std::memcmp(q->data, p.gguf->tensor("blk.0.attn_q.weight")->data, q->n_bytes), 0);
}

TEST(ModelFiles, TiedEmbeddingsAndLlama3Scaling) {
  TinyModelSpec spec;
  spec.tied_embeddings = true;
  spec.llama3_rope_scaling = true;
  spec.n_embd = 128;  // head_dim 32: 16 rope_freqs spanning all three bands
  Pair p = write_both(spec, "tied");
  ASSERT_TRUE(p.hf && p.gguf);
  for (const ModelFiles* m : {p.hf.get(), p.gguf.get()}) {
    EXPECT_TRUE(m->hparams().tied_embeddings);
    EXPECT_EQ(m->tensor("output.weight"), nullptr);
    EXPECT_EQ(&m->output_weight(), m->tensor("token_embd.weight"));
    EXPECT_EQ(m->hparams().rope_scaling, RopeScalingType::kLlama3);
  }
  const TensorView* a = p.hf->tensor("rope_freqs.weight");
  const TensorView* b = p.gguf->tensor("rope_freqs.weight");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->ne, (std::vector<int64_t>{16}));
  ASSERT_EQ(b->ne, a->ne);
  const std::vector<float> fa = to_f32(*a), fb = to_f32(*b);
  bool has_one = false, has_eight = false, has_mid = false;
  for (size_t i = 0; i < fa.size(); ++i) {
    EXPECT_NEAR(fa[i], fb[i], 1e-5 * fb[i]) << i;
    has_one |= fb[i] == 1.0f;
    has_eight |= fb[i] == 8.0f;
    has_mid |= fb[i] > 1.0f && fb[i] < 8.0f;
  }
  EXPECT_TRUE(has_one && has_eight && has_mid);
}

TEST(ModelFiles, ShardedHfEqualsSingle) {
  TinyModelSpec spec;
  const std::string one = tmp("single_hf"), three = tmp("sharded_hf");
  ASSERT_TRUE(write_tiny_hf_model(spec, one).ok());
  ASSERT_TRUE(write_tiny_hf_model(spec, three, 3).ok());
  auto a = open_ok(one), b = open_ok(three);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  for (const auto& [name, t] : a->tensors()) {
    const TensorView* u = b->tensor(name);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(std::memcmp(t.data, u->data, t.n_bytes), 0) << name;
  }
}

TEST(ModelFiles, ErrorsNameFileAndTensor) {
  TinyModelSpec spec;
  const std::string dir = tmp("err_hf");
  ASSERT_TRUE(write_tiny_hf_model(spec, dir).ok());
  auto rewrite_config = [&](const std::string& from, const std::string& to) {
    FILE* f = std::fopen((dir + "/config.json").c_str(), "rb");
    std::string s(4096, '\0');
    s.resize(std::fread(s.data(), 1, s.size(), f));
    std::fclose(f);
    const size_t at = s.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    s.replace(at, from.size(), to);
    f = std::fopen((dir + "/config.json").c_str(), "wb");
    std::fwrite(s.data(), 1, s.size(), f);
    std::fclose(f);
  };
  rewrite_config("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  auto m = ModelFiles::open(dir);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr(dir));
  EXPECT_THAT(m.status().message(), HasSubstr("blk.2.attn_norm.weight"));
  EXPECT_THAT(m.status().message(), HasSubstr("model.layers.2.input_layernorm.weight"));
  rewrite_config("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2");
  rewrite_config("\"intermediate_size\": 128", "\"intermediate_size\": 256");
  m = ModelFiles::open(dir);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("has shape"));
  rewrite_config("\"intermediate_size\": 256", "\"intermediate_size\": 128");
  rewrite_config("\"model_type\": \"llama\"", "\"model_type\": \"phi3\"");
  m = ModelFiles::open(dir);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(m.status().message(), HasSubstr("phi3"));
  // Without require_weights it opens for inspection and says why it has no weights.
  auto insp = open_ok(dir, false);
  ASSERT_TRUE(insp);
  EXPECT_FALSE(insp->has_weights());
  EXPECT_THAT(insp->weights_status(), HasSubstr("phi3"));
  EXPECT_THAT(describe_model(*insp), HasSubstr("not loadable"));

  auto none = ModelFiles::open(tmp("does_not_exist"));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  auto st = ModelFiles::open(dir + "/model.safetensors");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().message(), HasSubstr("folder"));
}

TEST(ModelFiles, UnsupportedTensorTypeInGguf) {
  // A Q5_0 weight (listed by ggml, not computed by assay) is named in the error.
  TinyModelSpec spec;
  const std::string file = tmp("q50.gguf");
  ASSERT_TRUE(write_tiny_gguf_model(spec, file).ok());
  auto g = GgufFile::open(file);
  ASSERT_TRUE(g.ok());
  GgufBuilder b;
  for (const auto& [key, v] : (*g)->metadata()) {
    if (const auto* s = std::get_if<std::string_view>(&v.v))
      b.kv_str(key, *s);
    else if (const auto* u = std::get_if<uint64_t>(&v.v))
      b.kv_u32(key, static_cast<uint32_t>(*u));
    else if (const auto* d = std::get_if<double>(&v.v))
      b.kv_f32(key, static_cast<float>(*d));
  }
  for (const GgufTensorInfo& t : (*g)->tensors()) {
    if (t.name == "blk.1.ffn_up.weight") {
      b.tensor(t.name, GgmlType::Q5_0, t.ne,
               std::vector<uint8_t>(
                   static_cast<size_t>(ggml_row_bytes(GgmlType::Q5_0, t.ne[0]) * t.ne[1])));
    } else {
      b.tensor(t.name, t.type, t.ne, std::vector<uint8_t>(t.data, t.data + t.n_bytes));
    }
  }
  ASSERT_TRUE(b.write(file).ok());
  auto m = ModelFiles::open(file);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(m.status().message(), HasSubstr("blk.1.ffn_up.weight"));
  EXPECT_THAT(m.status().message(), HasSubstr("Q5_0"));
  auto insp = open_ok(file, false);
  ASSERT_TRUE(insp);
  EXPECT_THAT(describe_model(*insp), HasSubstr("Q5_0: 1 tensors"));
}

TEST(ModelFiles, TokenizerOnlyFolderAndChatTemplate) {
  const std::string dir = tmp("tok_only");
  fs::create_directories(dir);
  ASSERT_TRUE(write_file_bytes(dir + "/tokenizer.json", {'{', '}'}).ok());
  const std::string cfg =
      R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})";
  ASSERT_TRUE(
      write_file_bytes(dir + "/tokenizer_config.json", std::vector<uint8_t>(cfg.begin(), cfg.end()))
          .ok());
  auto strict = ModelFiles::open(dir);
  ASSERT_FALSE(strict.ok());
  EXPECT_THAT(strict.status().message(), HasSubstr("config.json"));
  auto m = open_ok(dir, false);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->has_weights());
  EXPECT_EQ(m->tokenizer_json_path(), dir + "/tokenizer.json");
  EXPECT_EQ(m->tokenizer_config_path(), dir + "/tokenizer_config.json");
  ASSERT_TRUE(m->chat_template().has_value());
  EXPECT_EQ(*m->chat_template(), "D");
  EXPECT_TRUE(m->tensors().empty());
}

TEST(ModelFiles, DescribeModel) {
  TinyModelSpec spec;
  spec.chat_template = "{{ messages }}";
  spec.gguf_type = GgmlType::Q8_0;
  const std::string file = tmp("describe.gguf");
  ASSERT_TRUE(write_tiny_gguf_model(spec, file).ok());
  auto m = open_ok(file);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->chat_template().has_value());
  EXPECT_EQ(*m->chat_template(), "{{ messages }}");
  const std::string d = describe_model(*m);
  EXPECT_THAT(d, HasSubstr("architecture:  llama"));
  EXPECT_THAT(d, HasSubstr("n_layer 2"));
  EXPECT_THAT(d, HasSubstr("n_head_kv 2"));
  EXPECT_THAT(d, HasSubstr("rope norm"));
  EXPECT_THAT(d, HasSubstr("Q8_0: 16 tensors"));  // 7 per layer + token_embd + output
  EXPECT_THAT(d, HasSubstr("F32: 5 tensors"));
  EXPECT_THAT(d, HasSubstr("model gpt2"));
  EXPECT_THAT(d, HasSubstr("96 tokens"));
  EXPECT_THAT(d, HasSubstr("chat template: present"));
}

TEST(ModelFiles, PermuteHelperIsAPermutation) {
  // 2 heads of D = 4 rows, 1 byte per row: HF rows [0..7] -> GGUF [0,2,1,3, 4,6,5,7].
  const uint8_t src[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(permute_qk_rows_hf_to_gguf(src, 8, 1, 2),
            (std::vector<uint8_t>{0, 2, 1, 3, 4, 6, 5, 7}));
}

}  // namespace
}  // namespace assay
