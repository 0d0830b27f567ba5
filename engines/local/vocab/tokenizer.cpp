#include "engines/local/vocab/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "engines/local/vocab/unicode.h"

namespace assay {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 "▁"

bool is_hidden_special(TokenType t) { return t == TokenType::kControl || t == TokenType::kUnknown; }

// Parses "<0xAB>" (SPM byte-fallback token text).
int parse_byte_token(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    char c = s[i];
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                     : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

std::string bpe_token_to_bytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cp;
    size_t len = utf8_decode(text, pos, &cp);
    int b = cp == 0xFFFFFFFF ? -1 : unicode_to_byte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(text.substr(pos, len));  // not a mapped byte: keep as written
    }
    pos += len;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(VocabData data) {
  std::unique_ptr<Tokenizer> t(new Tokenizer(std::move(data)));
  ASSAY_RETURN_IF_ERROR(t->init());
  return t;
}

Status Tokenizer::init() {
  const size_t n = data_.tokens.size();
  if (n == 0) return invalid_argument("vocabulary has no tokens");
  if (n > 0x7FFFFFFF) return invalid_argument("vocabulary too large");
  if (!data_.token_types.empty() && data_.token_types.size() != n) {
    return invalid_argument("vocabulary has " + std::to_string(n) + " tokens but " +
                            std::to_string(data_.token_types.size()) + " token types");
  }
  if (data_.type == VocabType::kSpm && data_.merges.empty() && data_.scores.size() != n) {
    return invalid_argument("SentencePiece vocabulary has " + std::to_string(n) + " tokens but " +
                            std::to_string(data_.scores.size()) + " scores");
  }
  for (int32_t* id :
       {&data_.bos_id, &data_.eos_id, &data_.eot_id, &data_.eom_id, &data_.unk_id, &data_.pad_id}) {
    if (*id >= static_cast<int64_t>(n)) *id = -1;  // converters sometimes point past the end
  }
  if (data_.add_bos && data_.bos_id < 0) {
    return invalid_argument("vocabulary asks to add BOS but has no valid bos_token_id");
  }
  if (data_.add_eos && data_.eos_id < 0) {
    return invalid_argument("vocabulary asks to add EOS but has no valid eos_token_id");
  }
  if (!data_.token_strip.empty() && data_.token_strip.size() != n) {
    return invalid_argument("vocabulary has " + std::to_string(n) + " tokens but " +
                            std::to_string(data_.token_strip.size()) + " strip flags");
  }
  if (data_.sep_id >= static_cast<int64_t>(n)) data_.sep_id = -1;
  if (data_.add_sep && data_.sep_id < 0) {
    return invalid_argument("vocabulary asks to add SEP but has no valid seperator_token_id");
  }
  types_ = data_.token_types;
  if (types_.empty()) types_.assign(n, TokenType::kNormal);

  token_ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // Duplicate texts: the first id wins (llama.cpp keeps the last; HF vocabularies have none).
    token_ids_.insert(data_.tokens[i], static_cast<int32_t>(i));
  }

  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  if (data_.type == VocabType::kBpe) {
    for (int b = 0; b < 256; ++b) {
      std::string s;
      utf8_append(byte_to_unicode(static_cast<uint8_t>(b)), &s);
      byte_ids_[b] = token_ids_.find(s);
    }
    ASSAY_ASSIGN_OR_RETURN(pre_, PreTokenizer::create(data_.pre));
  } else if (data_.type == VocabType::kWpm) {
    for (const std::string& t : data_.tokens) max_token_len_ = std::max(max_token_len_, t.size());
  } else {
    for (size_t i = 0; i < n; ++i) {
      int b = parse_byte_token(data_.tokens[i]);
      if (b >= 0 && (types_[i] == TokenType::kByte || data_.token_types.empty())) {
        if (byte_ids_[b] < 0) byte_ids_[b] = static_cast<int32_t>(i);
        if (data_.token_types.empty()) types_[i] = TokenType::kByte;
      }
    }
  }

  merges_.reserve(data_.merges.size());
  std::string joined;
  for (size_t r = 0; r < data_.merges.size(); ++r) {
    const auto& [a, b] = data_.merges[r];
    int32_t ia = token_ids_.find(a), ib = token_ids_.find(b);
    joined = a + b;
    int32_t ij = token_ids_.find(joined);
    // HF refuses such files; llama.cpp ignores the merge. Ignoring keeps odd GGUFs usable.
    if (ia < 0 || ib < 0 || ij < 0) continue;
    merges_.insert(ia, ib, {static_cast<int32_t>(r), ij});  // first (lowest) rank wins
  }

  pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = data_.tokens[i];
    TokenType t = types_[i];
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      pieces_[i] = text;
    } else if (data_.type == VocabType::kBpe) {
      pieces_[i] = bpe_token_to_bytes(text);
    } else if (t == TokenType::kByte && data_.type == VocabType::kSpm) {
      pieces_[i] = std::string(1, static_cast<char>(parse_byte_token(text)));
    } else {
      std::string s;
      for (size_t pos = 0; pos < text.size();) {
        if (text.compare(pos, kSpmSpace.size(), kSpmSpace) == 0) {
          s.push_back(' ');
          pos += kSpmSpace.size();
        } else {
          s.push_back(text[pos++]);
        }
      }
      pieces_[i] = std::move(s);
    }
  }

  if (data_.type == VocabType::kBpe) {
    // Keyed by the bytes each token text stands for (pieces_, except that specials' pieces are
    // their raw text): looking a pre-token up here equals byte-mapping it and looking the
    // result up in token_ids_, without mapping every pre-token.
    piece_ids_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (data_.tokens[i].empty()) continue;
      const TokenType t = types_[i];
      const bool raw =
          t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined;
      piece_ids_.insert(raw ? bpe_token_to_bytes(data_.tokens[i]) : pieces_[i],
                        static_cast<int32_t>(i));
    }
  }

  for (size_t i = 0; i < n; ++i) {
    TokenType t = types_[i];
    if (data_.tokens[i].empty()) continue;
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      bool always = t == TokenType::kUserDefined;
      uint8_t strip = data_.token_strip.empty() ? 0 : data_.token_strip[i];
      specials_.push_back({data_.tokens[i], static_cast<int32_t>(i), always, strip});
      has_always_specials_ |= always;
    }
  }
  std::stable_sort(
      specials_.begin(), specials_.end(),
      [](const SpecialToken& x, const SpecialToken& y) { return x.text.size() > y.text.size(); });
  for (size_t k = 0; k < specials_.size(); ++k) {
    specials_by_first_[static_cast<uint8_t>(specials_[k].text[0])].push_back(
        static_cast<uint32_t>(k));
  }

  static const char* kEogTexts[] = {"<|eot_id|>", "<|im_end|>",    "<|endoftext|>",   "<|eom_id|>",
                                    "<|end|>",    "<end_of_turn>", "<|end_of_text|>", "<|return|>",
                                    "<|call|>",   "<EOT>"};
  for (int32_t id : {data_.eos_id, data_.eot_id, data_.eom_id}) {
    if (id >= 0) eog_ids_.push_back(id);
  }
  for (const char* text : kEogTexts) {
    int32_t id = token_ids_.find(text);
    if (id >= 0 && is_hidden_special(types_[id])) eog_ids_.push_back(id);
  }
  std::sort(eog_ids_.begin(), eog_ids_.end());
  eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());
  return Status::OK();
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  int32_t id = token_ids_.find(text);
  if (id < 0) return std::nullopt;
  return id;
}

bool Tokenizer::is_eog(int32_t id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_append(text, add_special, parse_special, &out);
  return out;
}

void Tokenizer::encode_append(std::string_view text, bool add_special, bool parse_special,
                              std::vector<int32_t>* out) const {
  if (add_special && data_.add_bos) out->push_back(data_.bos_id);
  const bool scan = parse_special ? !specials_.empty() : has_always_specials_;
  size_t frag_begin = 0;
  if (scan) {
    for (size_t pos = 0; pos < text.size();) {
      const SpecialToken* hit = nullptr;
      // Leftmost-longest: each bucket is sorted longest first.
      for (uint32_t k : specials_by_first_[static_cast<uint8_t>(text[pos])]) {
        const SpecialToken& s = specials_[k];
        if (!s.always && !parse_special) continue;
        if (s.text.size() <= text.size() - pos && text.compare(pos, s.text.size(), s.text) == 0) {
          hit = &s;
          break;
        }
      }
      if (!hit) {
        ++pos;
        continue;
      }
      size_t frag_end = pos;
      if (hit->strip & kStripLeft) {
        // Back over whitespace characters, never into the previous token's match.
        while (frag_end > frag_begin) {
          size_t k = frag_end - 1;
          while (k > frag_begin && (static_cast<uint8_t>(text[k]) & 0xC0) == 0x80) --k;
          uint32_t cp;
          if (utf8_decode(text, k, &cp) != frag_end - k || cp == 0xFFFFFFFF ||
              !(unicode_flags(cp) & kUnicodeWhitespace)) {
            break;
          }
          frag_end = k;
        }
      }
      if (frag_end > frag_begin) {
        encode_fragment(text.substr(frag_begin, frag_end - frag_begin), out);
      }
      out->push_back(hit->id);
      pos += hit->text.size();
      if (hit->strip & kStripRight) {
        while (pos < text.size()) {
          uint32_t cp;
          size_t len = utf8_decode(text, pos, &cp);
          if (cp == 0xFFFFFFFF || !(unicode_flags(cp) & kUnicodeWhitespace)) break;
          pos += len;
        }
      }
      frag_begin = pos;
    }
  }
  if (frag_begin < text.size()) encode_fragment(text.substr(frag_begin), out);
  if (add_special && data_.add_eos) out->push_back(data_.eos_id);
  if (add_special && data_.add_sep) out->push_back(data_.sep_id);
}

void Tokenizer::encode_fragment(std::string_view text, std::vector<int32_t>* out) const {
  std::string normalized;
  if (data_.nfc && unicode_nfc(text, &normalized)) text = normalized;
  if (data_.type == VocabType::kBpe) {
    std::vector<TextSpan> spans;
    pre_->split(text, &spans);
    for (TextSpan s : spans) encode_bpe_piece(text.substr(s.begin, s.end - s.begin), out);
    return;
  }
  if (data_.type == VocabType::kWpm) {
    encode_wpm(text, out);
    return;
  }
  std::string escaped;
  escaped.reserve(text.size() + 8);
  // Every fragment is at the start of the text or right after a token (llama.cpp's
  // is_prev_special; HF's Prepend normalizer runs per segment), so each gets the prefix.
  if (data_.add_space_prefix) escaped.append(kSpmSpace);
  for (char c : text) {
    if (c == ' ') {
      escaped.append(kSpmSpace);
    } else {
      escaped.push_back(c);
    }
  }
  if (data_.merges.empty()) {
    encode_spm_scores(escaped, out);
  } else {
    encode_spm_ranks(escaped, out);
  }
}

void Tokenizer::push_bytes(std::string_view bytes, std::vector<int32_t>* out) const {
  for (char c : bytes) {
    int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      out->push_back(id);
    } else if (data_.unk_id >= 0) {
      out->push_back(data_.unk_id);
    }
  }
}

void Tokenizer::encode_bpe_piece(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (data_.ignore_merges || piece.size() == 1) {
    int32_t id = piece_ids_.find(piece);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  thread_local std::vector<int32_t> syms;
  syms.resize(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) syms[i] = byte_ids_[static_cast<uint8_t>(piece[i])];
  merge_by_rank(&syms);
  for (int32_t id : syms) {
    if (id >= 0) {
      out->push_back(id);
    } else if (data_.unk_id >= 0) {
      out->push_back(data_.unk_id);
    }
  }
}

void Tokenizer::merge_by_rank(std::vector<int32_t>* syms_io) const {
  std::vector<int32_t>& ids = *syms_io;
  const int32_t n = static_cast<int32_t>(ids.size());
  if (n < 2 || merges_.empty()) return;
  constexpr int32_t kNoRank = 0x7FFFFFFF;
  if (n <= 64) {
    // Short pieces (nearly all): rescan for the lowest rank, leftmost on ties, as tiktoken
    // does. Same order of merges as the heap below, without its allocations.
    int32_t rank[64], merged[64];  // of the pair (ids[i], ids[i + 1])
    auto look = [&](int32_t i) {
      const MergeIndex::Merge* mg =
          (ids[i] >= 0 && ids[i + 1] >= 0) ? merges_.find(ids[i], ids[i + 1]) : nullptr;
      rank[i] = mg ? mg->rank : kNoRank;
      merged[i] = mg ? mg->id : -1;
    };
    int32_t m = n;
    for (int32_t i = 0; i + 1 < m; ++i) look(i);
    while (m > 1) {
      int32_t best = 0;
      for (int32_t i = 1; i + 1 < m; ++i) {
        if (rank[i] < rank[best]) best = i;
      }
      if (rank[best] == kNoRank) break;
      ids[best] = merged[best];
      for (int32_t i = best + 1; i + 1 < m; ++i) ids[i] = ids[i + 1];
      for (int32_t i = best + 1; i + 2 < m; ++i) {
        rank[i] = rank[i + 1];
        merged[i] = merged[i + 1];
      }
      --m;
      if (best > 0) look(best - 1);
      if (best + 1 < m) look(best);
    }
    ids.resize(m);
    return;
  }
  struct Cand {
    int32_t rank, left, left_id, right_id, new_id;
  };
  struct Worse {
    bool operator()(const Cand& a, const Cand& b) const {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
  };
  std::vector<int32_t> next(n), prev(n);
  for (int32_t i = 0; i < n; ++i) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  std::vector<Cand> storage;
  storage.reserve(n);
  std::priority_queue<Cand, std::vector<Cand>, Worse> heap(Worse{}, std::move(storage));
  auto try_add = [&](int32_t l) {
    if (l < 0) return;
    int32_t r = next[l];
    if (r < 0 || ids[l] < 0 || ids[r] < 0) return;
    const MergeIndex::Merge* mg = merges_.find(ids[l], ids[r]);
    if (!mg) return;
    heap.push({mg->rank, l, ids[l], ids[r], mg->id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) try_add(i);
  constexpr int32_t kDead = -2;
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int32_t r = next[c.left];
    if (ids[c.left] != c.left_id || r < 0 || ids[r] != c.right_id) continue;  // stale
    ids[c.left] = c.new_id;
    ids[r] = kDead;
    next[c.left] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.left;
    try_add(prev[c.left]);
    try_add(c.left);
  }
  int32_t w = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (ids[i] != kDead) ids[w++] = ids[i];
  }
  ids.resize(w);
}

// llama.cpp's SentencePiece BPE: merge the adjacent pair whose concatenation is the token with
// the highest score (leftmost on ties); leftover characters fall back to byte tokens.
void Tokenizer::encode_spm_scores(std::string_view text, std::vector<int32_t>* out) const {
  struct Sym {
    int32_t prev, next;
    uint32_t begin, len;
  };
  std::vector<Sym> syms;
  syms.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    // Validated length: an invalid byte is a symbol of its own (llama.cpp trusts the lead byte
    // and can swallow the next "▁"; for valid UTF-8 the two agree).
    uint32_t cp;
    size_t len = utf8_decode(text, pos, &cp);
    int32_t idx = static_cast<int32_t>(syms.size());
    syms.push_back({idx - 1, pos + len < text.size() ? idx + 1 : -1, static_cast<uint32_t>(pos),
                    static_cast<uint32_t>(len)});
    pos += len;
  }
  if (syms.empty()) return;
  struct Bigram {
    float score;
    int32_t left, right;
    uint32_t size;
  };
  struct Worse {
    bool operator()(const Bigram& a, const Bigram& b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };
  std::priority_queue<Bigram, std::vector<Bigram>, Worse> heap;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    std::string_view s = text.substr(syms[l].begin, syms[l].len + syms[r].len);
    int32_t id = token_ids_.find(s);
    if (id < 0) return;
    heap.push({data_.scores[id], l, r, static_cast<uint32_t>(s.size())});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);
  while (!heap.empty()) {
    Bigram b = heap.top();
    heap.pop();
    Sym& l = syms[b.left];
    Sym& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int32_t i = 0; i != -1; i = syms[i].next) {
    std::string_view s = text.substr(syms[i].begin, syms[i].len);
    int32_t id = token_ids_.find(s);
    if (id >= 0) {
      out->push_back(id);
    } else {
      push_bytes(s, out);
    }
  }
}

// Hugging Face's BPE over a SentencePiece vocabulary (tokenizer.json with byte_fallback):
// characters are the initial symbols, unknown ones become <0xXX> tokens, merges go by rank.
void Tokenizer::encode_spm_ranks(std::string_view text, std::vector<int32_t>* out) const {
  std::vector<int32_t> syms;
  syms.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cp;
    size_t len = utf8_decode(text, pos, &cp);
    std::string_view ch = text.substr(pos, len);
    int32_t id = token_ids_.find(ch);
    if (id >= 0) {
      syms.push_back(id);
    } else if (data_.byte_fallback) {
      push_bytes(ch, &syms);
    } else if (data_.unk_id >= 0) {
      syms.push_back(data_.unk_id);
    }
    pos += len;
  }
  merge_by_rank(&syms);
  out->insert(out->end(), syms.begin(), syms.end());
}

namespace {

// BERT's _is_chinese_char ranges as llama.cpp copies them from HF's Rust code (which has
// 0x2B920 where the CJK Extension E block starts at 0x2B820).
bool is_cjk_ideograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

}  // namespace

// llama.cpp's llm_tokenizer_wpm_session::preprocess + tokenize, streamed: words are built in
// one buffer that already carries the "▁" prefix, and each is matched as soon as it ends.
void Tokenizer::encode_wpm(std::string_view text, std::vector<int32_t>* out) const {
  std::string word(kSpmSpace);
  auto flush = [&] {
    if (word.size() > kSpmSpace.size()) encode_wpm_word(word, out);
    word.resize(kSpmSpace.size());
  };
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cp;
    pos += utf8_decode(text, pos, &cp);
    if (cp == 0xFFFFFFFF) continue;  // llama.cpp reads invalid bytes as U+FFFD, then drops it
    if (data_.strip_accents) cp = unicode_nfd_first(cp);
    const uint8_t flags = unicode_flags(cp);
    if (flags & kUnicodeWhitespace) {
      flush();
      continue;
    }
    if (cp == 0 || cp == 0xFFFD || unicode_is_control(cp)) continue;
    if (data_.strip_accents && (flags & kUnicodeMark)) continue;
    const uint32_t c = data_.lowercase ? unicode_tolower(cp) : cp;
    if ((flags & kUnicodePunct) || (cp < 0x7F && (flags & kUnicodeSymbol)) ||
        is_cjk_ideograph(cp)) {
      flush();
      utf8_append(c, &word);
      flush();
    } else {
      utf8_append(c, &word);
    }
  }
  flush();
}

// Greedy longest match from the left; if some position matches nothing, the whole word
// becomes one unk id (BERT's WordPiece discards the partial pieces the same way).
void Tokenizer::encode_wpm_word(std::string_view word, std::vector<int32_t>* out) const {
  const size_t start = out->size();
  for (size_t i = 0; i < word.size();) {
    size_t j = std::min(word.size(), i + max_token_len_);
    for (; j > i; --j) {
      int32_t id = token_ids_.find(word.substr(i, j - i));
      if (id >= 0) {
        out->push_back(id);
        break;
      }
    }
    if (j == i) {
      out->resize(start);
      break;
    }
    i = j;
  }
  if (out->size() == start && data_.unk_id >= 0) out->push_back(data_.unk_id);
}

void wpm_clean_spaces(std::string* text_io) {
  std::string& t = *text_io;
  if (t.empty()) return;
  // Three passes as llama.cpp writes them (llama_vocab::impl::detokenize), each in place.
  size_t n = t.size(), w = 1;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --w;
    t[w++] = x;
  }
  n = w;
  w = 1;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
      --w;
      t[++i] = '\0';
    }
    t[w++] = x;
  }
  n = w;
  w = 1;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
      const char x1 = t[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --w;
      } else if (i + 2 < n && ((x1 == 'r' && t[i + 2] == 'e') || (x1 == 'v' && t[i + 2] == 'e'))) {
        --w;
      }
    }
    t[w++] = x;
  }
  t.resize(w);
}

std::string_view Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (id < 0 || id >= n_vocab()) return {};
  if (!render_special && is_hidden_special(types_[id])) return {};
  return pieces_[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, const DecodeOptions& opt) const {
  std::string out;
  if (data_.type == VocabType::kWpm) {
    for (int32_t id : ids) out.append(token_to_piece(id, opt.render_special));
    wpm_clean_spaces(&out);
    // After cleaning: " ' x" at the start loses its space to the apostrophe rule first.
    if (opt.strip_space_prefix && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }
  bool first = true;
  for (int32_t id : ids) {
    std::string_view p = token_to_piece(id, opt.render_special);
    if (p.empty()) continue;
    if (first && opt.strip_space_prefix && data_.type == VocabType::kSpm &&
        data_.add_space_prefix && p[0] == ' ') {
      p.remove_prefix(1);
    }
    first = false;
    out.append(p);
  }
  return out;
}

std::string StreamDecoder::push(int32_t id) {
  std::string_view p = tok_.token_to_piece(id, opt_.render_special);
  if (p.empty()) return {};
  if (tok_.vocab().type == VocabType::kWpm) {
    wpm_raw_.append(p);
    std::string clean = wpm_raw_;
    wpm_clean_spaces(&clean);
    if (opt_.strip_space_prefix && !clean.empty() && clean[0] == ' ') clean.erase(0, 1);
    // A rule fires at a space and looks at most three characters ahead, so everything before
    // a space in the last four characters is final.
    size_t stable = clean.size();
    for (size_t k = clean.size() > 4 ? clean.size() - 4 : 0; k < clean.size(); ++k) {
      if (clean[k] == ' ') {
        stable = k;
        break;
      }
    }
    stable = utf8_complete_prefix(std::string_view(clean).substr(0, stable));
    if (stable <= wpm_emitted_) return {};
    std::string ready = clean.substr(wpm_emitted_, stable - wpm_emitted_);
    wpm_emitted_ = stable;
    return ready;
  }
  if (first_ && opt_.strip_space_prefix && tok_.vocab().type == VocabType::kSpm &&
      tok_.vocab().add_space_prefix && p[0] == ' ') {
    p.remove_prefix(1);
  }
  first_ = false;
  pending_.append(p);
  size_t done = utf8_complete_prefix(pending_);
  std::string ready = pending_.substr(0, done);
  pending_.erase(0, done);
  return ready;
}

std::string StreamDecoder::flush() {
  if (tok_.vocab().type == VocabType::kWpm) {
    std::string clean = wpm_raw_;
    wpm_clean_spaces(&clean);
    if (opt_.strip_space_prefix && !clean.empty() && clean[0] == ' ') clean.erase(0, 1);
    std::string rest = clean.size() > wpm_emitted_ ? clean.substr(wpm_emitted_) : std::string();
    wpm_emitted_ = clean.size();
    return rest;
  }
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace assay
