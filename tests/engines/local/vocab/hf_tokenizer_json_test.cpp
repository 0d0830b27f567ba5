// Hugging Face tokenizer.json loading: the real Llama 2 / 3 / 3.1 and Qwen3 files must tokenize
// llama.cpp's reference vectors (generated with HF `tokenizers`) id for id.
#include "engines/local/vocab/hf_tokenizer_json.h"

#include <gtest/gtest.h>

#include "engines/local/vocab/tokenizer.h"
#include "tests/engines/local/vocab/vocab_test_util.h"

namespace assay {
namespace {

using testing::data_dir;
using testing::ids_str;
using testing::read_vectors;
using testing::VectorCase;

std::string hf_dir(const std::string& name) { return data_dir() + "/tokenizer/hf/" + name; }

Result<std::unique_ptr<Tokenizer>> load_hf(const std::string& name) {
  ASSAY_ASSIGN_OR_RETURN(auto data, vocab_from_hf_dir(hf_dir(name)));
  return Tokenizer::create(std::move(data));
}

struct HfVectorParam {
  const char* hf;       // data/tokenizer/hf/<hf>
  const char* vectors;  // ggml-vocab-<vectors>.gguf.inp/.out
};

class HfVectors : public ::testing::TestWithParam<HfVectorParam> {};

TEST_P(HfVectors, MatchesReferenceIds) {
  const HfVectorParam p = GetParam();
  std::vector<VectorCase> cases;
  if (!read_vectors(data_dir() + "/tokenizer/llama_cpp_vocab/ggml-vocab-" + p.vectors + ".gguf",
                    &cases)) {
    FAIL() << "no vectors " << p.vectors;
  }
  auto tok = load_hf(p.hf);
  if (!tok.ok() && tok.status().code() == StatusCode::kNotFound)
    FAIL() << tok.status().message();
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  int passed = 0;
  for (const VectorCase& c : cases) {
    std::vector<int32_t> ids = (*tok)->encode(c.text, false, false);
    EXPECT_EQ(ids_str(ids), ids_str(c.ids)) << p.hf << " input: '" << c.text << "'";
    EXPECT_EQ((*tok)->decode(c.ids), c.text) << p.hf;
    passed += ids == c.ids;
  }
  std::printf("[ hf/%s on %s ] %d/%zu vectors match\n", p.hf, p.vectors, passed, cases.size());
}

INSTANTIATE_TEST_SUITE_P(Hf, HfVectors,
                         ::testing::Values(HfVectorParam{"llama3", "llama-bpe"},
                                           HfVectorParam{"llama3_1", "llama-bpe"},
                                           HfVectorParam{"qwen3", "qwen2"}),
                         [](const auto& info) {
                           return std::string(info.param.hf) + "_" +
                                  (info.param.vectors[0] == 'l' ? "llama" : "qwen");
                         });

TEST(HfTokenizerJson, Llama3SpecialsAndBos) {
  auto tok = load_hf("llama3");
  if (!tok.ok()) FAIL() << tok.status().message();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab().pre, PreTokenizerType::kLlama3);
  EXPECT_TRUE(t.vocab().ignore_merges);
  EXPECT_EQ(t.n_vocab(), 128256);
  EXPECT_EQ(t.bos_id(), 128000);
  EXPECT_EQ(t.eos_id(), 128001);
  EXPECT_TRUE(t.is_eog(128009));  // <|eot_id|>
  EXPECT_TRUE(t.is_eog(128001));
  EXPECT_FALSE(t.is_eog(128000));
  const std::string text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
  std::vector<int32_t> ids = t.encode(text, false, true);
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids[0], 128006);
  EXPECT_EQ(ids[2], 128007);
  EXPECT_EQ(ids.back(), 128009);
  EXPECT_EQ(t.decode(ids, {.render_special = true}), text);
  // Not parsed: the marker is ordinary text, and decodes back to it.
  std::vector<int32_t> raw = t.encode(text, false, false);
  EXPECT_EQ(std::count(raw.begin(), raw.end(), 128006), 0);
  EXPECT_EQ(t.decode(raw), text);
}

TEST(HfTokenizerJson, QwenConfigTokens) {
  auto tok = load_hf("qwen3");
  if (!tok.ok()) FAIL() << tok.status().message();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab().pre, PreTokenizerType::kQwen2);
  EXPECT_FALSE(t.add_bos());
  EXPECT_EQ(t.eos_id(), 151645);  // <|im_end|> per tokenizer_config.json
  EXPECT_EQ(t.vocab().pad_id, 151643);
  EXPECT_TRUE(t.is_eog(151643));
  // Non-special added tokens ("<think>") are matched even without parse_special.
  std::vector<int32_t> ids = t.encode("<think>", false, false);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(t.token_text(ids[0]), "<think>");
}

// data/tokenizer/hf/llama2 is a Mistral-style 32k SentencePiece vocabulary ("▁Hello" = 22557),
// not Llama 2's, so it is checked against HF `tokenizers` output rather than llama-spm vectors.
TEST(HfTokenizerJson, Llama2AddsBosFromConfig) {
  auto tok = load_hf("llama2");
  if (!tok.ok()) FAIL() << tok.status().message();
  EXPECT_EQ((*tok)->vocab().type, VocabType::kSpm);
  EXPECT_EQ((*tok)->encode("Hello world", true, false), (std::vector<int32_t>{1, 22557, 1526}));
}

TEST(HfTokenizerJson, RejectsWhatItCannotTokenize) {
  auto bad_json = vocab_from_hf_json("{", "", "t.json");
  ASSERT_FALSE(bad_json.ok());
  EXPECT_EQ(bad_json.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(bad_json.status().message().find("t.json"), std::string::npos);

  auto wordpiece =
      vocab_from_hf_json(R"({"model":{"type":"WordPiece","vocab":{"a":0}}})", "", "wp.json");
  ASSERT_FALSE(wordpiece.ok());
  EXPECT_EQ(wordpiece.status().code(), StatusCode::kUnsupported);

  auto regex = vocab_from_hf_json(
      R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},
          "pre_tokenizer":{"type":"Sequence","pretokenizers":[
            {"type":"Split","pattern":{"Regex":"\\w+"},"behavior":"Isolated","invert":false},
            {"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}})",
      "", "re.json");
  ASSERT_FALSE(regex.ok());
  EXPECT_EQ(regex.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(regex.status().message().find("\\w+"), std::string::npos);

  auto sparse = vocab_from_hf_json(
      R"({"model":{"type":"BPE","vocab":{"a":16000000},"merges":[]},
          "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false}})",
      "", "sparse.json");
  ASSERT_FALSE(sparse.ok());
  EXPECT_EQ(sparse.status().code(), StatusCode::kCorrupt);
}

TEST(HfTokenizerJson, AddedTokenStripFlagsAndNfc) {
  auto d = vocab_from_hf_json(
      R"({"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":[]},
          "normalizer":{"type":"NFC"},
          "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},
          "added_tokens":[
            {"id":2,"content":"<L>","special":true,"lstrip":true,"rstrip":false},
            {"id":3,"content":"<R>","special":false,"lstrip":false,"rstrip":true},
            {"id":4,"content":"<N>","special":true}]})",
      "", "strip.json");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_TRUE(d->nfc);
  ASSERT_EQ(d->token_strip.size(), 5u);
  EXPECT_EQ(d->token_strip[2], kStripLeft);
  EXPECT_EQ(d->token_strip[3], kStripRight);
  EXPECT_EQ(d->token_strip[4], 0);
  EXPECT_EQ(d->token_strip[0], 0);
}

TEST(HfTokenizerJson, ChatTemplateFromConfig) {
  std::string cfg;
  if (!testing::read_file(hf_dir("llama3_1") + "/tokenizer_config.json", &cfg)) FAIL();
  auto t = chat_template_from_hf_config(cfg, "cfg");  // also parses model_max_length 1e30
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->rfind("{% set loop_messages = messages %}", 0), 0u);
  EXPECT_NE((*t)->find("<|start_header_id|>"), std::string::npos);

  auto listed = chat_template_from_hf_config(
      R"({"chat_template":[{"name":"default","template":"A"},{"name":"tool_use","template":"B"}]})",
      "c");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(**listed, "A");
  auto tool = chat_template_from_hf_config(
      R"({"chat_template":[{"name":"default","template":"A"},{"name":"tool_use","template":"B"}]})",
      "c", "tool_use");
  ASSERT_TRUE(tool.ok());
  EXPECT_EQ(**tool, "B");
  auto none = chat_template_from_hf_config(R"({"chat_template":"A"})", "c", "rag");
  EXPECT_FALSE(none.ok());
}

}  // namespace
}  // namespace assay
