// Helpers shared by tests: where the shared data lives, temp directories.
#pragma once

#include <string>

namespace assay::testing {

// $ASSAY_DATA, else ../shared/data relative to the source tree.
std::string data_dir();
// The source tree root ($ASSAY_SOURCE_DIR, set by CTest).
std::string source_dir();
// The build tree root ($ASSAY_BINARY_DIR, else the configured one): where `assay` is.
std::string binary_dir();
// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};
// Writes text to a file (test setup; aborts on failure).
void write_text(const std::string& path, const std::string& text);

}  // namespace assay::testing
