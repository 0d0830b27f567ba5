#include "engines/local/vocab/unicode.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <utility>
#include <vector>

namespace assay {
namespace unicode_internal {
extern const size_t kUnicodeRangeCount;
extern const uint32_t kUnicodeRangeStarts[];
extern const uint8_t kUnicodeRangeFlags[];
extern const size_t kWpmControlRangesCount;
extern const uint32_t kWpmControlRanges[][3];
extern const size_t kWpmLowerRangesCount;
extern const uint32_t kWpmLowerRanges[][3];
extern const size_t kWpmNfdRangesCount;
extern const uint32_t kWpmNfdRanges[][3];
extern const size_t kNfcCccCount;
extern const uint32_t kNfcCcc[][3];
extern const size_t kNfcDecompCount;
extern const uint32_t kNfcDecomp[][3];
extern const uint32_t kNfcDecompData[];
extern const size_t kNfcComposeCount;
extern const uint32_t kNfcCompose[][3];
extern const size_t kNfcMaybeCount;
extern const uint32_t kNfcMaybe[][3];
}  // namespace unicode_internal

namespace {

struct ByteMaps {
  std::array<uint32_t, 256> to_cp{};
  std::array<uint8_t, 128> ascii_flags{};
};

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the rest to 256+n.
ByteMaps make_byte_maps() {
  ByteMaps m;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    m.to_cp[b] = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
  }
  return m;
}

const ByteMaps& byte_maps() {
  static const ByteMaps maps = make_byte_maps();
  return maps;
}

uint8_t lookup_flags(uint32_t cp) {
  using namespace unicode_internal;
  const uint32_t* begin = kUnicodeRangeStarts;
  const uint32_t* end = kUnicodeRangeStarts + kUnicodeRangeCount;
  const uint32_t* it = std::upper_bound(begin, end, cp);
  return kUnicodeRangeFlags[(it - begin) - 1];
}

// Row {first, last, value} containing cp, or nullptr.
const uint32_t* find_range(const uint32_t (*rows)[3], size_t n, uint32_t cp) {
  const uint32_t(*it)[3] = std::upper_bound(
      rows, rows + n, cp, [](uint32_t c, const uint32_t(&row)[3]) { return c < row[0]; });
  if (it == rows) return nullptr;
  const uint32_t* row = *(it - 1);
  return cp <= row[1] ? row : nullptr;
}

struct AsciiFlags {
  std::array<uint8_t, 128> f{};
  AsciiFlags() {
    for (uint32_t c = 0; c < 128; ++c) f[c] = lookup_flags(c);
  }
};

}  // namespace

uint8_t unicode_flags(uint32_t cp) {
  static const AsciiFlags ascii;
  if (cp < 128) return ascii.f[cp];
  if (cp > 0x10FFFF) return 0;
  return lookup_flags(cp);
}

bool unicode_is_control(uint32_t cp) {
  using namespace unicode_internal;
  return find_range(kWpmControlRanges, kWpmControlRangesCount, cp) != nullptr;
}

uint32_t unicode_tolower(uint32_t cp) {
  using namespace unicode_internal;
  if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const uint32_t* row = find_range(kWpmLowerRanges, kWpmLowerRangesCount, cp);
  return row ? row[2] : cp;
}

uint32_t unicode_nfd_first(uint32_t cp) {
  using namespace unicode_internal;
  if (cp < 0xC0) return cp;
  const uint32_t* row = find_range(kWpmNfdRanges, kWpmNfdRangesCount, cp);
  return row ? row[2] : cp;
}

namespace {

constexpr uint32_t kHangulS = 0xAC00, kHangulL = 0x1100, kHangulV = 0x1161, kHangulT = 0x11A7;
constexpr uint32_t kHangulVCount = 21, kHangulTCount = 28, kHangulSCount = 11172;
constexpr uint32_t kInvalid = 0xFFFFFFFF;  // an invalid byte, carried through as itself

uint32_t nfc_ccc(uint32_t cp) {
  using namespace unicode_internal;
  if (cp < 0x300 || cp == kInvalid) return 0;
  const uint32_t* row = find_range(kNfcCcc, kNfcCccCount, cp);
  return row ? row[2] : 0;
}

void nfc_decompose(uint32_t cp, std::vector<uint32_t>* out) {
  using namespace unicode_internal;
  if (cp >= kHangulS && cp < kHangulS + kHangulSCount) {
    uint32_t s = cp - kHangulS;
    out->push_back(kHangulL + s / (kHangulVCount * kHangulTCount));
    out->push_back(kHangulV + (s % (kHangulVCount * kHangulTCount)) / kHangulTCount);
    if (s % kHangulTCount) out->push_back(kHangulT + s % kHangulTCount);
    return;
  }
  // Rows are {cp, offset, length}: an exact match on the first column.
  const uint32_t(*end)[3] = kNfcDecomp + kNfcDecompCount;
  const uint32_t(*it)[3] = std::lower_bound(
      kNfcDecomp, end, cp, [](const uint32_t(&r)[3], uint32_t c) { return r[0] < c; });
  const uint32_t* row = (cp != kInvalid && it != end && (*it)[0] == cp) ? *it : nullptr;
  if (!row) {
    out->push_back(cp);
    return;
  }
  out->insert(out->end(), kNfcDecompData + row[1], kNfcDecompData + row[1] + row[2]);
}

// The primary composite of (a, b), or kInvalid.
uint32_t nfc_compose(uint32_t a, uint32_t b) {
  using namespace unicode_internal;
  if (a >= kHangulL && a < kHangulL + 19 && b >= kHangulV && b < kHangulV + kHangulVCount) {
    return kHangulS + ((a - kHangulL) * kHangulVCount + (b - kHangulV)) * kHangulTCount;
  }
  if (a >= kHangulS && a < kHangulS + kHangulSCount && (a - kHangulS) % kHangulTCount == 0 &&
      b > kHangulT && b < kHangulT + kHangulTCount) {
    return a + (b - kHangulT);
  }
  const uint32_t(*end)[3] = kNfcCompose + kNfcComposeCount;
  const uint32_t(*it)[3] =
      std::lower_bound(kNfcCompose, end, std::make_pair(a, b),
                       [](const uint32_t(&row)[3], std::pair<uint32_t, uint32_t> k) {
                         return row[0] < k.first || (row[0] == k.first && row[1] < k.second);
                       });
  if (it != end && (*it)[0] == a && (*it)[1] == b) return (*it)[2];
  return kInvalid;
}

}  // namespace

bool unicode_nfc(std::string_view text, std::string* out) {
  using namespace unicode_internal;
  bool maybe = false;
  for (size_t pos = 0; pos < text.size() && !maybe;) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    uint32_t cp;
    pos += utf8_decode(text, pos, &cp);
    maybe = cp != kInvalid && find_range(kNfcMaybe, kNfcMaybeCount, cp) != nullptr;
  }
  if (!maybe) return false;

  // Decode, keeping each invalid byte so it can be written back unchanged.
  std::vector<uint32_t> cps;
  std::vector<uint8_t> bad;  // the byte of each kInvalid in cps, in order
  cps.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cp;
    size_t len = utf8_decode(text, pos, &cp);
    if (cp == kInvalid) bad.push_back(static_cast<uint8_t>(text[pos]));
    nfc_decompose(cp, &cps);
    pos += len;
  }
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 1; i < cps.size(); ++i) {
    uint32_t c = nfc_ccc(cps[i]);
    if (c == 0) continue;
    for (size_t j = i; j > 0; --j) {
      uint32_t prev = nfc_ccc(cps[j - 1]);
      if (prev <= c) break;
      std::swap(cps[j - 1], cps[j]);
    }
  }
  // Canonical composition (UAX #15's algorithm): a character joins the last starter unless a
  // character in between has class 0 or a class at least its own.
  size_t w = 0;
  size_t starter = SIZE_MAX;
  uint32_t last_class = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    const uint32_t c = nfc_ccc(cp);
    if (starter != SIZE_MAX && cp != kInvalid && (last_class < c || last_class == 0)) {
      uint32_t comp = nfc_compose(cps[starter], cp);
      if (comp != kInvalid && (last_class < c || w == starter + 1)) {
        cps[starter] = comp;
        continue;
      }
    }
    if (c == 0) {
      starter = cp == kInvalid ? SIZE_MAX : w;
    }
    last_class = c;
    cps[w++] = cp;
  }
  cps.resize(w);
  out->clear();
  out->reserve(text.size());
  size_t b = 0;
  for (uint32_t cp : cps) {
    if (cp == kInvalid) {
      out->push_back(static_cast<char>(bad[b++]));
    } else {
      utf8_append(cp, out);
    }
  }
  return true;
}

size_t utf8_decode(std::string_view text, size_t pos, uint32_t* cp) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data()) + pos;
  size_t avail = text.size() - pos;
  uint8_t c0 = s[0];
  if (c0 < 0x80) {
    *cp = c0;
    return 1;
  }
  size_t len = utf8_len(c0);
  if (len == 1 || len > avail) {
    *cp = 0xFFFFFFFF;
    return 1;
  }
  uint32_t v = c0 & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) {
      *cp = 0xFFFFFFFF;
      return 1;
    }
    v = (v << 6) | (s[i] & 0x3F);
  }
  // Reject overlong forms and surrogates so every accepted sequence round-trips.
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    *cp = 0xFFFFFFFF;
    return 1;
  }
  *cp = v;
  return len;
}

void utf8_append(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t utf8_complete_prefix(std::string_view bytes) {
  // Look back at most 3 bytes for a lead byte whose sequence is cut off by the end.
  size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto c = static_cast<uint8_t>(bytes[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t len = utf8_len(c);
    if (len > back) return n - back;  // incomplete sequence at the end
    return n;
  }
  return n;
}

uint32_t byte_to_unicode(uint8_t b) { return byte_maps().to_cp[b]; }

int unicode_to_byte(uint32_t cp) {
  if (cp < 256) {
    bool printable = (cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE);
    return printable ? static_cast<int>(cp) : -1;
  }
  if (cp < 256 + 68) {
    // The non-printable bytes, in order, map to 256, 257, ...
    static const std::array<int, 68> inverse = [] {
      std::array<int, 68> inv{};
      int n = 0;
      for (int b = 0; b < 256; ++b) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        if (!printable) inv[n++] = b;
      }
      return inv;
    }();
    return inverse[cp - 256];
  }
  return -1;
}

}  // namespace assay
