// Answer extraction helpers shared by generative tasks (math, gsm8k, ...).
//
// All functions take and return UTF-8 text. Where a helper mirrors a Python reference
// (lm-evaluation-harness, hendrycks/math) it follows Python's str semantics: indices and lengths
// count code points, not bytes, and "whitespace" is what str.strip() removes.
//
// Thread safety: pure functions; safe to call from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace assay {

// Removes reasoning blocks a thinking model emits before its answer:
//   * every "<think>...</think>" span is deleted (tags included);
//   * a "</think>" without an opening tag deletes everything before it (chat templates often
//     put "<think>" in the prompt, so the generation starts inside the block);
//   * an unterminated "<think>" keeps only the text before it (the model ran out of tokens
//     while thinking, so nothing after the tag is an answer).
// Text without tags is returned unchanged.
std::string strip_think(std::string_view text);

// lm-eval's last_boxed_only_string (hendrycks_math and minerva_math utils), byte for byte:
//   * if "\boxed " (with a space) occurs anywhere, returns "\boxed " + the text after its last
//     occurrence up to the next '$';
//   * otherwise finds the last "\boxed" (else the last "\fbox") and returns it through the
//     brace that closes the first '{' after it;
//   * nullopt when there is no box or the braces never balance.
std::optional<std::string> last_boxed_only_string(std::string_view text);

// lm-eval's remove_boxed: "\boxed X" -> "X" when s contains "\boxed " (s must start with it);
// else "\boxed{X}" -> "X". nullopt where Python's asserts fail (e.g. an "\fbox{...}" string).
std::optional<std::string> remove_boxed(std::string_view boxed);

// Both of the above: the content of the last box in text, or nullopt.
std::optional<std::string> last_boxed_content(std::string_view text);

// Python str.strip() with no argument: removes leading/trailing code points for which
// str.isspace() is true (ASCII whitespace, U+001C..U+001F, U+0085, U+00A0, U+1680,
// U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
std::string python_strip(std::string_view text);

// Length in bytes of the UTF-8 sequence starting at text[pos] (1 for invalid bytes), so callers
// can step over whole code points as Python's str indexing does.
size_t utf8_char_len(std::string_view text, size_t pos);

// Number of code points in text (Python len()).
size_t utf8_length(std::string_view text);

}  // namespace assay
