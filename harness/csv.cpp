#include "harness/csv.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace assay {

Result<std::vector<CsvRecord>> parse_csv(std::string_view text, std::string_view name) {
  std::vector<CsvRecord> records;
  size_t i = 0;
  const size_t n = text.size();
  int64_t line = 1;
  if (n >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // UTF-8 BOM
  auto where = [&](int64_t l) { return std::string(name) + ":" + std::to_string(l); };
  while (i < n) {
    // Skip blank lines between records.
    if (text[i] == '\n') { ++line; ++i; continue; }
    if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') { ++line; i += 2; continue; }
    CsvRecord rec;
    rec.line = line;
    std::string field;
    bool end_of_record = false;
    while (!end_of_record) {
      field.clear();
      if (i < n && text[i] == '"') {
        int64_t quote_line = line;
        ++i;
        bool closed = false;
        while (i < n) {
          char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') { field += '"'; i += 2; continue; }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        if (!closed) return corrupt(where(quote_line) + ": unterminated quoted field");
        if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          return corrupt(where(line) + ": unexpected character after closing quote");
        }
      } else {
        while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"') return corrupt(where(line) + ": quote inside an unquoted field");
          field += text[i++];
        }
      }
      rec.fields.push_back(field);
      if (i >= n) {
        end_of_record = true;
      } else if (text[i] == ',') {
        ++i;
        if (i >= n) { rec.fields.emplace_back(); end_of_record = true; }
      } else if (text[i] == '\r') {
        if (i + 1 < n && text[i + 1] == '\n') ++i;
        ++i;
        ++line;
        end_of_record = true;
      } else {  // '\n'
        ++i;
        ++line;
        end_of_record = true;
      }
    }
    records.push_back(std::move(rec));
  }
  return records;
}

Result<std::string> read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    int err = errno;
    if (err == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + std::strerror(err));
  }
  std::string data;
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, got);
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) return io_error(path + ": read error");
  return data;
}

Result<std::vector<CsvRecord>> read_csv(const std::string& path) {
  ASSAY_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_csv(text, path);
}

std::string format_csv_record(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t k = 0; k < fields.size(); ++k) {
    if (k) out += ',';
    const std::string& f = fields[k];
    bool quote = f.find_first_of(",\"\r\n") != std::string::npos;
    if (!quote) { out += f; continue; }
    out += '"';
    for (char c : f) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  out += '\n';
  return out;
}

}  // namespace assay
