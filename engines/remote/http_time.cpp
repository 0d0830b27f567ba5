#include "engines/remote/http_time.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace assay {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil), so we
// need neither timegm (non-standard) nor the process time zone.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<SystemTime> make_time(int64_t year, int month, int day, int hh, int mm, double ss,
                                    int64_t offset_s) {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 ||
      ss < 0 || ss >= 61) {
    return std::nullopt;
  }
  const int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const double secs = static_cast<double>(days) * 86400.0 + hh * 3600.0 + mm * 60.0 + ss -
                      static_cast<double>(offset_s);
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::duration<double>(secs)));
}

int month_from_name(std::string_view s) {
  static const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                  "jul", "aug", "sep", "oct", "nov", "dec"};
  if (s.size() < 3) return 0;
  for (int i = 0; i < 12; ++i) {
    bool eq = true;
    for (int k = 0; k < 3; ++k) eq = eq && std::tolower(static_cast<unsigned char>(s[k])) == kMonths[i][k];
    if (eq && s.size() == 3) return i + 1;
  }
  return 0;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) if (c < '0' || c > '9') return false;
  return true;
}

bool ascii_gmt(std::string_view s) {
  return s.size() == 3 && (s[0] | 0x20) == 'g' && (s[1] | 0x20) == 'm' && (s[2] | 0x20) == 't';
}

int64_t to_int(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

std::optional<SystemTime> parse_http_date(std::string_view text) {
  // Split into alphanumeric tokens; the three forms differ only in separators and order.
  std::vector<std::string_view> tok;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !std::isalnum(static_cast<unsigned char>(text[i]))) ++i;
    size_t j = i;
    while (j < text.size() && std::isalnum(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) tok.push_back(text.substr(i, j - i));
    i = j;
  }
  // Expected: weekday, then 6 fields (+ "GMT" for the first two forms).
  if (tok.size() < 7) return std::nullopt;
  int month = 0;
  std::vector<std::string_view> nums;
  bool month_first = false;
  for (size_t k = 1; k < tok.size(); ++k) {
    if (all_digits(tok[k])) {
      nums.push_back(tok[k]);
    } else if (int m = month_from_name(tok[k]); m && !month) {
      month = m;
      month_first = nums.empty();
    } else if (!ascii_gmt(tok[k])) {
      return std::nullopt;
    }
  }
  if (!month || nums.size() != 5) return std::nullopt;
  int64_t day, year, hh, mm, ss;
  if (month_first) {  // asctime: Mon D hh:mm:ss YYYY
    day = to_int(nums[0]); hh = to_int(nums[1]); mm = to_int(nums[2]); ss = to_int(nums[3]);
    year = to_int(nums[4]);
  } else {  // IMF-fixdate / RFC 850: DD Mon YYYY|YY hh:mm:ss
    day = to_int(nums[0]); year = to_int(nums[1]); hh = to_int(nums[2]); mm = to_int(nums[3]);
    ss = to_int(nums[4]);
    if (nums[1].size() == 2) year += year >= 70 ? 1900 : 2000;
  }
  return make_time(year, static_cast<int>(month), static_cast<int>(day), static_cast<int>(hh),
                   static_cast<int>(mm), static_cast<double>(ss), 0);
}

std::optional<SystemTime> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
  if (s.size() < 20) return std::nullopt;
  auto num = [&](size_t pos, size_t len) -> std::optional<int64_t> {
    if (pos + len > s.size() || !all_digits(s.substr(pos, len))) return std::nullopt;
    return to_int(s.substr(pos, len));
  };
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), se = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !se || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  double secs = static_cast<double>(*se);
  size_t p = 19;
  if (p < s.size() && s[p] == '.') {
    size_t q = p + 1;
    while (q < s.size() && std::isdigit(static_cast<unsigned char>(s[q]))) ++q;
    if (q == p + 1) return std::nullopt;
    secs += std::stod(std::string(s.substr(p, q - p)));
    p = q;
  }
  int64_t offset = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z') && p + 1 == s.size()) {
    offset = 0;
  } else if (p + 6 == s.size() && (s[p] == '+' || s[p] == '-') && s[p + 3] == ':') {
    auto oh = num(p + 1, 2), om = num(p + 4, 2);
    if (!oh || !om) return std::nullopt;
    offset = (*oh * 3600 + *om * 60) * (s[p] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  return make_time(*y, static_cast<int>(*mo), static_cast<int>(*d), static_cast<int>(*h),
                   static_cast<int>(*mi), secs, offset);
}

std::optional<double> parse_go_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data() + i, s.data() + j, v);
    if (ec != std::errc() || ptr != s.data() + j) return std::nullopt;
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string_view unit = s.substr(j, k - j);
    double mult;
    if (unit.empty()) {
      if (any || k != s.size()) return std::nullopt;  // a bare number only on its own
      mult = 1;
    } else if (unit == "h") mult = 3600;
    else if (unit == "m") mult = 60;
    else if (unit == "s") mult = 1;
    else if (unit == "ms") mult = 1e-3;
    else if (unit == "us") mult = 1e-6;
    else if (unit == "ns") mult = 1e-9;
    else return std::nullopt;
    total += v * mult;
    any = true;
    i = k;
  }
  if (!std::isfinite(total)) return std::nullopt;
  return total;
}

}  // namespace assay
