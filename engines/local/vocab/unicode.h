// Unicode helpers for the tokenizers: UTF-8 decoding, category flags, GPT-2 byte mapping.
//
// Category flags follow the Rust `regex` crate that Hugging Face tokenizers uses: \p{L}, \p{N},
// \p{P}, \p{S}, \p{M} are the general categories, \s is the White_Space property. Tables are
// generated (scripts/gen_unicode_tables.py) into unicode_tables.cpp.
//
// Thread safety: all functions are pure; the tables are immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace assay {

enum UnicodeFlag : uint8_t {
  kUnicodeLetter = 1,
  kUnicodeNumber = 2,
  kUnicodePunct = 4,
  kUnicodeSymbol = 8,
  kUnicodeMark = 16,
  kUnicodeWhitespace = 32,
};

// Category flags of a code point (0 for unassigned, controls, separators that are not
// whitespace, and anything above U+10FFFF).
uint8_t unicode_flags(uint32_t cp);

// Decodes one UTF-8 sequence at text[pos]. Returns its byte length (1..4) and stores the code
// point in *cp. An invalid or truncated sequence counts as one byte with *cp = 0xFFFFFFFF, so
// arbitrary bytes still make progress (byte-level BPE encodes them faithfully).
size_t utf8_decode(std::string_view text, size_t pos, uint32_t* cp);

// Length of the UTF-8 sequence that starts with this lead byte (1 for invalid lead bytes).
inline size_t utf8_len(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

void utf8_append(uint32_t cp, std::string* out);

// Length of the longest prefix of `bytes` that ends on a UTF-8 character boundary, treating
// an incomplete sequence at the very end (that could still be completed) as not yet complete.
size_t utf8_complete_prefix(std::string_view bytes);

// WordPiece normalization, as llama.cpp's WPM tokenizer defines it (see gen_wpm_tables.py):
// \p{C} other than unassigned; simple one-to-one lowercase; the first code point of the
// canonical decomposition (llama.cpp keeps only that one, so accents vanish with or without
// the mark filter).
bool unicode_is_control(uint32_t cp);
uint32_t unicode_tolower(uint32_t cp);
uint32_t unicode_nfd_first(uint32_t cp);

// Unicode NFC (canonical decomposition, ordering, composition), as Hugging Face's NFC
// normalizer applies it. Returns false and leaves *out untouched when `text` is already NFC by
// a quick check (the common case: no decomposable characters, marks or composable jamo);
// otherwise writes the normalized text to *out. Invalid UTF-8 bytes are kept as they are.
bool unicode_nfc(std::string_view text, std::string* out);

// GPT-2 byte-level mapping: each byte to a printable code point (bytes_to_unicode()).
uint32_t byte_to_unicode(uint8_t b);
// Inverse; returns -1 when the code point is not one of the 256 mapped ones.
int unicode_to_byte(uint32_t cp);

}  // namespace assay
