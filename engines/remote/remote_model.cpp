#include "engines/remote/remote_model.h"

#include <simdjson.h>

#include <charconv>
#include <cstdlib>

#include "engines/remote/api_error.h"
#include "engines/remote/sse_parser.h"

namespace assay {
namespace {

Result<bool> parse_bool(const std::string& k, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return invalid_argument("model arg " + k + "=" + v + ": expected true or false");
}

Result<double> parse_num(const std::string& k, const std::string& v) {
  double d = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || ptr != v.data() + v.size() || d < 0) {
    return invalid_argument("model arg " + k + "=" + v + ": expected a non-negative number");
  }
  return d;
}

std::string strip_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// Decodes an SSE body into events (the whole body is at hand once the transfer finished).
Result<std::vector<SseEvent>> sse_events(std::string_view body) {
  SseParser p;
  std::vector<SseEvent> events;
  ASSAY_RETURN_IF_ERROR(p.feed(body, events));
  ASSAY_RETURN_IF_ERROR(p.finish());
  return events;
}

int64_t estimate_tokens(size_t prompt_bytes, int64_t max_tokens) {
  return static_cast<int64_t>(prompt_bytes / 4 + 1) + max_tokens;
}

}  // namespace

Result<RemoteModelConfig> remote_config_from_spec(const std::string& spec, const ModelArgs& args) {
  RemoteModelConfig c;
  c.spec = spec;
  if (spec.rfind("openai:", 0) == 0) {
    c.api = RemoteApi::kOpenAI;
    c.backend = "openai";
    c.base_url = "https://api.openai.com/v1";
    c.model = spec.substr(7);
    c.key.env_var = "OPENAI_API_KEY";
  } else if (spec.rfind("anthropic:", 0) == 0) {
    c.api = RemoteApi::kAnthropic;
    c.backend = "anthropic";
    c.base_url = "https://api.anthropic.com/v1";
    c.model = spec.substr(10);
    c.key.env_var = "ANTHROPIC_API_KEY";
    c.http.retry = RetryConfig::anthropic_sdk();
  } else if (spec.rfind("http://", 0) == 0 || spec.rfind("https://", 0) == 0) {
    c.api = RemoteApi::kOpenAI;
    c.backend = "openai-compatible";
    c.base_url = strip_slash(spec);
    // Servers differ (vLLM echoes prompt log-probs, llama-server refuses echo): ask when needed.
    c.probe_when_needed = true;
  } else {
    return invalid_argument("not a remote model spec: " + spec);
  }
  for (const auto& [k, v] : args) {
    if (k == "model") {
      c.model = v;
    } else if (k == "base_url") {
      c.base_url = strip_slash(v);
    } else if (k == "api_key_env") {
      c.key.env_var = v;
    } else if (k == "api_key_file") {
      c.key.file = v;
    } else if (k == "num_concurrent") {
      ASSAY_ASSIGN_OR_RETURN(double d, parse_num(k, v));
      c.http.max_concurrency = std::max(1, static_cast<int>(d));
    } else if (k == "max_retries") {
      ASSAY_ASSIGN_OR_RETURN(double d, parse_num(k, v));
      c.http.retry.max_retries = static_cast<int>(d);
    } else if (k == "timeout") {
      ASSAY_ASSIGN_OR_RETURN(c.http.timeout_s, parse_num(k, v));
    } else if (k == "chat") {
      ASSAY_ASSIGN_OR_RETURN(c.chat, parse_bool(k, v));
    } else if (k == "loglikelihood") {
      c.probe_loglikelihood = v == "probe";
      c.probe_when_needed = v == "auto";
      if (v != "probe" && v != "auto") {
        ASSAY_ASSIGN_OR_RETURN(c.loglikelihood, parse_bool(k, v));
      }
    } else if (k == "stream") {
      ASSAY_ASSIGN_OR_RETURN(c.stream, parse_bool(k, v));
    } else if (k == "max_completion_tokens") {
      ASSAY_ASSIGN_OR_RETURN(c.openai.use_max_completion_tokens, parse_bool(k, v));
    } else if (k == "rpm" || k == "tpm") {
      ASSAY_ASSIGN_OR_RETURN(double d, parse_num(k, v));
      RateLimits lim = c.http.rate_limiter ? c.http.rate_limiter->limits() : RateLimits{};
      (k == "rpm" ? lim.requests_per_min : lim.tokens_per_min) = d;
      c.http.rate_limiter = std::make_shared<RateLimiter>(lim);
    } else if (k == "seed") {
      ASSAY_ASSIGN_OR_RETURN(double d, parse_num(k, v));
      c.openai.seed = static_cast<uint64_t>(d);
    } else if (k == "loglikelihood_max_tokens") {
      ASSAY_ASSIGN_OR_RETURN(double d, parse_num(k, v));
      if (d > 1) return invalid_argument("model arg loglikelihood_max_tokens must be 0 or 1");
      c.openai.loglikelihood_max_tokens = static_cast<int>(d);
    } else if (k == "n_ctx") {
      ASSAY_ASSIGN_OR_RETURN(double d, parse_num(k, v));
      c.n_ctx = static_cast<int64_t>(d);
    } else {
      return invalid_argument("unknown model arg '" + k +
                              "' for a remote model (known: model, base_url, api_key_env, api_key_file, "
                              "num_concurrent, max_retries, timeout, chat, loglikelihood, stream, "
                              "max_completion_tokens, rpm, tpm, seed, loglikelihood_max_tokens, n_ctx)");
    }
  }
  // A plain URL may leave the model out: create() asks the server's /models.
  if (c.model.empty() && c.backend != "openai-compatible") {
    return invalid_argument(spec + ": no model id (add --model-args model=NAME)");
  }
  if (c.api == RemoteApi::kAnthropic && c.loglikelihood) {
    return unsupported("anthropic: the Messages API returns no logprobs; loglikelihood tasks cannot run");
  }
  return c;
}

RemoteModel::RemoteModel(RemoteModelConfig config, std::string key)
    : config_(std::move(config)), key_(std::move(key)) {
  config_.openai.model = config_.model;
  config_.openai.stream = config_.stream;
  if (config_.http.who == "http") config_.http.who = config_.backend + " " + config_.base_url;
  client_ = std::make_unique<HttpClient>(config_.http);
  info_.spec = config_.spec;
  info_.id = config_.model;
  info_.identity = config_.backend + "|" + config_.base_url + "|" + config_.model;  // never the key
  info_.backend = config_.backend;
  info_.n_ctx = config_.n_ctx;
  info_.supports_loglikelihood = config_.loglikelihood;
  info_.supports_rolling = false;
  info_.supports_generate = true;
  info_.chat_only = config_.api == RemoteApi::kAnthropic || config_.chat;
  info_.details = {{"base_url", config_.base_url},
                   {"endpoint", config_.api == RemoteApi::kAnthropic ? "messages"
                                : config_.chat                        ? "chat/completions"
                                                                      : "completions"}};
}

Result<std::unique_ptr<Model>> make_remote_model(const std::string& spec, const ModelArgs& args) {
  ASSAY_ASSIGN_OR_RETURN(RemoteModelConfig config, remote_config_from_spec(spec, args));
  ASSAY_ASSIGN_OR_RETURN(std::unique_ptr<RemoteModel> m, RemoteModel::create(std::move(config)));
  return std::unique_ptr<Model>(std::move(m));
}

Result<std::unique_ptr<RemoteModel>> RemoteModel::create(RemoteModelConfig config) {
  std::string key;
  if (!config.key.env_var.empty() || !config.key.file.empty()) {
    ASSAY_ASSIGN_OR_RETURN(key, resolve_api_key(config.key));
  }
  std::unique_ptr<RemoteModel> m(new RemoteModel(std::move(config), std::move(key)));
  if (m->config_.model.empty()) {
    std::string served;
    ASSAY_ASSIGN_OR_RETURN(std::string id, m->discover_model_id(&served));
    m->config_.model = id;
    m->config_.openai.model = id;
    m->info_.id = id;
    // assay serve names its weights by content, so a run resumed against a restarted server
    // on another port (or host) still finds its finished requests; any other server is known
    // only by its URL.
    m->info_.identity = m->config_.backend + "|" +
                        (served.empty() ? m->config_.base_url : "assay-serve:" + served) + "|" + id;
    if (!served.empty()) m->info_.details.emplace_back("served_identity", served);
  }
  if (m->config_.probe_loglikelihood) ASSAY_RETURN_IF_ERROR(m->run_probe());
  return m;
}

Status RemoteModel::run_probe() {
  ASSAY_ASSIGN_OR_RETURN(bool ok, probe_echo_logprobs());
  config_.loglikelihood = ok;
  config_.probe_loglikelihood = config_.probe_when_needed = false;
  info_.supports_loglikelihood = ok;
  info_.details.emplace_back("probe.echo_logprobs", ok ? "yes" : "no");
  return Status::OK();
}

std::string RemoteModel::no_loglikelihood_reason() const {
  for (const auto& [k, v] : info_.details) {
    if (k == "probe.echo_logprobs" && v == "no") {
      return "probed: /completions with echo returned no prompt log-probs (llama-server refuses echo; "
             "vLLM, SGLang and assay serve support it)";
    }
  }
  if (config_.api == RemoteApi::kAnthropic) return "the Messages API returns no log-probs";
  return "log-likelihoods are off for this endpoint (model arg loglikelihood=true, or loglikelihood=probe "
         "to ask the server)";
}

Status RemoteModel::prepare(const ModelNeeds& needs) {
  if (!needs.loglikelihood) return Status::OK();
  if (config_.probe_when_needed) ASSAY_RETURN_IF_ERROR(run_probe());
  if (!config_.loglikelihood) return unsupported(info_.spec + ": " + no_loglikelihood_reason());
  return Status::OK();
}

HttpRequest RemoteModel::make_request(const std::string& path, std::string body, int64_t estimated_tokens) const {
  HttpRequest r;
  r.url = config_.base_url + path;
  r.body = std::move(body);
  r.estimated_tokens = estimated_tokens;
  if (config_.api == RemoteApi::kAnthropic) {
    if (!key_.empty()) r.headers.add("x-api-key", key_);
    r.headers.add("anthropic-version", kAnthropicVersion);
  } else if (!key_.empty()) {
    r.headers.add("Authorization", "Bearer " + key_);
  }
  return r;
}

std::vector<Result<LoglikelihoodResponse>> RemoteModel::loglikelihood(std::span<const LoglikelihoodRequest> requests) {
  std::vector<Result<LoglikelihoodResponse>> out;
  out.reserve(requests.size());
  if (Status st = prepare({.loglikelihood = !requests.empty()}); !st.ok()) {
    for (size_t i = 0; i < requests.size(); ++i) out.emplace_back(st);
    return out;
  }
  std::vector<HttpRequest> http;
  http.reserve(requests.size());
  for (const auto& r : requests) {
    http.push_back(make_request("/completions", openai_loglikelihood_body(r, config_.openai),
                                estimate_tokens(r.context.size() + r.continuation.size(), 1)));
  }
  const bool drop_last = config_.openai.loglikelihood_max_tokens > 0;
  auto score = [&](size_t i, const HttpResponse& resp) -> Result<LoglikelihoodResponse> {
    ASSAY_ASSIGN_OR_RETURN(ApiResponse parsed, parse_openai_completion_response(resp.body));
    if (parsed.choices.empty() || !parsed.choices[0].logprobs) {
      return corrupt(info_.spec + ": completion has no logprobs (server ignored logprobs/echo?)");
    }
    ASSAY_ASSIGN_OR_RETURN(
        LoglikelihoodResponse r,
        score_echo_logprobs(*parsed.choices[0].logprobs, utf8_codepoint_count(requests[i].context),
                            utf8_codepoint_count(requests[i].continuation), drop_last));
    // The echo request is billed like any other: the whole prompt in, the one generated token out.
    if (parsed.usage) r.usage = *parsed.usage;
    return r;
  };
  auto results = client_->run(http, {}, [&](size_t i, const HttpResponse& resp) { return score(i, resp).status(); });
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].status.ok()) {
      out.emplace_back(results[i].status);
      continue;
    }
    Result<LoglikelihoodResponse> r = score(i, results[i].response);
    if (r.ok() && r->usage.reported && config_.http.rate_limiter) {
      config_.http.rate_limiter->settle(http[i].estimated_tokens,
                                        r->usage.prompt_tokens + r->usage.completion_tokens);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Result<RollingResponse>> RemoteModel::loglikelihood_rolling(std::span<const RollingRequest> requests) {
  std::vector<Result<RollingResponse>> out;
  for (size_t i = 0; i < requests.size(); ++i) {
    out.emplace_back(unsupported(info_.spec + ": loglikelihood_rolling is not supported on remote endpoints yet"));
  }
  return out;
}

std::vector<Result<GenerateResponse>> RemoteModel::generate_until(std::span<const GenerateRequest> requests) {
  const bool anthropic = config_.api == RemoteApi::kAnthropic;
  std::vector<HttpRequest> http;
  http.reserve(requests.size());
  for (const auto& r : requests) {
    size_t bytes = r.context.size();
    for (const auto& m : r.messages) bytes += m.content.size();
    const int64_t est = estimate_tokens(bytes, static_cast<int64_t>(r.params.max_gen_toks) * std::max(1, r.params.n));
    if (anthropic) {
      AnthropicOptions ao;
      ao.model = config_.model;
      ao.stream = config_.stream;
      http.push_back(make_request("/messages", anthropic_messages_body(r, ao), est));
    } else if (config_.chat) {
      http.push_back(make_request("/chat/completions", openai_chat_body(r, config_.openai), est));
    } else {
      http.push_back(make_request("/completions", openai_completion_body(r, config_.openai), est));
    }
  }
  auto parse = [&](const HttpResponse& resp) -> Result<ApiResponse> {
    if (!config_.stream) {
      if (anthropic) return parse_anthropic_response(resp.body);
      return config_.chat ? parse_openai_chat_response(resp.body) : parse_openai_completion_response(resp.body);
    }
    ASSAY_ASSIGN_OR_RETURN(std::vector<SseEvent> events, sse_events(resp.body));
    if (anthropic) {
      AnthropicStreamAccumulator acc;
      for (const auto& e : events) ASSAY_RETURN_IF_ERROR(acc.on_event(e));
      return acc.finish();
    }
    OpenAiStreamAccumulator acc(config_.backend);
    for (const auto& e : events) ASSAY_RETURN_IF_ERROR(acc.on_event(e));
    return acc.finish();
  };
  auto results = client_->run(http, {}, [&](size_t, const HttpResponse& resp) {
    auto p = parse(resp);
    if (p.ok() && p->choices.empty()) return corrupt("response has no choices");
    return p.status();
  });
  std::vector<Result<GenerateResponse>> out;
  out.reserve(requests.size());
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].status.ok()) {
      out.emplace_back(results[i].status);
      continue;
    }
    auto parsed = parse(results[i].response);
    if (!parsed.ok()) {
      out.emplace_back(parsed.status());
      continue;
    }
    const auto& until = requests[i].params.until;
    GenerateResponse g;
    g.text = truncate_at_stop(parsed->choices[0].text, until);
    g.finish_reason = normalize_finish_reason(parsed->choices[0].finish_reason);
    for (size_t c = 1; c < parsed->choices.size(); ++c) g.extra.push_back(truncate_at_stop(parsed->choices[c].text, until));
    if (parsed->usage) {
      g.usage = *parsed->usage;
      // Repay (or charge) the tokens/min bucket with what the request really used.
      if (config_.http.rate_limiter) {
        config_.http.rate_limiter->settle(http[i].estimated_tokens, g.usage.prompt_tokens + g.usage.completion_tokens);
      }
    }
    out.emplace_back(std::move(g));
  }
  return out;
}

Result<std::string> RemoteModel::discover_model_id(std::string* served_identity) {
  HttpRequest req = make_request("/models", "", 0);
  req.method = "GET";
  HttpOutcome o = client_->run_one(req);
  if (!o.status.ok()) {
    return o.status.with_prefix(info_.spec + ": no model id given and listing /models failed (add --model-args model=NAME)");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array data;
  if (parser.parse(o.response.body.data(), o.response.body.size()).get(root) || root["data"].get_array().get(data)) {
    return corrupt(info_.spec + ": /models did not answer an OpenAI model list");
  }
  std::vector<std::string> ids;
  std::string_view served;
  for (simdjson::dom::element m : data) {
    std::string_view id;
    if (!m["id"].get_string().get(id)) ids.emplace_back(id);
    if (m["assay_identity"].get_string().get(served)) served = {};
  }
  if (ids.size() == 1) {
    served_identity->assign(served);
    return ids[0];
  }
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
  return invalid_argument(info_.spec + ": the server serves " + std::to_string(ids.size()) +
                          " models; choose one with --model-args model=NAME (" + list + ")");
}

Result<bool> RemoteModel::probe_echo_logprobs() {
  if (config_.api == RemoteApi::kAnthropic) return false;
  const LoglikelihoodRequest probe{"The capital of France is", " Paris"};
  HttpRequest req = make_request("/completions", openai_loglikelihood_body(probe, config_.openai), 16);
  HttpOutcome o = client_->run_one(req);
  if (!o.status.ok()) {
    // 400/404/422: the server refuses echo or has no /completions — a capability answer.
    if (o.response.status == 400 || o.response.status == 404 || o.response.status == 422) return false;
    return o.status.with_prefix("probing prompt logprobs");
  }
  auto parsed = parse_openai_completion_response(o.response.body);
  if (!parsed.ok() || parsed->choices.empty() || !parsed->choices[0].logprobs) return false;
  auto s = score_echo_logprobs(*parsed->choices[0].logprobs, utf8_codepoint_count(probe.context),
                               utf8_codepoint_count(probe.continuation), config_.openai.loglikelihood_max_tokens > 0);
  return s.ok() && s->n_tokens > 0;
}

}  // namespace assay
