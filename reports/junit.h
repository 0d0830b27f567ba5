// JUnit XML for CI systems (Jenkins, GitLab, GitHub test reporters).
//
// Writes one <testsuite> document in the Apache Ant JUnit layout that the common JUnit schema
// (windyroad JUnit.xsd) describes, including its required parts: testsuite@name, @timestamp
// (ISO 8601, no zone), @hostname, @tests, @failures, @errors, @time; an (empty) <properties>;
// testcase@name, @classname, @time; failure/error@type; <system-out> and <system-err>.
// tests/reports/junit_test.cpp validates the output with xmllint against
// tests/reports/data/junit.xsd, written to the same constraints.
//
// Every string is escaped: & < > " ' become entities; tab, newline and carriage return inside
// attributes become character references (so attribute normalisation keeps them); characters XML
// 1.0 cannot carry at all (other C0 controls) and invalid UTF-8 bytes become U+FFFD.
// Thread safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "harness/status.h"

namespace assay {

struct JUnitCase {
  enum class Outcome { kPass, kFailure, kError };
  std::string name;
  std::string classname;
  double time_s = 0;
  Outcome outcome = Outcome::kPass;
  std::string message;  // failure/error message attribute (one line)
  std::string type;     // failure/error type attribute; "failure"/"error" when empty
  std::string details;  // text content of <failure>/<error> (may span lines)
};

struct JUnitSuite {
  std::string name;
  std::string timestamp;  // "YYYY-MM-DDTHH:MM:SS"; empty = now (UTC)
  std::string hostname;   // empty = this machine's name, else "localhost"
  double time_s = 0;
  std::string system_out;  // text for <system-out> (e.g. the verdict table)
};

// Escapes text for XML element content (attribute = false) or a double-quoted attribute value.
std::string xml_escape(std::string_view text, bool attribute);

// The complete document, starting with the XML declaration.
std::string junit_xml(const JUnitSuite& suite, std::span<const JUnitCase> cases);

// junit_xml written atomically to `path` (parent folders must exist).
Status write_junit(const std::string& path, const JUnitSuite& suite,
                   std::span<const JUnitCase> cases);

}  // namespace assay
