#include "tests/support/run_assay.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "tests/support/test_env.h"

namespace assay::testing {

AssayRun run_assay(const std::string& args, const std::string& env) {
  const std::string cmd = env + " " + binary_dir() + "/assay " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed: " + cmd};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace assay::testing
