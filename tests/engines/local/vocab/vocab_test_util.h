// Shared helpers for the vocab tests: data paths and llama.cpp's .inp/.out vector files.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_env.h"

namespace assay::testing {

inline bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

struct VectorCase {
  std::string text;
  std::vector<int32_t> ids;
};

// Reads ggml-vocab-<name>.gguf.inp/.out: inputs separated by "\n__ggml_vocab_test__\n" (after
// the last one too), one line of space-separated ids per input.
inline bool read_vectors(const std::string& base, std::vector<VectorCase>* cases) {
  std::string inp, out;
  if (!read_file(base + ".inp", &inp) || !read_file(base + ".out", &out)) return false;
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0;;) {
    size_t e = inp.find(sep, pos);
    if (e == std::string::npos) break;
    texts.push_back(inp.substr(pos, e - pos));
    pos = e + sep.size();
  }
  std::vector<std::string> lines;
  std::stringstream ss(out);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  if (lines.size() < texts.size()) return false;
  for (size_t i = 0; i < texts.size(); ++i) {
    VectorCase c;
    c.text = texts[i];
    std::stringstream ls(lines[i]);
    for (int64_t id; ls >> id;) c.ids.push_back(static_cast<int32_t>(id));
    cases->push_back(std::move(c));
  }
  return true;
}

inline std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

}  // namespace assay::testing
