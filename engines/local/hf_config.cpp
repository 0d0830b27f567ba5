#include "engines/local/hf_config.h"

#include <simdjson.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

namespace assay {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

Result<std::string> read_text(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + std::strerror(errno));
  }
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) return io_error(path + ": read failed");
  return out;
}

// Field readers: absent or null leaves the optional empty; a wrong type is an error.
class Fields {
 public:
  Fields(object obj, const std::string& name) : obj_(obj), name_(name) {}

  bool present(std::string_view key, element* e) const {
    if (obj_[key].get(*e)) return false;
    return !e->is_null();
  }
  Status get(std::string_view key, std::optional<int64_t>* out) const {
    element e;
    if (!present(key, &e)) return Status::OK();
    int64_t v;
    if (e.get_int64().get(v)) {
      // Some configs write integers as 4096.0.
      double d;
      if (e.get_double().get(d) || d != static_cast<double>(static_cast<int64_t>(d))) {
        return bad(key, "an integer");
      }
      v = static_cast<int64_t>(d);
    }
    *out = v;
    return Status::OK();
  }
  Status get(std::string_view key, std::optional<double>* out) const {
    element e;
    if (!present(key, &e)) return Status::OK();
    double v;
    if (e.get_double().get(v)) return bad(key, "a number");
    *out = v;
    return Status::OK();
  }
  Status get(std::string_view key, std::optional<bool>* out) const {
    element e;
    if (!present(key, &e)) return Status::OK();
    bool v;
    if (e.get_bool().get(v)) return bad(key, "true or false");
    *out = v;
    return Status::OK();
  }
  Status get(std::string_view key, std::string* out) const {
    element e;
    if (!present(key, &e)) return Status::OK();
    std::string_view v;
    if (e.get_string().get(v)) return bad(key, "a string");
    *out = std::string(v);
    return Status::OK();
  }
  // An int or a list of ints. Returns whether the key was present.
  Result<bool> get_ids(std::string_view key, std::vector<int64_t>* out) const {
    element e;
    if (!present(key, &e)) return false;
    out->clear();
    int64_t v;
    if (!e.get_int64().get(v)) {
      out->push_back(v);
      return true;
    }
    simdjson::dom::array a;
    if (e.get_array().get(a)) return bad(key, "an integer or a list of integers");
    for (auto x : a) {
      if (x.get_int64().get(v)) return bad(key, "an integer or a list of integers");
      out->push_back(v);
    }
    return true;
  }
  Status bad(std::string_view key, const char* want) const {
    return corrupt(name_ + ": field '" + std::string(key) + "' must be " + want);
  }

 private:
  object obj_;
  const std::string& name_;
};

Status parse_object(std::string_view json, const std::string& name, simdjson::dom::parser* parser,
                    object* obj) {
  simdjson::padded_string padded(json.data(), json.size());
  element doc;
  if (auto e = parser->parse(padded).get(doc); e) {
    return corrupt(name + ": not valid JSON (" + std::string(simdjson::error_message(e)) + ")");
  }
  if (doc.get_object().get(*obj)) return corrupt(name + ": top level is not a JSON object");
  return Status::OK();
}

}  // namespace

Result<HfConfig> parse_hf_config(std::string_view json, const std::string& name) {
  simdjson::dom::parser parser;
  object obj;
  ASSAY_RETURN_IF_ERROR(parse_object(json, name, &parser, &obj));
  Fields f(obj, name);
  HfConfig c;
  element e;
  if (f.present("architectures", &e)) {
    simdjson::dom::array a;
    if (e.get_array().get(a)) return f.bad("architectures", "a list of strings");
    for (auto x : a) {
      std::string_view s;
      if (x.get_string().get(s)) return f.bad("architectures", "a list of strings");
      c.architectures.emplace_back(s);
    }
  }
  ASSAY_RETURN_IF_ERROR(f.get("model_type", &c.model_type));
  ASSAY_RETURN_IF_ERROR(f.get("hidden_size", &c.hidden_size));
  ASSAY_RETURN_IF_ERROR(f.get("num_hidden_layers", &c.num_hidden_layers));
  ASSAY_RETURN_IF_ERROR(f.get("num_attention_heads", &c.num_attention_heads));
  ASSAY_RETURN_IF_ERROR(f.get("num_key_value_heads", &c.num_key_value_heads));
  ASSAY_RETURN_IF_ERROR(f.get("intermediate_size", &c.intermediate_size));
  ASSAY_RETURN_IF_ERROR(f.get("head_dim", &c.head_dim));
  ASSAY_RETURN_IF_ERROR(f.get("max_position_embeddings", &c.max_position_embeddings));
  ASSAY_RETURN_IF_ERROR(f.get("vocab_size", &c.vocab_size));
  ASSAY_RETURN_IF_ERROR(f.get("rms_norm_eps", &c.rms_norm_eps));
  ASSAY_RETURN_IF_ERROR(f.get("rope_theta", &c.rope_theta));
  ASSAY_RETURN_IF_ERROR(f.get("tie_word_embeddings", &c.tie_word_embeddings));
  ASSAY_RETURN_IF_ERROR(f.get("attention_bias", &c.attention_bias));
  ASSAY_RETURN_IF_ERROR(f.get("torch_dtype", &c.torch_dtype));
  if (c.torch_dtype.empty()) ASSAY_RETURN_IF_ERROR(f.get("dtype", &c.torch_dtype));
  ASSAY_RETURN_IF_ERROR(f.get_ids("bos_token_id", &c.bos_token_ids).status());
  ASSAY_RETURN_IF_ERROR(f.get_ids("eos_token_id", &c.eos_token_ids).status());
  // transformers >= 5 writes RoPE settings as one "rope_parameters" object (rope_theta inside it,
  // plus rope_type and the scaling fields) instead of rope_theta + rope_scaling.
  const char* rope_key = "rope_scaling";
  if (f.present("rope_parameters", &e)) {
    object rp;
    if (e.get_object().get(rp)) return f.bad("rope_parameters", "an object or null");
    Fields r(rp, name + " (rope_parameters)");
    if (!c.rope_theta) ASSAY_RETURN_IF_ERROR(r.get("rope_theta", &c.rope_theta));
    element scaling;
    if (!f.present("rope_scaling", &scaling)) rope_key = "rope_parameters";
  }
  if (f.present(rope_key, &e)) {
    object rs;
    if (e.get_object().get(rs)) return f.bad(rope_key, "an object or null");
    const std::string rs_name = name + " (" + rope_key + ")";
    Fields r(rs, rs_name);
    HfRopeScaling s;
    ASSAY_RETURN_IF_ERROR(r.get("rope_type", &s.type));
    if (s.type.empty()) ASSAY_RETURN_IF_ERROR(r.get("type", &s.type));
    ASSAY_RETURN_IF_ERROR(r.get("factor", &s.factor));
    ASSAY_RETURN_IF_ERROR(r.get("low_freq_factor", &s.low_freq_factor));
    ASSAY_RETURN_IF_ERROR(r.get("high_freq_factor", &s.high_freq_factor));
    ASSAY_RETURN_IF_ERROR(
        r.get("original_max_position_embeddings", &s.original_max_position_embeddings));
    c.rope_scaling = std::move(s);
  }
  return c;
}

Status apply_hf_generation_config(std::string_view json, const std::string& name, HfConfig* cfg) {
  simdjson::dom::parser parser;
  object obj;
  ASSAY_RETURN_IF_ERROR(parse_object(json, name, &parser, &obj));
  Fields f(obj, name);
  std::vector<int64_t> ids;
  ASSAY_ASSIGN_OR_RETURN(bool has_bos, f.get_ids("bos_token_id", &ids));
  if (has_bos) cfg->bos_token_ids = ids;
  ASSAY_ASSIGN_OR_RETURN(bool has_eos, f.get_ids("eos_token_id", &ids));
  if (has_eos) cfg->eos_token_ids = ids;
  return Status::OK();
}

Result<HfConfig> load_hf_config(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / "config.json").string();
  ASSAY_ASSIGN_OR_RETURN(std::string text, read_text(path));
  ASSAY_ASSIGN_OR_RETURN(HfConfig cfg, parse_hf_config(text, path));
  const std::string gen = (fs::path(dir) / "generation_config.json").string();
  std::error_code ec;
  if (fs::exists(gen, ec)) {
    ASSAY_ASSIGN_OR_RETURN(std::string gtext, read_text(gen));
    ASSAY_RETURN_IF_ERROR(apply_hf_generation_config(gtext, gen, &cfg));
  }
  return cfg;
}

}  // namespace assay
