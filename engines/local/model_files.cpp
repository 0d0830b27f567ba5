#include "engines/local/model_files.h"

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <vector>

#include "engines/local/safetensors_reader.h"
#include "engines/local/tensor_names.h"

namespace assay {
namespace fs = std::filesystem;
namespace {

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

Result<std::string> read_text(const std::string& path) {
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

// tokenizer_config.json "chat_template": a string, or a list of {"name", "template"}.
// On-demand parsing: these files hold numbers DOM parsing rejects (model_max_length 1e30 as an
// integer literal), and only this one field matters here.
Result<std::optional<std::string>> chat_template_from_tokenizer_config(const std::string& path) {
  ASSAY_ASSIGN_OR_RETURN(std::string text, read_text(path));
  using namespace simdjson;
  ondemand::parser parser;
  padded_string padded(text);
  ondemand::document doc;
  const Status bad =
      corrupt(path + ": 'chat_template' must be a string or a list of {name, template}");
  if (parser.iterate(padded).get(doc)) return corrupt(path + ": not valid JSON");
  ondemand::object root;
  if (doc.get_object().get(root)) return corrupt(path + ": top level is not a JSON object");
  ondemand::value tmpl;
  const error_code e = root["chat_template"].get(tmpl);
  if (e == NO_SUCH_FIELD) return std::optional<std::string>();
  if (e) return corrupt(path + ": not valid JSON (" + std::string(error_message(e)) + ")");
  ondemand::json_type type;
  if (tmpl.type().get(type)) return bad;
  if (type == ondemand::json_type::null) return std::optional<std::string>();
  if (type == ondemand::json_type::string) {
    std::string_view s;
    if (tmpl.get_string().get(s)) return bad;
    return std::optional<std::string>(std::string(s));
  }
  ondemand::array list;
  if (tmpl.get_array().get(list)) return bad;
  std::optional<std::string> first;
  for (auto item : list) {
    ondemand::object o;
    std::string_view name, body;
    if (item.get_object().get(o) || o["name"].get_string().get(name)) return bad;
    const std::string name_copy(name);  // the next field lookup reuses the string buffer
    if (o["template"].get_string().get(body)) return bad;
    if (name_copy == "default") return std::optional<std::string>(std::string(body));
    if (!first) first = std::string(body);
  }
  return first;
}

}  // namespace

int64_t TensorView::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::vector<uint8_t> permute_qk_rows_hf_to_gguf(const uint8_t* src, int64_t rows, int64_t row_bytes,
                                                int64_t n_heads) {
  const int64_t d = rows / n_heads;
  const int64_t half = d / 2;
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes));
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      const int64_t base = h * d;
      std::memcpy(out.data() + (base + 2 * i) * row_bytes, src + (base + i) * row_bytes,
                  static_cast<size_t>(row_bytes));
      std::memcpy(out.data() + (base + 2 * i + 1) * row_bytes, src + (base + i + half) * row_bytes,
                  static_cast<size_t>(row_bytes));
    }
  }
  return out;
}

ModelFiles::~ModelFiles() = default;

const LlamaHparams& ModelFiles::hparams() const {
  ASSAY_CHECK_MSG(hparams_.has_value(),
                  "ModelFiles::hparams() without weights: " + weights_status_);
  return *hparams_;
}

const TensorView* ModelFiles::tensor(std::string_view gguf_name) const {
  auto it = tensors_.find(gguf_name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& ModelFiles::output_weight() const {
  const TensorView* t = tensor("output.weight");
  if (t == nullptr) t = tensor("token_embd.weight");
  ASSAY_CHECK_MSG(t != nullptr && has_weights(), "ModelFiles::output_weight() without weights");
  return *t;
}

const uint8_t* ModelFiles::own(std::vector<uint8_t> bytes) {
  owned_.push_back(std::move(bytes));
  return owned_.back().data();
}

Result<std::unique_ptr<ModelFiles>> ModelFiles::open(const std::string& path,
                                                     const ModelFilesOptions& options) {
  std::unique_ptr<ModelFiles> m(new ModelFiles());
  m->path_ = path;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return not_found(path + ": no such file or folder");
  if (fs::is_directory(st)) {
    m->format_ = ModelFormat::kHfFolder;
    ASSAY_RETURN_IF_ERROR(m->open_hf(options));
  } else {
    if (path.size() >= 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0) {
      return invalid_argument(path +
                              ": a .safetensors file alone has no config; pass the "
                              "Hugging Face folder that holds it and config.json");
    }
    m->format_ = ModelFormat::kGguf;
    ASSAY_RETURN_IF_ERROR(m->open_gguf(options));
  }
  return m;
}

Status ModelFiles::open_gguf(const ModelFilesOptions& options) {
  ASSAY_ASSIGN_OR_RETURN(gguf_, GgufFile::open(path_));
  ASSAY_ASSIGN_OR_RETURN(auto tmpl, gguf_->get_string("tokenizer.chat_template"));
  if (tmpl) chat_template_ = std::string(*tmpl);
  for (const GgufTensorInfo& t : gguf_->tensors()) {
    tensors_.emplace(t.name, TensorView{t.name, t.type, t.ne, t.data, t.n_bytes});
  }
  Status s = [&]() -> Status {
    if (gguf_->tensors().empty()) {
      return failed_precondition(path_ +
                                 ": has no tensors (a vocab-only GGUF?); it can be "
                                 "used for tokenizing but not for inference");
    }
    ASSAY_ASSIGN_OR_RETURN(LlamaHparams hp, hparams_from_gguf(*gguf_));
    hparams_ = hp;
    return validate_tensors(path_);
  }();
  if (!s.ok()) {
    hparams_.reset();
    if (options.require_weights) return s;
    weights_status_ = s.message();
  }
  return Status::OK();
}

Status ModelFiles::open_hf(const ModelFilesOptions& options) {
  const fs::path dir(path_);
  std::error_code ec;
  if (fs::exists(dir / "tokenizer.json", ec)) tokenizer_json_ = (dir / "tokenizer.json").string();
  if (fs::exists(dir / "tokenizer_config.json", ec)) {
    tokenizer_config_ = (dir / "tokenizer_config.json").string();
    ASSAY_ASSIGN_OR_RETURN(chat_template_, chat_template_from_tokenizer_config(tokenizer_config_));
  }
  if (!chat_template_ && fs::exists(dir / "chat_template.jinja", ec)) {
    ASSAY_ASSIGN_OR_RETURN(std::string t, read_text((dir / "chat_template.jinja").string()));
    chat_template_ = std::move(t);
  }
  Status s = [&]() -> Status {
    if (!fs::exists(dir / "config.json", ec)) {
      return not_found(path_ +
                       ": no config.json; a model folder needs config.json and "
                       "model.safetensors (or its sharded index)");
    }
    ASSAY_ASSIGN_OR_RETURN(HfConfig cfg, load_hf_config(path_));
    hf_config_ = std::move(cfg);
    ASSAY_ASSIGN_OR_RETURN(LlamaHparams hp,
                           hparams_from_hf_config(*hf_config_, (dir / "config.json").string()));
    hparams_ = hp;
    return load_hf_weights();
  }();
  if (!s.ok()) {
    hparams_.reset();
    tensors_.clear();
    if (options.require_weights) return s;
    weights_status_ = s.message();
  }
  return Status::OK();
}

Status ModelFiles::load_hf_weights() {
  ASSAY_ASSIGN_OR_RETURN(safetensors_, SafetensorsModel::open_folder(path_));
  LlamaHparams& hp = *hparams_;
  // A checkpoint without lm_head is tied whatever config.json says (llama.cpp does the same).
  if (safetensors_->tensor("lm_head.weight") == nullptr) hp.tied_embeddings = true;
  if (safetensors_->tensor("lm_head.weight") != nullptr) hp.tied_embeddings = false;
  // Biases present without attention_bias in config.json are still used (and permuted).
  if (safetensors_->tensor("model.layers.0.self_attn.q_proj.bias") != nullptr) hp.qkv_bias = true;
  for (const auto& [name, st] : safetensors_->tensors()) {
    std::optional<std::string> g = hf_to_gguf_tensor_name(name);
    if (!g) {
      ignored_.push_back(name);
      continue;
    }
    TensorView v{*g, st->type, std::vector<int64_t>(st->shape.rbegin(), st->shape.rend()), st->data,
                 st->n_bytes};
    tensors_.emplace(*g, std::move(v));
  }
  // Permute, widen, realign: walk the specs so q/k know their head counts.
  for (const TensorSpec& spec : llama_tensor_specs(hp)) {
    auto it = tensors_.find(spec.gguf_name);
    if (it == tensors_.end()) continue;
    TensorView& v = it->second;
    const int64_t elem = v.type == GgmlType::F32 ? 4 : 2;
    if (v.ne.size() == 1 && v.type != GgmlType::F32) {
      std::vector<uint8_t> wide(static_cast<size_t>(v.n_elements()) * 4);
      std::vector<float> tmp(static_cast<size_t>(v.n_elements()));
      dequantize_row_reference(v.type, v.data, tmp.data(), v.n_elements());
      std::memcpy(wide.data(), tmp.data(), wide.size());
      v.type = GgmlType::F32;
      v.n_bytes = wide.size();
      v.data = own(std::move(wide));
    }
    if (spec.permute != QkPermute::kNone) {
      const int64_t heads = spec.permute == QkPermute::kQuery ? hp.n_head : hp.n_head_kv;
      const int64_t rows = v.ne.size() == 2 ? v.ne[1] : v.ne[0];
      if (v.ne != spec.ne) {
        return corrupt(path_ + ": tensor '" + v.name + "' has shape " + shape_str(v.ne) +
                       ", expected " + shape_str(spec.ne));
      }
      const int64_t row_bytes = static_cast<int64_t>(v.n_bytes) / rows;
      v.data = own(permute_qk_rows_hf_to_gguf(v.data, rows, row_bytes, heads));
    } else if (reinterpret_cast<uintptr_t>(v.data) % static_cast<uintptr_t>(elem) != 0) {
      v.data = own(std::vector<uint8_t>(v.data, v.data + v.n_bytes));
    }
  }
  if (hp.rope_scaling == RopeScalingType::kLlama3) {
    std::vector<float> div = llama3_rope_freq_divisors(hp);
    std::vector<uint8_t> bytes(div.size() * 4);
    std::memcpy(bytes.data(), div.data(), bytes.size());
    TensorView v{"rope_freqs.weight",
                 GgmlType::F32,
                 {static_cast<int64_t>(div.size())},
                 nullptr,
                 bytes.size()};
    v.data = own(std::move(bytes));
    tensors_["rope_freqs.weight"] = std::move(v);
  }
  return validate_tensors(path_);
}

Status ModelFiles::validate_tensors(const std::string& where) {
  const LlamaHparams& hp = *hparams_;
  for (const TensorSpec& spec : llama_tensor_specs(hp)) {
    const TensorView* t = tensor(spec.gguf_name);
    const std::string label = format_ == ModelFormat::kHfFolder && !spec.hf_name.empty()
                                  ? "'" + spec.gguf_name + "' (HF '" + spec.hf_name + "')"
                                  : "'" + spec.gguf_name + "'";
    if (t == nullptr) {
      if (!spec.required) continue;
      return corrupt(where + ": missing tensor " + label);
    }
    if (t->ne != spec.ne) {
      return corrupt(where + ": tensor " + label + " has shape " + shape_str(t->ne) +
                     ", expected " + shape_str(spec.ne) + " from the hyperparameters");
    }
    const GgmlTypeTraits* tr = ggml_type_traits(t->type);
    if (tr == nullptr || !tr->supported) {
      return unsupported(where + ": tensor " + label + " has type " +
                         std::string(ggml_type_name(t->type)) +
                         ", which assay cannot compute with (supported: F32 F16 BF16 Q8_0 Q4_0 "
                         "Q4_1 Q4_K Q5_K Q6_K)");
    }
    if (t->ne.size() == 1 && t->type != GgmlType::F32) {
      return unsupported(where + ": 1-D tensor " + label + " has type " +
                         std::string(ggml_type_name(t->type)) + "; expected F32");
    }
  }
  return Status::OK();
}

std::string weight_types(const ModelFiles& m) {
  std::map<std::string, uint64_t> by_type;
  uint64_t total = 0;
  for (const auto& [name, t] : m.tensors()) {
    by_type[std::string(ggml_type_name(t.type))] += t.n_bytes;
    total += t.n_bytes;
  }
  std::vector<std::pair<uint64_t, std::string>> order;
  for (const auto& [type, bytes] : by_type) order.emplace_back(bytes, type);
  std::sort(order.rbegin(), order.rend());
  std::string out;
  for (const auto& [bytes, type] : order) {
    const int pct = total ? static_cast<int>(std::lround(100.0 * static_cast<double>(bytes) / static_cast<double>(total))) : 0;
    out += (out.empty() ? "" : ", ") + type + " " + std::to_string(pct) + "%";
  }
  return out;
}

std::string describe_model(const ModelFiles& m) {
  std::ostringstream o;
  o << "path:          " << m.path() << "\n";
  o << "format:        " << (m.format() == ModelFormat::kGguf ? "GGUF" : "Hugging Face folder");
  if (m.gguf() != nullptr) o << " v" << m.gguf()->version();
  o << "\n";
  if (m.has_weights()) {
    const LlamaHparams& hp = m.hparams();
    o << "architecture:  " << llama_arch_name(hp.arch) << "\n";
    o << "n_vocab " << hp.n_vocab << ", n_ctx_train " << hp.n_ctx_train << ", n_embd " << hp.n_embd
      << ", n_layer " << hp.n_layer << ", n_head " << hp.n_head << ", n_head_kv " << hp.n_head_kv
      << ", head_dim " << hp.head_dim << ", n_ff " << hp.n_ff << ", n_rot " << hp.n_rot << "\n";
    o << "rms_eps " << hp.rms_eps << ", rope_theta " << hp.rope_theta << ", rope "
      << rope_type_name(hp.rope_type) << ", scaling " << rope_scaling_name(hp.rope_scaling);
    if (hp.rope_scaling != RopeScalingType::kNone) o << " (factor " << hp.rope_scale_factor << ")";
    o << ", tied_embeddings " << (hp.tied_embeddings ? "yes" : "no") << ", qkv_bias "
      << (hp.qkv_bias ? "yes" : "no") << "\n";
  } else {
    if (m.gguf() != nullptr) {
      auto a = m.gguf()->get_string("general.architecture");
      if (a.ok() && a->has_value()) o << "architecture:  " << **a << "\n";
    }
    o << "weights:       not loadable: " << m.weights_status() << "\n";
  }
  std::map<std::string, std::pair<int64_t, uint64_t>> by_type;
  uint64_t total = 0;
  for (const auto& [name, t] : m.tensors()) {
    auto& e = by_type[std::string(ggml_type_name(t.type))];
    e.first += 1;
    e.second += t.n_bytes;
    total += t.n_bytes;
  }
  o << "tensors:       " << m.tensors().size() << ", " << total << " bytes ("
    << static_cast<double>(total) / (1024.0 * 1024.0) << " MiB)\n";
  for (const auto& [type, e] : by_type) {
    o << "  " << type << ": " << e.first << " tensors, " << e.second << " bytes\n";
  }
  if (m.gguf() != nullptr) {
    auto model = m.gguf()->get_string("tokenizer.ggml.model");
    auto pre = m.gguf()->get_string("tokenizer.ggml.pre");
    auto toks = m.gguf()->find("tokenizer.ggml.tokens");
    o << "tokenizer:     model "
      << (model.ok() && model->has_value() ? std::string(**model) : std::string("(none)"))
      << ", pre " << (pre.ok() && pre->has_value() ? std::string(**pre) : std::string("(none)"));
    if (toks != nullptr) {
      if (const auto* a = std::get_if<std::vector<std::string_view>>(&toks->v)) {
        o << ", " << a->size() << " tokens";
      }
    }
    o << "\n";
  } else {
    o << "tokenizer:     "
      << (m.tokenizer_json_path().empty() ? std::string("(no tokenizer.json)")
                                          : m.tokenizer_json_path())
      << "\n";
  }
  o << "chat template: " << (m.chat_template() ? "present" : "absent");
  if (m.chat_template()) o << " (" << m.chat_template()->size() << " bytes)";
  o << "\n";
  if (!m.ignored_tensors().empty()) {
    o << "ignored:       " << m.ignored_tensors().size() << " HF tensors outside the llama table\n";
  }
  return o.str();
}

}  // namespace assay
