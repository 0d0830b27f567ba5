#include "engines/local/gguf_reader.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "engines/local/mapped_file.h"

namespace assay {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read little-endian
constexpr size_t kMaxTensorName = 64;        // GGML_MAX_NAME
constexpr size_t kMaxDims = 4;               // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;            // hostile nesting must not exhaust the stack

std::string type_name(GgufValueType t) {
  static const char* kNames[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                 "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                 "UINT64", "INT64",   "FLOAT64"};
  const auto i = static_cast<uint32_t>(t);
  return i < 13 ? kNames[i] : "type#" + std::to_string(i);
}

// Smallest encoding of one value of the type; 0 for an unknown type.
uint64_t min_value_size(uint32_t t) {
  switch (static_cast<GgufValueType>(t)) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL:
      return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16:
      return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32:
      return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64:
      return 8;
    case GgufValueType::STRING:
      return 8;  // the length
    case GgufValueType::ARRAY:
      return 12;  // element type + count
  }
  return 0;
}

}  // namespace

// Reads the file front to back; every read checks the bytes that remain first.
class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size, GgufFile* out)
      : base_(data), size_(size), out_(out) {}

  Status parse() {
    uint32_t magic = 0;
    if (size_ < 4 || !read_raw(&magic)) return err_at("file too short for the GGUF magic");
    if (magic != kGgufMagic) {
      return corrupt(out_->path_ + ": not a GGUF file (magic bytes are not \"GGUF\")");
    }
    uint32_t version = 0;
    if (!read_raw(&version)) return err_at("truncated header (version)");
    if (version == 1) {
      return unsupported(out_->path_ +
                         ": GGUF version 1 is not supported (it used 32-bit counts); reconvert "
                         "the model with a current llama.cpp convert_hf_to_gguf.py");
    }
    if (version == 0x02000000u || version == 0x03000000u) {
      return unsupported(out_->path_ + ": big-endian GGUF files are not supported");
    }
    if (version != 2 && version != 3) {
      return unsupported(out_->path_ + ": GGUF version " + std::to_string(version) +
                         " is not supported (assay reads versions 2 and 3)");
    }
    out_->version_ = version;
    uint64_t n_tensors = 0, n_kv = 0;
    if (!read_raw(&n_tensors) || !read_raw(&n_kv)) return err_at("truncated header (counts)");
    // Each KV needs at least key length (8) + type (4) + 1 byte; each tensor info at least
    // name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
    if (n_kv > remaining() / 13) {
      return err_at("metadata_kv_count " + std::to_string(n_kv) +
                    " exceeds what the file can hold");
    }
    if (n_tensors > remaining() / 32) {
      return err_at("tensor_count " + std::to_string(n_tensors) +
                    " exceeds what the file can hold");
    }
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string_view key;
      ASSAY_RETURN_IF_ERROR(read_string(&key, "metadata key #" + std::to_string(i)));
      if (key.empty()) return err_at("metadata key #" + std::to_string(i) + " is empty");
      uint32_t type = 0;
      if (!read_raw(&type)) return err_at("truncated metadata '" + std::string(key) + "' (type)");
      GgufValue value;
      ASSAY_RETURN_IF_ERROR(read_value(type, &value, std::string(key), 0));
      auto [it, inserted] = out_->kv_.emplace(std::string(key), std::move(value));
      if (!inserted) return err_at("duplicate metadata key '" + std::string(key) + "'");
    }
    ASSAY_RETURN_IF_ERROR(read_alignment());
    out_->tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) ASSAY_RETURN_IF_ERROR(read_tensor_info(i));
    return place_tensors();
  }

 private:
  size_t remaining() const { return size_ - pos_; }

  Status err_at(const std::string& what) const {
    return corrupt(out_->path_ + ": offset " + std::to_string(pos_) + ": " + what);
  }

  template <typename T>
  bool read_raw(T* v) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  Status read_string(std::string_view* s, const std::string& what) {
    uint64_t len = 0;
    if (!read_raw(&len)) return err_at("truncated " + what + " (string length)");
    if (len > remaining()) {
      return err_at(what + ": string length " + std::to_string(len) + " runs past the end of file");
    }
    *s = std::string_view(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return Status::OK();
  }

  Status read_scalar(GgufValueType t, GgufValue* v, const std::string& what) {
    auto trunc = [&] { return err_at("truncated value of '" + what + "'"); };
    switch (t) {
#define ASSAY_GGUF_INT(ENUM, CTYPE, STORE) \
  case GgufValueType::ENUM: {              \
    CTYPE x;                               \
    if (!read_raw(&x)) return trunc();     \
    v->v = static_cast<STORE>(x);          \
    return Status::OK();                   \
  }
      ASSAY_GGUF_INT(UINT8, uint8_t, uint64_t)
      ASSAY_GGUF_INT(UINT16, uint16_t, uint64_t)
      ASSAY_GGUF_INT(UINT32, uint32_t, uint64_t)
      ASSAY_GGUF_INT(UINT64, uint64_t, uint64_t)
      ASSAY_GGUF_INT(INT8, int8_t, int64_t)
      ASSAY_GGUF_INT(INT16, int16_t, int64_t)
      ASSAY_GGUF_INT(INT32, int32_t, int64_t)
      ASSAY_GGUF_INT(INT64, int64_t, int64_t)
      ASSAY_GGUF_INT(FLOAT32, float, double)
      ASSAY_GGUF_INT(FLOAT64, double, double)
#undef ASSAY_GGUF_INT
      case GgufValueType::BOOL: {
        uint8_t x;
        if (!read_raw(&x)) return trunc();
        if (x > 1)
          return err_at("'" + what + "': BOOL value " + std::to_string(x) + " is not 0 or 1");
        v->v = x != 0;
        return Status::OK();
      }
      case GgufValueType::STRING: {
        std::string_view s;
        ASSAY_RETURN_IF_ERROR(read_string(&s, "value of '" + what + "'"));
        v->v = s;
        return Status::OK();
      }
      default:
        return internal_error("read_scalar on " + type_name(t));
    }
  }

  Status read_value(uint32_t type, GgufValue* v, const std::string& what, int depth) {
    if (min_value_size(type) == 0) {
      return err_at("'" + what + "' has unknown value type " + std::to_string(type));
    }
    v->type = static_cast<GgufValueType>(type);
    if (v->type != GgufValueType::ARRAY) return read_scalar(v->type, v, what);
    if (depth >= kMaxArrayDepth) return err_at("'" + what + "': arrays nested too deeply");
    uint32_t elem = 0;
    uint64_t count = 0;
    if (!read_raw(&elem) || !read_raw(&count))
      return err_at("truncated array header of '" + what + "'");
    const uint64_t min_size = min_value_size(elem);
    if (min_size == 0) {
      return err_at("'" + what + "' is an array of unknown value type " + std::to_string(elem));
    }
    if (count > remaining() / min_size) {
      return err_at("'" + what + "': array count " + std::to_string(count) +
                    " exceeds the bytes left in the file");
    }
    const auto et = static_cast<GgufValueType>(elem);
    v->elem_type = et;
    GgufValue tmp;
    switch (et) {
      case GgufValueType::STRING: {
        std::vector<std::string_view> out(count);
        for (uint64_t i = 0; i < count; ++i) {
          ASSAY_RETURN_IF_ERROR(
              read_string(&out[i], "element " + std::to_string(i) + " of '" + what + "'"));
        }
        v->v = std::move(out);
        return Status::OK();
      }
      case GgufValueType::FLOAT32:
      case GgufValueType::FLOAT64: {
        std::vector<double> out(count);
        for (uint64_t i = 0; i < count; ++i) {
          ASSAY_RETURN_IF_ERROR(read_scalar(et, &tmp, what));
          out[i] = std::get<double>(tmp.v);
        }
        v->v = std::move(out);
        return Status::OK();
      }
      case GgufValueType::ARRAY: {
        std::vector<GgufValue> out(count);
        for (uint64_t i = 0; i < count; ++i) {
          ASSAY_RETURN_IF_ERROR(read_value(elem, &out[i], what, depth + 1));
        }
        v->v = std::move(out);
        return Status::OK();
      }
      default: {  // integers and BOOL
        std::vector<int64_t> out(count);
        for (uint64_t i = 0; i < count; ++i) {
          ASSAY_RETURN_IF_ERROR(read_scalar(et, &tmp, what));
          if (auto* u = std::get_if<uint64_t>(&tmp.v)) {
            if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
              return err_at("'" + what + "': UINT64 element does not fit in int64");
            }
            out[i] = static_cast<int64_t>(*u);
          } else if (auto* s = std::get_if<int64_t>(&tmp.v)) {
            out[i] = *s;
          } else {
            out[i] = std::get<bool>(tmp.v) ? 1 : 0;
          }
        }
        v->v = std::move(out);
        return Status::OK();
      }
    }
  }

  Status read_alignment() {
    auto a = out_->get_int("general.alignment");
    if (!a.ok()) return a.status();
    if (!a->has_value()) return Status::OK();
    const int64_t al = **a;
    if (al <= 0 || (al & (al - 1)) != 0 || al > (1 << 20)) {
      return corrupt(out_->path_ + ": general.alignment " + std::to_string(al) +
                     " is not a power of two in [1, 2^20]");
    }
    out_->alignment_ = static_cast<uint64_t>(al);
    return Status::OK();
  }

  Status read_tensor_info(uint64_t i) {
    GgufTensorInfo t;
    std::string_view name;
    ASSAY_RETURN_IF_ERROR(read_string(&name, "tensor #" + std::to_string(i) + " name"));
    if (name.size() > kMaxTensorName) {
      return err_at("tensor #" + std::to_string(i) + " name is " + std::to_string(name.size()) +
                    " bytes (at most 64)");
    }
    t.name = std::string(name);
    uint32_t n_dims = 0;
    if (!read_raw(&n_dims)) return err_at("truncated tensor info of '" + t.name + "'");
    if (n_dims == 0 || n_dims > kMaxDims) {
      return err_at("tensor '" + t.name + "' has " + std::to_string(n_dims) +
                    " dims (1 to 4 allowed)");
    }
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      if (!read_raw(&ne)) return err_at("truncated dims of tensor '" + t.name + "'");
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (ne != 0 && static_cast<uint64_t>(n_elements) >
                          static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / ne)) {
        return err_at("tensor '" + t.name + "' has dims whose product overflows");
      }
      n_elements *= static_cast<int64_t>(ne);
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    uint32_t type = 0;
    if (!read_raw(&type) || !read_raw(&t.offset)) {
      return err_at("truncated tensor info of '" + t.name + "'");
    }
    const GgmlTypeTraits* tr = ggml_type_traits(type);
    if (tr == nullptr) {
      return corrupt(out_->path_ + ": tensor '" + t.name + "' has unknown ggml type id " +
                     std::to_string(type));
    }
    t.type = static_cast<GgmlType>(type);
    if (t.ne[0] % tr->block_elems != 0) {
      return corrupt(out_->path_ + ": tensor '" + t.name + "' of type " + std::string(tr->name) +
                     " has ne[0] = " + std::to_string(t.ne[0]) +
                     ", not a multiple of its block size " + std::to_string(tr->block_elems));
    }
    // n_elements fits int64 and block_bytes/block_elems <= 4.5, so use 128-bit for safety.
    const unsigned __int128 bytes = static_cast<unsigned __int128>(n_elements / tr->block_elems) *
                                    static_cast<unsigned __int128>(tr->block_bytes);
    if (bytes > size_) {
      return corrupt(
          out_->path_ + ": tensor '" + t.name + "' needs " +
          std::to_string(static_cast<uint64_t>(std::min<unsigned __int128>(bytes, UINT64_MAX))) +
          " bytes, more than the whole file (" + std::to_string(size_) + ")");
    }
    t.n_bytes = static_cast<uint64_t>(bytes);
    if (t.offset % out_->alignment_ != 0) {
      return corrupt(out_->path_ + ": tensor '" + t.name + "' offset " + std::to_string(t.offset) +
                     " is not a multiple of the alignment " + std::to_string(out_->alignment_));
    }
    auto [it, inserted] = out_->tensor_index_.emplace(t.name, out_->tensors_.size());
    if (!inserted) return corrupt(out_->path_ + ": duplicate tensor name '" + t.name + "'");
    out_->tensors_.push_back(std::move(t));
    return Status::OK();
  }

  Status place_tensors() {
    const uint64_t a = out_->alignment_;
    const uint64_t data_start = pos_ + (a - pos_ % a) % a;
    out_->data_offset_ = data_start;
    if (out_->tensors_.empty()) return Status::OK();
    if (data_start > size_) {
      return corrupt(out_->path_ + ": the tensor data section would start at " +
                     std::to_string(data_start) + ", past the end of the file (" +
                     std::to_string(size_) + " bytes)");
    }
    const uint64_t data_size = size_ - data_start;
    std::vector<size_t> order(out_->tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (GgufTensorInfo& t : out_->tensors_) {
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        return corrupt(out_->path_ + ": tensor '" + t.name + "' (offset " +
                       std::to_string(t.offset) + ", " + std::to_string(t.n_bytes) +
                       " bytes) runs past the end of the file; "
                       "the file may be truncated");
      }
      t.data = base_ + data_start + t.offset;
    }
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      return out_->tensors_[x].offset < out_->tensors_[y].offset;
    });
    for (size_t i = 1; i < order.size(); ++i) {
      const GgufTensorInfo& prev = out_->tensors_[order[i - 1]];
      const GgufTensorInfo& cur = out_->tensors_[order[i]];
      if (prev.offset + prev.n_bytes > cur.offset) {
        return corrupt(out_->path_ + ": tensors '" + prev.name + "' and '" + cur.name +
                       "' overlap");
      }
    }
    return Status::OK();
  }

  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
  GgufFile* out_;
};

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

Result<std::unique_ptr<GgufFile>> GgufFile::from_memory(const uint8_t* data, size_t size,
                                                        std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->memory_size_ = size;
  static const uint8_t kEmpty = 0;
  GgufParser parser(data != nullptr ? data : &kEmpty, data != nullptr ? size : 0, f.get());
  ASSAY_RETURN_IF_ERROR(parser.parse());
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  ASSAY_ASSIGN_OR_RETURN(ReadOnlyMap m,
                         map_file_readonly(path, 24, "a GGUF file (header is 24 bytes)"));
  void* map = m.data;
  const size_t size = m.size;
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->map_ = map;
  f->map_size_ = size;
  GgufParser parser(static_cast<const uint8_t*>(map), size, f.get());
  ASSAY_RETURN_IF_ERROR(parser.parse());
  return f;
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

namespace {
Status wrong_type(const std::string& path, std::string_view key, const GgufValue& v,
                  const char* want) {
  std::string got = type_name(v.type);
  if (v.type == GgufValueType::ARRAY) got += " of " + type_name(v.elem_type);
  return corrupt(path + ": metadata '" + std::string(key) + "' is " + got + ", expected " + want);
}
}  // namespace

Result<std::optional<int64_t>> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::optional<int64_t>();
  if (const auto* u = std::get_if<uint64_t>(&v->v)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return corrupt(path_ + ": metadata '" + std::string(key) + "' value " + std::to_string(*u) +
                     " is out of range");
    }
    return std::optional<int64_t>(static_cast<int64_t>(*u));
  }
  if (const auto* s = std::get_if<int64_t>(&v->v)) return std::optional<int64_t>(*s);
  return wrong_type(path_, key, *v, "an integer");
}

Result<std::optional<double>> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::optional<double>();
  if (const auto* d = std::get_if<double>(&v->v)) return std::optional<double>(*d);
  if (const auto* u = std::get_if<uint64_t>(&v->v))
    return std::optional<double>(static_cast<double>(*u));
  if (const auto* s = std::get_if<int64_t>(&v->v))
    return std::optional<double>(static_cast<double>(*s));
  return wrong_type(path_, key, *v, "a number");
}

Result<std::optional<std::string_view>> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::optional<std::string_view>();
  if (const auto* s = std::get_if<std::string_view>(&v->v))
    return std::optional<std::string_view>(*s);
  return wrong_type(path_, key, *v, "a STRING");
}

Result<std::optional<bool>> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::optional<bool>();
  if (const auto* b = std::get_if<bool>(&v->v)) return std::optional<bool>(*b);
  return wrong_type(path_, key, *v, "a BOOL");
}

Result<std::optional<std::vector<std::string_view>>> GgufFile::get_string_array(
    std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::optional<std::vector<std::string_view>>();
  if (const auto* a = std::get_if<std::vector<std::string_view>>(&v->v)) {
    return std::optional<std::vector<std::string_view>>(*a);
  }
  return wrong_type(path_, key, *v, "an ARRAY of STRING");
}

Result<std::optional<std::vector<double>>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::optional<std::vector<double>>();
  if (const auto* a = std::get_if<std::vector<double>>(&v->v)) {
    return std::optional<std::vector<double>>(*a);
  }
  if (const auto* a = std::get_if<std::vector<int64_t>>(&v->v)) {
    return std::optional<std::vector<double>>(std::vector<double>(a->begin(), a->end()));
  }
  return wrong_type(path_, key, *v, "an ARRAY of numbers");
}

Result<std::optional<std::vector<int64_t>>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::optional<std::vector<int64_t>>();
  if (const auto* a = std::get_if<std::vector<int64_t>>(&v->v)) {
    if (v->elem_type != GgufValueType::BOOL) return std::optional<std::vector<int64_t>>(*a);
  }
  return wrong_type(path_, key, *v, "an ARRAY of integers");
}

const GgufTensorInfo* GgufFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace assay
