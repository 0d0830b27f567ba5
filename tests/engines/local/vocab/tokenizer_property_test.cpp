// Properties that must hold for any input: arbitrary bytes (invalid UTF-8 included) round-trip
// through encode/decode, ids stay in range, and a damaged tokenizer.json is an error, not a crash.
#include <gtest/gtest.h>

#include <random>

#include "engines/local/gguf_reader.h"
#include "engines/local/vocab/hf_tokenizer_json.h"
#include "engines/local/vocab/tokenizer.h"
#include "engines/local/vocab_from_gguf.h"
#include "tests/engines/local/vocab/vocab_test_util.h"

namespace assay {
namespace {

// No literal "▁" (U+2581): SentencePiece decodes it as a space by design (so does HF).
std::string random_text(std::mt19937& rng) {
  static const char* kPieces[] = {" ",    "  ",           "\n",  "\t",   "a",    "Z",
                                  "7",    "12345",        "'s",  "!",    "é",    "日本",
                                  "🦙", "\xE2\x96\x82", "<s>", "\xff", "\xC3", "\x80"};
  std::uniform_int_distribution<int> len(0, 24), pick(0, 17), byte(0, 255), mode(0, 3);
  std::string s;
  int n = len(rng);
  for (int i = 0; i < n; ++i) {
    if (mode(rng) == 0) {
      s.push_back(static_cast<char>(byte(rng)));
    } else {
      s += kPieces[pick(rng)];
    }
  }
  return s;
}

class RoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTrip, ArbitraryBytes) {
  const std::string path =
      testing::data_dir() + "/tokenizer/llama_cpp_vocab/ggml-vocab-" + GetParam() + ".gguf";
  auto gguf = GgufFile::open(path);
  if (!gguf.ok()) FAIL() << gguf.status().message();
  auto data = vocab_from_gguf(**gguf);
  ASSERT_TRUE(data.ok()) << data.status().message();
  auto tok = Tokenizer::create(std::move(*data));
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  // Bytes that never occur in UTF-8 (0xC0, 0xC1, 0xF5-0xFF) are missing from some byte-level
  // vocabularies (falcon, gpt-2): no token sequence can produce them, so they are left out.
  bool representable[256];
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    representable[b] = (*tok)->decode((*tok)->encode(one, false, false)) == one;
  }
  std::mt19937 rng(1234);
  for (int i = 0; i < 400; ++i) {
    std::string text;
    for (char c : random_text(rng)) {
      if (representable[static_cast<uint8_t>(c)]) text.push_back(c);
    }
    std::vector<int32_t> ids = (*tok)->encode(text, false, false);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < (*tok)->n_vocab());
    EXPECT_EQ((*tok)->decode(ids), text) << GetParam();
    StreamDecoder sd(**tok);
    std::string streamed;
    for (int32_t id : ids) streamed += sd.push(id);
    streamed += sd.flush();
    EXPECT_EQ(streamed, text);
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, RoundTrip,
                         ::testing::Values("llama-spm", "gpt-2", "falcon", "deepseek-llm"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) {
                             if (c == '-') c = '_';
                           }
                           return s;
                         });

TEST(HfTokenizerJsonRobustness, MutatedFilesFailCleanly) {
  const std::string base = R"({"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"Ġ":3,"<|x|>":4},
    "merges":["a b"],"ignore_merges":false},
    "added_tokens":[{"id":4,"content":"<|x|>","special":true}],
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
    "decoder":{"type":"ByteLevel"}})";
  auto ok = vocab_from_hf_json(base, "", "base.json");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  auto tok = Tokenizer::create(std::move(*ok));
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ((*tok)->encode("ab<|x|>", false, true), (std::vector<int32_t>{2, 4}));

  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> pos(0, base.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), op(0, 2);
  int loaded = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string m = base;
    for (int k = 0; k < 3; ++k) {
      size_t p = pos(rng) % m.size();
      switch (op(rng)) {
        case 0:
          m[p] = static_cast<char>(byte(rng));
          break;
        case 1:
          m.erase(p, 1);
          break;
        default:
          m.insert(p, 1, static_cast<char>(byte(rng)));
          break;
      }
    }
    auto v = vocab_from_hf_json(m, "", "mutated.json");
    if (!v.ok()) {
      EXPECT_FALSE(v.status().message().empty());
      continue;
    }
    auto t = Tokenizer::create(std::move(*v));
    if (!t.ok()) continue;
    ++loaded;
    std::vector<int32_t> ids = (*t)->encode("ab ab<|x|>\xff", true, true);
    for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < (*t)->n_vocab());
  }
  EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace assay
