#include "tasks/math/hendrycks_equiv.h"

#include <vector>

#include "tasks/common/answer_extract.h"
#include "tasks/math/py_unicode.h"

namespace assay {

namespace {

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

std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  for (;;) {
    size_t hit = s.find(sep, pos);
    if (hit == std::string_view::npos) break;
    parts.push_back(s.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  parts.push_back(s.substr(pos));
  return parts;
}

// Python raises inside _strip_string; is_equiv then compares the raw strings.
struct PyRaise {};

std::string_view first_char(std::string_view s) { return s.substr(0, utf8_char_len(s, 0)); }

// _remove_right_units: "\text{ " must occur at most once (assert), keep what precedes it.
std::string remove_right_units(const std::string& s) {
  if (s.find("\\text{ ") == std::string::npos) return s;
  auto parts = split(s, "\\text{ ");
  if (parts.size() != 2) throw PyRaise{};
  return std::string(parts[0]);
}

// _fix_sqrt: "\sqrtX" -> "\sqrt{X}" for the single code point X; "\sqrt" at the end raises.
std::string fix_sqrt(const std::string& s) {
  if (s.find("\\sqrt") == std::string::npos) return s;
  auto parts = split(s, "\\sqrt");
  std::string out(parts[0]);
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p.empty()) throw PyRaise{};  // split[0] -> IndexError
    if (p[0] != '{') {
      std::string_view a = first_char(p);
      out += "\\sqrt{";
      out += a;
      out += "}";
      out += p.substr(a.size());
    } else {
      out += "\\sqrt";
      out += p;
    }
  }
  return out;
}

// _fix_fracs: "\fracab" -> "\frac{a}{b}", "\fraca{..}" -> "\frac{a}{..}". A part with fewer than
// two code points returns the input unchanged; an empty part (trailing "\frac") raises.
std::string fix_fracs(const std::string& s) {
  auto parts = split(s, "\\frac");
  std::string out(parts[0]);
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    out += "\\frac";
    if (p.empty()) throw PyRaise{};  // substr[0] -> IndexError, outside the try
    if (p[0] == '{') {
      out += p;
      continue;
    }
    std::string_view a = first_char(p);
    std::string_view rest = p.substr(a.size());
    if (rest.empty()) return s;  // assert len(substr) >= 2 failed
    std::string_view b = first_char(rest);
    std::string_view post = rest.substr(b.size());
    out += "{";
    out += a;
    if (b != "{") {
      out += "}{";
      out += b;
      out += "}";
    } else {
      out += "}";
      out += b;
    }
    out += post;
  }
  return out;
}

// str(int(x)) == x: what the assert in _fix_a_slash_b requires.
bool is_canonical_int(std::string_view x) {
  if (x == "0") return true;
  size_t i = x.starts_with('-') ? 1 : 0;
  if (i >= x.size() || x[i] < '1' || x[i] > '9') return false;
  for (; i < x.size(); ++i) {
    if (x[i] < '0' || x[i] > '9') return false;
  }
  return true;
}

// Whether Python's int(x) succeeds: surrounding whitespace, a sign, Unicode decimal digits with
// single underscores between them.
bool python_int_parses(std::string_view x) {
  std::string t = python_strip(x);
  std::string_view v = t;
  if (!v.empty() && (v[0] == '+' || v[0] == '-')) v.remove_prefix(1);
  if (v.empty()) return false;
  bool prev_digit = false;
  for (size_t i = 0; i < v.size();) {
    size_t len;
    uint32_t cp = utf8_decode(v, i, &len);
    if (cp == '_') {
      if (!prev_digit) return false;
      prev_digit = false;
    } else if (py_is_decimal(cp)) {
      prev_digit = true;
    } else {
      return false;
    }
    i += len;
  }
  return prev_digit;
}

// _fix_a_slash_b: "3/4" -> "\frac{3}{4}" when both sides print back identically.
std::string fix_a_slash_b(const std::string& s, HendrycksFlavor flavor) {
  auto parts = split(s, "/");
  if (parts.size() != 2) return s;
  if (flavor == HendrycksFlavor::kLmEval) {
    // Only AssertionError is caught there: a ValueError from int() escapes.
    if (!python_int_parses(parts[0]) || !python_int_parses(parts[1])) throw PyRaise{};
  }
  if (!is_canonical_int(parts[0]) || !is_canonical_int(parts[1])) return s;
  return "\\frac{" + std::string(parts[0]) + "}{" + std::string(parts[1]) + "}";
}

std::string strip_string(std::string s, HendrycksFlavor flavor) {
  replace_all(s, "\n", "");
  replace_all(s, "\\!", "");
  replace_all(s, "\\\\", "\\");
  replace_all(s, "tfrac", "frac");
  replace_all(s, "dfrac", "frac");
  replace_all(s, "\\left", "");
  replace_all(s, "\\right", "");
  replace_all(s, "^{\\circ}", "");
  replace_all(s, "^\\circ", "");
  replace_all(s, "\\$", "");
  s = remove_right_units(s);
  replace_all(s, "\\%", "");
  // The original removes "%"; lm-eval's copy wrote "\%" twice (a backslash and a percent).
  replace_all(s, flavor == HendrycksFlavor::kOriginal ? "%" : "\\%", "");
  replace_all(s, " .", " 0.");
  replace_all(s, "{.", "{0.");
  if (s.empty()) return s;
  if (s[0] == '.') s = "0" + s;
  {
    auto parts = split(s, "=");
    if (parts.size() == 2 && utf8_length(parts[0]) <= 2) s = std::string(parts[1]);
  }
  s = fix_sqrt(s);
  replace_all(s, " ", "");
  s = fix_fracs(s);
  if (s == "0.5") s = "\\frac{1}{2}";
  s = fix_a_slash_b(s, flavor);
  return s;
}

}  // namespace

std::optional<std::string> hendrycks_strip_string(std::string_view s, HendrycksFlavor flavor) {
  try {
    return strip_string(std::string(s), flavor);
  } catch (const PyRaise&) {
    return std::nullopt;
  }
}

bool hendrycks_is_equiv(std::string_view a, std::string_view b, HendrycksFlavor flavor) {
  auto sa = hendrycks_strip_string(a, flavor);
  if (!sa) return a == b;
  auto sb = hendrycks_strip_string(b, flavor);
  if (!sb) return a == b;
  return *sa == *sb;
}

bool hendrycks_is_equiv_opt(const std::optional<std::string>& a,
                            const std::optional<std::string>& b, HendrycksFlavor flavor) {
  if (!a && !b) return true;
  if (!a || !b) return false;
  return hendrycks_is_equiv(std::string_view(*a), std::string_view(*b), flavor);
}

std::string hendrycks_extract_answer(std::string_view generation) {
  size_t first = generation.find('$');
  size_t last = generation.rfind('$');
  if (first == std::string_view::npos || first == last) return std::string(generation);
  return std::string(generation.substr(first + 1, last - first - 1));
}

}  // namespace assay
