#include "tasks/common/answer_extract.h"

#include <cstdint>

namespace assay {

namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

// Decodes the code point at text[pos]; invalid bytes decode as themselves.
uint32_t decode_at(std::string_view text, size_t pos, size_t* len) {
  const auto b = static_cast<unsigned char>(text[pos]);
  size_t n = utf8_char_len(text, pos);
  *len = n;
  if (n == 1) return b;
  uint32_t cp = b & (0xFF >> (n + 1));
  for (size_t i = 1; i < n; ++i)
    cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  return cp;
}

bool python_isspace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

}  // namespace

size_t utf8_char_len(std::string_view text, size_t pos) {
  const auto b = static_cast<unsigned char>(text[pos]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
  if (pos + n > text.size()) return 1;
  for (size_t i = 1; i < n; ++i) {
    if ((static_cast<unsigned char>(text[pos + i]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

size_t utf8_length(std::string_view text) {
  size_t n = 0;
  for (size_t i = 0; i < text.size(); i += utf8_char_len(text, i)) ++n;
  return n;
}

std::string python_strip(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    size_t len;
    if (!python_isspace(decode_at(text, begin, &len))) break;
    begin += len;
  }
  size_t end = begin;  // one past the last non-space code point
  for (size_t i = begin; i < text.size();) {
    size_t len;
    bool space = python_isspace(decode_at(text, i, &len));
    i += len;
    if (!space) end = i;
  }
  return std::string(text.substr(begin, end - begin));
}

std::string strip_think(std::string_view text) {
  std::string out;
  size_t pos = 0;
  // A close tag before any open tag: the block began in the prompt.
  size_t first_open = text.find(kOpen);
  size_t first_close = text.find(kClose);
  if (first_close != std::string_view::npos &&
      (first_open == std::string_view::npos || first_close < first_open)) {
    pos = first_close + kClose.size();
  }
  while (pos <= text.size()) {
    size_t open = text.find(kOpen, pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, open - pos));
    size_t close = text.find(kClose, open + kOpen.size());
    if (close == std::string_view::npos) break;  // unterminated: drop the rest
    pos = close + kClose.size();
  }
  return out;
}

std::optional<std::string> last_boxed_only_string(std::string_view s) {
  constexpr std::string_view kSpaced = "\\boxed ";
  size_t idx = s.rfind("\\boxed");
  size_t spaced = s.rfind(kSpaced);
  if (spaced != std::string_view::npos) {
    // string.split("\\boxed ")[-1].split("$")[0]
    std::string_view tail = s.substr(spaced + kSpaced.size());
    return std::string(kSpaced) + std::string(tail.substr(0, tail.find('$')));
  }
  if (idx == std::string_view::npos) {
    idx = s.rfind("\\fbox");
    if (idx == std::string_view::npos) return std::nullopt;
  }
  // Faithful to the Python loop: a '}' before any '{' drives the count negative.
  int open = 0;
  for (size_t i = idx; i < s.size(); ++i) {
    if (s[i] == '{') ++open;
    if (s[i] == '}') {
      --open;
      if (open == 0) return std::string(s.substr(idx, i + 1 - idx));
    }
  }
  return std::nullopt;
}

std::optional<std::string> remove_boxed(std::string_view s) {
  constexpr std::string_view kSpaced = "\\boxed ";
  if (s.find(kSpaced) != std::string_view::npos) {
    if (!s.starts_with(kSpaced)) return std::nullopt;
    return std::string(s.substr(kSpaced.size()));
  }
  constexpr std::string_view kLeft = "\\boxed{";
  if (!s.starts_with(kLeft) || s.back() != '}') return std::nullopt;
  if (s.size() < kLeft.size() + 1) return std::nullopt;
  return std::string(s.substr(kLeft.size(), s.size() - kLeft.size() - 1));
}

std::optional<std::string> last_boxed_content(std::string_view text) {
  auto boxed = last_boxed_only_string(text);
  if (!boxed) return std::nullopt;
  return remove_boxed(*boxed);
}

}  // namespace assay
