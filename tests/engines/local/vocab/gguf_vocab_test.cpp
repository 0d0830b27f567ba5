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

// Streams ids through StreamDecoder; no piece may end inside a UTF-8 character.
std::string stream_decode(const Tokenizer& tok, const std::vector<int32_t>& ids,
                          const DecodeOptions& opt, const std::string& name) {
  StreamDecoder sd(tok, opt);
  std::string streamed;
  for (int32_t id : ids) {
    std::string part = sd.push(id);
    if (!part.empty()) {
      auto last = static_cast<uint8_t>(part.back());
      EXPECT_TRUE(last < 0x80 || (last & 0xC0) == 0x80) << name << ": split character";
    }
    streamed += part;
  }
  return streamed + sd.flush();
}

TEST_P(GgufVectors, DecodeRoundTrips) {
  const std::string name = GetParam();
  std::vector<VectorCase> cases;
  if (!read_vectors(vocab_base(name), &cases)) FAIL() << "no vectors for " << name;
  auto tok = load(name);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  if ((*tok)->vocab().type == VocabType::kWpm) {
    // WordPiece cannot give the text back: encoding lowercases, strips accents, drops
    // whitespace runs and controls, and maps whole unknown words to [UNK] (llama.cpp's
    // test-tokenizer-0 checks only the ids for bert-bge). What is well defined is that the
    // decoded text encodes to the same ids: with [UNK] rendered and parsed back as a special
    // token, and with decoding's clean_spaces ("hello ," -> "hello,") undone by the word
    // splitting. Streaming must agree with decode().
    const DecodeOptions render{.render_special = true};
    int unk_cases = 0;
    for (const VectorCase& c : cases) {
      std::string text = (*tok)->decode(c.ids, render);
      EXPECT_EQ(ids_str((*tok)->encode(text, false, true)), ids_str(c.ids))
          << name << " input: '" << c.text << "' decoded: '" << text << "'";
      EXPECT_EQ(stream_decode(**tok, c.ids, render, name), text) << name;
      EXPECT_EQ(stream_decode(**tok, c.ids, {}, name), (*tok)->decode(c.ids)) << name;
      unk_cases += text.find("[UNK]") != std::string::npos;
    }
    EXPECT_GT(unk_cases, 0) << "the vectors should exercise [UNK] (emoji, Khmer)";
    return;
  }
  for (const VectorCase& c : cases) {
    EXPECT_EQ((*tok)->decode(c.ids), c.text) << name;
    // Streaming gives the same bytes and never a piece that ends inside a character.
    EXPECT_EQ(stream_decode(**tok, c.ids, {}, name), c.text) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, GgufVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "mpt", "starcoder",
                                           "refact", "falcon", "deepseek-llm", "deepseek-coder",
                                           "bert-bge"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) {
                             if (c == '-') c = '_';
                           }
                           return s;
                         });

TEST(GgufVocab, BertWrapsInClsSepAndNormalizes) {
  auto tok = load("bert-bge");
  if (!tok.ok()) FAIL() << tok.status().message();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab().type, VocabType::kWpm);
  EXPECT_TRUE(t.vocab().lowercase);
  EXPECT_TRUE(t.vocab().strip_accents);
  // "Hello world" -> 7592 2088 (vector file); BERT's add_special: [CLS]=101 ... [SEP]=102.
  EXPECT_EQ(t.encode("Hello world", true, false), (std::vector<int32_t>{101, 7592, 2088, 102}));
  EXPECT_EQ(t.encode("", true, false), (std::vector<int32_t>{101, 102}));
  // Accents go (NFD first code point), case goes, punctuation is its own word.
  EXPECT_EQ(t.encode("H\xC3\xA9LLO, w\xC3\xB6rld", false, false),
            t.encode("hello , world", false, false));
  // A zero-width joiner (Cf) and NUL are dropped, not word breaks.
  EXPECT_EQ(t.encode(std::string("hel\xE2\x80\x8Dlo\0", 9), false, false),
            t.encode("hello", false, false));
  // A word that no token sequence covers is one [UNK] (100), never a partial match.
  EXPECT_EQ(t.encode("hello \xF0\x9F\xA6\x99 world", false, false),
            (std::vector<int32_t>{7592, 100, 2088}));
  // Control tokens are text unless parse_special.
  EXPECT_EQ(t.encode("[MASK]", false, true), (std::vector<int32_t>{103}));
  EXPECT_NE(t.encode("[MASK]", false, false), (std::vector<int32_t>{103}));
  // Decoding: "▁" pieces become spaced words, clean_spaces glues punctuation and apostrophes.
  EXPECT_EQ(t.decode(t.encode("Hello, y'all! How are you?", true, false)),
            "hello, y'all! how are you?");
  EXPECT_EQ(t.decode(t.encode("Hello world", true, false), {.render_special = true}),
            "[CLS] hello world[SEP]");
  EXPECT_EQ(t.decode(t.encode("' era", false, false)), "'era");
}

TEST(GgufVocab, BertWithoutSepIdRefusesAddSep) {
  auto gguf = GgufFile::open(vocab_base("bert-bge"));
  if (!gguf.ok()) FAIL() << gguf.status().message();
  auto data = vocab_from_gguf(**gguf);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->sep_id, 102);
  data->sep_id = -1;
  auto tok = Tokenizer::create(std::move(*data));
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("SEP"), std::string::npos);
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
