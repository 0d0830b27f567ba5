// Python 3.11 code point classes, for the ports of Python answer checkers.
//
// Model output is arbitrary Unicode, and the Python references call int(), str.isdigit() and
// the regex classes \d, \w, \b on it; these tables (generated from unicodedata by
// scripts/fixtures/math_gen_py_unicode.py) let the C++ twins decide the same way.
//
// Thread safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <string_view>

#include "tasks/common/answer_extract.h"

namespace assay {

bool py_is_decimal(uint32_t cp);  // str.isdecimal(); what int() and re's \d accept
bool py_is_digit(uint32_t cp);    // str.isdigit()
bool py_is_word(uint32_t cp);     // re's \w for str patterns: isalnum() or '_'

// The code point at text[pos] and its byte length; an invalid byte decodes as itself.
inline uint32_t utf8_decode(std::string_view text, size_t pos, size_t* len) {
  size_t n = utf8_char_len(text, pos);
  *len = n;
  const auto b = static_cast<unsigned char>(text[pos]);
  if (n == 1) return b;
  uint32_t cp = b & (0xFF >> (n + 1));
  for (size_t i = 1; i < n; ++i)
    cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  return cp;
}

}  // namespace assay
