// Small text helpers that reproduce Python's behaviour where lm-eval's prompts depend on it.
#pragma once

#include <string>
#include <string_view>

namespace assay {

// Python str.rstrip() / lstrip(): removes Unicode whitespace (str.isspace), not just ASCII,
// from UTF-8 text. (strip() is python_strip in tasks/common/answer_extract.h.)
std::string unicode_rstrip(std::string_view s);
std::string unicode_lstrip(std::string_view s);

}  // namespace assay
