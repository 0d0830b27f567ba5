#include "engines/local/vocab/hf_tokenizer_json.h"

#include <simdjson.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

namespace assay {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kSpmSpace = "\xE2\x96\x81";

// Largest vocabulary accepted; a bound for allocations driven by ids in the file.
constexpr int64_t kMaxVocab = 1 << 24;

class Parser {
 public:
  explicit Parser(const std::string& name) : name_(name) {}

  Status fail(std::string_view field, std::string_view what) const {
    return corrupt(name_ + ": " + std::string(field) + ": " + std::string(what));
  }

  std::string_view type_of(element e) const {
    object o;
    if (e.get_object().get(o)) return {};
    std::string_view t;
    if (o["type"].get_string().get(t)) return {};
    return t;
  }

  static bool get_str(object o, std::string_view key, std::string_view* out) {
    return !o[key].get_string().get(*out);
  }
  static bool get_bool(object o, std::string_view key, bool* out) {
    return !o[key].get_bool().get(*out);
  }
  static bool is_null_or_absent(object o, std::string_view key) {
    element e;
    if (o[key].get(e)) return true;
    return e.is_null();
  }

  // A list of the pipeline step's components (a Sequence flattened one level).
  std::vector<object> components(object root, std::string_view key, std::string_view list_key) {
    std::vector<object> out;
    element e;
    if (root[key].get(e) || e.is_null()) return out;
    object o;
    if (e.get_object().get(o)) return out;
    std::string_view t;
    if (get_str(o, "type", &t) && t == "Sequence") {
      array a;
      if (!o[list_key].get_array().get(a)) {
        for (element x : a) {
          object xo;
          if (!x.get_object().get(xo)) out.push_back(xo);
        }
      }
      return out;
    }
    out.push_back(o);
    return out;
  }

 private:
  const std::string& name_;
};

// bos_token / eos_token in tokenizer_config: "text", {"content": "text"} or null.
bool config_token_text(object cfg, std::string_view key, std::string* out) {
  element e;
  if (cfg[key].get(e) || e.is_null()) return false;
  std::string_view s;
  if (!e.get_string().get(s)) {
    *out = std::string(s);
    return true;
  }
  object o;
  if (!e.get_object().get(o) && !o["content"].get_string().get(s)) {
    *out = std::string(s);
    return true;
  }
  return false;
}

// simdjson 3.0 rejects integers beyond 64 bits, and HF configs write model_max_length as
// 1000000000000000019884624838656. Long integer literals (outside strings) get a ".0" so they
// parse as doubles; nothing here reads them.
std::string widen_big_integers(std::string_view json) {
  std::string out;
  out.reserve(json.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < json.size();) {
    char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[i + 1]);
        i += 2;
        continue;
      }
      if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
      ++i;
      continue;
    }
    if (c >= '0' && c <= '9') {
      size_t j = i;
      while (j < json.size() && json[j] >= '0' && json[j] <= '9') ++j;
      out.append(json.substr(i, j - i));
      bool is_int = j >= json.size() || (json[j] != '.' && json[j] != 'e' && json[j] != 'E');
      if (is_int && j - i >= 19) out.append(".0");
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

Status read_text_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found(path + ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return io_error(path + ": read failed");
  *out = ss.str();
  return Status::OK();
}

}  // namespace

Result<VocabData> vocab_from_hf_json(std::string_view tokenizer_json, std::string_view config_json,
                                     const std::string& name) {
  Parser p(name);
  simdjson::dom::parser parser;
  simdjson::padded_string padded(tokenizer_json.data(), tokenizer_json.size());
  element doc;
  if (auto err = parser.parse(padded).get(doc); err) {
    return corrupt(name + ": not valid JSON (" + std::string(simdjson::error_message(err)) + ")");
  }
  object root;
  if (doc.get_object().get(root)) return corrupt(name + ": top level is not a JSON object");

  object model;
  if (root["model"].get_object().get(model)) return p.fail("model", "missing or not an object");
  std::string_view model_type;
  if (!Parser::get_str(model, "type", &model_type)) {
    // Old files omit model.type; a BPE model is recognizable by its merges.
    element m;
    if (model["merges"].get(m)) return p.fail("model.type", "missing");
    model_type = "BPE";
  }
  if (model_type != "BPE") {
    return unsupported(name + ": tokenizer model '" + std::string(model_type) +
                       "' is not supported (only BPE: Llama, Mistral, Qwen, GPT-2, SmolLM)");
  }

  VocabData d;
  d.pre_name = "hf";

  // --- vocabulary and added tokens ---
  object vocab;
  if (model["vocab"].get_object().get(vocab))
    return p.fail("model.vocab", "missing or not an object");
  struct Entry {
    std::string_view text;
    int64_t id;
  };
  std::vector<Entry> entries;
  int64_t max_id = -1;
  for (auto field : vocab) {
    int64_t id;
    if (field.value.get_int64().get(id) || id < 0 || id >= kMaxVocab) {
      return p.fail("model.vocab",
                    "id of '" + std::string(field.key) + "' is not an integer in [0, 2^24)");
    }
    entries.push_back({field.key, id});
    max_id = std::max(max_id, id);
  }
  struct Added {
    std::string_view text;
    int64_t id;
    bool special;
    uint8_t strip;
  };
  std::vector<Added> added;
  array added_arr;
  if (!root["added_tokens"].get_array().get(added_arr)) {
    for (element x : added_arr) {
      object o;
      int64_t id;
      std::string_view content;
      bool special = false;
      if (x.get_object().get(o) || o["id"].get_int64().get(id) || id < 0 || id >= kMaxVocab ||
          !Parser::get_str(o, "content", &content)) {
        return p.fail("added_tokens", "each entry needs an integer id in [0, 2^24) and content");
      }
      Parser::get_bool(o, "special", &special);
      bool lstrip = false, rstrip = false;
      Parser::get_bool(o, "lstrip", &lstrip);
      Parser::get_bool(o, "rstrip", &rstrip);
      added.push_back(
          {content, id, special,
           static_cast<uint8_t>((lstrip ? kStripLeft : 0) | (rstrip ? kStripRight : 0))});
      max_id = std::max(max_id, id);
    }
  }
  if (max_id < 0) return p.fail("model.vocab", "is empty");
  // Ids must be dense enough that the table is not mostly holes (bounds hostile files).
  if (max_id >= static_cast<int64_t>(entries.size() + added.size()) * 2 + 1024) {
    return p.fail("model.vocab", "ids are sparse (largest " + std::to_string(max_id) + " for " +
                                     std::to_string(entries.size() + added.size()) + " tokens)");
  }
  const size_t n = static_cast<size_t>(max_id) + 1;
  d.tokens.assign(n, std::string());
  d.token_types.assign(n, TokenType::kUnused);
  for (const Entry& e : entries) {
    d.tokens[e.id] = std::string(e.text);
    d.token_types[e.id] = TokenType::kNormal;
  }
  for (const Added& a : added) {
    d.tokens[a.id] = std::string(a.text);
    d.token_types[a.id] = a.special ? TokenType::kControl : TokenType::kUserDefined;
    if (a.strip) {
      d.token_strip.resize(n, 0);
      d.token_strip[a.id] = a.strip;
    }
  }

  // --- merges: ["a b", ...] or [["a", "b"], ...] ---
  array merges;
  if (model["merges"].get_array().get(merges))
    return p.fail("model.merges", "missing or not a list");
  for (element m : merges) {
    std::string_view s;
    if (!m.get_string().get(s)) {
      size_t sp = s.size() > 1 ? s.find(' ', 1) : std::string_view::npos;
      if (sp == std::string_view::npos)
        return p.fail("model.merges", "entry '" + std::string(s) + "' is not 'left right'");
      d.merges.emplace_back(std::string(s.substr(0, sp)), std::string(s.substr(sp + 1)));
      continue;
    }
    array pair;
    std::string_view a, b;
    if (m.get_array().get(pair) || pair.size() != 2 || pair.at(0).get_string().get(a) ||
        pair.at(1).get_string().get(b)) {
      return p.fail("model.merges", "entries must be 'left right' or [left, right]");
    }
    d.merges.emplace_back(std::string(a), std::string(b));
  }
  Parser::get_bool(model, "ignore_merges", &d.ignore_merges);
  bool byte_fallback = false;
  Parser::get_bool(model, "byte_fallback", &byte_fallback);
  d.byte_fallback = byte_fallback;
  std::string_view unk;
  if (Parser::get_str(model, "unk_token", &unk)) {
    for (size_t i = 0; i < n; ++i) {
      if (d.tokens[i] == unk) {
        d.unk_id = static_cast<int32_t>(i);
        break;
      }
    }
  }

  // --- pipeline: which tokenizer family is this? ---
  std::vector<object> pre = p.components(root, "pre_tokenizer", "pretokenizers");
  std::vector<object> norm = p.components(root, "normalizer", "normalizers");
  bool byte_level = false;
  for (object o : pre) {
    std::string_view t;
    if (Parser::get_str(o, "type", &t) && t == "ByteLevel") byte_level = true;
  }
  element dec;
  if (!root["decoder"].get(dec) && p.type_of(dec) == "ByteLevel") byte_level = true;

  if (byte_level) {
    d.type = VocabType::kBpe;
    d.add_space_prefix = false;
    for (object o : norm) {
      std::string_view t;
      Parser::get_str(o, "type", &t);
      if (t != "NFC") {
        return unsupported(name + ": normalizer '" + std::string(t) +
                           "' is not supported with a byte-level BPE tokenizer");
      }
      d.nfc = true;
    }
    auto type_at = [&](size_t i) {
      std::string_view t;
      Parser::get_str(pre[i], "type", &t);
      return t;
    };
    auto use_regex = [&](size_t i) {
      bool b = true;  // ByteLevel's default
      Parser::get_bool(pre[i], "use_regex", &b);
      return b;
    };
    auto prefix_space = [&](size_t i) {
      bool b = false;
      Parser::get_bool(pre[i], "add_prefix_space", &b);
      return b;
    };
    if (pre.size() == 1 && type_at(0) == "ByteLevel" && use_regex(0) && !prefix_space(0)) {
      d.pre = PreTokenizerType::kGpt2;
    } else if (pre.size() == 2 && type_at(0) == "Digits" && type_at(1) == "ByteLevel" &&
               use_regex(1) && !prefix_space(1)) {
      bool individual = false;
      Parser::get_bool(pre[0], "individual_digits", &individual);
      if (!individual)
        return unsupported(name + ": Digits pre-tokenizer without individual_digits");
      d.pre = PreTokenizerType::kStarcoder;
    } else if (pre.size() == 2 && type_at(0) == "Split" && type_at(1) == "ByteLevel" &&
               !use_regex(1) && !prefix_space(1)) {
      object pat;
      std::string_view regex, behavior;
      bool invert = false;
      Parser::get_bool(pre[0], "invert", &invert);
      Parser::get_str(pre[0], "behavior", &behavior);
      if (pre[0]["pattern"].get_object().get(pat) || !Parser::get_str(pat, "Regex", &regex)) {
        return unsupported(name + ": Split pre-tokenizer without a regex pattern");
      }
      if (invert || behavior != "Isolated") {
        return unsupported(name + ": Split pre-tokenizer with behavior '" + std::string(behavior) +
                           "'" + (invert ? " inverted" : ""));
      }
      if (regex == kLlama3Regex) {
        d.pre = PreTokenizerType::kLlama3;
      } else if (regex == kQwen2Regex) {
        d.pre = PreTokenizerType::kQwen2;
      } else if (regex == kGpt2Regex) {
        d.pre = PreTokenizerType::kGpt2;
      } else {
        return unsupported(name +
                           ": pre-tokenizer regex is not one assay knows (Llama 3, Qwen2, "
                           "GPT-2): " +
                           std::string(regex));
      }
    } else {
      return unsupported(name + ": byte-level pre-tokenizer pipeline is not one assay knows");
    }
    d.pre_name = pre_tokenizer_name(d.pre);
  } else {
    // SentencePiece in HF form: spaces become "▁", optionally one is prepended.
    d.type = VocabType::kSpm;
    d.pre = PreTokenizerType::kNone;
    d.pre_name = "spm";
    bool replaces_space = false, prepends = false;
    for (object o : norm) {
      std::string_view t, s;
      Parser::get_str(o, "type", &t);
      if (t == "Prepend" && Parser::get_str(o, "prepend", &s) && s == kSpmSpace) {
        prepends = true;
      } else if (t == "Replace" && Parser::get_str(o, "content", &s) && s == kSpmSpace) {
        object pat;
        std::string_view from;
        if (o["pattern"].get_object().get(pat) || !Parser::get_str(pat, "String", &from) ||
            from != " ") {
          return unsupported(name + ": Replace normalizer with an unexpected pattern");
        }
        replaces_space = true;
      } else {
        return unsupported(name + ": normalizer '" + std::string(t) + "' is not supported");
      }
    }
    for (object o : pre) {
      std::string_view t, s;
      Parser::get_str(o, "type", &t);
      if (t != "Metaspace") {
        return unsupported(name + ": pre-tokenizer '" + std::string(t) +
                           "' is not supported for a SentencePiece-style vocabulary");
      }
      bool split = true;
      Parser::get_bool(o, "split", &split);
      if (split) return unsupported(name + ": Metaspace with split=true is not supported");
      replaces_space = true;
      std::string_view scheme = "always";
      Parser::get_str(o, "prepend_scheme", &scheme);
      bool add_prefix = true;
      if (Parser::get_bool(o, "add_prefix_space", &add_prefix) && !add_prefix) scheme = "never";
      prepends = scheme != "never";
    }
    if (!replaces_space) {
      return unsupported(name + ": BPE tokenizer is neither byte-level nor SentencePiece-style");
    }
    d.add_space_prefix = prepends;
    if (byte_fallback) {
      for (size_t i = 0; i < n; ++i) {
        const std::string& t = d.tokens[i];
        if (d.token_types[i] == TokenType::kNormal && t.size() == 6 && t.rfind("<0x", 0) == 0 &&
            t[5] == '>') {
          d.token_types[i] = TokenType::kByte;
        }
      }
    }
  }

  std::unordered_map<std::string_view, int32_t> ids;
  for (size_t i = 0; i < n; ++i) ids.emplace(d.tokens[i], static_cast<int32_t>(i));
  auto id_of = [&](std::string_view s) {
    auto it = ids.find(s);
    return it == ids.end() ? -1 : it->second;
  };
  if (d.unk_id >= 0) d.token_types[d.unk_id] = TokenType::kUnknown;

  // --- post_processor: which specials does encode(add_special_tokens=True) add? ---
  for (object o : p.components(root, "post_processor", "processors")) {
    std::string_view t;
    Parser::get_str(o, "type", &t);
    if (t != "TemplateProcessing") continue;
    array single;
    if (o["single"].get_array().get(single) || single.size() == 0) continue;
    auto special_at = [&](size_t i) -> int32_t {
      object item, st;
      std::string_view tid;
      if (single.at(i).get_object().get(item) || item["SpecialToken"].get_object().get(st) ||
          !Parser::get_str(st, "id", &tid)) {
        return -1;
      }
      return id_of(tid);
    };
    if (int32_t b = special_at(0); b >= 0) {
      d.add_bos = true;
      d.bos_id = b;
    }
    if (single.size() > 1) {
      if (int32_t e = special_at(single.size() - 1); e >= 0) {
        d.add_eos = true;
        d.eos_id = e;
      }
    }
  }

  // --- tokenizer_config.json: special token names and add_bos/add_eos ---
  if (!config_json.empty()) {
    const std::string cname = name + " (tokenizer_config.json)";
    simdjson::dom::parser cparser;
    const std::string cwide = widen_big_integers(config_json);
    simdjson::padded_string cpadded(cwide.data(), cwide.size());
    element cdoc;
    object cfg;
    if (auto err = cparser.parse(cpadded).get(cdoc); err) {
      return corrupt(cname + ": not valid JSON (" + std::string(simdjson::error_message(err)) +
                     ")");
    }
    if (cdoc.get_object().get(cfg)) return corrupt(cname + ": top level is not a JSON object");
    std::string text;
    struct Named {
      const char* key;
      int32_t* id;
    } named[] = {{"bos_token", &d.bos_id},
                 {"eos_token", &d.eos_id},
                 {"unk_token", &d.unk_id},
                 {"pad_token", &d.pad_id}};
    for (const Named& nm : named) {
      if (!config_token_text(cfg, nm.key, &text)) continue;
      int32_t id = id_of(text);
      if (id < 0) {
        return corrupt(cname + ": " + nm.key + " '" + text + "' is not in the vocabulary");
      }
      *nm.id = id;
    }
    bool b;
    if (Parser::get_bool(cfg, "add_bos_token", &b)) d.add_bos = b;
    if (Parser::get_bool(cfg, "add_eos_token", &b)) d.add_eos = b;
  }
  if (int32_t id = id_of("<|eot_id|>"); id >= 0) d.eot_id = id;
  if (int32_t id = id_of("<|eom_id|>"); id >= 0) d.eom_id = id;
  return d;
}

Result<VocabData> vocab_from_hf_dir(const std::string& dir) {
  std::string tj, cj;
  ASSAY_RETURN_IF_ERROR(read_text_file(dir + "/tokenizer.json", &tj));
  std::ifstream probe(dir + "/tokenizer_config.json");
  if (probe) ASSAY_RETURN_IF_ERROR(read_text_file(dir + "/tokenizer_config.json", &cj));
  return vocab_from_hf_json(tj, cj, dir + "/tokenizer.json");
}

Result<std::optional<std::string>> chat_template_from_hf_config(std::string_view config_json,
                                                                const std::string& name,
                                                                const std::string& which) {
  simdjson::dom::parser parser;
  const std::string wide = widen_big_integers(config_json);
  simdjson::padded_string padded(wide.data(), wide.size());
  element doc;
  object cfg;
  if (auto err = parser.parse(padded).get(doc); err) {
    return corrupt(name + ": not valid JSON (" + std::string(simdjson::error_message(err)) + ")");
  }
  if (doc.get_object().get(cfg)) return corrupt(name + ": top level is not a JSON object");
  element e;
  if (cfg["chat_template"].get(e) || e.is_null()) return std::optional<std::string>();
  std::string_view s;
  if (!e.get_string().get(s)) {
    if (!which.empty() && which != "default") {
      return not_found(name + ": chat template '" + which + "' not found (only a default one)");
    }
    return std::optional<std::string>(std::string(s));
  }
  array list;
  if (e.get_array().get(list)) return corrupt(name + ": chat_template must be a string or a list");
  const std::string want = which.empty() ? "default" : which;
  std::string names;
  for (element x : list) {
    object o;
    std::string_view nm, tmpl;
    if (x.get_object().get(o) || !Parser::get_str(o, "name", &nm) ||
        !Parser::get_str(o, "template", &tmpl)) {
      return corrupt(name + ": chat_template entries need 'name' and 'template'");
    }
    if (nm == want) return std::optional<std::string>(std::string(tmpl));
    names += (names.empty() ? "" : ", ") + std::string(nm);
  }
  if (which.empty()) return std::optional<std::string>();
  return not_found(name + ": chat template '" + want + "' not found (have: " + names + ")");
}

}  // namespace assay
