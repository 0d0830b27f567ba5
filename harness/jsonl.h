// JSONL reading with simdjson: streaming, any file size, errors name "path:line".
//
// for_each_jsonl() reads one line at a time (the file is never loaded whole), parses it with a
// reused simdjson parser and hands the element to `fn` together with the 1-based line number.
// Blank lines are skipped. A malformed line stops the scan with
//   "data/x.jsonl:14: invalid JSON: <reason>"
// unless the caller asks to collect malformed lines instead (Options::on_malformed), in which
// case the scan continues and the caller decides (a task fails that document only).
// The element passed to fn is valid only during the call.
// Thread safety: independent calls are independent; nothing is shared.
#pragma once

#include <simdjson.h>

#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "harness/status.h"

namespace assay {

struct JsonlOptions {
  // Called for a malformed line instead of failing the scan; return non-OK to stop.
  std::function<Status(int64_t line, const Status& error)> on_malformed;
  // Lines longer than this are malformed (protects against a runaway file).
  size_t max_line_bytes = size_t{1} << 30;
};

using JsonlFn = std::function<Status(int64_t line, simdjson::dom::element value)>;

Status for_each_jsonl(const std::string& path, const JsonlFn& fn, const JsonlOptions& opts = {});

// Parses one JSON text (a .json file) fully; the parser owns the memory of the returned element.
Result<simdjson::dom::element> parse_json_file(const std::string& path, simdjson::dom::parser& parser);

// Parses JSON text into a boost::json::value with correctly rounded numbers. Boost.JSON 1.81's own
// parser may be 1 ulp off on doubles, which made log-probs read back from a run's write-ahead log
// differ from the ones first computed (the SIGKILL resume test found it); simdjson is exact.
Result<boost::json::value> parse_json_exact(std::string_view text);

// Small accessors for reading fields with errors that name the field.
// "path:line: field 'question': expected string".
Result<std::string_view> json_string_field(simdjson::dom::element obj, std::string_view field,
                                           std::string_view where);
Result<int64_t> json_int_field(simdjson::dom::element obj, std::string_view field,
                               std::string_view where);
Result<double> json_number_field(simdjson::dom::element obj, std::string_view field,
                                 std::string_view where);

// Re-serializes an element to compact JSON text.
std::string json_to_string(simdjson::dom::element value);

}  // namespace assay
