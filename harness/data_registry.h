// The benchmark data sets assay knows, where to find them, and how to fetch and verify them.
//
// Data never lives in the repository. The data directory is, in order: --data-dir, $ASSAY_DATA,
// then the user cache ($XDG_CACHE_HOME or ~/.cache)/assay/data. Its layout is the one of
// ../shared/data/SOURCES.md (mmlu/test/*.csv, gsm8k/test.jsonl, ...). `assay data pull NAME`
// downloads a data set's official files into the cache directory and checks their sha256.
// Thread safety: pure functions over immutable tables.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "harness/status.h"

namespace assay {

struct RemoteFile {
  std::string url;
  std::string dest;    // relative to the data dir
  std::string sha256;  // expected digest (lowercase hex); empty: recorded on first download
  // "tar": unpack the archive into the data dir, renaming its top folder `unpack_from` to
  // `unpack_to` (MMLU's data.tar holds data/{dev,val,test}/); the archive is then removed.
  std::string unpack;
  std::string unpack_from;
  std::string unpack_to;
};

struct DatasetSpec {
  std::string name;         // "mmlu"
  std::string path;         // relative path whose presence means "present": "mmlu/test"
  std::string description;
  std::vector<RemoteFile> files;  // what `data pull` downloads (may be empty: not pullable)
};

const std::vector<DatasetSpec>& known_datasets();
const DatasetSpec* find_dataset(std::string_view name);

// The cache data dir (may not exist).
std::string default_cache_data_dir();
// Resolves the data directory. `flag` is --data-dir ("" if not given). An explicitly given
// directory that does not exist is an error; the cache dir is returned even if absent when
// `must_exist` is false (data pull creates it).
Result<std::string> resolve_data_dir(const std::string& flag, bool must_exist = true);
// Where the data set lives under data_dir, or NotFound naming the data set, the directory and
// how to get it.
Result<std::string> dataset_path(const std::string& data_dir, std::string_view dataset);

struct VerifyReport {
  int64_t ok = 0;
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;  // "path: expected X, got Y"
};
struct PullOptions {
  // Replaces "scheme://host" of every URL (a local mirror, and how tests serve files).
  std::string mirror;
};
// Downloads a data set's files into data_dir (resumable, sha256-checked), unpacks archives and
// appends the digests to data_dir/MANIFEST.sha256. Returns the files written.
Result<std::vector<std::string>> pull_dataset(const DatasetSpec& d, const std::string& data_dir,
                                              const PullOptions& opts);

// Checks every "sha256  ./path" line of data_dir/MANIFEST.sha256.
Result<VerifyReport> verify_manifest(const std::string& data_dir);

}  // namespace assay
