// Resumable, checksum-verified file download over HTTP(S) with libcurl (for `assay data pull`).
//
// Bytes go to DEST.part; an interrupted download resumes from the bytes already there with a
// Range request (a server that ignores Range and answers 200 restarts the file). Once complete,
// the sha256 is checked (when one is expected) and DEST.part is renamed to DEST. A mismatch
// deletes the partial file and is an error naming the URL and both digests.
// Thread safety: independent calls may run in parallel (curl_global_init is done once).
#pragma once

#include <functional>
#include <string>

#include "harness/status.h"

namespace assay {

struct DownloadOptions {
  std::string expected_sha256;  // empty: not checked
  int max_attempts = 4;         // transient failures resume this many times
  long connect_timeout_s = 30;
  long low_speed_timeout_s = 60;  // abort when under 1 KB/s for this long
  std::function<void(int64_t done, int64_t total)> on_progress;
};

struct DownloadResult {
  std::string sha256;
  int64_t bytes = 0;
  bool resumed = false;
  int attempts = 0;
};

Result<DownloadResult> download_file(const std::string& url, const std::string& dest,
                                     const DownloadOptions& opts = {});

}  // namespace assay
