// SafetensorsFile: a read-only view of one .safetensors file through mmap; SafetensorsModel: the
// tensors of a Hugging Face folder, single file (model.safetensors) or sharded
// (model.safetensors.index.json + shards).
//
// File layout: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [out, in], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"k": "v"}}
// then the byte buffer; offsets are relative to its start (8 + N).
//
// open() validates before returning: header length within the file (and at most 100 MB, the
// limit of the reference implementation), the JSON, every dtype (F32, F16 and BF16 are read;
// any other dtype is kUnsupported naming the tensor), shape entries, data_offsets in bounds with
// end - begin == product(shape) * dtype size, and no two tensors overlapping. Errors name the
// file and the tensor or field.
//
// Shapes are kept in safetensors (row-major, PyTorch) order: shape[0] is the slowest dimension,
// the reverse of ggml's ne. Data pointers point into the mapping and may be unaligned for their
// dtype (the format does not promise alignment); they live as long as the owning object.
// Thread safety: immutable after open().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engines/local/ggml_types.h"
#include "harness/status.h"

namespace assay {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // as written: "F32", "F16", "BF16"
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> shape;  // row-major; shape[0] slowest
  const uint8_t* data = nullptr;
  uint64_t n_bytes = 0;
  int64_t n_elements() const;
};

// Parses and validates a header. `json` is the N header bytes; `buffer_size` the bytes after it.
// Tensor data pointers are set relative to `buffer` (may be null for header-only checks, then
// data stays null). Exposed for the fuzzer and tests.
struct SafetensorsHeader {
  std::vector<SafetensorsTensor> tensors;  // in header order
  std::map<std::string, std::string, std::less<>> metadata;
};
Result<SafetensorsHeader> parse_safetensors_header(std::string_view json, const uint8_t* buffer,
                                                   uint64_t buffer_size, const std::string& name);

class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
  // Same checks over bytes already in memory; the bytes must outlive the object.
  static Result<std::unique_ptr<SafetensorsFile>> from_memory(const uint8_t* data, size_t size,
                                                              std::string name);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsTensor>& tensors() const { return header_.tensors; }
  const SafetensorsTensor* tensor(std::string_view name) const;
  const std::map<std::string, std::string, std::less<>>& metadata() const {
    return header_.metadata;
  }

 private:
  SafetensorsFile() = default;
  std::string path_;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
};

class SafetensorsModel {
 public:
  // `dir` holds model.safetensors.index.json (its weight_map names the shard of every tensor;
  // each shard must hold exactly the tensors mapped to it) or a single model.safetensors.
  // kNotFound if neither exists.
  static Result<std::unique_ptr<SafetensorsModel>> open_folder(const std::string& dir);

  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // All tensors of all shards by name.
  const std::map<std::string, const SafetensorsTensor*, std::less<>>& tensors() const {
    return tensors_;
  }
  const SafetensorsTensor* tensor(std::string_view name) const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsTensor*, std::less<>> tensors_;
};

}  // namespace assay
