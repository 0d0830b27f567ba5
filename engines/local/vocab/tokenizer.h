// Tokenizer: text <-> token ids for SentencePiece-style and byte-level BPE vocabularies,
// matching llama.cpp and Hugging Face `tokenizers` id for id.
//
//   ASSAY_ASSIGN_OR_RETURN(auto tok, Tokenizer::create(std::move(vocab_data)));
//   std::vector<int32_t> ids = tok->encode("Hello", /*add_special=*/true, /*parse_special=*/false);
//   std::string text = tok->decode(ids);
//
// encode():
//   - parse_special: control tokens written in the text ("<|eot_id|>") become their ids;
//     otherwise they are tokenized as ordinary text. User-defined (added, non-special) tokens are
//     always recognized, as in llama.cpp and Hugging Face. Matching is leftmost-longest.
//   - add_special: BOS first if the vocab's add_bos, EOS last if add_eos. A rendered chat
//     template that already starts with BOS must be encoded with add_special = false.
//   - SPM: one "▁" is prepended to text at the start and after every special token
//     (add_space_prefix), spaces become "▁", unknown characters fall back to <0xXX> tokens.
//   - BPE: the pre-tokenizer splits the text, each piece is byte-mapped and merged by rank.
// decode(): the inverse on bytes; control tokens are rendered only with render_special; SPM's
// added leading space is removed (as HF's Strip decoder and llama.cpp do), so
// decode(encode(x)) == x. Output may hold invalid UTF-8 when the ids split a character; use
// StreamDecoder for incremental output.
//
// Thread safety: immutable after create(); all methods are const and may run concurrently.
// Nothing is cached across calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engines/local/vocab/pre_tokenizer.h"
#include "engines/local/vocab/vocab.h"
#include "harness/status.h"

namespace assay {

struct DecodeOptions {
  bool render_special = false;     // write control tokens' text (e.g. "<|eot_id|>")
  bool strip_space_prefix = true;  // SPM: drop the space that encode() added in front
};

class Tokenizer {
 public:
  // Validates the vocabulary (ids in range, byte tokens present where needed, merges that name
  // existing tokens) and builds the lookup tables. Errors name the offending token or merge.
  static Result<std::unique_ptr<Tokenizer>> create(VocabData data);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Same, appending to *out.
  void encode_append(std::string_view text, bool add_special, bool parse_special,
                     std::vector<int32_t>* out) const;

  std::string decode(std::span<const int32_t> ids, const DecodeOptions& opt = {}) const;
  // Bytes of one token (empty for control tokens unless render_special). Ids out of range
  // give an empty piece.
  std::string_view token_to_piece(int32_t id, bool render_special = false) const;

  const VocabData& vocab() const { return data_; }
  int32_t n_vocab() const { return static_cast<int32_t>(data_.tokens.size()); }
  const std::string& token_text(int32_t id) const { return data_.tokens.at(id); }
  TokenType token_type(int32_t id) const { return types_.at(id); }
  std::optional<int32_t> find_token(std::string_view text) const;
  int32_t bos_id() const { return data_.bos_id; }
  int32_t eos_id() const { return data_.eos_id; }
  bool add_bos() const { return data_.add_bos; }
  // End of generation: eos, eot, eom and the well-known end-of-turn control tokens.
  bool is_eog(int32_t id) const;
  const std::vector<int32_t>& eog_ids() const { return eog_ids_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  struct SpecialToken {
    std::string_view text;
    int32_t id;
    bool always;  // user-defined: matched even without parse_special
  };

  explicit Tokenizer(VocabData data) : data_(std::move(data)) {}
  Status init();

  void encode_fragment(std::string_view text, std::vector<int32_t>* out) const;
  void encode_bpe_piece(std::string_view piece, std::vector<int32_t>* out) const;
  void encode_spm_scores(std::string_view text, std::vector<int32_t>* out) const;
  void encode_spm_ranks(std::string_view text, std::vector<int32_t>* out) const;
  // Merges adjacent symbols by rank (lowest first, leftmost on ties) in place.
  void merge_by_rank(std::vector<int32_t>* syms) const;
  void push_bytes(std::string_view bytes, std::vector<int32_t>* out) const;

  VocabData data_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string_view, int32_t> token_ids_;  // views into data_.tokens
  std::unordered_map<uint64_t, Merge> merges_;               // (left << 32 | right)
  std::vector<std::string> pieces_;                          // decoded bytes per id
  std::vector<SpecialToken> specials_;                       // longest first
  std::vector<uint32_t> specials_by_first_[256];  // indices into specials_, by first byte
  bool has_always_specials_ = false;
  int32_t byte_ids_[256];  // BPE: id of the mapped byte; SPM: id of <0xXX>; -1 if absent
  std::unique_ptr<PreTokenizer> pre_;
  std::vector<int32_t> eog_ids_;
};

// Incremental detokenization for streaming generation: push() returns the text completed by
// each token and holds back the bytes of a UTF-8 character that later tokens finish.
// Not thread-safe (one per stream); the Tokenizer must outlive it.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, DecodeOptions opt = {}) : tok_(tok), opt_(opt) {}
  std::string push(int32_t id);
  // Whatever is still held back (an incomplete character at the end of generation).
  std::string flush();

 private:
  const Tokenizer& tok_;
  DecodeOptions opt_;
  std::string pending_;
  bool first_ = true;
};

}  // namespace assay
