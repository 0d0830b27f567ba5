#include "engines/local/safetensors_reader.h"

#include <simdjson.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "engines/local/mapped_file.h"

namespace assay {
namespace {

// The reference implementation (huggingface/safetensors) refuses headers above 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  std::string_view name;
  int64_t size;
  bool readable;
  GgmlType type;
};
constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, true, GgmlType::F32},     {"F16", 2, true, GgmlType::F16},
    {"BF16", 2, true, GgmlType::BF16},   {"F64", 8, false, GgmlType::F64},
    {"I64", 8, false, GgmlType::I64},    {"I32", 4, false, GgmlType::I32},
    {"I16", 2, false, GgmlType::I16},    {"I8", 1, false, GgmlType::I8},
    {"U8", 1, false, GgmlType::I8},      {"U16", 2, false, GgmlType::I16},
    {"U32", 4, false, GgmlType::I32},    {"U64", 8, false, GgmlType::I64},
    {"BOOL", 1, false, GgmlType::I8},    {"F8_E4M3", 1, false, GgmlType::I8},
    {"F8_E5M2", 1, false, GgmlType::I8},
};

Result<std::string> read_small_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return io_error(path + ": cannot open: " + std::strerror(errno));
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) return io_error(path + ": read failed");
  return out;
}

}  // namespace

int64_t SafetensorsTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<SafetensorsHeader> parse_safetensors_header(std::string_view json, const uint8_t* buffer,
                                                   uint64_t buffer_size, const std::string& name) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::element doc;
  if (auto e = parser.parse(padded).get(doc); e) {
    return corrupt(name + ": safetensors header is not valid JSON (" +
                   std::string(simdjson::error_message(e)) + ")");
  }
  simdjson::dom::object root;
  if (doc.get_object().get(root))
    return corrupt(name + ": safetensors header is not a JSON object");
  SafetensorsHeader out;
  std::set<std::string_view> seen;
  for (auto field : root) {
    const std::string key(field.key);
    if (!seen.insert(field.key).second)
      return corrupt(name + ": duplicate header entry '" + key + "'");
    if (key == "__metadata__") {
      simdjson::dom::object meta;
      if (field.value.get_object().get(meta)) {
        return corrupt(name + ": __metadata__ is not a JSON object");
      }
      for (auto m : meta) {
        std::string_view v;
        if (m.value.get_string().get(v)) {
          return corrupt(name + ": __metadata__ value '" + std::string(m.key) +
                         "' is not a string");
        }
        out.metadata.emplace(std::string(m.key), std::string(v));
      }
      continue;
    }
    const std::string where = name + ": tensor '" + key + "'";
    simdjson::dom::object t;
    if (field.value.get_object().get(t)) return corrupt(where + " is not a JSON object");
    std::string_view dtype;
    if (t["dtype"].get_string().get(dtype))
      return corrupt(where + ": missing or non-string 'dtype'");
    const DtypeInfo* info = nullptr;
    for (const DtypeInfo& d : kDtypes) {
      if (d.name == dtype) info = &d;
    }
    if (info == nullptr) return corrupt(where + ": unknown dtype '" + std::string(dtype) + "'");
    if (!info->readable) {
      return unsupported(where + " has dtype " + std::string(dtype) +
                         "; assay reads F32, F16 and BF16 safetensors");
    }
    SafetensorsTensor st;
    st.name = key;
    st.dtype = std::string(dtype);
    st.type = info->type;
    simdjson::dom::array shape;
    if (t["shape"].get_array().get(shape)) return corrupt(where + ": missing or non-array 'shape'");
    uint64_t n_elem = 1;
    for (auto d : shape) {
      uint64_t v;
      if (d.get_uint64().get(v) || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return corrupt(where + ": 'shape' entries must be non-negative integers");
      }
      if (v != 0 && n_elem > std::numeric_limits<uint64_t>::max() / 8 / v) {
        return corrupt(where + ": 'shape' product overflows");
      }
      n_elem *= v;
      st.shape.push_back(static_cast<int64_t>(v));
    }
    if (st.shape.size() > 8) return corrupt(where + ": 'shape' has more than 8 dimensions");
    simdjson::dom::array offs;
    if (t["data_offsets"].get_array().get(offs) || offs.size() != 2) {
      return corrupt(where + ": 'data_offsets' must be an array [begin, end]");
    }
    uint64_t begin, end;
    if (offs.at(0).get_uint64().get(begin) || offs.at(1).get_uint64().get(end)) {
      return corrupt(where + ": 'data_offsets' entries must be non-negative integers");
    }
    if (begin > end || end > buffer_size) {
      return corrupt(where + ": data_offsets [" + std::to_string(begin) + ", " +
                     std::to_string(end) + "] fall outside the data buffer (" +
                     std::to_string(buffer_size) + " bytes); the file may be truncated");
    }
    const uint64_t want = n_elem * static_cast<uint64_t>(info->size);
    if (end - begin != want) {
      return corrupt(where + ": data_offsets span " + std::to_string(end - begin) +
                     " bytes but shape and dtype need " + std::to_string(want));
    }
    st.n_bytes = want;
    st.data = buffer != nullptr ? buffer + begin : nullptr;
    out.tensors.push_back(std::move(st));
  }
  // Overlap check on [begin, end) ranges; empty tensors cannot overlap anything.
  std::vector<std::pair<uint64_t, size_t>> ranges;
  for (size_t i = 0; i < out.tensors.size(); ++i) {
    if (out.tensors[i].n_bytes == 0) continue;
    const uint64_t begin =
        buffer != nullptr ? static_cast<uint64_t>(out.tensors[i].data - buffer) : 0;
    ranges.emplace_back(begin, i);
  }
  if (buffer != nullptr) {
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i) {
      const SafetensorsTensor& a = out.tensors[ranges[i - 1].second];
      const SafetensorsTensor& b = out.tensors[ranges[i].second];
      if (ranges[i - 1].first + a.n_bytes > ranges[i].first) {
        return corrupt(name + ": tensors '" + a.name + "' and '" + b.name + "' overlap");
      }
    }
  }
  return out;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::from_memory(const uint8_t* data,
                                                                      size_t size,
                                                                      std::string name) {
  if (data == nullptr || size < 8) {
    return corrupt(name + ": " + std::to_string(size) +
                   " bytes is too short for a safetensors file (8-byte header length)");
  }
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  if (n > size - 8) {
    return corrupt(name + ": header length " + std::to_string(n) +
                   " runs past the end of the file (" + std::to_string(size) +
                   " bytes); not a safetensors file or truncated");
  }
  if (n > kMaxHeaderBytes) {
    return corrupt(name + ": header length " + std::to_string(n) + " exceeds the 100 MB limit");
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = std::move(name);
  const std::string_view json(reinterpret_cast<const char*>(data + 8), n);
  ASSAY_ASSIGN_OR_RETURN(f->header_,
                         parse_safetensors_header(json, data + 8 + n, size - 8 - n, f->path_));
  for (size_t i = 0; i < f->header_.tensors.size(); ++i) {
    f->index_.emplace(f->header_.tensors[i].name, i);
  }
  return f;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  ASSAY_ASSIGN_OR_RETURN(ReadOnlyMap m, map_file_readonly(
                                            path, 8, "a safetensors file (8-byte header length)"));
  void* map = m.data;
  const size_t size = m.size;
  auto f = from_memory(static_cast<const uint8_t*>(map), size, path);
  if (!f.ok()) {
    ::munmap(map, size);
    return f.status();
  }
  (*f)->map_ = map;
  (*f)->map_size_ = size;
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const SafetensorsTensor* SafetensorsFile::tensor(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

Result<std::unique_ptr<SafetensorsModel>> SafetensorsModel::open_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  auto model = std::make_unique<SafetensorsModel>();
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single_path = fs::path(dir) / "model.safetensors";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    ASSAY_ASSIGN_OR_RETURN(std::string text, read_small_file(index_path.string()));
    simdjson::dom::parser parser;
    simdjson::padded_string padded(text);
    simdjson::dom::element doc;
    simdjson::dom::object weight_map;
    if (parser.parse(padded).get(doc) || doc["weight_map"].get_object().get(weight_map)) {
      return corrupt(index_path.string() + ": not valid JSON with a 'weight_map' object");
    }
    std::map<std::string, std::vector<std::string>, std::less<>> by_shard;
    for (auto field : weight_map) {
      std::string_view shard;
      if (field.value.get_string().get(shard)) {
        return corrupt(index_path.string() + ": weight_map['" + std::string(field.key) +
                       "'] is not a string");
      }
      if (shard.empty() || shard.find('/') != std::string_view::npos || shard == "..") {
        return corrupt(index_path.string() + ": weight_map['" + std::string(field.key) +
                       "'] names '" + std::string(shard) + "', not a file in the same folder");
      }
      by_shard[std::string(shard)].push_back(std::string(field.key));
    }
    if (by_shard.empty()) return corrupt(index_path.string() + ": weight_map is empty");
    for (const auto& [shard, names] : by_shard) {
      ASSAY_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open((fs::path(dir) / shard).string()));
      for (const std::string& n : names) {
        const SafetensorsTensor* t = file->tensor(n);
        if (t == nullptr) {
          return corrupt(index_path.string() + ": weight_map puts '" + n + "' in " + shard +
                         ", which does not contain it");
        }
        if (!model->tensors_.emplace(n, t).second) {
          return corrupt(index_path.string() + ": tensor '" + n + "' is mapped twice");
        }
      }
      if (file->tensors().size() != names.size()) {
        return corrupt(file->path() + ": holds " + std::to_string(file->tensors().size()) +
                       " tensors but the index maps " + std::to_string(names.size()) + " to it");
      }
      model->files_.push_back(std::move(file));
    }
    return model;
  }
  if (!fs::exists(single_path, ec)) {
    return not_found(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  ASSAY_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(single_path.string()));
  for (const SafetensorsTensor& t : file->tensors()) model->tensors_.emplace(t.name, &t);
  model->files_.push_back(std::move(file));
  return model;
}

const SafetensorsTensor* SafetensorsModel::tensor(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second;
}

}  // namespace assay
