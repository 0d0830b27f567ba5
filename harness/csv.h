// CSV reading per RFC 4180 (quoted fields, "" escapes, embedded newlines and commas, CRLF or LF).
//
// Records carry the 1-based line on which they start, so errors read
//   "data/mmlu/test/x.csv:14: expected 6 columns, got 5".
// Blank lines between records are skipped (as Python's csv module yields [] for them).
// Malformed input (an unterminated quote, text after a closing quote) is an error naming the
// line; nothing is silently repaired.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/status.h"

namespace assay {

struct CsvRecord {
  int64_t line = 0;  // line where the record starts
  std::vector<std::string> fields;
};

// Parses CSV text; `name` is used in error messages (usually the path).
Result<std::vector<CsvRecord>> parse_csv(std::string_view text, std::string_view name);
// Reads and parses a file.
Result<std::vector<CsvRecord>> read_csv(const std::string& path);

// Writes one record with minimal quoting (as Python's csv.QUOTE_MINIMAL), ending in "\n".
std::string format_csv_record(const std::vector<std::string>& fields);

// Reads a whole file into memory. Errors name the path.
Result<std::string> read_file(const std::string& path);

}  // namespace assay
