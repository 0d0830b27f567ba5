#include "tasks/math/math_equiv.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "tasks/common/answer_extract.h"

namespace assay {

namespace {

using Complex = std::complex<double>;

// Parsing gives up by throwing; math_equiv catches it and answers "not equivalent".
struct ParseFail {};

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
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

// Removes "\name" only where it is the whole command name (so "\left" spares "\leftarrow").
void remove_command(std::string& s, std::string_view name) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t hit = s.find(name, pos);
    if (hit == std::string::npos) break;
    size_t end = hit + name.size();
    bool whole = end >= s.size() || !is_alpha(s[end]);
    out.append(s, pos, hit - pos);
    if (!whole) out.append(name);
    pos = end;
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

// Words that name units or counted things; dropped wherever they stand as whole words.
const std::set<std::string>& unit_words() {
  static const auto* words = new std::set<std::string>{
      "cm",       "centimeter", "centimeters", "meter",      "meters",      "metre",    "metres",
      "km",       "kilometer",  "kilometers",  "mm",         "millimeters", "inch",     "inches",
      "ft",       "foot",       "feet",        "yard",       "yards",       "yd",       "mile",
      "miles",    "mph",        "unit",        "units",      "square",      "sq",       "cubic",
      "degree",   "degrees",    "deg",         "radian",     "radians",     "dollar",   "dollars",
      "cent",     "cents",      "hour",        "hours",      "hr",          "hrs",      "minute",
      "minutes",  "min",        "mins",        "second",     "seconds",     "sec",      "day",
      "days",     "week",       "weeks",       "month",      "months",      "year",     "years",
      "kg",       "gram",       "grams",       "pound",      "pounds",      "lb",       "lbs",
      "ounce",    "ounces",     "oz",          "liter",      "liters",      "litre",    "litres",
      "ml",       "gallon",     "gallons",     "people",     "person",      "persons",  "student",
      "students", "way",        "ways",        "point",      "points",      "times",    "meals",
      "edges",    "sides",      "tiles",       "handshakes", "games",       "integers", "digits",
      "numbers",  "cookies",    "marbles",     "steps",      "seats",       "boxes",    "pages",
      "percent",  "th",         "nd",          "rd",         "st"};
  return *words;
}

// Single letters that are units only inside \text{} ("5\text{ m}"), never as bare variables.
bool is_text_unit(std::string_view content) {
  std::string w = lower_ascii(content);
  if (w == "m" || w == "s" || w == "g" || w == "l" || w == "h") return true;
  // Every word of the content is a unit ("square units", "sq ft").
  size_t pos = 0;
  bool any = false;
  while (pos < w.size()) {
    while (pos < w.size() && (w[pos] == ' ' || w[pos] == '.')) ++pos;
    size_t end = pos;
    while (end < w.size() && is_alpha(w[end])) ++end;
    if (end == pos) {
      if (pos < w.size()) return false;
      break;
    }
    if (!unit_words().count(w.substr(pos, end - pos))) return false;
    any = true;
    pos = end;
  }
  return any;
}

bool is_plain_words(std::string_view s) {
  bool letters = false;
  for (char c : s) {
    if (is_alpha(c))
      letters = true;
    else if (c != ' ' && c != '.' && c != '-')
      return false;
  }
  std::string w = lower_ascii(python_strip(s));
  return letters && w != "and" && w != "or";
}

// Matching close brace for the '{' at s[open], or npos.
size_t match_brace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
      ++i;
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

// \text{...} and friends: units are dropped (with a trailing ^2 or ^3), other content unwrapped.
std::string unwrap_text_groups(std::string s) {
  static const std::set<std::string> kTextCommands = {
      "text",   "textbf",     "textrm",       "textit",     "mbox",   "mathrm", "mathbf",
      "mathit", "textnormal", "operatorname", "boldsymbol", "mathsf", "texttt"};
  size_t pos = 0;
  while ((pos = s.find('\\', pos)) != std::string::npos) {
    size_t end = pos + 1;
    while (end < s.size() && is_alpha(s[end])) ++end;
    std::string name = s.substr(pos + 1, end - pos - 1);
    if (!kTextCommands.count(name)) {
      pos = end == pos + 1 ? pos + 2 : end;
      continue;
    }
    size_t open = end;
    while (open < s.size() && s[open] == ' ') ++open;
    if (open >= s.size() || s[open] != '{') {
      pos = end;
      continue;
    }
    size_t close = match_brace(s, open);
    if (close == std::string::npos) throw ParseFail{};
    std::string content = s.substr(open + 1, close - open - 1);
    size_t after = close + 1;
    std::string outside = s.substr(0, pos) + s.substr(after);
    bool outside_has_value = std::any_of(outside.begin(), outside.end(),
                                         [](char c) { return is_digit(c) || is_alpha(c); });
    bool outside_has_number = std::any_of(outside.begin(), outside.end(), is_digit);
    std::string trimmed = python_strip(content);
    std::string replacement;
    // Next to a number, any plain words are a unit or a noun ("81\text{ teachers}",
    // "9\text{ a.m.}"); elsewhere only known units are dropped. "and"/"or" separate answers.
    bool words = is_plain_words(trimmed);
    if ((outside_has_number && words) || (outside_has_value && is_text_unit(trimmed))) {
      replacement = " ";
      for (std::string_view power : {"^2", "^3", "^{2}", "^{3}"}) {
        if (std::string_view(s).substr(after).starts_with(power)) {
          after += power.size();
          break;
        }
      }
    } else {
      replacement = " " + content + " ";
    }
    s = s.substr(0, pos) + replacement + s.substr(after);
    pos += replacement.size();
  }
  return s;
}

// Replaces the whole word `word` (not part of a command or a longer word) with `to`.
std::string replace_word(std::string_view s, std::string_view word, std::string_view to) {
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    if (s.compare(pos, word.size(), word) == 0 &&
        (pos == 0 || (!is_alpha(s[pos - 1]) && s[pos - 1] != '\\')) &&
        (pos + word.size() >= s.size() || !is_alpha(s[pos + word.size()]))) {
      out.append(to);
      pos += word.size();
    } else {
      out += s[pos++];
    }
  }
  return out;
}

// Top-level (outside (), [], {}, \{\}) split on sep; sep is a character or a "\command".
std::vector<std::string> split_top(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      if (i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
        depth += s[i + 1] == '{' ? 1 : -1;
        ++i;
        continue;
      }
      if (depth == 0 && s.compare(i, sep.size(), sep) == 0 &&
          (i + sep.size() >= s.size() || !is_alpha(s[i + sep.size()]) || !is_alpha(sep.back()))) {
        parts.emplace_back(s.substr(start, i - start));
        start = i + sep.size();
        i = start - 1;
        continue;
      }
      size_t end = i + 1;
      while (end < s.size() && is_alpha(s[end])) ++end;
      i = (end == i + 1 ? i + 1 : end - 1);
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (depth == 0 && sep.size() == 1 && c == sep[0]) {
      parts.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

std::string remove_spaces(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') out += c;
  }
  return out;
}

bool is_thousands_number(std::string_view s) {
  size_t i = s.starts_with('-') ? 1 : 0;
  size_t digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  if (digits < 1 || digits > 3 || i >= s.size() || s[i] != ',') return false;
  while (i < s.size() && s[i] == ',') {
    ++i;
    size_t n = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++n;
    if (n != 3) return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i >= s.size()) return false;
    while (i < s.size() && is_digit(s[i])) ++i;
  }
  return i == s.size();
}

// Whether the left side of "LHS = answer" only names what is asked for ("x", "f(x)", "(a,b)").
bool is_name_only(std::string_view lhs) {
  std::string t = python_strip(lhs);
  if (t.empty() || t.size() > 24) return false;
  for (char c : t) {
    if (!(is_alpha(c) || c == ' ' || c == '\\' || c == '{' || c == '}' || c == '_' || c == '(' ||
          c == ')' || c == ',' || c == '\'')) {
      return false;
    }
  }
  return true;
}

// "\!", "\,", "\;", "\:", "\ " and "~" become spaces; "\\" (a matrix row break) is kept whole.
std::string remove_spacing(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~') {
      out += ' ';
    } else if (s[i] == '\\' && i + 1 < s.size()) {
      char n = s[i + 1];
      if (n == '!' || n == ',' || n == ';' || n == ':' || n == ' ') {
        out += ' ';
      } else {
        out += s[i];
        out += n;
      }
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "{,}" and ",\!" separate thousands when exactly three digits follow ("1{,}000",
// "11,\! 111"); otherwise they are a plain comma ("(2{,}-1)", "1,\!2").
std::string fix_group_separators(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    if (s.substr(i).starts_with("{,}")) len = 3;
    if (s.substr(i).starts_with(",\\!")) len = 3;
    if (len == 0) {
      out += s[i++];
      continue;
    }
    size_t next = i + len;
    for (;;) {
      if (next < s.size() && s[next] == ' ') {
        ++next;
      } else if (s.substr(next).starts_with("\\!")) {
        next += 2;
      } else {
        break;
      }
    }
    size_t digits = 0;
    while (next + digits < s.size() && is_digit(s[next + digits])) ++digits;
    bool thousands = digits == 3 && !out.empty() && is_digit(out.back());
    out += thousands ? "" : ",";
    i = thousands ? next : i + len;
  }
  return out;
}

// Drops unit words at the end ("(2,-1) degrees", "5 square feet"), not inside commands.
std::string drop_trailing_units(std::string s) {
  for (;;) {
    size_t end = s.size();
    while (end > 0 && s[end - 1] == ' ') --end;
    size_t start = end;
    while (start > 0 && is_alpha(s[start - 1])) --start;
    if (start == end || start == 0 || s[start - 1] == '\\') return s;
    if (!unit_words().count(lower_ascii(s.substr(start, end - start)))) return s;
    s.erase(start);
  }
}

// Light normalization; the result keeps spaces (the parser needs "\sin x" apart).
std::string preprocess(std::string_view input, bool strip_prefix = true) {
  std::string s = python_strip(input);
  if (s.find("\\boxed") != std::string::npos) {
    if (auto boxed = last_boxed_content(s)) s = *boxed;
  }
  // "The answer is 5": keep what follows the last such phrase.
  for (std::string_view phrase : {"answer is", "Answer:"}) {
    size_t at = s.rfind(phrase);
    if (at != std::string::npos) s = python_strip(s.substr(at + phrase.size()));
  }
  replace_all(s, "\\$", "");
  replace_all(s, "$", "");
  s = python_strip(s);
  if (s.find("\\begin") == std::string::npos) {
    // "\\\\frac" from over-escaped output: a doubled backslash before a command name.
    std::string fixed;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 2 < s.size() && s[i + 1] == '\\' && is_alpha(s[i + 2])) continue;
      fixed += s[i];
    }
    s = fixed;
  }
  if ((s.starts_with("\\[") && s.ends_with("\\]")) ||
      (s.starts_with("\\(") && s.ends_with("\\)"))) {
    s = s.substr(2, s.size() - 4);
  }
  replace_all(s, "\n", " ");
  replace_all(s, "\\dfrac", "\\frac");
  replace_all(s, "\\tfrac", "\\frac");
  replace_all(s, "\\cfrac", "\\frac");
  remove_command(s, "\\left");
  remove_command(s, "\\right");
  remove_command(s, "\\displaystyle");
  remove_command(s, "\\bigl");
  remove_command(s, "\\bigr");
  remove_command(s, "\\Bigl");
  remove_command(s, "\\Bigr");
  s = fix_group_separators(s);
  s = remove_spacing(s);
  remove_command(s, "\\qquad");
  remove_command(s, "\\quad");
  {
    // Degrees in any spacing: "^\\circ", "^ {\\circ}", "\\circ", "°".
    static const re2::RE2 kDegree(R"((\^\s*)?(\{\s*)?(\\circ|\\degree)(\s*\})?|\x{00B0})");
    re2::RE2::GlobalReplace(&s, kDegree, "");
  }
  replace_all(s, "\\%", "");
  replace_all(s, "%", "");
  s = unwrap_text_groups(s);
  s = replace_word(s, "and", ",");
  s = replace_word(s, "or", ",");
  s = python_strip(s);
  s = python_strip(drop_trailing_units(s));
  while (s.ends_with('.')) {
    s.pop_back();
    s = python_strip(s);
  }
  // "x = 5", "f(x) = 2x", "x \in [1, 2]": keep the answer side.
  if (strip_prefix && split_top(s, ",").size() == 1) {  // lists strip per item (parse_value)
    auto parts = split_top(s, "=");
    if (parts.size() >= 2 && is_name_only(parts[0])) s = python_strip(parts.back());
    auto in_parts = split_top(s, "\\in");
    if (in_parts.size() == 2 && is_name_only(in_parts[0])) s = python_strip(in_parts[1]);
  }
  if (is_thousands_number(s)) replace_all(s, ",", "");
  return s;
}

// ---- Expression trees ----

struct Node;
using NodePtr = std::shared_ptr<const Node>;

enum class Op { kNum, kVar, kAdd, kMul, kNeg, kDiv, kPow, kRoot, kFunc, kFact, kBinom };

struct Node {
  Op op;
  Complex num;
  bool integer_literal = false;  // a bare integer as written (for mixed numbers)
  std::string name;              // variable or function
  std::vector<NodePtr> kids;
};

NodePtr num(Complex v, bool integer_literal = false) {
  auto n = std::make_shared<Node>();
  n->op = Op::kNum;
  n->num = v;
  n->integer_literal = integer_literal;
  return n;
}
NodePtr var(std::string name) {
  auto n = std::make_shared<Node>();
  n->op = Op::kVar;
  n->name = std::move(name);
  return n;
}
NodePtr make(Op op, std::vector<NodePtr> kids, std::string name = "") {
  auto n = std::make_shared<Node>();
  n->op = op;
  n->kids = std::move(kids);
  n->name = std::move(name);
  return n;
}

const std::set<std::string>& functions() {
  static const auto* f =
      new std::set<std::string>{"sin",    "cos",  "tan",  "sec",  "csc", "cot", "arcsin", "arccos",
                                "arctan", "sinh", "cosh", "tanh", "ln",  "log", "exp"};
  return *f;
}

const std::set<std::string>& greek() {
  static const auto* g = new std::set<std::string>{
      "alpha",    "beta",    "gamma", "delta",  "epsilon", "varepsilon", "zeta",  "eta",   "theta",
      "vartheta", "iota",    "kappa", "lambda", "mu",      "nu",         "xi",    "rho",   "sigma",
      "tau",      "upsilon", "phi",   "varphi", "chi",     "psi",        "omega", "Gamma", "Delta",
      "Theta",    "Lambda",  "Xi",    "Sigma",  "Phi",     "Psi",        "Omega"};
  return *g;
}

// Recursive descent over the preprocessed LaTeX of one expression.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  NodePtr parse_all() {
    NodePtr e = expr();
    skip_ws();
    if (pos_ != s_.size()) throw ParseFail{};
    return e;
  }

 private:
  void skip_ws() {
    for (;;) {
      while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
      // Unit words are whitespace wherever they stand ("5 cm", "2\pi cm^2").
      if (pos_ < s_.size() && is_alpha(s_[pos_]) && (pos_ == 0 || s_[pos_ - 1] != '\\')) {
        size_t end = pos_;
        while (end < s_.size() && is_alpha(s_[end])) ++end;
        if (end - pos_ >= 2 && unit_words().count(lower_ascii(s_.substr(pos_, end - pos_)))) {
          pos_ = end;
          for (std::string_view power : {"^2", "^3", "^{2}", "^{3}"}) {
            if (s_.substr(pos_).starts_with(power)) {
              pos_ += power.size();
              break;
            }
          }
          continue;
        }
      }
      return;
    }
  }

  char peek() {
    skip_ws();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }

  // The name of the command at pos_ ("frac" for "\frac"; "{" for "\{"), without consuming it.
  std::string peek_command() {
    skip_ws();
    if (pos_ >= s_.size() || s_[pos_] != '\\' || pos_ + 1 >= s_.size()) return "";
    size_t end = pos_ + 1;
    while (end < s_.size() && is_alpha(s_[end])) ++end;
    if (end == pos_ + 1) return std::string(1, s_[pos_ + 1]);
    return std::string(s_.substr(pos_ + 1, end - pos_ - 1));
  }

  void consume_command(const std::string& name) { pos_ += 1 + name.size(); }

  void expect(char c) {
    if (peek() != c) throw ParseFail{};
    ++pos_;
  }

  bool starts_atom() {
    char c = peek();
    if (c == '\0') return false;
    if (is_digit(c) || c == '.' || is_alpha(c) || c == '(' || c == '[' || c == '{') return true;
    if (c == '|') return abs_depth_ == 0;
    if (c == '\\') {
      std::string cmd = peek_command();
      return cmd == "frac" || cmd == "sqrt" || cmd == "pi" || cmd == "infty" || cmd == "binom" ||
             cmd == "dbinom" || cmd == "tbinom" || cmd == "lfloor" || cmd == "lceil" ||
             cmd == "overline" || cmd == "mathbf" || functions().count(cmd) || greek().count(cmd);
    }
    return false;
  }

  NodePtr expr() {
    NodePtr lhs = signed_term();
    for (;;) {
      char c = peek();
      if (c == '+') {
        ++pos_;
        lhs = make(Op::kAdd, {lhs, signed_term()});
      } else if (c == '-') {
        ++pos_;
        lhs = make(Op::kAdd, {lhs, make(Op::kNeg, {signed_term()})});
      } else {
        return lhs;
      }
    }
  }

  // Leading signs, counted in a loop so "------1" cannot exhaust the stack.
  bool leading_minus() {
    bool negative = false;
    for (char c = peek(); c == '-' || c == '+'; c = peek()) {
      negative ^= c == '-';
      ++pos_;
    }
    return negative;
  }

  NodePtr signed_term() {
    bool negative = leading_minus();
    NodePtr t = term();
    return negative ? make(Op::kNeg, {t}) : t;
  }

  NodePtr signed_factor() {
    bool negative = leading_minus();
    NodePtr f = power();
    return negative ? make(Op::kNeg, {f}) : f;
  }

  NodePtr term() {
    NodePtr lhs = power();
    bool single_integer = lhs->op == Op::kNum && lhs->integer_literal;
    for (;;) {
      char c = peek();
      std::string cmd = c == '\\' ? peek_command() : "";
      if (c == '*' || cmd == "cdot" || cmd == "times" || cmd == "ast") {
        if (c == '*')
          ++pos_;
        else
          consume_command(cmd);
        lhs = make(Op::kMul, {lhs, signed_factor()});
      } else if (c == '/' || cmd == "div") {
        if (c == '/')
          ++pos_;
        else
          consume_command(cmd);
        lhs = make(Op::kDiv, {lhs, signed_factor()});
      } else if (starts_atom()) {
        NodePtr rhs = power();
        // A mixed number: "2\frac{1}{2}" is 2 + 1/2 in MATH answers.
        if (single_integer && rhs->op == Op::kDiv && rhs->name == "frac" &&
            rhs->kids[0]->integer_literal && rhs->kids[1]->integer_literal) {
          lhs = make(Op::kAdd, {lhs, rhs});
        } else {
          lhs = make(Op::kMul, {lhs, rhs});
        }
      } else {
        return lhs;
      }
      single_integer = false;
    }
  }

  NodePtr exponent() {
    char c = peek();
    if (c == '{') return group('{', '}');
    if (c == '-') {
      ++pos_;
      return make(Op::kNeg, {single_arg()});
    }
    // "2^10" means 2^{10} to anyone who writes it; TeX's one-digit reading is never intended.
    if (is_digit(c)) return number();
    return single_arg();
  }

  NodePtr power() {
    NodePtr base = postfix(atom());
    if (peek() == '^') {
      ++pos_;
      NodePtr e = exponent();
      base = postfix(make(Op::kPow, {base, e}));
    }
    return base;
  }

  NodePtr postfix(NodePtr n) {
    while (pos_ < s_.size() && (s_[pos_] == '!' || s_[pos_] == '\'')) {
      if (s_[pos_] == '!') n = make(Op::kFact, {n});
      ++pos_;
    }
    return n;
  }

  NodePtr group(char open, char close) {
    expect(open);
    NodePtr e = expr();
    expect(close);
    return e;
  }

  // A macro argument: "{...}", one digit, one letter, or a command atom ("\frac\pi2").
  NodePtr single_arg() {
    char c = peek();
    if (c == '{') return group('{', '}');
    if (is_digit(c)) {
      ++pos_;
      return num(c - '0', true);
    }
    if (is_alpha(c)) {
      ++pos_;
      return letter(c);
    }
    if (c == '\\') return atom();
    throw ParseFail{};
  }

  NodePtr letter(char c) {
    if (c == 'e') return num(std::numbers::e);
    if (c == 'i') return num(Complex(0, 1));
    return var(std::string(1, c));
  }

  std::string subscript() {
    if (pos_ >= s_.size() || s_[pos_] != '_') return "";
    ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '{') {
      size_t close = match_brace(s_, pos_);
      if (close == std::string_view::npos) throw ParseFail{};
      std::string sub(s_.substr(pos_ + 1, close - pos_ - 1));
      pos_ = close + 1;
      return remove_spaces(sub);
    }
    if (pos_ >= s_.size()) throw ParseFail{};
    return std::string(1, s_[pos_++]);
  }

  NodePtr number() {
    size_t start = pos_;
    while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    bool integer = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integer = false;
      ++pos_;
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    std::string text(s_.substr(start, pos_ - start));
    if (text == ".") throw ParseFail{};
    if (s_.substr(pos_).starts_with("\\overline{")) {
      // A repeating decimal: "0.\overline{3}" is 1/3, "0.1\overline{6}" is 1/6.
      size_t open = pos_ + 9;
      size_t close = match_brace(s_, open);
      if (close == std::string_view::npos) throw ParseFail{};
      std::string rep = remove_spaces(s_.substr(open + 1, close - open - 1));
      if (rep.empty() || !std::all_of(rep.begin(), rep.end(), is_digit)) throw ParseFail{};
      size_t dot = text.find('.');
      if (dot == std::string::npos) text += '.';
      size_t decimals = text.size() - text.find('.') - 1;
      double value = std::strtod(text.c_str(), nullptr) +
                     std::strtod(rep.c_str(), nullptr) /
                         (std::pow(10.0, static_cast<double>(decimals)) *
                          (std::pow(10.0, static_cast<double>(rep.size())) - 1));
      pos_ = close + 1;
      return num(value);
    }
    std::string base = subscript();
    if (!base.empty()) {
      // "1011_2": digits in base 2.
      if (!integer) throw ParseFail{};
      int b = std::atoi(base.c_str());
      if (b < 2 || b > 36) throw ParseFail{};
      double v = 0;
      for (char d : text) {
        if (d - '0' >= b) throw ParseFail{};
        v = v * b + (d - '0');
      }
      return num(v, true);
    }
    return num(std::strtod(text.c_str(), nullptr), integer);
  }

  // Every recursive path passes through atom(); model output can be adversarial, so the
  // nesting is bounded here rather than by the stack.
  NodePtr atom() {
    if (++depth_ > kMaxDepth) throw ParseFail{};
    NodePtr n = atom_inner();
    --depth_;
    return n;
  }

  NodePtr atom_inner() {
    char c = peek();
    if (is_digit(c) || c == '.') return number();
    if (is_alpha(c)) {
      size_t end = pos_;
      while (end < s_.size() && is_alpha(s_[end])) ++end;
      size_t len = end - pos_;
      if (len <= 2) {
        // One letter per atom: "xy" is x times y through implicit multiplication.
        char ch = s_[pos_++];
        std::string sub = subscript();
        return sub.empty() ? letter(ch) : var(std::string(1, ch) + "_" + sub);
      }
      // Longer words are opaque names ("Devon", "east").
      std::string word(s_.substr(pos_, len));
      pos_ = end;
      return var(word);
    }
    if (c == '(') return group('(', ')');
    if (c == '[') return group('[', ']');
    if (c == '{') return group('{', '}');
    if (c == '|' && abs_depth_ == 0) {
      ++pos_;
      ++abs_depth_;
      NodePtr e = expr();
      --abs_depth_;
      expect('|');
      return make(Op::kFunc, {e}, "abs");
    }
    if (c != '\\') throw ParseFail{};
    std::string cmd = peek_command();
    consume_command(cmd);
    if (cmd == "frac") {
      NodePtr a = single_arg();
      NodePtr b = single_arg();
      return make(Op::kDiv, {a, b}, "frac");
    }
    if (cmd == "sqrt") {
      NodePtr index = num(2);
      if (peek() == '[') index = group('[', ']');
      return make(Op::kRoot, {single_arg(), index});
    }
    if (cmd == "pi") return num(std::numbers::pi);
    if (cmd == "infty") return num(std::numeric_limits<double>::infinity());
    if (cmd == "binom" || cmd == "dbinom" || cmd == "tbinom") {
      NodePtr n = single_arg();
      NodePtr k = single_arg();
      return make(Op::kBinom, {n, k});
    }
    if (cmd == "lfloor" || cmd == "lceil") {
      NodePtr e = expr();
      std::string close = peek_command();
      if (close != (cmd == "lfloor" ? "rfloor" : "rceil")) throw ParseFail{};
      consume_command(close);
      return make(Op::kFunc, {e}, cmd == "lfloor" ? "floor" : "ceil");
    }
    if (cmd == "overline" || cmd == "mathbf") return single_arg();
    if (greek().count(cmd)) {
      std::string sub = subscript();
      return var(sub.empty() ? cmd : cmd + "_" + sub);
    }
    if (functions().count(cmd)) {
      std::string base = cmd == "log" ? subscript() : "";
      NodePtr power_of = nullptr;
      if (peek() == '^') {
        ++pos_;
        power_of = exponent();
      }
      NodePtr arg;
      if (peek() == '(') {
        arg = group('(', ')');
      } else {
        // "\sin 2x" is sin(2x): the argument runs over an implicit product.
        arg = power();
        while (starts_atom() && !(peek() == '\\' && functions().count(peek_command()))) {
          arg = make(Op::kMul, {arg, power()});
        }
      }
      NodePtr f = make(Op::kFunc, {arg}, cmd);
      if (!base.empty()) {
        // log_b x = ln x / ln b.
        f = make(Op::kDiv,
                 {make(Op::kFunc, {arg}, "ln"), make(Op::kFunc, {Parser(base).parse_all()}, "ln")});
      }
      if (power_of) f = make(Op::kPow, {f, power_of});
      return f;
    }
    throw ParseFail{};
  }

  static constexpr int kMaxDepth = 200;
  std::string_view s_;
  size_t pos_ = 0;
  int abs_depth_ = 0;
  int depth_ = 0;
};

NodePtr parse_expr(std::string_view s) {
  std::string t = python_strip(s);
  if (t.empty()) throw ParseFail{};
  return Parser(t).parse_all();
}

// ---- Evaluation ----

using Env = std::map<std::string, Complex>;

bool is_real(Complex z) { return std::abs(z.imag()) <= 1e-12 * std::max(1.0, std::abs(z.real())); }

Complex eval(const Node& n, const Env& env) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  switch (n.op) {
    case Op::kNum:
      return n.num;
    case Op::kVar: {
      auto it = env.find(n.name);
      return it == env.end() ? Complex(nan, 0) : it->second;
    }
    case Op::kAdd:
      return eval(*n.kids[0], env) + eval(*n.kids[1], env);
    case Op::kMul: {
      Complex a = eval(*n.kids[0], env), b = eval(*n.kids[1], env);
      if (is_real(a) && is_real(b)) return a.real() * b.real();  // keeps inf * 2 = inf
      return a * b;
    }
    case Op::kNeg: {
      Complex a = eval(*n.kids[0], env);
      return Complex(-a.real(), -a.imag());
    }
    case Op::kDiv: {
      Complex a = eval(*n.kids[0], env), b = eval(*n.kids[1], env);
      if (std::abs(b) == 0) return Complex(nan, 0);
      if (is_real(a) && is_real(b)) return a.real() / b.real();
      return a / b;
    }
    case Op::kPow: {
      Complex a = eval(*n.kids[0], env), b = eval(*n.kids[1], env);
      if (is_real(a) && is_real(b)) {
        double x = a.real(), y = b.real();
        if (x >= 0 || y == std::round(y)) return std::pow(x, y);
      }
      if (std::abs(a) == 0) return std::abs(b) == 0 ? Complex(1) : Complex(0);
      return std::pow(a, b);
    }
    case Op::kRoot: {
      Complex a = eval(*n.kids[0], env), k = eval(*n.kids[1], env);
      if (!is_real(k) || k.real() == 0) return Complex(nan, 0);
      double deg = k.real();
      if (is_real(a)) {
        double x = a.real();
        if (x >= 0) return std::pow(x, 1.0 / deg);
        // Odd roots of negative reals stay real: \sqrt[3]{-8} = -2.
        if (deg == std::round(deg) && static_cast<long>(deg) % 2 != 0) {
          return -std::pow(-x, 1.0 / deg);
        }
      }
      return std::pow(a, 1.0 / deg);
    }
    case Op::kFact: {
      Complex a = eval(*n.kids[0], env);
      if (!is_real(a) || a.real() < 0) return Complex(nan, 0);
      return std::tgamma(a.real() + 1);
    }
    case Op::kBinom: {
      Complex a = eval(*n.kids[0], env), b = eval(*n.kids[1], env);
      if (!is_real(a) || !is_real(b)) return Complex(nan, 0);
      double x = a.real(), y = b.real();
      if (y < 0 || y > x) return 0.0;
      return std::round(std::exp(std::lgamma(x + 1) - std::lgamma(y + 1) - std::lgamma(x - y + 1)));
    }
    case Op::kFunc: {
      Complex a = eval(*n.kids[0], env);
      const std::string& f = n.name;
      if (f == "abs") return std::abs(a);
      if (f == "floor" || f == "ceil") {
        if (!is_real(a)) return Complex(nan, 0);
        return f == "floor" ? std::floor(a.real()) : std::ceil(a.real());
      }
      if (f == "sin") return std::sin(a);
      if (f == "cos") return std::cos(a);
      if (f == "tan") return std::tan(a);
      if (f == "sec") return 1.0 / std::cos(a);
      if (f == "csc") return 1.0 / std::sin(a);
      if (f == "cot") return std::cos(a) / std::sin(a);
      if (f == "arcsin") return std::asin(a);
      if (f == "arccos") return std::acos(a);
      if (f == "arctan") return std::atan(a);
      if (f == "sinh") return std::sinh(a);
      if (f == "cosh") return std::cosh(a);
      if (f == "tanh") return std::tanh(a);
      if (f == "ln") return std::log(a);
      if (f == "log") return std::log10(a);
      if (f == "exp") return std::exp(a);
      return Complex(nan, 0);
    }
  }
  return Complex(nan, 0);
}

void collect_vars(const Node& n, std::set<std::string>* out) {
  if (n.op == Op::kVar) out->insert(n.name);
  for (const auto& k : n.kids) collect_vars(*k, out);
}

bool finite(Complex z) { return std::isfinite(z.real()) && std::isfinite(z.imag()); }

bool close(Complex a, Complex b) {
  if (std::isnan(a.real()) || std::isnan(b.real()) || std::isnan(a.imag()) ||
      std::isnan(b.imag())) {
    return false;
  }
  if (!finite(a) || !finite(b)) {
    // Infinities agree when they point the same way.
    return std::isinf(a.real()) && std::isinf(b.real()) && (a.real() > 0) == (b.real() > 0) &&
           std::abs(a.imag()) < 1e-12 && std::abs(b.imag()) < 1e-12;
  }
  double diff = std::abs(a - b);
  double scale = std::max(std::abs(a), std::abs(b));
  return diff <= 1e-6 * scale || diff < 1e-12;
}

bool equal_expr(const NodePtr& a, const NodePtr& b) {
  std::set<std::string> vars;
  collect_vars(*a, &vars);
  collect_vars(*b, &vars);
  if (vars.empty()) return close(eval(*a, {}), eval(*b, {}));
  // Deterministic points, both signs, away from 0 and +-1 where identities coincide.
  std::mt19937 rng(20261127);
  std::uniform_real_distribution<double> magnitude(0.35, 2.9);
  int valid = 0;
  for (int trial = 0; trial < 12 && valid < 6; ++trial) {
    Env env;
    for (const auto& v : vars) {
      double x = magnitude(rng);
      env[v] = (rng() % 3 == 0) ? -x : x;
    }
    Complex va = eval(*a, env), vb = eval(*b, env);
    if (!finite(va) || !finite(vb)) continue;
    if (!close(va, vb)) return false;
    ++valid;
  }
  return valid >= 2;
}

// ---- Values: expressions, tuples, sets, matrices, relations ----

struct Value {
  enum class Kind { kExpr, kTuple, kList, kMatrix, kUnion, kRelation };
  Kind kind = Kind::kExpr;
  NodePtr expr;
  std::vector<Value> items;  // tuple/list/union elements, matrix cells row-major, relation sides
  std::vector<std::string> ops;  // relation operators between items
  char open = 0, close = 0;      // tuple brackets
  size_t rows = 0, cols = 0;
};

Value parse_value(std::string_view s, bool strip_prefix = true);

std::vector<Value> parse_items(const std::vector<std::string>& parts, bool strip_prefix = true) {
  std::vector<Value> items;
  for (const auto& p : parts) items.push_back(parse_value(p, strip_prefix));
  return items;
}

// Index of the bracket closing the one at s[0], counting ( and [ alike (intervals mix them).
size_t closing_bracket(std::string_view s) {
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      ++i;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') {
      if (--depth == 0) return i;
    }
  }
  return std::string_view::npos;
}

std::optional<Value> parse_matrix(std::string_view s) {
  if (!s.starts_with("\\begin{")) return std::nullopt;
  size_t close = s.find('}');
  std::string env(s.substr(7, close - 7));
  std::string end = "\\end{" + env + "}";
  if (!s.ends_with(end)) throw ParseFail{};
  std::string_view body = s.substr(close + 1, s.size() - end.size() - close - 1);
  std::vector<std::string> rows;
  {
    std::string b(body);
    size_t pos = 0;
    for (;;) {
      size_t hit = b.find("\\\\", pos);
      rows.push_back(b.substr(pos, hit == std::string::npos ? std::string::npos : hit - pos));
      if (hit == std::string::npos) break;
      pos = hit + 2;
    }
  }
  while (!rows.empty() && python_strip(rows.back()).empty()) rows.pop_back();
  Value v;
  v.kind = Value::Kind::kMatrix;
  v.rows = rows.size();
  for (const auto& r : rows) {
    auto cells = split_top(r, "&");
    if (v.cols == 0) v.cols = cells.size();
    if (cells.size() != v.cols) throw ParseFail{};
    for (const auto& c : cells) v.items.push_back(parse_value(c));
  }
  if (v.rows == 0) throw ParseFail{};
  return v;
}

const std::vector<std::pair<std::string, std::string>>& relation_tokens() {
  // Longer spellings first so "\leq" is not read as "\le" + "q".
  static const auto* t = new std::vector<std::pair<std::string, std::string>>{
      {"\\leq", "<="}, {"\\geq", ">="}, {"\\neq", "!="}, {"\\le", "<="}, {"\\ge", ">="},
      {"\\ne", "!="},  {"\\lt", "<"},   {"\\gt", ">"},   {"<=", "<="},   {">=", ">="},
      {"<", "<"},      {">", ">"},      {"=", "="}};
  return *t;
}

std::optional<Value> parse_relation(std::string_view s) {
  // Scan at depth 0 for relation operators.
  std::vector<std::string> sides, ops;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (depth != 0) {
      if (c == '\\' && i + 1 < s.size()) ++i;
      continue;
    }
    bool matched = false;
    for (const auto& [tok, op] : relation_tokens()) {
      if (s.compare(i, tok.size(), tok) != 0) continue;
      if (tok[0] == '\\' && i + tok.size() < s.size() && is_alpha(s[i + tok.size()])) continue;
      sides.emplace_back(s.substr(start, i - start));
      ops.push_back(op);
      i += tok.size() - 1;
      start = i + 1;
      matched = true;
      break;
    }
    if (!matched && c == '\\' && i + 1 < s.size() && !is_alpha(s[i + 1])) ++i;
  }
  if (ops.empty()) return std::nullopt;
  sides.emplace_back(s.substr(start));
  Value v;
  v.kind = Value::Kind::kRelation;
  v.ops = ops;
  for (const auto& side : sides) {
    Value e;
    e.expr = parse_expr(side);
    v.items.push_back(e);
  }
  return v;
}

Value parse_value(std::string_view input, bool strip_prefix) {
  std::string s = python_strip(input);
  if (s.empty()) throw ParseFail{};
  if (strip_prefix) {
    // List items: "x = 2, x = 3".
    auto parts = split_top(s, "=");
    if (parts.size() >= 2 && split_top(s, ",").size() == 1 && is_name_only(parts[0])) {
      s = python_strip(parts.back());
      if (s.empty()) throw ParseFail{};
    }
  }
  // "1 \pm \sqrt2": both roots, unordered.
  if (size_t pm = s.find("\\pm");
      pm != std::string::npos && s.find("\\pm", pm + 3) == std::string::npos) {
    Value v;
    v.kind = Value::Kind::kList;
    v.items.push_back(parse_value(s.substr(0, pm) + "+" + s.substr(pm + 3), strip_prefix));
    v.items.push_back(parse_value(s.substr(0, pm) + "-" + s.substr(pm + 3), strip_prefix));
    return v;
  }
  if (auto m = parse_matrix(s)) return *m;
  if (auto parts = split_top(s, "\\cup"); parts.size() > 1) {
    Value v;
    v.kind = Value::Kind::kUnion;
    v.items = parse_items(parts, strip_prefix);
    return v;
  }
  if (s == "\\emptyset" || s == "\\varnothing" || s == "\\{\\}") {
    Value v;
    v.kind = Value::Kind::kList;
    return v;
  }
  if (s.starts_with("\\{") && s.ends_with("\\}")) {
    Value v;
    v.kind = Value::Kind::kList;
    v.items =
        parse_items(split_top(std::string_view(s).substr(2, s.size() - 4), ","), strip_prefix);
    return v;
  }
  if ((s[0] == '(' || s[0] == '[') && (s.back() == ')' || s.back() == ']') &&
      closing_bracket(s) == s.size() - 1) {
    std::string_view inner = std::string_view(s).substr(1, s.size() - 2);
    auto parts = split_top(inner, ",");
    if (parts.size() > 1) {
      Value v;
      v.kind = Value::Kind::kTuple;
      v.open = s[0];
      v.close = s.back();
      v.items = parse_items(parts, strip_prefix);
      return v;
    }
  }
  if (auto parts = split_top(s, ","); parts.size() > 1) {
    // "7, -2, and -5" leaves an empty item where "and" followed a comma.
    std::erase_if(parts, [](const std::string& p) { return python_strip(p).empty(); });
    Value v;
    v.kind = Value::Kind::kList;
    v.items = parse_items(parts, strip_prefix);
    return v;
  }
  if (auto parts = split_top(s, ":"); parts.size() == 2) {
    // A ratio "3:1" compares term by term.
    Value v;
    v.kind = Value::Kind::kTuple;
    v.open = v.close = ':';
    v.items = parse_items(parts, strip_prefix);
    return v;
  }
  if (auto r = parse_relation(s)) return *r;
  Value v;
  v.expr = parse_expr(s);
  return v;
}

bool equal_value(const Value& a, const Value& b);

bool unordered_equal(const std::vector<Value>& a, const std::vector<Value>& b) {
  if (a.size() != b.size()) return false;
  std::vector<bool> used(b.size(), false);
  for (const auto& x : a) {
    bool found = false;
    for (size_t j = 0; j < b.size() && !found; ++j) {
      if (!used[j] && equal_value(x, b[j])) used[j] = found = true;
    }
    if (!found) return false;
  }
  return true;
}

bool ordered_equal(const std::vector<Value>& a, const std::vector<Value>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!equal_value(a[i], b[i])) return false;
  }
  return true;
}

std::string flip(const std::string& op) {
  if (op == "<") return ">";
  if (op == ">") return "<";
  if (op == "<=") return ">=";
  if (op == ">=") return "<=";
  return op;
}

bool equal_relation(const Value& a, const Value& b) {
  if (a.ops == b.ops && ordered_equal(a.items, b.items)) return true;
  // "3 > x" is "x < 3".
  std::vector<std::string> flipped;
  for (auto it = b.ops.rbegin(); it != b.ops.rend(); ++it) flipped.push_back(flip(*it));
  std::vector<Value> reversed(b.items.rbegin(), b.items.rend());
  if (a.ops == flipped && ordered_equal(a.items, reversed)) return true;
  // Equations: the same zero set up to sign ("y - x = 1" and "x + 1 = y").
  if (a.ops.size() == 1 && a.ops == b.ops && (a.ops[0] == "=" || a.ops[0] == "!=")) {
    NodePtr da = make(Op::kAdd, {a.items[0].expr, make(Op::kNeg, {a.items[1].expr})});
    NodePtr db = make(Op::kAdd, {b.items[0].expr, make(Op::kNeg, {b.items[1].expr})});
    return equal_expr(da, db) || equal_expr(da, make(Op::kNeg, {db}));
  }
  return false;
}

bool equal_value(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kExpr:
      return equal_expr(a.expr, b.expr);
    case Value::Kind::kTuple:
      return a.open == b.open && a.close == b.close && ordered_equal(a.items, b.items);
    case Value::Kind::kList:
    case Value::Kind::kUnion:
      return unordered_equal(a.items, b.items);
    case Value::Kind::kMatrix:
      return a.rows == b.rows && a.cols == b.cols && ordered_equal(a.items, b.items);
    case Value::Kind::kRelation:
      return equal_relation(a, b);
  }
  return false;
}

// Text answers ("East", "Devon"): letters and spaces with a word of three or more letters (so
// single-letter variables keep their case).
bool only_words(std::string_view s) {
  size_t run = 0, longest = 0;
  for (char c : s) {
    if (is_alpha(c)) {
      longest = std::max(longest, ++run);
    } else if (c == ' ') {
      run = 0;
    } else {
      return false;
    }
  }
  return longest >= 3;
}

}  // namespace

bool math_equiv_parses(std::string_view s) {
  try {
    parse_value(preprocess(s));
    return true;
  } catch (const ParseFail&) {
    return false;
  }
}

std::string math_equiv_normalize(std::string_view s) {
  try {
    return remove_spaces(preprocess(s));
  } catch (const ParseFail&) {
    return remove_spaces(s);
  }
}

bool math_equiv(std::string_view a, std::string_view b) {
  std::string pa, pb;
  try {
    pa = preprocess(a);
    pb = preprocess(b);
  } catch (const ParseFail&) {
    return python_strip(a) == python_strip(b) && !python_strip(a).empty();
  }
  std::string ka = remove_spaces(pa), kb = remove_spaces(pb);
  if (ka.empty() || kb.empty()) return false;
  if (ka == kb) return true;
  // Word answers ("East", "\text{east}") compare without case or spacing.
  if (only_words(pa) && only_words(pb)) return lower_ascii(ka) == lower_ascii(kb);
  try {
    if (equal_value(parse_value(pa), parse_value(pb))) return true;
  } catch (const ParseFail&) {
  }
  // "y = 3 - x" lost its "y =" above; as a whole it may match the equation "x + y = 3".
  try {
    std::string fa = preprocess(a, false), fb = preprocess(b, false);
    if (fa == pa && fb == pb) return false;
    return equal_value(parse_value(fa, false), parse_value(fb, false));
  } catch (const ParseFail&) {
    return false;
  }
}

}  // namespace assay
