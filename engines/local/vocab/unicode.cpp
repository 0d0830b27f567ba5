#include "engines/local/vocab/unicode.h"

#include <algorithm>
#include <array>

namespace assay {
namespace unicode_internal {
extern const size_t kUnicodeRangeCount;
extern const uint32_t kUnicodeRangeStarts[];
extern const uint8_t kUnicodeRangeFlags[];
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
