#include "tasks/math/minerva_answer.h"

#include <re2/re2.h>

#include <array>
#include <utility>
#include <vector>

#include "tasks/common/answer_extract.h"
#include "tasks/math/py_unicode.h"

namespace assay {

namespace {

// RE2 and Python's re agree on these patterns: leftmost-first alternation, lazy quantifiers,
// '.' excluding '\n', and code point (UTF-8) matching. Python-only constructs (lookbehind,
// Unicode \w, \b and \d) are done by hand below.
struct Patterns {
  RE2 final_answer{R"(Final Answer: The final answer is(.*?). I hope it is correct.)"};
  RE2 dollars{R"((.*?)(\$)(.*?)(\$)(.*))"};
  RE2 text{R"((\\text\{)(.*?)(\}))"};
  RE2 textbf{R"((\\textbf\{)(.*?)(\}))"};
  RE2 overline{R"((\\overline\{)(.*?)(\}))"};
  RE2 boxed{R"((\\boxed\{)(.*)(\}))"};
  RE2 frac{R"((frac)([^{])(.))"};
  RE2 sqrt_old{R"((sqrt)([^{]))"};
  RE2 sqrt_index{R"((sqrt)(\[[^\]]*\])([\pL\pN_]))"};
  // (sqrt)(?!\[)([^{]): the lookahead only forbids '[' as the consumed character.
  RE2 sqrt_new{R"((sqrt)([^{\[]))"};
};

const Patterns& patterns() {
  static const Patterns* p = new Patterns();
  return *p;
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kSubstitutions = {{
    {"an ", ""},
    {"a ", ""},
    {".$", "$"},
    {"\\$", ""},
    {"\\ ", ""},
    {" ", ""},
    {"mbox", "text"},
    {",\\text{and}", ","},
    {"\\text{and}", ","},
    {"\\text{m}", "\\text{}"},
}};

constexpr std::array<std::string_view, 42> kRemovedExpressions = {
    "square",       "ways",
    "integers",     "dollars",
    "mph",          "inches",
    "ft",           "hours",
    "km",           "units",
    "\\ldots",      "sue",
    "points",       "feet",
    "minutes",      "digits",
    "cents",        "degrees",
    "cm",           "gm",
    "pounds",       "meters",
    "meals",        "edges",
    "students",     "childrentickets",
    "multiples",    "\\text{s}",
    "\\text{.}",    "\\text{\ns}",
    "\\text{}^2",   "\\text{}^3",
    "\\text{\n}",   "\\text{}",
    "\\mathrm{th}", "^\\circ",
    "^{\\circ}",    "\\;",
    ",\\!",         "{,}",
    "\"",           "\\dots",
};

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool all_alpha(std::string_view s) {
  for (char c : s) {
    if (!is_ascii_alpha(c)) return false;
  }
  return !s.empty();
}

// Whether the code point ending just before byte `end` is a \w character.
bool word_before(std::string_view s, size_t end) {
  if (end == 0) return false;
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 4) {
    --start;
  }
  size_t len;
  uint32_t cp = utf8_decode(s, start, &len);
  if (start + len != end) cp = static_cast<unsigned char>(s[end - 1]);
  return py_is_word(cp);
}

bool word_at(std::string_view s, size_t pos) {
  if (pos >= s.size()) return false;
  size_t len;
  return py_is_word(utf8_decode(s, pos, &len));
}

// re.sub(rf"(?<!\\)\b{word}\b", "", s) for an all-letter word.
std::string remove_whole_word(std::string_view s, std::string_view word) {
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    if (s.compare(pos, word.size(), word) == 0 && (pos == 0 || s[pos - 1] != '\\') &&
        !word_before(s, pos) && !word_at(s, pos + word.size())) {
      pos += word.size();
      continue;
    }
    size_t len = utf8_char_len(s, pos);
    out.append(s.substr(pos, len));
    pos += len;
  }
  return out;
}

// Segments of re.split(r"(\\[a-zA-Z]+)", s) outside the command names get word removed.
std::string remove_outside_commands(std::string_view s, std::string_view word) {
  std::string out;
  std::string segment;
  size_t pos = 0;
  while (pos < s.size()) {
    if (s[pos] == '\\' && pos + 1 < s.size() && is_ascii_alpha(s[pos + 1])) {
      replace_all(segment, word, "");
      out += segment;
      segment.clear();
      size_t end = pos + 1;
      while (end < s.size() && is_ascii_alpha(s[end])) ++end;
      out.append(s.substr(pos, end - pos));
      pos = end;
    } else {
      segment += s[pos++];
    }
  }
  replace_all(segment, word, "");
  out += segment;
  return out;
}

// str.isdigit() on s with the commas removed (false for an empty string).
bool digits_after_commas(std::string_view s) {
  bool any = false;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t cp = utf8_decode(s, i, &len);
    i += len;
    if (cp == ',') continue;
    if (!py_is_digit(cp)) return false;
    any = true;
  }
  return any;
}

// re.fullmatch(r"-?\d{1,3}(,\d{3})+", s) with Python's Unicode \d.
bool thousands_groups(std::string_view s) {
  size_t i = s.starts_with('-') ? 1 : 0;
  std::vector<int> groups{0};
  while (i < s.size()) {
    size_t len;
    uint32_t cp = utf8_decode(s, i, &len);
    i += len;
    if (cp == ',') {
      groups.push_back(0);
    } else if (py_is_decimal(cp)) {
      ++groups.back();
    } else {
      return false;
    }
  }
  if (groups.size() < 2 || groups[0] < 1 || groups[0] > 3) return false;
  for (size_t g = 1; g < groups.size(); ++g) {
    if (groups[g] != 3) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> minerva_get_unnormalized_answer(std::string_view generation) {
  std::string text(generation);
  text += "I hope it is correct.";
  re2::StringPiece match;
  if (!RE2::PartialMatch(text, patterns().final_answer, &match)) return std::nullopt;
  return python_strip(std::string_view(match.data(), match.size()));
}

std::string minerva_get_unnormalized_answer_or_invalid(std::string_view generation) {
  auto answer = minerva_get_unnormalized_answer(generation);
  return answer ? *answer : std::string(kMinervaInvalidAnswer);
}

std::string minerva_normalize_final_answer(std::string_view answer, MinervaFlavor flavor) {
  const bool v13 = flavor == MinervaFlavor::kLmEval0413;
  size_t eq = answer.rfind('=');
  std::string s(eq == std::string_view::npos ? answer : answer.substr(eq + 1));

  if (v13) {
    // Unit words go first, while whitespace still delimits them.
    for (std::string_view expr : kRemovedExpressions) {
      if (all_alpha(expr)) s = remove_whole_word(s, expr);
    }
  }
  for (const auto& [before, after] : kSubstitutions) replace_all(s, before, after);
  for (std::string_view expr : kRemovedExpressions) {
    if (v13 && all_alpha(expr)) {
      s = remove_outside_commands(s, expr);
    } else {
      replace_all(s, expr, "");
    }
  }

  const Patterns& p = patterns();
  RE2::GlobalReplace(&s, p.dollars, R"($\3$)");
  RE2::GlobalReplace(&s, p.text, R"(\2)");
  RE2::GlobalReplace(&s, p.textbf, R"(\2)");
  RE2::GlobalReplace(&s, p.overline, R"(\2)");
  RE2::GlobalReplace(&s, p.boxed, R"(\2)");
  RE2::GlobalReplace(&s, p.frac, R"(frac{\2}{\3})");
  if (v13) {
    RE2::GlobalReplace(&s, p.sqrt_index, R"(\1\2{\3})");
    RE2::GlobalReplace(&s, p.sqrt_new, R"(sqrt{\2})");
  } else {
    RE2::GlobalReplace(&s, p.sqrt_old, R"(sqrt{\2})");
  }
  replace_all(s, "$", "");

  if (v13 ? thousands_groups(s) : digits_after_commas(s)) replace_all(s, ",", "");
  return s;
}

std::optional<std::string> minerva_gold_answer(std::string_view solution, MinervaFlavor flavor) {
  auto content = last_boxed_content(solution);
  if (!content) return std::nullopt;
  return minerva_normalize_final_answer(*content, flavor);
}

bool minerva_exact_match(std::string_view generation, std::string_view normalized_gold,
                         MinervaFlavor flavor) {
  std::string answer = minerva_normalize_final_answer(
      minerva_get_unnormalized_answer_or_invalid(generation), flavor);
  return answer == normalized_gold;
}

}  // namespace assay
