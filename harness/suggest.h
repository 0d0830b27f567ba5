// "Did you mean ...?" for unknown names (commands, flags, tasks, data sets).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace assay {

// Up to `max` candidates within a small edit distance of `word` (or that it prefixes),
// closest first.
std::vector<std::string> close_matches(std::string_view word,
                                       const std::vector<std::string>& candidates, size_t max = 3);
// "; did you mean a, b or c?" (empty when there is nothing close). `prefix` goes before each
// name ("--" for flags).
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates,
                         const char* prefix = "");

}  // namespace assay
