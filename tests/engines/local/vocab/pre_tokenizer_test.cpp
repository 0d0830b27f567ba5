// The hand-written scanners must split exactly like the regexes they replace. Expected pieces
// come from Hugging Face `tokenizers`:
//   pre_tokenizers.Split(Regex(<regex>), "isolated").pre_tokenize_str(text)
#include "engines/local/vocab/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "engines/local/vocab/unicode.h"

namespace assay {
namespace {

std::vector<std::string> split(PreTokenizerType type, std::string_view text) {
  auto p = PreTokenizer::create(type);
  EXPECT_TRUE(p.ok()) << p.status().message();
  std::vector<TextSpan> spans;
  (*p)->split(text, &spans);
  std::vector<std::string> out;
  uint32_t expect_begin = 0;
  for (TextSpan s : spans) {
    EXPECT_EQ(s.begin, expect_begin) << "pieces must tile the text";
    expect_begin = s.end;
    out.emplace_back(text.substr(s.begin, s.end - s.begin));
  }
  EXPECT_EQ(expect_begin, text.size());
  return out;
}

using V = std::vector<std::string>;

TEST(PreTokenizer, Llama3MatchesHfRegex) {
  const auto t = PreTokenizerType::kLlama3;
  EXPECT_EQ(split(t, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split(t, " 123"), (V{" ", "123"}));
  EXPECT_EQ(split(t, "12345"), (V{"123", "45"}));
  EXPECT_EQ(split(t, "a \t\n\n  b"), (V{"a", " \t\n\n", " ", " b"}));
  EXPECT_EQ(split(t, "x  "), (V{"x", "  "}));
  EXPECT_EQ(split(t, "Hello  world!!\n\n\nNext"), (V{"Hello", " ", " world", "!!\n\n\n", "Next"}));
  EXPECT_EQ(split(t, "I'M (word) can't"), (V{"I", "'M", " (", "word", ")", " can", "'t"}));
  EXPECT_EQ(split(t, "\u00a0\u00a0x"), (V{"\u00a0", "\u00a0x"}));
  EXPECT_EQ(split(t, "a 1"), (V{"a", " ", "1"}));
}

TEST(PreTokenizer, Qwen2SplitsSingleDigits) {
  EXPECT_EQ(split(PreTokenizerType::kQwen2, "2024"), (V{"2", "0", "2", "4"}));
}

TEST(PreTokenizer, Gpt2MatchesHfRegex) {
  const auto t = PreTokenizerType::kGpt2;
  EXPECT_EQ(split(t, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(split(t, " 123"), (V{" 123"}));
  EXPECT_EQ(split(t, "12345"), (V{"12345"}));
  EXPECT_EQ(split(t, "a \t\n\n  b"), (V{"a", " \t\n\n ", " b"}));
  EXPECT_EQ(split(t, "x  "), (V{"x", "  "}));
  EXPECT_EQ(split(t, "Hello  world!!\n\n\nNext"),
            (V{"Hello", " ", " world", "!!", "\n\n", "\n", "Next"}));
  EXPECT_EQ(split(t, "I'M (word) can't"), (V{"I", "'", "M", " (", "word", ")", " can", "'t"}));
  EXPECT_EQ(split(t, "\u00a0\u00a0x"), (V{"\u00a0", "\u00a0", "x"}));
  EXPECT_EQ(split(t, "a 1"), (V{"a", " 1"}));
}

TEST(PreTokenizer, InvalidUtf8StillTilesTheText) {
  const std::string bad = "ab\xff\xfe \xe2\x96 cd\xc3";
  for (auto t : {PreTokenizerType::kLlama3, PreTokenizerType::kGpt2, PreTokenizerType::kFalcon,
                 PreTokenizerType::kDeepseekLlm, PreTokenizerType::kStarcoder}) {
    V pieces = split(t, bad);
    std::string joined;
    for (const auto& p : pieces) joined += p;
    EXPECT_EQ(joined, bad);
  }
}

TEST(Unicode, CategoriesAndByteMap) {
  EXPECT_TRUE(unicode_flags('a') & kUnicodeLetter);
  EXPECT_TRUE(unicode_flags(0x4E00) & kUnicodeLetter);  // CJK ideograph
  EXPECT_TRUE(unicode_flags(0x0663) & kUnicodeNumber);  // ARABIC-INDIC DIGIT THREE
  EXPECT_TRUE(unicode_flags(0x00BD) & kUnicodeNumber);  // VULGAR FRACTION ONE HALF
  EXPECT_TRUE(unicode_flags(0x3000) & kUnicodeWhitespace);
  EXPECT_FALSE(unicode_flags(0x200B) & kUnicodeWhitespace);  // ZERO WIDTH SPACE is not \s
  EXPECT_FALSE(unicode_flags(0x1C) & kUnicodeWhitespace);
  EXPECT_TRUE(unicode_flags(0x0301) & kUnicodeMark);
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(unicode_to_byte(byte_to_unicode(static_cast<uint8_t>(b))), b);
  }
  EXPECT_EQ(byte_to_unicode(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(byte_to_unicode('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x96"), 2u);
  EXPECT_EQ(utf8_complete_prefix("ab\xE2\x96\x81"), 5u);
}

}  // namespace
}  // namespace assay
