// Runs the real `assay` binary of this build as a user would (tests of the CLI end to end).
#pragma once

#include <string>

namespace assay::testing {

struct AssayRun {
  int code;         // exit status; -1 when killed by a signal
  std::string out;  // stdout and stderr together
};

// `env` is prepended to the command line ("VAR=value ..."); args are passed through the shell.
AssayRun run_assay(const std::string& args, const std::string& env = "");

}  // namespace assay::testing
