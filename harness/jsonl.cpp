#include "harness/jsonl.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace assay {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { if (f) std::fclose(f); }
};

std::string where_line(const std::string& path, int64_t line) {
  return path + ":" + std::to_string(line);
}

}  // namespace

Status for_each_jsonl(const std::string& path, const JsonlFn& fn, const JsonlOptions& opts) {
  std::unique_ptr<FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    int err = errno;
    if (err == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + std::strerror(err));
  }
  simdjson::dom::parser parser;
  char* raw = nullptr;
  size_t cap = 0;
  std::string buf;  // padded copy for simdjson
  int64_t line_no = 0;
  Status result;
  while (true) {
    errno = 0;
    ssize_t n = ::getline(&raw, &cap, f.get());
    if (n < 0) {
      if (errno != 0 && !std::feof(f.get())) {
        result = io_error(path + ": read error after line " + std::to_string(line_no) + ": " +
                          std::strerror(errno));
      }
      break;
    }
    ++line_no;
    size_t len = static_cast<size_t>(n);
    while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r')) --len;
    size_t start = 0;
    if (line_no == 1 && len >= 3 && std::memcmp(raw, "\xEF\xBB\xBF", 3) == 0) start = 3;  // BOM
    std::string_view line(raw + start, len - start);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    Status bad;
    simdjson::dom::element elem;
    if (line.size() > opts.max_line_bytes) {
      bad = corrupt(where_line(path, line_no) + ": line of " + std::to_string(line.size()) +
                    " bytes exceeds the limit");
    } else {
      buf.assign(line.data(), line.size());
      buf.reserve(line.size() + simdjson::SIMDJSON_PADDING);
      auto err = parser.parse(buf.data(), buf.size(), false).get(elem);
      if (err) {
        bad = corrupt(where_line(path, line_no) + ": invalid JSON: " +
                      simdjson::error_message(err));
      }
    }
    if (!bad.ok()) {
      if (opts.on_malformed) {
        Status st = opts.on_malformed(line_no, bad);
        if (!st.ok()) { result = st; break; }
        continue;
      }
      result = bad;
      break;
    }
    Status st = fn(line_no, elem);
    if (!st.ok()) { result = st; break; }
  }
  std::free(raw);
  return result;
}

Result<simdjson::dom::element> parse_json_file(const std::string& path,
                                               simdjson::dom::parser& parser) {
  simdjson::padded_string text;
  auto err = simdjson::padded_string::load(path).get(text);
  if (err) {
    if (err == simdjson::IO_ERROR) {
      FILE* f = std::fopen(path.c_str(), "rb");
      if (!f) return not_found(path + ": cannot open: " + std::strerror(errno));
      std::fclose(f);
    }
    return io_error(path + ": cannot read: " + simdjson::error_message(err));
  }
  simdjson::dom::element elem;
  err = parser.parse(text).get(elem);
  if (err) return corrupt(path + ": invalid JSON: " + simdjson::error_message(err));
  return elem;
}

Result<std::string_view> json_string_field(simdjson::dom::element obj, std::string_view field,
                                           std::string_view where) {
  simdjson::dom::element v;
  if (obj.type() != simdjson::dom::element_type::OBJECT)
    return corrupt(std::string(where) + ": expected a JSON object");
  if (obj[field].get(v)) return corrupt(std::string(where) + ": missing field '" + std::string(field) + "'");
  std::string_view s;
  if (v.get_string().get(s))
    return corrupt(std::string(where) + ": field '" + std::string(field) + "': expected a string");
  return s;
}

Result<int64_t> json_int_field(simdjson::dom::element obj, std::string_view field,
                               std::string_view where) {
  simdjson::dom::element v;
  if (obj.type() != simdjson::dom::element_type::OBJECT)
    return corrupt(std::string(where) + ": expected a JSON object");
  if (obj[field].get(v)) return corrupt(std::string(where) + ": missing field '" + std::string(field) + "'");
  int64_t i;
  if (v.get_int64().get(i))
    return corrupt(std::string(where) + ": field '" + std::string(field) + "': expected an integer");
  return i;
}

Result<double> json_number_field(simdjson::dom::element obj, std::string_view field,
                                  std::string_view where) {
  simdjson::dom::element v;
  if (obj.type() != simdjson::dom::element_type::OBJECT)
    return corrupt(std::string(where) + ": expected a JSON object");
  if (obj[field].get(v)) return corrupt(std::string(where) + ": missing field '" + std::string(field) + "'");
  double d;
  if (v.get_double().get(d)) {
    int64_t i;
    if (v.get_int64().get(i))
      return corrupt(std::string(where) + ": field '" + std::string(field) + "': expected a number");
    d = static_cast<double>(i);
  }
  return d;
}

std::string json_to_string(simdjson::dom::element value) { return simdjson::minify(value); }

namespace {

boost::json::value to_boost(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::ARRAY: {
      boost::json::array a;
      for (simdjson::dom::element x : e.get_array()) a.push_back(to_boost(x));
      return a;
    }
    case element_type::OBJECT: {
      boost::json::object o;
      for (auto [k, v] : e.get_object()) o[k] = to_boost(v);
      return o;
    }
    case element_type::INT64: return int64_t(e.get_int64());
    case element_type::UINT64: return uint64_t(e.get_uint64());
    case element_type::DOUBLE: return double(e.get_double());
    case element_type::STRING: return boost::json::string(std::string_view(e.get_string()));
    case element_type::BOOL: return bool(e.get_bool());
    case element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

}  // namespace

Result<boost::json::value> parse_json_exact(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element e;
  if (auto err = parser.parse(padded).get(e)) {
    return corrupt(std::string("invalid JSON: ") + simdjson::error_message(err));
  }
  return to_boost(e);
}

}  // namespace assay
