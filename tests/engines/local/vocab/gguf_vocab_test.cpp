// Exact parity with llama.cpp's tokenizer test vectors (tests/test-tokenizer-0.cpp):
// ggml-vocab-<name>.gguf tokenizes each .inp string (no BOS/EOS, specials not parsed) into the
// ids of the .out line, which Hugging Face `tokenizers` produced.
#include <gtest/gtest.h>

#include "engines/local/gguf_reader.h"
#include "engines/local/vocab/tokenizer.h"
#include "engines/local/vocab_from_gguf.h"
#include "tests/engines/local/vocab/vocab_test_util.h"

namespace assay {
namespace {

using testing::data_dir;
using testing::ids_str;
using testing::read_vectors;
using testing::VectorCase;

std::string vocab_base(const std::string& name) {
  return data_dir() + "/tokenizer/llama_cpp_vocab/ggml-vocab-" + name + ".gguf";
}

Result<std::unique_ptr<Tokenizer>> load(const std::string& name) {
  ASSAY_ASSIGN_OR_RETURN(auto gguf, GgufFile::open(vocab_base(name)));
  ASSAY_ASSIGN_OR_RETURN(auto data, vocab_from_gguf(*gguf));
  return Tokenizer::create(std::move(data));
}

class GgufVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufVectors, MatchesReferenceIds) {
  const std::string name = GetParam();
  std::vector<VectorCase> cases;
  if (!read_vectors(vocab_base(name), &cases)) FAIL() << "no vectors for " << name;
  auto tok = load(name);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  ASSERT_GE(cases.size(), 30u);
  int passed = 0;
  for (const VectorCase& c : cases) {
    std::vector<int32_t> ids = (*tok)->encode(c.text, false, false);
    EXPECT_EQ(ids_str(ids), ids_str(c.ids)) << name << " input: '" << c.text << "'";
    passed += ids == c.ids;
  }
  std::printf("[ %s ] %d/%zu vectors match\n", name.c_str(), passed, cases.size());
}

TEST_P(GgufVectors, DecodeRoundTrips) {
  const std::string name = GetParam();
  std::vector<VectorCase> cases;
  if (!read_vectors(vocab_base(name), &cases)) FAIL() << "no vectors for " << name;
  auto tok = load(name);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  for (const VectorCase& c : cases) {
    EXPECT_EQ((*tok)->decode(c.ids), c.text) << name;
    // Streaming gives the same bytes and never a piece that ends inside a character.
    StreamDecoder sd(**tok);
    std::string streamed;
    for (int32_t id : c.ids) {
      std::string part = sd.push(id);
      if (!part.empty()) {
        auto last = static_cast<uint8_t>(part.back());
        EXPECT_TRUE(last < 0x80 || (last & 0xC0) == 0x80) << name << ": split character";
      }
      streamed += part;
    }
    streamed += sd.flush();
    EXPECT_EQ(streamed, c.text) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, GgufVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "mpt", "starcoder",
                                           "refact", "falcon", "deepseek-llm", "deepseek-coder"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) {
                             if (c == '-') c = '_';
                           }
                           return s;
                         });

TEST(GgufVocab, BertIsReportedUnsupported) {
  auto gguf = GgufFile::open(vocab_base("bert-bge"));
  if (!gguf.ok()) FAIL() << gguf.status().message();
  auto data = vocab_from_gguf(**gguf);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(data.status().message().find("bert"), std::string::npos);
}

TEST(GgufVocab, SpmAddsBosAndParsesSpecialsOnlyWhenAsked) {
  auto tok = load("llama-spm");
  if (!tok.ok()) FAIL() << tok.status().message();
  const Tokenizer& t = **tok;
  EXPECT_TRUE(t.add_bos());
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  // "Hello world" -> 15043 3186 (vector file); with BOS -> 1 15043 3186.
  EXPECT_EQ(t.encode("Hello world", true, false), (std::vector<int32_t>{1, 15043, 3186}));
  // "</s>" is a control token: one id when parsed, and pieces otherwise.
  std::vector<int32_t> parsed = t.encode("</s>", false, true);
  EXPECT_EQ(parsed, (std::vector<int32_t>{2}));
  std::vector<int32_t> raw = t.encode("</s>", false, false);
  EXPECT_GT(raw.size(), 1u);
  EXPECT_EQ(t.decode(raw), "</s>");
  EXPECT_TRUE(t.is_eog(2));
  EXPECT_EQ(t.decode(parsed), "");
  EXPECT_EQ(t.decode(parsed, {.render_special = true}), "</s>");
}

TEST(GgufVocab, Gpt2HasNoBosByDefault) {
  auto tok = load("gpt-2");
  if (!tok.ok()) FAIL() << tok.status().message();
  EXPECT_FALSE((*tok)->add_bos());
  EXPECT_EQ((*tok)->encode("Hello world", true, false),
            (*tok)->encode("Hello world", false, false));
}

}  // namespace
}  // namespace assay
