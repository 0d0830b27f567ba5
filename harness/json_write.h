// JSON writing with Boost.JSON, formatted the way Python's json.dumps formats it, so assay's
// results.json reads like lm-evaluation-harness's: indent=2, ", " / ": " separators, floats in
// Python repr (shortest round-trip: 0.1, 1e-05, 1.0), non-ASCII kept as UTF-8 (ensure_ascii=False).
// NaN and infinities are written as NaN / Infinity as Python does (lm-eval output has them).
// Thread safety: pure functions.
#pragma once

#include <boost/json.hpp>
#include <string>

#include "harness/status.h"

namespace assay {

// indent < 0: compact single line (", " and ": " separators as Python's default).
std::string json_dumps(const boost::json::value& v, int indent = 2);
// Python repr of a double ("0.1", "1e-05", "2.0", "NaN").
std::string python_float_repr(double d);
// Escapes a string as a JSON string literal including the quotes.
std::string json_quote(std::string_view s);

Status write_json_file_atomic(const std::string& path, const boost::json::value& v, int indent = 2);

}  // namespace assay
