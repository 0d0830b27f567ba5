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

}  // namespace

std::string Request::canonical() const {
  json::object o;
  o["kind"] = request_kind_name(kind);
  switch (kind) {
    case RequestKind::kLoglikelihood:
      o["context"] = ll.context;
      o["continuation"] = ll.continuation;
      break;
    case RequestKind::kRolling:
      o["text"] = rolling.text;
      break;
    case RequestKind::kGenerate: {
      o["context"] = gen.context;
      if (!gen.messages.empty()) {
        json::array msgs;
        for (const auto& m : gen.messages) msgs.push_back(json::object{{"role", m.role}, {"content", m.content}});
        o["messages"] = msgs;
      }
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
      break;
    case RequestKind::kRolling:
      o["lp"] = rolling.logprob;
      o["n"] = rolling.n_tokens;
      break;
    case RequestKind::kGenerate: {
      o["text"] = gen.text;
      if (!gen.extra.empty()) {
        json::array e;
        for (const auto& x : gen.extra) e.emplace_back(x);
        o["extra"] = e;
      }
      o["finish"] = gen.finish_reason;
      o["pt"] = gen.usage.prompt_tokens;
      o["ct"] = gen.usage.completion_tokens;
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
      break;
    }
    case RequestKind::kRolling: {
      auto lp = num("lp");
      if (!lp) return corrupt("rolling response lacks lp");
      r.rolling.logprob = *lp;
      r.rolling.n_tokens = static_cast<int64_t>(num("n").value_or(0));
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
      r.gen.usage.prompt_tokens = static_cast<int64_t>(num("pt").value_or(0));
      r.gen.usage.completion_tokens = static_cast<int64_t>(num("ct").value_or(0));
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

}  // namespace assay
