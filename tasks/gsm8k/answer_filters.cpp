#include "tasks/gsm8k/answer_filters.h"

#include <re2/re2.h>

#include <vector>

#include "tasks/common/answer_extract.h"

namespace assay {

namespace {

struct Patterns {
  re2::RE2 strict{R"(#### (\-?[0-9\.\,]+))"};
  re2::RE2 flexible{R"((-?[$0-9.,]{2,})|(-?[0-9]+))"};
  re2::RE2 cot_strict{R"(The answer is (\-?[0-9\.\,]+).)"};
  re2::RE2 cot_llama_strict{R"(The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+)))"};
};

const Patterns& patterns() {
  static const Patterns* p = new Patterns();
  return *p;
}

void erase_all(std::string& s, char c) { std::erase(s, c); }

// Python str.lower() for the scripts that have simple one-to-one case pairs.
std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8_char_len(s, i);
    auto b0 = static_cast<unsigned char>(s[i]);
    if (len == 1) {
      out += (b0 >= 'A' && b0 <= 'Z') ? static_cast<char>(b0 + 32) : s[i];
    } else if (len == 2) {
      uint32_t cp = ((b0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
      if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) || (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) ||
          (cp >= 0x410 && cp <= 0x42F)) {
        cp += 0x20;
      } else if (cp >= 0x400 && cp <= 0x40F) {
        cp += 0x50;
      }
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace

std::string regex_filter(std::string_view response, const re2::RE2& regex, int group_select,
                         std::string_view fallback) {
  const int n_groups = regex.NumberOfCapturingGroups();
  std::vector<re2::StringPiece> groups(n_groups + 1);
  std::vector<std::vector<re2::StringPiece>> matches;  // findall
  size_t pos = 0;
  while (pos <= response.size()) {
    if (!regex.Match(response, pos, response.size(), re2::RE2::UNANCHORED, groups.data(),
                     n_groups + 1)) {
      break;
    }
    matches.push_back(groups);
    size_t end = groups[0].data() - response.data() + groups[0].size();
    pos = groups[0].empty() ? end + 1 : end;
  }
  if (matches.empty()) return std::string(fallback);
  long idx = group_select < 0 ? static_cast<long>(matches.size()) + group_select : group_select;
  // Python raises IndexError here; no lm-eval config selects past the matches.
  if (idx < 0 || idx >= static_cast<long>(matches.size())) return std::string(fallback);
  const auto& m = matches[idx];
  std::string_view picked;
  if (n_groups == 0) {
    picked = m[0];
  } else if (n_groups == 1) {
    picked = m[1];
  } else {
    bool found = false;
    for (int g = 1; g <= n_groups; ++g) {
      if (!m[g].empty()) {
        picked = m[g];
        found = true;
        break;
      }
    }
    if (!found) picked = fallback;
  }
  return python_strip(picked);
}

std::string gsm8k_strict_match(std::string_view response) {
  return regex_filter(response, patterns().strict, 0);
}

std::string gsm8k_flexible_extract(std::string_view response) {
  return regex_filter(response, patterns().flexible, -1);
}

std::string gsm8k_cot_strict_match(std::string_view response) {
  return regex_filter(response, patterns().cot_strict, 0);
}

std::string gsm8k_cot_llama_strict_match(std::string_view response) {
  return regex_filter(response, patterns().cot_llama_strict, -1);
}

std::string gsm8k_exact_match_normalize(std::string_view text) {
  std::string s(text);
  erase_all(s, ',');
  erase_all(s, '$');
  // "(?s).*#### ": the greedy match ends at the last "#### ".
  size_t hash = s.rfind("#### ");
  if (hash != std::string::npos) s.erase(0, hash + 5);
  // "\.$": Python's '$' also matches just before a final '\n'.
  if (s.ends_with('.')) {
    s.pop_back();
  } else if (s.ends_with(".\n")) {
    s.erase(s.size() - 2, 1);
  }
  return lower(s);
}

bool gsm8k_exact_match(std::string_view prediction, std::string_view reference) {
  std::string p = gsm8k_exact_match_normalize(prediction);
  std::string r = gsm8k_exact_match_normalize(reference);
  // numpy unicode arrays drop trailing NULs before comparing.
  while (p.ends_with('\0')) p.pop_back();
  while (r.ends_with('\0')) r.pop_back();
  return p == r;
}

}  // namespace assay
