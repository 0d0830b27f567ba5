// Reads the tokenizer.* keys of a GGUF file into VocabData (engines/local/vocab/vocab.h).
//
// Supports tokenizer.ggml.model "llama" (SentencePiece-style), "gpt2" (byte-level BPE) with
// the pre-tokenizers listed in vocab.h, and "bert" (WordPiece, with llama.cpp's defaults:
// [CLS]=101 first and [SEP]=102 last with add_special, unk 100, lowercase and strip_accents
// unless tokenizer.ggml.normalizer.* say otherwise). Other models ("t5", "rwkv", ...) and unknown
// tokenizer.ggml.pre names return kUnsupported naming the value, so callers can say which model
// cannot be tokenized instead of producing wrong ids. A missing pre name on a gpt2 vocab falls
// back to llama.cpp's "default" splitting (as llama.cpp does, with the same risk of wrong ids).
//
// BOS/EOS defaults follow llama.cpp: SPM adds BOS; BPE adds BOS only for the Llama 3 family;
// tokenizer.ggml.add_bos_token / add_eos_token override.
//
// Thread safety: pure function of the (immutable) GgufFile.
#pragma once

#include <optional>
#include <string>

#include "engines/local/gguf_reader.h"
#include "engines/local/vocab/vocab.h"
#include "harness/status.h"

namespace assay {

Result<VocabData> vocab_from_gguf(const GgufFile& gguf);

// The model's chat template (tokenizer.chat_template, or tokenizer.chat_template.<name> when
// name is given); empty optional when the file has none.
Result<std::optional<std::string>> chat_template_from_gguf(const GgufFile& gguf,
                                                           const std::string& name = "");

}  // namespace assay
