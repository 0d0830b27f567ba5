#include "engines/serve/serve_protocol.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <limits>

namespace assay::serve {
namespace json = boost::json;

namespace {

ApiError bad(std::string param, std::string message) {
  ApiError e;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

// Integers arrive as int64, uint64 or (from some clients) an integral double.
std::optional<int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() &&
      v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double() && std::floor(v.get_double()) == v.get_double() &&
      std::abs(v.get_double()) < 9e15) {
    return static_cast<int64_t>(v.get_double());
  }
  return std::nullopt;
}

std::optional<double> as_number(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

// The present, non-null value of a field, or nullptr.
const json::value* field(const json::object& o, std::string_view k) {
  const json::value* v = o.if_contains(k);
  return v && !v->is_null() ? v : nullptr;
}

Parsed<json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return bad("", "the request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return bad("", "the request body must be a JSON object");
  return std::move(v.as_object());
}

std::optional<ApiError> parse_sampling(const json::object& o, bool chat, SamplingFields* s) {
  if (auto* v = field(o, "model")) {
    if (!v->is_string()) return bad("model", "model must be a string");
    s->model = std::string(v->get_string());
  }
  const char* max_names[] = {"max_tokens", "max_completion_tokens"};
  for (const char* name : max_names) {
    if (auto* v = field(o, name)) {
      auto n = as_int(*v);
      if (!n || *n < (chat ? 1 : 0)) {
        return bad(name, std::string(name) + " must be an integer >= " + (chat ? "1" : "0"));
      }
      s->max_tokens = *n;
    }
  }
  if (auto* v = field(o, "temperature")) {
    auto t = as_number(*v);
    if (!t || *t < 0 || *t > 2) return bad("temperature", "temperature must be a number in [0, 2]");
    s->temperature = *t;
  }
  if (auto* v = field(o, "top_p")) {
    auto t = as_number(*v);
    if (!t || *t <= 0 || *t > 1) return bad("top_p", "top_p must be a number in (0, 1]");
    s->top_p = *t;
  }
  if (auto* v = field(o, "top_k")) {
    auto k = as_int(*v);
    // vLLM spells "off" as -1 or 0.
    if (!k || *k < -1 || *k > std::numeric_limits<int32_t>::max())
      return bad("top_k", "top_k must be an integer >= -1");
    s->top_k = static_cast<int32_t>(std::max<int64_t>(0, *k));
  }
  if (auto* v = field(o, "seed")) {
    if (v->is_uint64()) {
      s->seed = v->get_uint64();
    } else if (auto k = as_int(*v)) {
      // Negative seeds are legal in OpenAI's schema; keep their bits.
      s->seed = static_cast<uint64_t>(*k);
    } else {
      return bad("seed", "seed must be an integer");
    }
  }
  if (auto* v = field(o, "stop")) {
    if (v->is_string()) {
      if (!v->get_string().empty()) s->stop.emplace_back(v->get_string());
    } else if (v->is_array()) {
      if (v->get_array().size() > kMaxStopStrings) {
        return bad("stop", "stop takes at most " + std::to_string(kMaxStopStrings) + " strings");
      }
      for (const auto& x : v->get_array()) {
        if (!x.is_string()) return bad("stop", "stop must be a string or an array of strings");
        if (!x.get_string().empty()) s->stop.emplace_back(x.get_string());
      }
    } else {
      return bad("stop", "stop must be a string or an array of strings");
    }
  }
  if (auto* v = field(o, "n")) {
    auto n = as_int(*v);
    if (!n || *n < 1 || *n > kMaxN)
      return bad("n", "n must be an integer in [1, " + std::to_string(kMaxN) + "]");
    s->n = static_cast<int32_t>(*n);
  }
  if (auto* v = field(o, "stream")) {
    if (!v->is_bool()) return bad("stream", "stream must be a boolean");
    s->stream = v->get_bool();
  }
  if (auto* v = field(o, "stream_options")) {
    if (!v->is_object()) return bad("stream_options", "stream_options must be an object");
    if (auto* u = field(v->get_object(), "include_usage")) {
      if (!u->is_bool())
        return bad("stream_options.include_usage", "include_usage must be a boolean");
      s->include_usage = u->get_bool();
    }
    if (!s->stream)
      return bad("stream_options", "stream_options is only allowed with stream: true");
  }
  return std::nullopt;
}

}  // namespace

std::string error_body(const ApiError& e) {
  json::object err;
  err["message"] = e.message;
  err["type"] = e.type;
  err["param"] = e.param.empty() ? json::value(nullptr) : json::value(e.param);
  err["code"] = e.code.empty() ? json::value(nullptr) : json::value(e.code);
  return json::serialize(json::object{{"error", std::move(err)}});
}

Parsed<CompletionRequest> parse_completion_request(std::string_view body) {
  auto obj = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&obj)) return *e;
  const json::object& o = std::get<json::object>(obj);
  CompletionRequest r;
  if (auto e = parse_sampling(o, /*chat=*/false, &r.s)) return *e;
  const json::value* p = field(o, "prompt");
  if (!p) return bad("prompt", "prompt is required");
  const char* kPromptShape =
      "prompt must be a string, an array of strings, an array of token ids or an array of arrays "
      "of token ids";
  auto token_ids = [](const json::array& a, std::vector<int32_t>* out) {
    for (const auto& t : a) {
      auto id = as_int(t);
      if (!id || *id < 0 || *id > std::numeric_limits<int32_t>::max()) return false;
      out->push_back(static_cast<int32_t>(*id));
    }
    return true;
  };
  if (p->is_string()) {
    r.prompts.emplace_back(p->get_string());
  } else if (p->is_array()) {
    const auto& a = p->get_array();
    if (a.empty()) return bad("prompt", "prompt must not be an empty array");
    if (a[0].is_string()) {
      for (const auto& x : a) {
        if (!x.is_string()) return bad("prompt", kPromptShape);
        r.prompts.emplace_back(x.get_string());
      }
    } else if (a[0].is_array()) {
      for (const auto& x : a) {
        std::vector<int32_t> ids;
        if (!x.is_array() || x.get_array().empty() || !token_ids(x.get_array(), &ids))
          return bad("prompt", kPromptShape);
        r.token_prompts.push_back(std::move(ids));
      }
    } else {
      std::vector<int32_t> ids;
      if (!token_ids(a, &ids)) return bad("prompt", kPromptShape);
      r.token_prompts.push_back(std::move(ids));
    }
  } else {
    return bad("prompt", kPromptShape);
  }
  if (auto* v = field(o, "echo")) {
    if (!v->is_bool()) return bad("echo", "echo must be a boolean");
    r.echo = v->get_bool();
  }
  if (auto* v = field(o, "logprobs")) {
    auto k = as_int(*v);
    if (v->is_bool() || !k || *k < 0 || *k > kMaxLogprobs) {
      return bad("logprobs",
                 "logprobs must be an integer in [0, " + std::to_string(kMaxLogprobs) + "]");
    }
    r.logprobs = static_cast<int32_t>(*k);
  }
  if (r.logprobs && r.s.stream)
    return bad("logprobs", "logprobs with stream: true is not supported");
  if (r.logprobs && r.s.temperature > 0 && r.s.max_tokens.value_or(16) > 0) {
    return bad("logprobs",
               "logprobs of generated tokens are computed for greedy decoding only: "
               "send temperature 0 (or max_tokens 0 to score the prompt alone)");
  }
  if (r.s.stream && r.s.n > 1) return bad("n", "n > 1 with stream: true is not supported");
  return r;
}

Parsed<TokenizeRequest> parse_tokenize_request(std::string_view body) {
  auto obj = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&obj)) return *e;
  const json::object& o = std::get<json::object>(obj);
  TokenizeRequest r;
  const json::value* p = field(o, "prompt");
  if (!p || !p->is_string()) return bad("prompt", "prompt must be a string");
  r.prompt = std::string(p->get_string());
  if (auto* v = field(o, "add_special_tokens")) {
    if (!v->is_bool()) return bad("add_special_tokens", "add_special_tokens must be a boolean");
    r.add_special_tokens = v->get_bool();
  }
  return r;
}

Parsed<std::vector<int32_t>> parse_detokenize_request(std::string_view body) {
  auto obj = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&obj)) return *e;
  const json::object& o = std::get<json::object>(obj);
  const json::value* t = field(o, "tokens");
  if (!t || !t->is_array()) return bad("tokens", "tokens must be an array of token ids");
  std::vector<int32_t> ids;
  for (const auto& x : t->get_array()) {
    auto id = as_int(x);
    if (!id || *id < 0 || *id > std::numeric_limits<int32_t>::max())
      return bad("tokens", "tokens must be an array of token ids");
    ids.push_back(static_cast<int32_t>(*id));
  }
  return ids;
}

Parsed<ChatRequest> parse_chat_request(std::string_view body) {
  auto obj = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&obj)) return *e;
  const json::object& o = std::get<json::object>(obj);
  ChatRequest r;
  if (auto e = parse_sampling(o, /*chat=*/true, &r.s)) return *e;
  const json::value* m = field(o, "messages");
  if (!m || !m->is_array() || m->get_array().empty()) {
    return bad("messages", "messages must be a non-empty array");
  }
  for (size_t i = 0; i < m->get_array().size(); ++i) {
    const json::value& x = m->get_array()[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!x.is_object()) return bad(where, where + " must be an object");
    const json::object& mo = x.get_object();
    const json::value* role = field(mo, "role");
    if (!role || !role->is_string()) return bad(where + ".role", where + ".role must be a string");
    ChatMessage msg;
    msg.role = std::string(role->get_string());
    // "developer" is OpenAI's newer name for the system role.
    if (msg.role == "developer") msg.role = "system";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant") {
      return bad(
          where + ".role",
          where + ".role must be system, developer, user or assistant (got '" + msg.role + "')");
    }
    const json::value* content = field(mo, "content");
    if (!content) return bad(where + ".content", where + ".content is required");
    if (content->is_string()) {
      msg.content = std::string(content->get_string());
    } else if (content->is_array()) {
      // Content parts: only text parts make sense for a text model.
      for (const auto& part : content->get_array()) {
        const json::object* po = part.if_object();
        const json::value* type = po ? field(*po, "type") : nullptr;
        const json::value* text = po ? field(*po, "text") : nullptr;
        if (!type || !type->is_string() || type->get_string() != "text" || !text ||
            !text->is_string()) {
          return bad(
              where + ".content",
              where +
                  ".content: only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
        }
        msg.content += text->get_string();
      }
    } else {
      return bad(where + ".content", where + ".content must be a string or an array of text parts");
    }
    r.messages.push_back(std::move(msg));
  }
  if (auto* v = field(o, "logprobs"); v && v->is_bool() && v->get_bool()) {
    return bad("logprobs",
               "chat logprobs are not supported by assay serve; use /v1/completions with logprobs");
  }
  if (r.s.stream && r.s.n > 1) return bad("n", "n > 1 with stream: true is not supported");
  return r;
}

GenParams to_gen_params(const SamplingFields& s, int32_t default_max) {
  GenParams p;
  p.until = s.stop;
  p.max_gen_toks =
      s.max_tokens ? static_cast<int32_t>(std::min<int64_t>(*s.max_tokens, 1 << 30)) : default_max;
  p.do_sample = s.temperature > 0;
  p.temperature = s.temperature;
  p.top_p = s.top_p;
  p.top_k = s.top_k;
  p.seed = s.seed;
  return p;
}

int64_t codepoints(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

size_t complete_utf8_prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the lead byte of the last character.
  size_t n = s.size();
  size_t i = n;
  int cont = 0;
  while (i > 0 && cont < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) {
    --i;
    ++cont;
  }
  if (i == 0) return cont == 0 ? 0 : n;  // only continuation bytes: nothing to wait for
  unsigned char lead = static_cast<unsigned char>(s[i - 1]);
  size_t need = lead < 0x80           ? 1
                : (lead >> 5) == 0x6  ? 2
                : (lead >> 4) == 0xE  ? 3
                : (lead >> 3) == 0x1E ? 4
                                      : 1;
  return static_cast<size_t>(cont) + 1 >= need ? n : i - 1;
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::vector<std::pair<int32_t, double>> top_logprobs(const float* logits, int64_t n_vocab, int k) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t v = 0; v < n_vocab; ++v) mx = std::max<double>(mx, logits[v]);
  double z = 0;
  for (int64_t v = 0; v < n_vocab; ++v) z += std::exp(static_cast<double>(logits[v]) - mx);
  const double lse = mx + std::log(z);
  k = static_cast<int>(std::min<int64_t>(std::max(k, 0), n_vocab));
  if (k == 1) {
    // The common case (lm-eval asks for logprobs=1): one scan, no sort.
    int64_t best = 0;
    for (int64_t v = 1; v < n_vocab; ++v) best = logits[v] > logits[best] ? v : best;
    return {{static_cast<int32_t>(best), static_cast<double>(logits[best]) - lse}};
  }
  std::vector<int32_t> ids(static_cast<size_t>(n_vocab));
  for (int64_t v = 0; v < n_vocab; ++v) ids[v] = static_cast<int32_t>(v);
  auto better = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  std::vector<std::pair<int32_t, double>> out;
  for (int i = 0; i < k; ++i) out.emplace_back(ids[i], static_cast<double>(logits[ids[i]]) - lse);
  return out;
}

double json_logprob(double v) {
  if (std::isnan(v) || v < -9999.0) return -9999.0;
  return v;
}

}  // namespace assay::serve
