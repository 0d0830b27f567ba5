// `assay serve ARGS...` of this build as a child process (end-to-end tests over real HTTP).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace assay::testing {

class ServeProcess {
 public:
  // Starts `assay serve` with args (e.g. {"--model", "default", "--port", "0"}); its stdout is
  // read through a pipe, stderr is inherited.
  explicit ServeProcess(const std::vector<std::string>& args);
  ~ServeProcess();  // SIGKILL if still running
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool started() const { return pid_ > 0; }
  // The first line of stdout (loading the model may take a while); what came so far on timeout.
  std::string first_line(int timeout_ms);
  // The base URL from the first line "listening on URL"; "" if it never came.
  std::string url(int timeout_ms = 120000);
  // Sends sig and returns the exit code (-1: killed, or still running after the timeout).
  int signal_and_wait(int sig, int timeout_ms);

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

}  // namespace assay::testing
