// PreTokenizer: splits text into the pieces that byte-level BPE merges within.
//
// The GPT-2 and Llama 3 / Qwen2 patterns use `\s+(?!\S)`, which RE2 cannot express, so they are
// hand-written scanners over Unicode category flags (unicode.h) that reproduce the regex match
// for match. The remaining stages of the multi-regex pre-tokenizers (falcon, deepseek,
// starcoder digits) have no lookaround and run on RE2. Each stage splits every piece of the
// previous stage, keeping matches and the gaps between them ("Isolated" in Hugging Face terms).
//
// Thread safety: immutable after create(); split() may be called from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engines/local/vocab/vocab.h"
#include "harness/status.h"

namespace re2 {
class RE2;
}

namespace assay {

struct TextSpan {
  uint32_t begin;
  uint32_t end;
};

class PreTokenizer {
 public:
  static Result<std::unique_ptr<PreTokenizer>> create(PreTokenizerType type);
  ~PreTokenizer();

  PreTokenizerType type() const { return type_; }

  // Appends the pieces of `text` (byte ranges, in order, covering all of it) to *out.
  void split(std::string_view text, std::vector<TextSpan>* out) const;

 private:
  enum class StageKind { kGpt2, kLlama3, kRegex };
  struct Stage {
    StageKind kind;
    int max_digits = 3;               // kLlama3: \p{N}{1,max_digits}
    std::unique_ptr<re2::RE2> regex;  // kRegex
  };

  PreTokenizer() = default;
  void run_stage(const Stage& stage, std::string_view text, TextSpan span,
                 std::vector<TextSpan>* out) const;

  PreTokenizerType type_ = PreTokenizerType::kNone;
  std::vector<Stage> stages_;
};

}  // namespace assay
