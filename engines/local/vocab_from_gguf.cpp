#include "engines/local/vocab_from_gguf.h"

namespace assay {

namespace {

std::string where(const GgufFile& g, std::string_view key) {
  return g.path() + ": " + std::string(key);
}

Status read_id(const GgufFile& g, std::string_view key, int32_t* out) {
  auto v = g.get_int(key);
  if (!v.ok()) return v.status();
  if (v->has_value()) {
    int64_t x = **v;
    // Out-of-range ids are dropped by Tokenizer::create; keep -1 for "none" (0xFFFFFFFF).
    *out = (x < 0 || x > 0x7FFFFFFF) ? -1 : static_cast<int32_t>(x);
  }
  return Status::OK();
}

}  // namespace

Result<VocabData> vocab_from_gguf(const GgufFile& g) {
  VocabData d;
  ASSAY_ASSIGN_OR_RETURN(auto model, g.get_string("tokenizer.ggml.model"));
  if (!model) return not_found(g.path() + ": no tokenizer (tokenizer.ggml.model is missing)");
  if (*model == "llama") {
    d.type = VocabType::kSpm;
    d.pre = PreTokenizerType::kNone;
    d.add_bos = true;
  } else if (*model == "gpt2") {
    d.type = VocabType::kBpe;
    d.add_bos = false;
  } else if (*model == "bert") {
    // llama.cpp's WPM defaults: [CLS] text [SEP] with add_special; ids when the keys are absent.
    d.type = VocabType::kWpm;
    d.pre = PreTokenizerType::kNone;
    d.add_bos = true;
    d.add_sep = true;
    d.add_space_prefix = false;
    d.bos_id = 101;
    d.unk_id = 100;
    d.sep_id = 102;
    d.pad_id = 0;
  } else {
    return unsupported(g.path() + ": tokenizer.ggml.model '" + std::string(*model) +
                       "' is not supported (supported: llama, gpt2, bert)");
  }

  ASSAY_ASSIGN_OR_RETURN(auto pre, g.get_string("tokenizer.ggml.pre"));
  if (pre) d.pre_name = std::string(*pre);
  if (d.type == VocabType::kBpe) {
    if (!pre || *pre == "default") {
      d.pre = PreTokenizerType::kDefault;
    } else if (!pre_tokenizer_from_name(*pre, &d.pre)) {
      return unsupported(g.path() + ": tokenizer.ggml.pre '" + std::string(*pre) +
                         "' is not a pre-tokenizer assay knows; token ids would be wrong");
    }
    if (d.pre == PreTokenizerType::kLlama3) {
      d.add_bos = true;
      d.ignore_merges = true;
    }
  }

  ASSAY_ASSIGN_OR_RETURN(auto tokens, g.get_string_array("tokenizer.ggml.tokens"));
  if (!tokens || tokens->empty()) {
    return corrupt(where(g, "tokenizer.ggml.tokens") + " is missing or empty");
  }
  const size_t n = tokens->size();
  d.tokens.reserve(n);
  for (std::string_view t : *tokens) d.tokens.emplace_back(t);

  ASSAY_ASSIGN_OR_RETURN(auto scores, g.get_float_array("tokenizer.ggml.scores"));
  if (scores) {
    if (scores->size() != n) {
      return corrupt(where(g, "tokenizer.ggml.scores") + " has " + std::to_string(scores->size()) +
                     " entries for " + std::to_string(n) + " tokens");
    }
    d.scores.assign(scores->begin(), scores->end());
  } else if (d.type == VocabType::kSpm) {
    return corrupt(where(g, "tokenizer.ggml.scores") + " is missing (needed by SentencePiece)");
  }

  ASSAY_ASSIGN_OR_RETURN(auto types, g.get_int_array("tokenizer.ggml.token_type"));
  if (types) {
    if (types->size() != n) {
      return corrupt(where(g, "tokenizer.ggml.token_type") + " has " +
                     std::to_string(types->size()) + " entries for " + std::to_string(n) +
                     " tokens");
    }
    d.token_types.reserve(n);
    for (int64_t t : *types) {
      d.token_types.push_back((t >= 0 && t <= 6) ? static_cast<TokenType>(t)
                                                 : TokenType::kUndefined);
    }
  }

  ASSAY_ASSIGN_OR_RETURN(auto merges, g.get_string_array("tokenizer.ggml.merges"));
  if (d.type == VocabType::kBpe) {
    if (!merges) return corrupt(where(g, "tokenizer.ggml.merges") + " is missing (needed by BPE)");
    d.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      std::string_view m = (*merges)[i];
      size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
      if (sp == std::string_view::npos) {
        return corrupt(where(g, "tokenizer.ggml.merges") + "[" + std::to_string(i) +
                       "]: expected 'left right', got '" + std::string(m) + "'");
      }
      d.merges.emplace_back(std::string(m.substr(0, sp)), std::string(m.substr(sp + 1)));
    }
  }

  ASSAY_RETURN_IF_ERROR(read_id(g, "tokenizer.ggml.bos_token_id", &d.bos_id));
  ASSAY_RETURN_IF_ERROR(read_id(g, "tokenizer.ggml.eos_token_id", &d.eos_id));
  ASSAY_RETURN_IF_ERROR(read_id(g, "tokenizer.ggml.eot_token_id", &d.eot_id));
  ASSAY_RETURN_IF_ERROR(read_id(g, "tokenizer.ggml.eom_token_id", &d.eom_id));
  ASSAY_RETURN_IF_ERROR(read_id(g, "tokenizer.ggml.unknown_token_id", &d.unk_id));
  ASSAY_RETURN_IF_ERROR(read_id(g, "tokenizer.ggml.padding_token_id", &d.pad_id));
  // The key's misspelling is the spec's (gguf-py constants.py); files carry it as written.
  ASSAY_RETURN_IF_ERROR(read_id(g, "tokenizer.ggml.seperator_token_id", &d.sep_id));
  if (d.type == VocabType::kSpm) {
    // llama.cpp's SPM defaults when the keys are absent.
    if (d.bos_id < 0) d.bos_id = 1;
    if (d.eos_id < 0) d.eos_id = 2;
    if (d.unk_id < 0) d.unk_id = 0;
  }

  ASSAY_ASSIGN_OR_RETURN(auto add_bos, g.get_bool("tokenizer.ggml.add_bos_token"));
  if (add_bos) d.add_bos = *add_bos;
  ASSAY_ASSIGN_OR_RETURN(auto add_eos, g.get_bool("tokenizer.ggml.add_eos_token"));
  if (add_eos) d.add_eos = *add_eos;
  ASSAY_ASSIGN_OR_RETURN(auto prefix, g.get_bool("tokenizer.ggml.add_space_prefix"));
  if (prefix) d.add_space_prefix = *prefix;
  if (d.type == VocabType::kBpe) d.add_space_prefix = false;
  if (d.type == VocabType::kWpm) {
    ASSAY_ASSIGN_OR_RETURN(auto add_sep, g.get_bool("tokenizer.ggml.add_sep_token"));
    if (add_sep) d.add_sep = *add_sep;
    // As llama.cpp reads them: strip_accents follows lowercase unless set on its own (HF's
    // BertNormalizer strip_accents = null means the same).
    ASSAY_ASSIGN_OR_RETURN(auto lower, g.get_bool("tokenizer.ggml.normalizer.lowercase"));
    if (lower) d.lowercase = *lower;
    d.strip_accents = d.lowercase;
    ASSAY_ASSIGN_OR_RETURN(auto strip, g.get_bool("tokenizer.ggml.normalizer.strip_accents"));
    if (strip) d.strip_accents = *strip;
  }
  return d;
}

Result<std::optional<std::string>> chat_template_from_gguf(const GgufFile& g,
                                                           const std::string& name) {
  std::string key = name.empty() ? "tokenizer.chat_template" : "tokenizer.chat_template." + name;
  ASSAY_ASSIGN_OR_RETURN(auto t, g.get_string(key));
  if (!t) return std::optional<std::string>();
  return std::optional<std::string>(std::string(*t));
}

}  // namespace assay
