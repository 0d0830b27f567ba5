// GgufFile: a read-only view of a GGUF (v2/v3) file through mmap.
//
// open() validates everything before returning: the magic and version, every string length,
// array count and tensor dimension against the bytes that remain, every tensor's offset and
// size against the file size, alignment (general.alignment, default 32), duplicate keys and
// tensor names. A hostile file produces a Status naming the file and what was wrong, never a
// crash or an allocation sized by an unchecked count.
//
// Lifetime: tensor data pointers and string_views point into the mapping and live as long as
// the GgufFile. Errors: kNotFound (no such file), kIoError (unreadable), kUnsupported (GGUF v1,
// v4+, big-endian), kCorrupt (everything else). Thread safety: immutable after open(); safe to read
// from many threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engines/local/ggml_types.h"
#include "harness/status.h"

namespace assay {

enum class GgufValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// One metadata value. Arrays of scalars and strings are kept as vectors (tokenizer arrays are
// large: 128k strings), nested arrays as a vector of GgufValue.
//   unsigned integers -> uint64_t; signed -> int64_t; FLOAT32/FLOAT64 -> double; BOOL -> bool;
//   STRING -> string_view (into the file); arrays of integers or BOOL -> vector<int64_t> (UINT64
//   values above INT64_MAX are rejected at open); arrays of floats -> vector<double>; arrays of
//   strings -> vector<string_view>; arrays of arrays -> vector<GgufValue>.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  GgufValueType elem_type = GgufValueType::UINT8;  // for ARRAY
  std::variant<std::monostate, uint64_t, int64_t, double, bool, std::string_view,
               std::vector<int64_t>, std::vector<double>, std::vector<std::string_view>,
               std::vector<GgufValue>>
      v;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is contiguous; n_dims = ne.size() (<= 4)
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;            // relative to the data section
  uint64_t n_bytes = 0;           // computed from type and ne
  const uint8_t* data = nullptr;  // into the mapping
  int64_t n_elements() const;
};

class GgufFile {
 public:
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Same checks over bytes already in memory (tests and fuzzers); the bytes must outlive it.
  static Result<std::unique_ptr<GgufFile>> from_memory(const uint8_t* data, size_t size,
                                                       std::string name);
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }

  // Sorted by key. std::less<> so callers can look up with a string_view.
  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  // Typed lookups: any integer type widens; a present key of the wrong type is an error.
  Result<std::optional<int64_t>> get_int(std::string_view key) const;
  Result<std::optional<double>> get_float(std::string_view key) const;  // any numeric type
  Result<std::optional<std::string_view>> get_string(std::string_view key) const;
  Result<std::optional<bool>> get_bool(std::string_view key) const;
  // Arrays (empty optional if absent; error if present with another element type).
  Result<std::optional<std::vector<std::string_view>>> get_string_array(std::string_view key) const;
  Result<std::optional<std::vector<double>>> get_float_array(std::string_view key) const;
  Result<std::optional<std::vector<int64_t>>> get_int_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* tensor(std::string_view name) const;

  // Bytes of the data section start, from the beginning of the file.
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return map_size_ ? map_size_ : memory_size_; }

 private:
  GgufFile() = default;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue, std::less<>> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  uint64_t data_offset_ = 0;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  size_t memory_size_ = 0;
  friend class GgufParser;
};

}  // namespace assay
