#include "harness/json_write.h"

#include <gtest/gtest.h>

#include <cmath>

namespace assay {
namespace {

TEST(JsonWrite, PythonFloatRepr) {
  // Expected strings are what CPython's repr() prints for these doubles.
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_float_repr(1e-05), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(123456789012345.0), "123456789012345.0");
  EXPECT_EQ(python_float_repr(0.30000000000000004), "0.30000000000000004");
  EXPECT_EQ(python_float_repr(2.0 / 3.0), "0.6666666666666666");
  EXPECT_EQ(python_float_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(python_float_repr(NAN), "NaN");
  EXPECT_EQ(python_float_repr(0.0), "0.0");
}

TEST(JsonWrite, IndentedLikePythonJsonDumps) {
  boost::json::object o;
  o["results"] = boost::json::object{{"acc,none", 0.25}, {"alias", "mmlu"}};
  o["list"] = boost::json::array{1, 2};
  o["empty"] = boost::json::object{};
  o["s"] = "tab\there \"q\" é";
  // json.dumps(o, indent=2, ensure_ascii=False) for the same insertion order.
  std::string want =
      "{\n  \"results\": {\n    \"acc,none\": 0.25,\n    \"alias\": \"mmlu\"\n  },\n"
      "  \"list\": [\n    1,\n    2\n  ],\n  \"empty\": {},\n  \"s\": \"tab\\there \\\"q\\\" é\"\n}";
  EXPECT_EQ(json_dumps(o), want);
  EXPECT_EQ(json_dumps(boost::json::array{1, "a"}, -1), "[1, \"a\"]");
}

TEST(JsonWrite, ControlCharactersEscaped) {
  EXPECT_EQ(json_quote(std::string("a\x01\n", 3)), "\"a\\u0001\\n\"");
}

}  // namespace
}  // namespace assay
