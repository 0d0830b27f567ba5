// Hugging Face tokenizer.json (+ tokenizer_config.json) -> VocabData.
//
// Supported: model "BPE" in two forms, recognized from the pipeline:
//   - byte-level (ByteLevel pre-tokenizer/decoder): GPT-2 (ByteLevel use_regex), SmolLM2 /
//     starcoder (Digits(individual) + ByteLevel), Llama 3 and Qwen2/3 (their Split regex,
//     compared verbatim), with ignore_merges taken from the model;
//   - SentencePiece-style (Prepend/Replace "▁" normalizer or Metaspace, byte_fallback): Llama 2,
//     Mistral. Merges stay rank-ordered as in HF.
// Anything else (WordPiece, Unigram, an unknown Split regex or normalizer) is kUnsupported with
// the offending value in the message: guessing a pre-tokenizer gives silently wrong ids.
// The NFC normalizer (Qwen) sets VocabData::nfc. Added tokens' lstrip/rstrip flags go to
// VocabData::token_strip; single_word is ignored.
//
// BOS/EOS: tokenizer_config's add_bos_token / add_eos_token when present, otherwise what the
// post_processor template adds (as HF's encode(add_special_tokens=True) does).
//
// Errors name the file and the field. Inputs may be hostile (fuzzed): sizes and ids are checked.
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engines/local/vocab/vocab.h"
#include "harness/status.h"

namespace assay {

// `config_json` may be empty (no tokenizer_config.json). `name` prefixes error messages.
Result<VocabData> vocab_from_hf_json(std::string_view tokenizer_json, std::string_view config_json,
                                     const std::string& name);

// Reads <dir>/tokenizer.json and, if present, <dir>/tokenizer_config.json.
Result<VocabData> vocab_from_hf_dir(const std::string& dir);

// tokenizer_config.json's chat_template: a string, or a list of {name, template} from which
// `which` (default "default") is taken. Empty optional when the config has none.
Result<std::optional<std::string>> chat_template_from_hf_config(std::string_view config_json,
                                                                const std::string& name,
                                                                const std::string& which = "");

}  // namespace assay
