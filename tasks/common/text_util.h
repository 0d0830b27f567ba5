// Small text helpers that reproduce Python's behaviour where lm-eval's prompts depend on it.
#pragma once

#include <string>
#include <string_view>

namespace assay {

// Python str.strip() / rstrip() / lstrip(): removes Unicode whitespace (str.isspace), not just
// ASCII, from UTF-8 text.
std::string unicode_strip(std::string_view s);
std::string unicode_rstrip(std::string_view s);
std::string unicode_lstrip(std::string_view s);
// Python repr() of a float, as a string (for sample logs).
std::string python_float_repr_str(double d);

}  // namespace assay
