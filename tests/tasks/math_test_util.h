// Fixture reading for the math/gsm8k parity tests: one JSON array per line, written by
// scripts/fixtures/math_make_fixtures.py from the Python references.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/test_env.h"

namespace assay::testing {

inline std::filesystem::path math_testdata(const std::string& name) {
  return std::filesystem::path(source_dir()) / "tests" / "tasks" / "testdata" / name;
}

// Calls fn(row) for each line; row elements are simdjson DOM elements.
inline void for_each_row(const std::string& name,
                         const std::function<void(simdjson::dom::array)>& fn) {
  std::ifstream in(math_testdata(name));
  ASSERT_TRUE(in) << "missing fixture " << math_testdata(name);
  simdjson::dom::parser parser;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    simdjson::dom::element doc;
    auto error = parser.parse(line).get(doc);
    ASSERT_FALSE(error) << name << ": " << line;
    fn(doc.get_array().value());
  }
}

inline std::string str(simdjson::dom::element e) { return std::string(e.get_string().value()); }

inline std::optional<std::string> opt_str(simdjson::dom::element e) {
  if (e.is_null()) return std::nullopt;
  return str(e);
}

}  // namespace assay::testing
