#include "harness/task.h"

#include "harness/json_write.h"

namespace json = boost::json;

namespace assay {

const char* request_kind_name(RequestKind k) {
  switch (k) {
    case RequestKind::kLoglikelihood: return "loglikelihood";
    case RequestKind::kRolling: return "loglikelihood_rolling";
    case RequestKind::kGenerate: return "generate_until";
  }
  return "?";
}

namespace {

json::object gen_params_json(const GenParams& p) {
  json::object o;
  json::array until;
  for (const auto& u : p.until) until.emplace_back(u);
  o["until"] = until;
  o["max_gen_toks"] = p.max_gen_toks;
  o["do_sample"] = p.do_sample;
  o["temperature"] = p.temperature;
  o["top_k"] = p.top_k;
  o["top_p"] = p.top_p;
  if (p.seed) o["seed"] = *p.seed;
  if (p.n != 1) o["n"] = p.n;
  return o;
}

// Write-ahead-log form of a request's usage: short keys (the log holds one line per request),
// and nothing at all when nobody reported usage, so "absent" and "zero" stay distinct.
void put_usage(json::object& o, const TokenUsage& u) {
  if (!u.reported) return;
  o["pt"] = u.prompt_tokens;
  o["ct"] = u.completion_tokens;
  if (u.cached_prompt_tokens) o["cpt"] = *u.cached_prompt_tokens;
  if (u.cache_write_tokens) o["cwt"] = *u.cache_write_tokens;
  if (u.reasoning_tokens) o["rt"] = *u.reasoning_tokens;
}

// Rows written before usage was logged for every kind lack the keys and read as unreported 0.
TokenUsage get_usage(const json::object& o) {
  TokenUsage u;
  auto int_of = [&](const char* k) -> std::optional<int64_t> {
    const json::value* x = o.if_contains(k);
    if (!x) return std::nullopt;
    if (x->is_int64()) return x->get_int64();
    if (x->is_uint64()) return static_cast<int64_t>(x->get_uint64());
    if (x->is_double()) return static_cast<int64_t>(x->get_double());
    return std::nullopt;
  };
  auto pt = int_of("pt"), ct = int_of("ct");
  u.reported = pt.has_value() || ct.has_value();
  u.prompt_tokens = pt.value_or(0);
  u.completion_tokens = ct.value_or(0);
  u.cached_prompt_tokens = int_of("cpt");
  u.cache_write_tokens = int_of("cwt");
  u.reasoning_tokens = int_of("rt");
  return u;
}

}  // namespace

json::array messages_json(const std::vector<ChatMessage>& messages) {
  json::array msgs;
  for (const auto& m : messages) msgs.push_back(json::object{{"role", m.role}, {"content", m.content}});
  return msgs;
}

std::string Request::canonical() const {
  json::object o;
  o["kind"] = request_kind_name(kind);
  switch (kind) {
    case RequestKind::kLoglikelihood:
      o["context"] = ll.context;
      o["continuation"] = ll.continuation;
      if (!ll.messages.empty()) o["messages"] = messages_json(ll.messages);
      break;
    case RequestKind::kRolling:
      o["text"] = rolling.text;
      break;
    case RequestKind::kGenerate: {
      o["context"] = gen.context;
      if (!gen.messages.empty()) o["messages"] = messages_json(gen.messages);
      o["params"] = gen_params_json(gen.params);
      break;
    }
  }
  return json_dumps(o, -1);
}

json::value Request::arguments_json() const {
  json::object args;
  switch (kind) {
    case RequestKind::kLoglikelihood:
      args["arg_0"] = ll.context;
      args["arg_1"] = ll.continuation;
      break;
    case RequestKind::kRolling:
      args["arg_0"] = rolling.text;
      break;
    case RequestKind::kGenerate:
      args["arg_0"] = gen.context;
      args["arg_1"] = gen_params_json(gen.params);
      break;
  }
  return args;
}

json::value Response::to_json() const {
  json::object o;
  switch (kind) {
    case RequestKind::kLoglikelihood:
      o["lp"] = ll.logprob;
      o["g"] = ll.is_greedy;
      o["n"] = ll.n_tokens;
      put_usage(o, ll.usage);
      break;
    case RequestKind::kRolling:
      o["lp"] = rolling.logprob;
      o["n"] = rolling.n_tokens;
      put_usage(o, rolling.usage);
      break;
    case RequestKind::kGenerate: {
      o["text"] = gen.text;
      if (!gen.extra.empty()) {
        json::array e;
        for (const auto& x : gen.extra) e.emplace_back(x);
        o["extra"] = e;
      }
      o["finish"] = gen.finish_reason;
      put_usage(o, gen.usage);
      break;
    }
  }
  return o;
}

Result<Response> Response::from_json(RequestKind kind, const json::value& v) {
  Response r;
  r.kind = kind;
  const json::object* o = v.if_object();
  if (!o) return corrupt("response is not an object");
  auto num = [&](const char* k) -> std::optional<double> {
    const json::value* x = o->if_contains(k);
    if (!x) return std::nullopt;
    if (x->is_double()) return x->get_double();
    if (x->is_int64()) return static_cast<double>(x->get_int64());
    if (x->is_uint64()) return static_cast<double>(x->get_uint64());
    return std::nullopt;
  };
  switch (kind) {
    case RequestKind::kLoglikelihood: {
      auto lp = num("lp");
      const json::value* g = o->if_contains("g");
      if (!lp || !g || !g->is_bool()) return corrupt("loglikelihood response lacks lp/g");
      r.ll.logprob = *lp;
      r.ll.is_greedy = g->get_bool();
      r.ll.n_tokens = static_cast<int32_t>(num("n").value_or(0));
      r.ll.usage = get_usage(*o);
      break;
    }
    case RequestKind::kRolling: {
      auto lp = num("lp");
      if (!lp) return corrupt("rolling response lacks lp");
      r.rolling.logprob = *lp;
      r.rolling.n_tokens = static_cast<int64_t>(num("n").value_or(0));
      r.rolling.usage = get_usage(*o);
      break;
    }
    case RequestKind::kGenerate: {
      const json::value* t = o->if_contains("text");
      if (!t || !t->is_string()) return corrupt("generate response lacks text");
      r.gen.text = std::string(t->get_string());
      if (const json::value* e = o->if_contains("extra"); e && e->is_array()) {
        for (const auto& x : e->get_array()) {
          if (x.is_string()) r.gen.extra.emplace_back(x.get_string());
        }
      }
      if (const json::value* f = o->if_contains("finish"); f && f->is_string()) {
        r.gen.finish_reason = std::string(f->get_string());
      }
      r.gen.usage = get_usage(*o);
      break;
    }
  }
  return r;
}

json::value Response::resps_json() const {
  switch (kind) {
    case RequestKind::kLoglikelihood: {
      // lm-eval logs the tuple as a list of strings: [["-1.23", "False"]].
      json::array a;
      a.emplace_back(python_float_repr(ll.logprob));
      a.emplace_back(ll.is_greedy ? "True" : "False");
      return json::array{a};
    }
    case RequestKind::kRolling:
      return json::array{json::value(rolling.logprob)};
    case RequestKind::kGenerate:
      return json::array{json::value(gen.text)};
  }
  return nullptr;
}

GenParams GenOverrides::apply(GenParams p) const {
  if (until) p.until = *until;
  if (max_gen_toks) p.max_gen_toks = *max_gen_toks;
  if (do_sample) p.do_sample = *do_sample;
  if (temperature) p.temperature = *temperature;
  if (top_k) p.top_k = *top_k;
  if (top_p) p.top_p = *top_p;
  if (seed) p.seed = *seed;
  return p;
}

}  // namespace assay
