// VocabData: everything a tokenizer needs, independent of the file it came from.
//
// Loaders fill it from a GGUF file (engines/local/vocab_from_gguf.h) or from Hugging Face
// tokenizer.json + tokenizer_config.json (engines/local/vocab/hf_tokenizer_json.h); the
// Tokenizer (tokenizer.h) is built from it. Plain value type; safe to copy between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace assay {

enum class VocabType {
  kSpm,  // SentencePiece-style: "▁" for spaces, byte fallback <0xXX> (Llama 2, Mistral)
  kBpe,  // byte-level BPE with GPT-2 byte mapping (GPT-2, Llama 3, Qwen2, SmolLM2)
  // WordPiece (BERT): normalized words, greedy longest match. Tokens are in llama.cpp's
  // phantom-space form: "▁word" starts a word, a continuation has no "##" prefix.
  kWpm,
};

// How byte-level BPE text is split into pre-tokens before merging. Names follow llama.cpp's
// tokenizer.ggml.pre values (llama-vocab.cpp).
enum class PreTokenizerType {
  kNone,           // no split (SPM)
  kDefault,        // llama.cpp's fallback for BPE files without a known pre name (gpt-neox)
  kGpt2,           // GPT-2 ByteLevel regex; also mpt, olmo, jais
  kLlama3,         // Llama 3 / 3.1 regex (digits in groups of 1-3)
  kQwen2,          // Llama 3 regex with single digits
  kStarcoder,      // every digit alone, then GPT-2 regex: starcoder, refact, smollm, command-r
  kFalcon,         // punctuation runs, GPT-2 regex, then digits in threes
  kDeepseekLlm,    // deepseek-llm's explicit letter/CJK classes
  kDeepseekCoder,  // deepseek-coder
};

// Token types as stored in GGUF tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // special: parsed from text only with parse_special, hidden on decode
  kUserDefined = 4,  // added token: always parsed from text, decoded verbatim
  kUnused = 5,
  kByte = 6,  // SPM byte fallback <0xXX>
};

inline constexpr uint8_t kStripLeft = 1;
inline constexpr uint8_t kStripRight = 2;

struct VocabData {
  VocabType type = VocabType::kBpe;
  PreTokenizerType pre = PreTokenizerType::kGpt2;
  std::string pre_name;  // as found in the file, for messages and `assay inspect`

  std::vector<std::string> tokens;     // index = id; BPE text is in GPT-2 byte-mapped form
  std::vector<float> scores;           // SPM merge priorities; empty for BPE
  std::vector<TokenType> token_types;  // empty: all kNormal
  // BPE merges in rank order (index = rank). For SPM, non-empty merges switch merging from
  // scores to ranks (Hugging Face's BPE form of a SentencePiece vocabulary, e.g. Llama 2
  // tokenizer.json).
  std::vector<std::pair<std::string, std::string>> merges;
  // Per id, kStripLeft | kStripRight: Hugging Face AddedToken lstrip / rstrip, so a matched
  // added token also swallows the whitespace before / after it. Empty: no token strips.
  std::vector<uint8_t> token_strip;

  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;
  int32_t eom_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  int32_t sep_id = -1;  // WPM: [SEP], appended by encode(add_special) when add_sep

  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = true;  // SPM only: "▁" before text at the start or after a token
  bool ignore_merges = false;    // BPE: a pre-token that is itself a token is emitted whole
  bool byte_fallback = true;     // SPM: unknown characters become <0xXX> tokens
  bool nfc = false;              // NFC-normalize text between added tokens (Qwen's normalizer)
  bool add_sep = false;          // WPM: [SEP] last with add_special (BERT's [CLS] text [SEP])
  bool lowercase = true;         // WPM: BertNormalizer lowercase
  bool strip_accents = true;     // WPM: BertNormalizer strip_accents (NFD, marks dropped)
};

// Parses llama.cpp's tokenizer.ggml.pre names. Returns false for unknown names.
bool pre_tokenizer_from_name(std::string_view name, PreTokenizerType* out);
const char* pre_tokenizer_name(PreTokenizerType type);

}  // namespace assay
