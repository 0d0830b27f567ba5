// Real files: the default model (checked against gguf-py's view of it, see
// scripts/fixtures/gguf_layout_fixture.py), llama.cpp's vocab-only GGUFs and HF tokenizer folders.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/test_env.h"
#include <simdjson.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engines/local/gguf_reader.h"
#include "engines/local/model_files.h"
#include "tests/support/default_model.h"

namespace assay {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string source_dir() { return testing::source_dir(); }

std::string type_name(GgufValueType t) {
  static const char* kNames[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                 "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                 "UINT64", "INT64",   "FLOAT64"};
  return kNames[static_cast<int>(t)];
}

TEST(RealFiles, DefaultModelMatchesGgufPyLayout) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto f = GgufFile::open(*path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const GgufFile& g = **f;

  const std::string fixture =
      source_dir() + "/tests/engines/local/testdata/smollm2_135m_instruct_q4_1.layout.json";
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.load(fixture).get(doc)) << "cannot read " << fixture;
  EXPECT_EQ(g.version(), uint64_t(doc["version"]));
  EXPECT_EQ(g.alignment(), uint64_t(doc["alignment"]));
  EXPECT_EQ(g.data_offset(), uint64_t(doc["data_offset"]));

  simdjson::dom::object meta = doc["metadata"];
  EXPECT_EQ(g.metadata().size(), meta.size());
  for (auto [key_sv, e] : meta) {
    const std::string key(key_sv);
    const GgufValue* v = g.find(key);
    ASSERT_NE(v, nullptr) << key;
    EXPECT_EQ(type_name(v->type), std::string_view(e["type"])) << key;
    if (v->type == GgufValueType::ARRAY) {
      EXPECT_EQ(type_name(v->elem_type), std::string_view(e["elem_type"])) << key;
      const uint64_t count = e["count"];
      simdjson::dom::array head = e["head"];
      if (const auto* s = std::get_if<std::vector<std::string_view>>(&v->v)) {
        ASSERT_EQ(s->size(), count) << key;
        size_t i = 0;
        for (auto h : head) EXPECT_EQ((*s)[i++], std::string_view(h)) << key;
      } else if (const auto* n = std::get_if<std::vector<int64_t>>(&v->v)) {
        ASSERT_EQ(n->size(), count) << key;
        size_t i = 0;
        for (auto h : head) EXPECT_EQ((*n)[i++], int64_t(h)) << key;
      } else if (const auto* d = std::get_if<std::vector<double>>(&v->v)) {
        ASSERT_EQ(d->size(), count) << key;
        size_t i = 0;
        for (auto h : head) EXPECT_EQ((*d)[i++], double(h)) << key;
      } else {
        ADD_FAILURE() << key << ": unexpected array representation";
      }
    } else if (v->type == GgufValueType::STRING) {
      EXPECT_EQ(*g.get_string(key).value(), std::string_view(e["value"])) << key;
    } else if (v->type == GgufValueType::BOOL) {
      EXPECT_EQ(*g.get_bool(key).value(), bool(e["value"])) << key;
    } else if (v->type == GgufValueType::FLOAT32 || v->type == GgufValueType::FLOAT64) {
      EXPECT_EQ(*g.get_float(key).value(), double(e["value"])) << key;
    } else {
      EXPECT_EQ(*g.get_int(key).value(), int64_t(e["value"])) << key;
    }
  }

  simdjson::dom::array tensors = doc["tensors"];
  ASSERT_EQ(g.tensors().size(), tensors.size());
  size_t i = 0;
  for (auto t : tensors) {
    const GgufTensorInfo& mine = g.tensors()[i++];  // file order
    EXPECT_EQ(mine.name, std::string_view(t["name"]));
    EXPECT_EQ(static_cast<uint64_t>(mine.type), uint64_t(t["type"])) << mine.name;
    std::vector<int64_t> ne;
    for (auto d : simdjson::dom::array(t["ne"])) ne.push_back(int64_t(d));
    EXPECT_EQ(mine.ne, ne) << mine.name;
    EXPECT_EQ(mine.offset, uint64_t(t["offset"])) << mine.name;
    EXPECT_EQ(mine.n_bytes, uint64_t(t["n_bytes"])) << mine.name;
  }
}

TEST(RealFiles, DefaultModelThroughModelFiles) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto m = ModelFiles::open(*path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const LlamaHparams& hp = (*m)->hparams();
  // SmolLM2-135M-Instruct config.json: 576 / 30 / 9 / 3 / 1536, vocab 49152, theta 1e5, tied.
  EXPECT_EQ(hp.arch, LlamaArch::kLlama);
  EXPECT_EQ(hp.n_vocab, 49152);
  EXPECT_EQ(hp.n_ctx_train, 8192);
  EXPECT_EQ(hp.n_embd, 576);
  EXPECT_EQ(hp.n_layer, 30);
  EXPECT_EQ(hp.n_head, 9);
  EXPECT_EQ(hp.n_head_kv, 3);
  EXPECT_EQ(hp.head_dim, 64);
  EXPECT_EQ(hp.n_rot, 64);
  EXPECT_EQ(hp.n_ff, 1536);
  EXPECT_EQ(hp.rope_theta, 100000.0f);
  EXPECT_FLOAT_EQ(hp.rms_eps, 1e-5f);
  EXPECT_EQ(hp.rope_type, RopeType::kNorm);
  EXPECT_EQ(hp.rope_scaling, RopeScalingType::kNone);
  EXPECT_TRUE(hp.tied_embeddings);
  EXPECT_FALSE(hp.qkv_bias);
  const TensorView& out = (*m)->output_weight();
  EXPECT_EQ(out.name, "token_embd.weight");
  EXPECT_EQ(out.type, GgmlType::Q8_0);
  // A real embedding row dequantizes to small finite values that are not all zero.
  std::vector<float> row(576);
  const int64_t rb = ggml_row_bytes(out.type, 576);
  ASSERT_TRUE(dequantize_row_reference(out.type, out.data + 1000 * rb, row.data(), 576));
  double sumsq = 0;
  for (float x : row) {
    ASSERT_TRUE(std::isfinite(x));
    sumsq += double(x) * x;
  }
  EXPECT_GT(sumsq, 1e-4);
  EXPECT_LT(sumsq, 1e4);
  ASSERT_TRUE((*m)->chat_template().has_value());
  EXPECT_THAT(*(*m)->chat_template(), HasSubstr("<|im_start|>"));
  const std::string d = describe_model(**m);
  EXPECT_THAT(d, HasSubstr("Q4_1: 210 tensors"));
  EXPECT_THAT(d, HasSubstr("Q8_0: 1 tensors"));
  EXPECT_THAT(d, HasSubstr("F32: 61 tensors"));
  EXPECT_THAT(d, HasSubstr("pre smollm"));
  EXPECT_THAT(d, HasSubstr("49152 tokens"));
  // 66,355,200 + 30,081,024 + 140,544 bytes.
  EXPECT_EQ(weight_types(**m), "Q4_1 69%, Q8_0 31%, F32 0%");
}

// Counts from gguf-py 0.x GGUFReader over the same files.
struct VocabFile {
  const char* file;
  const char* arch;
  const char* model;
  size_t n_tokens;
  const char* side_key;  // merges or scores
  size_t side_count;
  int64_t vocab_size_key;  // llama.vocab_size, 0 if absent
};
constexpr VocabFile kVocabs[] = {
    {"ggml-vocab-baichuan.gguf", "baichuan", "llama", 64000, "tokenizer.ggml.scores", 64000, 0},
    {"ggml-vocab-bert-bge.gguf", "bert", "bert", 30522, "tokenizer.ggml.token_type", 30522, 0},
    {"ggml-vocab-deepseek-coder.gguf", "llama", "gpt2", 32256, "tokenizer.ggml.merges", 31757,
     32256},
    {"ggml-vocab-deepseek-llm.gguf", "llama", "gpt2", 102400, "tokenizer.ggml.merges", 99757,
     102400},
    {"ggml-vocab-falcon.gguf", "falcon", "gpt2", 65024, "tokenizer.ggml.merges", 64784, 0},
    {"ggml-vocab-gpt-2.gguf", "gpt2", "gpt2", 50257, "tokenizer.ggml.merges", 50000, 0},
    {"ggml-vocab-gpt-neox.gguf", "gptneox", "gpt2", 50432, "tokenizer.ggml.merges", 50009, 0},
    {"ggml-vocab-llama-spm.gguf", "llama", "llama", 32000, "tokenizer.ggml.scores", 32000, 32000},
    {"ggml-vocab-mpt.gguf", "mpt", "gpt2", 50432, "tokenizer.ggml.merges", 50009, 0},
    {"ggml-vocab-phi-3.gguf", "phi3", "llama", 32064, "tokenizer.ggml.scores", 32064, 0},
    {"ggml-vocab-refact.gguf", "refact", "gpt2", 49216, "tokenizer.ggml.merges", 48891, 0},
    {"ggml-vocab-starcoder.gguf", "starcoder2", "gpt2", 49152, "tokenizer.ggml.merges", 48872, 0},
};

TEST(RealFiles, VocabOnlyGgufsOpen) {
  const std::string dir = test_data_dir() + "/tokenizer/llama_cpp_vocab/";
  for (const VocabFile& v : kVocabs) {
    SCOPED_TRACE(v.file);
    auto f = GgufFile::open(dir + v.file);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ((*f)->version(), 3u);
    EXPECT_TRUE((*f)->tensors().empty());
    EXPECT_EQ(*(*f)->get_string("general.architecture").value(), v.arch);
    EXPECT_EQ(*(*f)->get_string("tokenizer.ggml.model").value(), v.model);
    auto toks = (*f)->get_string_array("tokenizer.ggml.tokens");
    ASSERT_TRUE(toks.ok() && toks->has_value());
    EXPECT_EQ((*toks)->size(), v.n_tokens);
    const GgufValue* side = (*f)->find(v.side_key);
    ASSERT_NE(side, nullptr);
    const size_t side_count = std::visit(
        [](const auto& x) -> size_t {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::vector<std::string_view>> ||
                        std::is_same_v<T, std::vector<double>> ||
                        std::is_same_v<T, std::vector<int64_t>>) {
            return x.size();
          } else {
            return 0;
          }
        },
        side->v);
    EXPECT_EQ(side_count, v.side_count);
    if (v.vocab_size_key != 0) {
      EXPECT_EQ(*(*f)->get_int("llama.vocab_size").value(), v.vocab_size_key);
      EXPECT_EQ(static_cast<int64_t>((*toks)->size()), v.vocab_size_key);
    }
    // ModelFiles opens them for tokenizing and says why there are no weights.
    auto m = ModelFiles::open(dir + v.file, ModelFilesOptions{false});
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_FALSE((*m)->has_weights());
    EXPECT_THAT((*m)->weights_status(), HasSubstr("no tensors"));
    ASSERT_NE((*m)->gguf(), nullptr);
    auto strict = ModelFiles::open(dir + v.file);
    EXPECT_FALSE(strict.ok());
  }
}

TEST(RealFiles, HfTokenizerFoldersOpenWithoutWeights) {
  const std::string root = test_data_dir() + "/tokenizer/hf";
  int n = 0;
  for (const char* name : {"llama2", "llama3", "llama3_1", "qwen3"}) {
    SCOPED_TRACE(name);
    const std::string dir = root + "/" + name;
    auto m = ModelFiles::open(dir, ModelFilesOptions{false});
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_EQ((*m)->format(), ModelFormat::kHfFolder);
    EXPECT_FALSE((*m)->has_weights());
    EXPECT_EQ((*m)->tokenizer_json_path(), dir + "/tokenizer.json");
    EXPECT_EQ((*m)->tokenizer_config_path(), dir + "/tokenizer_config.json");
    // llama2's tokenizer_config.json has no chat_template; the others do.
    EXPECT_EQ((*m)->chat_template().has_value(), std::string(name) != "llama2");
    auto strict = ModelFiles::open(dir);
    ASSERT_FALSE(strict.ok());
    EXPECT_THAT(strict.status().message(), HasSubstr("config.json"));
    ++n;
  }
  EXPECT_EQ(n, 4);
}

}  // namespace
}  // namespace assay
