#include "tests/support/test_env.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "harness/status.h"

namespace fs = std::filesystem;

namespace assay::testing {

std::string source_dir() {
  if (const char* s = std::getenv("ASSAY_SOURCE_DIR"); s && *s) return s;
  return ASSAY_SOURCE_DIR_DEFAULT;
}

std::string binary_dir() {
  if (const char* s = std::getenv("ASSAY_BINARY_DIR"); s && *s) return s;
  return ASSAY_BINARY_DIR_DEFAULT;
}

std::string data_dir() {
  if (const char* s = std::getenv("ASSAY_DATA"); s && *s) return s;
  return (fs::path(source_dir()) / ".." / "shared" / "data").lexically_normal().string();
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = (fs::temp_directory_path() /
           ("assay_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd())))
              .string();
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  ASSAY_CHECK_MSG(out.good(), "cannot write " + path);
  out << text;
}

}  // namespace assay::testing
