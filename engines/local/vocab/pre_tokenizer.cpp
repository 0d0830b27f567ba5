#include "engines/local/vocab/pre_tokenizer.h"

#include <re2/re2.h>

#include <string>

#include "engines/local/vocab/unicode.h"

namespace assay {

namespace {

// RE2's \s is ASCII-only; Rust's (Hugging Face) is Unicode White_Space.
constexpr const char* kWs =
    "[\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}]";

std::string with_unicode_ws(std::string_view pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 's') {
        out += kWs;
        ++i;
        continue;
      }
      out += pattern.substr(i, 2);
      ++i;
      continue;
    }
    out += pattern[i];
  }
  return out;
}

// Decoded code points of one piece: flags and byte offset (relative to the text) of each.
struct Cpts {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> flags;
  std::vector<uint32_t> off;  // size() + 1 entries; off.back() is the piece end

  void decode(std::string_view text, TextSpan span) {
    cp.clear();
    flags.clear();
    off.clear();
    for (uint32_t pos = span.begin; pos < span.end;) {
      uint32_t c;
      size_t len = utf8_decode(text.substr(0, span.end), pos, &c);
      cp.push_back(c);
      flags.push_back(c == 0xFFFFFFFF ? 0 : unicode_flags(c));
      off.push_back(pos);
      pos += static_cast<uint32_t>(len);
    }
    off.push_back(span.end);
  }
  size_t size() const { return cp.size(); }
};

constexpr uint8_t kLN = kUnicodeLetter | kUnicodeNumber;
constexpr uint8_t kWLN = kUnicodeWhitespace | kUnicodeLetter | kUnicodeNumber;

uint32_t ascii_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c == 0x17F) return 's';  // LATIN SMALL LETTER LONG S folds to 's' under (?i)
  return c;
}

// Emits pieces at the given code point boundaries.
class Emitter {
 public:
  Emitter(const Cpts& c, std::vector<TextSpan>* out) : c_(c), out_(out) {}
  // Emits [prev, end) if non-empty; returns its length.
  size_t add(size_t end) {
    size_t len = end - prev_;
    if (len > 0) out_->push_back({c_.off[prev_], c_.off[end]});
    prev_ = end;
    return len;
  }

 private:
  const Cpts& c_;
  std::vector<TextSpan>* out_;
  size_t prev_ = 0;
};

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void split_gpt2(const Cpts& c, std::vector<TextSpan>* out) {
  const size_t n = c.size();
  auto cp = [&](size_t i) -> uint32_t { return i < n ? c.cp[i] : 0xFFFFFFFE; };
  auto fl = [&](size_t i) -> uint8_t { return i < n ? c.flags[i] : 0; };
  auto in = [&](size_t i) { return i < n; };
  Emitter em(c, out);
  for (size_t pos = 0; pos < n;) {
    const uint32_t ch = c.cp[pos];
    if (ch == '\'' && pos + 1 < n) {
      uint32_t a = cp(pos + 1);
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        pos += em.add(pos + 2);
        continue;
      }
      if (pos + 2 < n) {
        uint32_t b = cp(pos + 2);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
          pos += em.add(pos + 3);
          continue;
        }
      }
    }
    const size_t p2 = ch == ' ' ? pos + 1 : pos;
    if (in(p2)) {
      const uint8_t f2 = fl(p2);
      if (f2 & kUnicodeLetter) {
        size_t e = p2;
        while (in(e) && (fl(e) & kUnicodeLetter)) ++e;
        pos = e;
        em.add(pos);
        continue;
      }
      if (f2 & kUnicodeNumber) {
        size_t e = p2;
        while (in(e) && (fl(e) & kUnicodeNumber)) ++e;
        pos = e;
        em.add(pos);
        continue;
      }
      if (!(f2 & kWLN)) {
        size_t e = p2;
        while (in(e) && !(fl(e) & kWLN)) ++e;
        pos = e;
        em.add(pos);
        continue;
      }
    }
    size_t ws = 0;
    while (in(pos + ws) && (fl(pos + ws) & kUnicodeWhitespace)) ++ws;
    if (ws > 1 && in(pos + ws)) {  // \s+(?!\S): leave the last space for the next piece
      pos += ws - 1;
      em.add(pos);
      continue;
    }
    if (ws > 0) {
      pos += ws;
      em.add(pos);
      continue;
    }
    em.add(++pos);
  }
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
void split_llama3(const Cpts& c, int max_digits, std::vector<TextSpan>* out) {
  const size_t n = c.size();
  auto cp = [&](size_t i) -> uint32_t { return i < n ? c.cp[i] : 0xFFFFFFFE; };
  auto fl = [&](size_t i) -> uint8_t { return i < n ? c.flags[i] : 0; };
  auto in = [&](size_t i) { return i < n; };
  auto is_crlf = [](uint32_t x) { return x == '\r' || x == '\n'; };
  Emitter em(c, out);
  for (size_t pos = 0; pos < n;) {
    const uint32_t ch = c.cp[pos];
    const uint8_t f = c.flags[pos];
    if (ch == '\'' && pos + 1 < n) {
      uint32_t a = ascii_lower(cp(pos + 1));
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        pos += em.add(pos + 2);
        continue;
      }
      if (pos + 2 < n) {
        uint32_t b = ascii_lower(cp(pos + 2));
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
          pos += em.add(pos + 3);
          continue;
        }
      }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!is_crlf(ch) && !(f & kUnicodeNumber)) {
      if ((f & kUnicodeLetter) || (fl(pos + 1) & kUnicodeLetter)) {
        ++pos;
        while (in(pos) && (fl(pos) & kUnicodeLetter)) ++pos;
        em.add(pos);
        continue;
      }
    }
    // \p{N}{1,D}
    if (f & kUnicodeNumber) {
      size_t start = pos;
      while (in(pos) && (fl(pos) & kUnicodeNumber)) {
        ++pos;
        if (pos - start >= static_cast<size_t>(max_digits)) {
          em.add(pos);
          start = pos;
        }
      }
      em.add(pos);
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    const size_t p2 = ch == ' ' ? pos + 1 : pos;
    if (in(p2) && !(fl(p2) & kWLN)) {
      pos = p2;
      while (in(pos) && !(fl(pos) & kWLN)) ++pos;
      while (in(pos) && is_crlf(cp(pos))) ++pos;
      em.add(pos);
      continue;
    }
    size_t ws = 0;
    size_t last_crlf_end = 0;
    while (in(pos + ws) && (fl(pos + ws) & kUnicodeWhitespace)) {
      if (is_crlf(cp(pos + ws))) last_crlf_end = pos + ws + 1;
      ++ws;
    }
    if (last_crlf_end > 0) {  // \s*[\r\n]+
      pos = last_crlf_end;
      em.add(pos);
      continue;
    }
    if (ws > 1 && in(pos + ws)) {  // \s+(?!\S)
      pos += ws - 1;
      em.add(pos);
      continue;
    }
    if (ws > 0) {
      pos += ws;
      em.add(pos);
      continue;
    }
    em.add(++pos);
  }
}

const char* kGpt2Regex = "gpt2";  // marker only; the scanner implements it
const char* kDigitsAlone = "\\p{N}";
const char* kDeepseekLetters =
    // deepseek-llm's letter class (from its tokenizer.json), escaped: several of its code points
    // have canonical equivalents that editors silently normalize.
    "\\s?["
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-"
    "\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}"
    "\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
    "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-"
    "\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-"
    "\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-"
    "\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-"
    "\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"
    "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}"
    "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-"
    "\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-"
    "\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-"
    "\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-"
    "\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-"
    "\\x{118DF}\\x{1E900}-\\x{1E943}"
    "]+";
const char* kCjk = "[一-龥ࠀ-一가-퟿]+";

}  // namespace

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(PreTokenizerType type) {
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  p->type_ = type;
  std::vector<std::string> regex_stages;  // "gpt2" marks the scanner stage
  switch (type) {
    case PreTokenizerType::kNone:
      break;
    case PreTokenizerType::kGpt2:
      regex_stages = {kGpt2Regex};
      break;
    case PreTokenizerType::kLlama3:
    case PreTokenizerType::kQwen2: {
      Stage s;
      s.kind = StageKind::kLlama3;
      s.max_digits = type == PreTokenizerType::kLlama3 ? 3 : 1;
      p->stages_.push_back(std::move(s));
      break;
    }
    case PreTokenizerType::kStarcoder:
      regex_stages = {kDigitsAlone, kGpt2Regex};
      break;
    case PreTokenizerType::kFalcon:
      regex_stages = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2Regex, "[0-9][0-9][0-9]"};
      break;
    case PreTokenizerType::kDeepseekLlm:
      regex_stages = {"[\\r\\n]", kDeepseekLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$",
                      kCjk,       "\\p{N}+"};
      break;
    case PreTokenizerType::kDeepseekCoder:
      regex_stages = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"};
      break;
    case PreTokenizerType::kDefault:
      regex_stages = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2Regex, "\\p{N}+", "[0-9][0-9][0-9]"};
      break;
  }
  for (const std::string& r : regex_stages) {
    Stage s;
    if (r == kGpt2Regex) {
      s.kind = StageKind::kGpt2;
    } else {
      s.kind = StageKind::kRegex;
      RE2::Options opt;
      opt.set_log_errors(false);
      s.regex = std::make_unique<RE2>(with_unicode_ws(r), opt);
      if (!s.regex->ok()) {
        return internal_error("pre-tokenizer " + std::string(pre_tokenizer_name(type)) +
                              ": bad regex " + r + ": " + s.regex->error());
      }
    }
    p->stages_.push_back(std::move(s));
  }
  return p;
}

void PreTokenizer::run_stage(const Stage& stage, std::string_view text, TextSpan span,
                             std::vector<TextSpan>* out) const {
  if (stage.kind == StageKind::kRegex) {
    // The piece is the whole subject, so `$` means the piece end (as in HF and llama.cpp).
    re2::StringPiece piece(text.data() + span.begin, span.end - span.begin);
    size_t pos = 0, gap = 0;
    re2::StringPiece m;
    while (pos < piece.size() &&
           stage.regex->Match(piece, pos, piece.size(), RE2::UNANCHORED, &m, 1)) {
      size_t mb = m.data() - piece.data();
      size_t me = mb + m.size();
      if (me == mb) {  // empty match: no piece; step one character
        pos = mb + utf8_len(static_cast<uint8_t>(piece[mb]));
        continue;
      }
      if (mb > gap) out->push_back({span.begin + uint32_t(gap), span.begin + uint32_t(mb)});
      out->push_back({span.begin + uint32_t(mb), span.begin + uint32_t(me)});
      gap = pos = me;
    }
    if (gap < piece.size()) out->push_back({span.begin + uint32_t(gap), span.end});
    return;
  }
  Cpts c;
  c.decode(text, span);
  if (stage.kind == StageKind::kGpt2) {
    split_gpt2(c, out);
  } else {
    split_llama3(c, stage.max_digits, out);
  }
}

void PreTokenizer::split(std::string_view text, std::vector<TextSpan>* out) const {
  if (text.empty()) return;
  TextSpan all{0, static_cast<uint32_t>(text.size())};
  if (stages_.empty()) {
    out->push_back(all);
    return;
  }
  if (stages_.size() == 1) {
    run_stage(stages_[0], text, all, out);
    return;
  }
  std::vector<TextSpan> cur{all}, next;
  for (const Stage& stage : stages_) {
    next.clear();
    for (TextSpan s : cur) run_stage(stage, text, s, &next);
    cur.swap(next);
  }
  out->insert(out->end(), cur.begin(), cur.end());
}

struct PreName {
  const char* name;
  PreTokenizerType type;
};
static const PreName kPreNames[] = {
    {"default", PreTokenizerType::kDefault},
    {"llama3", PreTokenizerType::kLlama3},
    {"llama-v3", PreTokenizerType::kLlama3},
    {"llama-bpe", PreTokenizerType::kLlama3},
    {"falcon3", PreTokenizerType::kLlama3},
    {"pixtral", PreTokenizerType::kLlama3},
    {"dbrx", PreTokenizerType::kLlama3},
    {"smaug-bpe", PreTokenizerType::kLlama3},
    {"qwen2", PreTokenizerType::kQwen2},
    {"deepseek-r1-qwen", PreTokenizerType::kQwen2},
    {"megrez", PreTokenizerType::kQwen2},
    {"gpt-2", PreTokenizerType::kGpt2},
    {"phi-2", PreTokenizerType::kGpt2},
    {"mpt", PreTokenizerType::kGpt2},
    {"olmo", PreTokenizerType::kGpt2},
    {"jais", PreTokenizerType::kGpt2},
    {"roberta-bpe", PreTokenizerType::kGpt2},
    {"starcoder", PreTokenizerType::kStarcoder},
    {"refact", PreTokenizerType::kStarcoder},
    {"command-r", PreTokenizerType::kStarcoder},
    {"smollm", PreTokenizerType::kStarcoder},
    {"codeshell", PreTokenizerType::kStarcoder},
    {"exaone", PreTokenizerType::kStarcoder},
    {"minerva-7b", PreTokenizerType::kStarcoder},
    {"falcon", PreTokenizerType::kFalcon},
    {"deepseek-llm", PreTokenizerType::kDeepseekLlm},
    {"deepseek-coder", PreTokenizerType::kDeepseekCoder},
};

bool pre_tokenizer_from_name(std::string_view name, PreTokenizerType* out) {
  for (const PreName& p : kPreNames) {
    if (name == p.name) {
      *out = p.type;
      return true;
    }
  }
  return false;
}

const char* pre_tokenizer_name(PreTokenizerType type) {
  switch (type) {
    case PreTokenizerType::kNone:
      return "none";
    case PreTokenizerType::kDefault:
      return "default";
    case PreTokenizerType::kGpt2:
      return "gpt-2";
    case PreTokenizerType::kLlama3:
      return "llama-bpe";
    case PreTokenizerType::kQwen2:
      return "qwen2";
    case PreTokenizerType::kStarcoder:
      return "starcoder";
    case PreTokenizerType::kFalcon:
      return "falcon";
    case PreTokenizerType::kDeepseekLlm:
      return "deepseek-llm";
    case PreTokenizerType::kDeepseekCoder:
      return "deepseek-coder";
  }
  return "?";
}

}  // namespace assay
