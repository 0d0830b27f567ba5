// HttpHeaders: response/request header list with case-insensitive lookup (HTTP field names are
// case-insensitive; HTTP/2 lower-cases them, HTTP/1.1 servers often do not).
//
// Thread safety: a value type.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace assay {

inline bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

struct HttpHeaders {
  std::vector<std::pair<std::string, std::string>> fields;  // in arrival order

  void add(std::string name, std::string value) {
    fields.emplace_back(std::move(name), std::move(value));
  }
  // The last value of `name` (a later header overrides an earlier one), or nullopt.
  std::optional<std::string_view> get(std::string_view name) const {
    for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
      if (ascii_iequals(it->first, name)) return std::string_view(it->second);
    }
    return std::nullopt;
  }
};

}  // namespace assay
