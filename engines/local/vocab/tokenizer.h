// Tokenizer: text <-> token ids for SentencePiece-style, byte-level BPE and WordPiece (BERT)
// vocabularies, matching llama.cpp and Hugging Face `tokenizers` id for id.
//
//   ASSAY_ASSIGN_OR_RETURN(auto tok, Tokenizer::create(std::move(vocab_data)));
//   std::vector<int32_t> ids = tok->encode("Hello", /*add_special=*/true, /*parse_special=*/false);
//   std::string text = tok->decode(ids);
//
// encode():
//   - parse_special: control tokens written in the text ("<|eot_id|>") become their ids;
//     otherwise they are tokenized as ordinary text. User-defined (added, non-special) tokens are
//     always recognized, as in llama.cpp and Hugging Face. Matching is leftmost-longest. A
//     token with lstrip / rstrip (VocabData::token_strip) swallows the Unicode whitespace
//     before / after it, as Hugging Face's AddedToken does.
//   - add_special: BOS first if the vocab's add_bos, EOS last if add_eos. A rendered chat
//     template that already starts with BOS must be encoded with add_special = false.
//   - SPM: one "▁" is prepended to text at the start and after every special token
//     (add_space_prefix), spaces become "▁", unknown characters fall back to <0xXX> tokens.
//   - BPE: the pre-tokenizer splits the text, each piece is byte-mapped and merged by rank.
//     With VocabData::nfc the text between added tokens is NFC-normalized first (Qwen).
//   - WPM: llama.cpp's BERT preprocess (drop controls, NFD first code point, drop marks,
//     lowercase; split on whitespace, punctuation, ASCII symbols and CJK ideographs), then
//     greedy longest match per "▁"-prefixed word; a word with no full match is one unk id.
//     add_special gives [CLS] text [SEP]. Where llama.cpp departs from Hugging Face's
//     BertNormalizer + WordPiece, assay follows llama.cpp: NFD keeps only the first code point
//     (Hangul syllables lose their vowel jamo), all \p{M} are dropped rather than only Mn (so
//     Devanagari vowel signs go), VT / FF / NEL split words (HF deletes them as controls),
//     unassigned code points are kept (HF deletes them), and words over 100 characters are
//     not turned into [UNK]. On 10.5 MB of mixed text (benchmarks/tokenizer corpus) only one
//     document came out different from HF (Hangul).
// decode(): the inverse on bytes; control tokens are rendered only with render_special; SPM's
// added leading space is removed (as HF's Strip decoder and llama.cpp do), so
// decode(encode(x)) == x. Output may hold invalid UTF-8 when the ids split a character; use
// StreamDecoder for incremental output. WPM decoding is lossy by construction (case, accents
// and spacing are normalized away): "▁" becomes a space, llama.cpp's clean_spaces passes
// join " ." " ," " ?" " !" and " ' " to their neighbours, and with strip_space_prefix the
// first word's space is dropped; encode(decode(ids)) == ids is what holds.
//
// Thread safety: immutable after create(); all methods are const and may run concurrently.
// Nothing is cached across calls (encode reuses per-thread scratch buffers).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engines/local/vocab/pre_tokenizer.h"
#include "engines/local/vocab/token_index.h"
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
  struct SpecialToken {
    std::string_view text;
    int32_t id;
    bool always;    // user-defined: matched even without parse_special
    uint8_t strip;  // kStripLeft | kStripRight: also take the whitespace around the match
  };

  explicit Tokenizer(VocabData data) : data_(std::move(data)) {}
  Status init();

  void encode_fragment(std::string_view text, std::vector<int32_t>* out) const;
  void encode_bpe_piece(std::string_view piece, std::vector<int32_t>* out) const;
  void encode_spm_scores(std::string_view text, std::vector<int32_t>* out) const;
  void encode_spm_ranks(std::string_view text, std::vector<int32_t>* out) const;
  void encode_wpm(std::string_view text, std::vector<int32_t>* out) const;
  void encode_wpm_word(std::string_view word, std::vector<int32_t>* out) const;
  // Merges adjacent symbols by rank (lowest first, leftmost on ties) in place.
  void merge_by_rank(std::vector<int32_t>* syms) const;
  void push_bytes(std::string_view bytes, std::vector<int32_t>* out) const;

  VocabData data_;
  std::vector<TokenType> types_;
  StringIdIndex token_ids_;  // token text -> id
  StringIdIndex piece_ids_;  // BPE: token bytes (pieces_) -> id, so pre-tokens need no mapping
  MergeIndex merges_;
  std::vector<std::string> pieces_;               // decoded bytes per id
  std::vector<SpecialToken> specials_;            // longest first
  std::vector<uint32_t> specials_by_first_[256];  // indices into specials_, by first byte
  bool has_always_specials_ = false;
  int32_t byte_ids_[256];  // BPE: id of the mapped byte; SPM: id of <0xXX>; -1 if absent
  std::unique_ptr<PreTokenizer> pre_;
  std::vector<int32_t> eog_ids_;
  size_t max_token_len_ = 0;  // WPM: longest token in bytes, bounds the longest-match search
};

// llama.cpp's detokenize clean_spaces passes (WPM): " ?", " !", " .", " ," lose the space,
// " ' " becomes "'", and " 's", " 'm", " 're", " 've" lose the space.
void wpm_clean_spaces(std::string* text);

// Incremental detokenization for streaming generation: push() returns the text completed by
// each token and holds back the bytes of a UTF-8 character that later tokens finish.
// For WPM it also holds back the last few characters after a space, which clean_spaces may
// still change; it re-cleans the whole stream per token (quadratic, acceptable because WPM
// vocabularies belong to encoder models that do not generate).
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
  std::string wpm_raw_;     // WPM: every piece so far, uncleaned
  size_t wpm_emitted_ = 0;  // WPM: characters of the cleaned stream already returned
};

}  // namespace assay
