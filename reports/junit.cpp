#include "reports/junit.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "harness/atomic_file.h"

namespace assay {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid (overlong forms,
// surrogates and code points above U+10FFFF included).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  std::size_t len;
  std::uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  // U+FFFE and U+FFFF are not XML characters either.
  if (cp == 0xFFFE || cp == 0xFFFF) return 0;
  return len;
}

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s < 0 ? 0.0 : s);
  return buf;
}

std::string now_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string this_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) == 0 && buf[0] != '\0') return buf;
  return "localhost";
}

}  // namespace

std::string xml_escape(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto uc = static_cast<unsigned char>(c);
    if (uc >= 0x80) {
      const std::size_t len = utf8_sequence_length(text, i);
      if (len == 0) {
        out += kReplacement;
        ++i;
      } else {
        out.append(text.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += attribute ? "&quot;" : "\"";
        break;
      case '\'':
        out += attribute ? "&apos;" : "'";
        break;
      case '\t':
        out += attribute ? "&#9;" : "\t";
        break;
      case '\n':
        out += attribute ? "&#10;" : "\n";
        break;
      case '\r':
        out += "&#13;";
        break;  // a raw CR would be normalised to LF by parsers
      default:
        if (uc < 0x20 || uc == 0x7F) {
          // XML 1.0 has no way to carry C0 controls; DEL is legal but invisible, keep it visible.
          out += uc == 0x7F ? std::string("&#127;") : std::string(kReplacement);
        } else {
          out += c;
        }
    }
    ++i;
  }
  return out;
}

std::string junit_xml(const JUnitSuite& suite, std::span<const JUnitCase> cases) {
  int failures = 0;
  int errors = 0;
  for (const auto& c : cases) {
    if (c.outcome == JUnitCase::Outcome::kFailure) ++failures;
    if (c.outcome == JUnitCase::Outcome::kError) ++errors;
  }
  const auto attr = [](std::string_view s) { return xml_escape(s, true); };
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += "<testsuite name=\"" + attr(suite.name.empty() ? "assay" : suite.name) + "\"";
  x += " timestamp=\"" + attr(suite.timestamp.empty() ? now_timestamp() : suite.timestamp) + "\"";
  x += " hostname=\"" + attr(suite.hostname.empty() ? this_hostname() : suite.hostname) + "\"";
  x += " tests=\"" + std::to_string(cases.size()) + "\"";
  x += " failures=\"" + std::to_string(failures) + "\"";
  x += " errors=\"" + std::to_string(errors) + "\"";
  x += " skipped=\"0\"";
  x += " time=\"" + format_seconds(suite.time_s) + "\">\n";
  x += "  <properties/>\n";
  for (const auto& c : cases) {
    x += "  <testcase name=\"" + attr(c.name) + "\" classname=\"" + attr(c.classname) +
         "\" time=\"" + format_seconds(c.time_s) + "\"";
    if (c.outcome == JUnitCase::Outcome::kPass) {
      x += "/>\n";
      continue;
    }
    const bool failure = c.outcome == JUnitCase::Outcome::kFailure;
    const char* tag = failure ? "failure" : "error";
    const std::string type = c.type.empty() ? tag : c.type;
    x += ">\n    <" + std::string(tag) + " message=\"" + attr(c.message) + "\" type=\"" +
         attr(type) + "\">" + xml_escape(c.details, false) + "</" + tag + ">\n  </testcase>\n";
  }
  x += "  <system-out>" + xml_escape(suite.system_out, false) + "</system-out>\n";
  x += "  <system-err></system-err>\n";
  x += "</testsuite>\n";
  return x;
}

Status write_junit(const std::string& path, const JUnitSuite& suite,
                   std::span<const JUnitCase> cases) {
  return write_file_atomic(path, junit_xml(suite, cases)).with_prefix("writing JUnit report");
}

}  // namespace assay
