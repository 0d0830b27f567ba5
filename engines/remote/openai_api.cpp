#include "engines/remote/openai_api.h"

#include <simdjson.h>

#include <algorithm>
#include <boost/json.hpp>

#include "engines/remote/api_error.h"
#include "engines/remote/json_util.h"

namespace assay {
namespace json = boost::json;
using simdjson::dom::element;

namespace {

void add_sampling(json::object& o, const GenParams& p, const OpenAiOptions& opt, bool chat) {
  if (chat && opt.use_max_completion_tokens) {
    o["max_completion_tokens"] = p.max_gen_toks;
  } else {
    o["max_tokens"] = p.max_gen_toks;
  }
  o["temperature"] = json_number(p.do_sample ? p.temperature : 0.0);
  if (p.do_sample && p.top_p < 1.0) o["top_p"] = json_number(p.top_p);
  if (p.do_sample && p.top_k > 0) o["top_k"] = p.top_k;  // vLLM/SGLang extension
  if (p.n != 1) o["n"] = p.n;
  if (p.seed) {
    o["seed"] = *p.seed;
  } else if (opt.seed) {
    o["seed"] = *opt.seed;
  }
  json::array stop;
  for (const auto& s : p.until) {
    if (s.empty() || static_cast<int>(stop.size()) >= opt.max_stop_strings) continue;
    stop.emplace_back(s);
  }
  if (!stop.empty()) o["stop"] = std::move(stop);
  if (opt.stream) {
    o["stream"] = true;
    if (opt.stream_include_usage) o["stream_options"] = json::object{{"include_usage", true}};
  }
}

std::string get_string_or_empty(element el, const char* key) {
  std::string_view v;
  if (el[key].get_string().get(v)) return {};
  return std::string(v);
}

std::optional<TokenUsage> parse_usage(element root) {
  element u;
  if (root["usage"].get(u) || !u.is_object()) return std::nullopt;
  TokenUsage usage;
  usage.reported = true;
  int64_t v = 0;
  if (!u["prompt_tokens"].get_int64().get(v)) usage.prompt_tokens = v;
  if (!u["completion_tokens"].get_int64().get(v)) usage.completion_tokens = v;
  // Both details are parts of the totals above (cached input is billed at its own rate; reasoning
  // is already inside completion_tokens and must not be added again).
  element d;
  if (!u["prompt_tokens_details"].get(d) && d.is_object() && !d["cached_tokens"].get_int64().get(v)) {
    usage.cached_prompt_tokens = v;
  }
  if (!u["completion_tokens_details"].get(d) && d.is_object() &&
      !d["reasoning_tokens"].get_int64().get(v)) {
    usage.reasoning_tokens = v;
  }
  return usage;
}

Result<CompletionLogprobs> parse_logprobs(element lp) {
  CompletionLogprobs out;
  simdjson::dom::array tokens, lps, tops, offsets;
  if (!lp["tokens"].get_array().get(tokens)) {
    for (element t : tokens) {
      std::string_view s;
      if (t.get_string().get(s)) return corrupt("logprobs.tokens: expected strings");
      out.tokens.emplace_back(s);
    }
    if (!lp["token_logprobs"].get_array().get(lps)) {
      for (element v : lps) {
        double d;
        if (v.is_null()) out.token_logprobs.push_back(std::nullopt);
        else if (v.get_double().get(d)) return corrupt("logprobs.token_logprobs: expected numbers");
        else out.token_logprobs.push_back(d);
      }
    }
    if (!lp["top_logprobs"].get_array().get(tops)) {
      for (element v : tops) {
        std::vector<std::pair<std::string, double>> entry;
        simdjson::dom::object obj;
        if (!v.get_object().get(obj)) {
          for (auto [k, val] : obj) {
            double d;
            if (val.get_double().get(d)) return corrupt("logprobs.top_logprobs: expected numbers");
            entry.emplace_back(std::string(k), d);
          }
        }
        out.top_logprobs.push_back(std::move(entry));
      }
    }
    if (!lp["text_offset"].get_array().get(offsets)) {
      for (element v : offsets) {
        int64_t o;
        if (v.get_int64().get(o)) return corrupt("logprobs.text_offset: expected integers");
        out.text_offset.push_back(o);
      }
    }
  } else {
    // Chat-style logprobs on completions (newer llama.cpp): {content: [{token, logprob,
    // top_logprobs: [{token, logprob}]}]}; offsets are rebuilt from the token strings.
    simdjson::dom::array content;
    if (lp["content"].get_array().get(content)) return corrupt("logprobs: no tokens or content array");
    int64_t offset = 0;
    for (element c : content) {
      std::string tok = get_string_or_empty(c, "token");
      double d;
      if (c["logprob"].get_double().get(d)) return corrupt("logprobs.content: missing logprob");
      std::vector<std::pair<std::string, double>> entry;
      simdjson::dom::array top;
      if (!c["top_logprobs"].get_array().get(top)) {
        for (element t : top) {
          double td;
          if (t["logprob"].get_double().get(td)) continue;
          entry.emplace_back(get_string_or_empty(t, "token"), td);
        }
      }
      out.text_offset.push_back(offset);
      offset += utf8_codepoint_count(tok);
      out.tokens.push_back(std::move(tok));
      out.token_logprobs.push_back(d);
      out.top_logprobs.push_back(std::move(entry));
    }
  }
  const size_t n = out.tokens.size();
  if (out.token_logprobs.size() != n || (!out.top_logprobs.empty() && out.top_logprobs.size() != n) ||
      (!out.text_offset.empty() && out.text_offset.size() != n)) {
    return corrupt("logprobs: tokens, token_logprobs, top_logprobs and text_offset differ in length");
  }
  return out;
}

Result<ApiResponse> parse_response(std::string_view body, bool chat) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root)) {
    return corrupt(std::string("response is not valid JSON: ") + simdjson::error_message(err));
  }
  element err_el;
  if (!root["error"].get(err_el) && !err_el.is_null()) return api_error_status("openai", 500, body);
  ApiResponse out;
  out.id = get_string_or_empty(root, "id");
  out.model = get_string_or_empty(root, "model");
  out.system_fingerprint = get_string_or_empty(root, "system_fingerprint");
  out.usage = parse_usage(root);
  simdjson::dom::array choices;
  if (root["choices"].get_array().get(choices)) return corrupt("response has no choices array");
  int64_t pos = 0;
  for (element c : choices) {
    ApiChoice ch;
    int64_t idx;
    ch.index = c["index"].get_int64().get(idx) ? pos : idx;
    ++pos;
    ch.finish_reason = get_string_or_empty(c, "finish_reason");
    if (chat) {
      element msg;
      if (c["message"].get(msg) || !msg.is_object()) return corrupt("chat choice has no message");
      ch.text = get_string_or_empty(msg, "content");
    } else {
      std::string_view text;
      if (c["text"].get_string().get(text)) return corrupt("completion choice has no text");
      ch.text = std::string(text);
      element lp;
      if (!c["logprobs"].get(lp) && lp.is_object()) {
        auto parsed = parse_logprobs(lp);
        if (!parsed.ok()) return parsed.status();
        ch.logprobs = std::move(parsed).value();
      }
    }
    out.choices.push_back(std::move(ch));
  }
  std::stable_sort(out.choices.begin(), out.choices.end(),
                   [](const ApiChoice& a, const ApiChoice& b) { return a.index < b.index; });
  return out;
}

}  // namespace

std::string openai_chat_body(const GenerateRequest& req, const OpenAiOptions& opt) {
  json::object o;
  o["model"] = opt.model;
  json::array messages;
  if (req.messages.empty()) {
    messages.push_back(json::object{{"role", "user"}, {"content", req.context}});
  } else {
    for (const auto& m : req.messages) {
      messages.push_back(json::object{{"role", m.role}, {"content", m.content}});
    }
  }
  o["messages"] = std::move(messages);
  add_sampling(o, req.params, opt, /*chat=*/true);
  return json::serialize(o);
}

std::string openai_completion_body(const GenerateRequest& req, const OpenAiOptions& opt) {
  json::object o;
  o["model"] = opt.model;
  o["prompt"] = req.context;
  add_sampling(o, req.params, opt, /*chat=*/false);
  return json::serialize(o);
}

std::string openai_loglikelihood_body(const LoglikelihoodRequest& req, const OpenAiOptions& opt) {
  json::object o;
  o["model"] = opt.model;
  o["prompt"] = req.context + req.continuation;
  o["max_tokens"] = opt.loglikelihood_max_tokens;
  o["temperature"] = 0;
  o["logprobs"] = opt.loglikelihood_top_logprobs;
  o["echo"] = true;
  if (opt.seed) o["seed"] = *opt.seed;
  return json::serialize(o);
}

Result<ApiResponse> parse_openai_completion_response(std::string_view body) {
  return parse_response(body, /*chat=*/false);
}

Result<ApiResponse> parse_openai_chat_response(std::string_view body) {
  return parse_response(body, /*chat=*/true);
}

int64_t utf8_codepoint_count(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Result<LoglikelihoodResponse> score_echo_logprobs(const CompletionLogprobs& lp, int64_t context_chars,
                                                  int64_t continuation_chars, bool drop_last) {
  const size_t n = lp.tokens.size();
  if (lp.text_offset.size() != n || n == 0) return corrupt("echo logprobs: text_offset missing");
  if (drop_last && lp.text_offset[n - 1] < context_chars + continuation_chars) {
    return corrupt("echo logprobs: the generated token starts inside the prompt (server ignored echo?)");
  }
  const size_t end = drop_last ? n - 1 : n;
  size_t ctx = 0;
  while (ctx < end && lp.text_offset[ctx] < context_chars) ++ctx;
  if (context_chars > 0 && ctx == 0) {
    return corrupt("echo logprobs: the response does not start with the prompt (server ignored echo?)");
  }
  if (continuation_chars > 0 && ctx == end) {
    return corrupt("echo logprobs: no token covers the continuation");
  }
  LoglikelihoodResponse r;
  r.is_greedy = true;
  for (size_t i = ctx; i < end; ++i) {
    if (!lp.token_logprobs[i]) return corrupt("echo logprobs: null logprob at continuation token " + std::to_string(i));
    const double v = *lp.token_logprobs[i];
    r.logprob += v;
    ++r.n_tokens;
    if (i >= lp.top_logprobs.size() || lp.top_logprobs[i].empty()) {
      r.is_greedy = false;
      continue;
    }
    double best = lp.top_logprobs[i][0].second;
    for (const auto& [tok, val] : lp.top_logprobs[i]) best = std::max(best, val);
    if (v != best) r.is_greedy = false;
  }
  return r;
}

std::string truncate_at_stop(std::string_view text, const std::vector<std::string>& until) {
  size_t cut = text.size();
  for (const auto& s : until) {
    if (s.empty()) continue;
    size_t p = text.find(s);
    if (p != std::string_view::npos) cut = std::min(cut, p);
  }
  return std::string(text.substr(0, cut));
}

std::string normalize_finish_reason(std::string_view reason) {
  if (reason == "stop" || reason == "end_turn" || reason == "stop_sequence" || reason == "eos") return "stop";
  if (reason == "length" || reason == "max_tokens") return "length";
  return std::string(reason);
}

Status OpenAiStreamAccumulator::on_event(const SseEvent& event) {
  if (SseParser::is_done(event)) {
    done_ = true;
    return Status::OK();
  }
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(event.data.data(), event.data.size()).get(root)) {
    return corrupt(who_ + ": stream chunk is not valid JSON: " + simdjson::error_message(err));
  }
  element err_el;
  if (!root["error"].get(err_el) && !err_el.is_null()) return stream_error_status(who_, event.data);
  if (auto u = parse_usage(root)) response_.usage = u;
  if (response_.id.empty()) response_.id = get_string_or_empty(root, "id");
  if (response_.model.empty()) response_.model = get_string_or_empty(root, "model");
  simdjson::dom::array choices;
  if (root["choices"].get_array().get(choices)) return Status::OK();
  for (element c : choices) {
    int64_t idx = 0;
    if (c["index"].get_int64().get(idx)) idx = 0;
    auto it = std::find_if(response_.choices.begin(), response_.choices.end(),
                           [&](const ApiChoice& ch) { return ch.index == idx; });
    if (it == response_.choices.end()) {
      ApiChoice ch;
      ch.index = idx;
      response_.choices.push_back(std::move(ch));
      std::sort(response_.choices.begin(), response_.choices.end(),
                [](const ApiChoice& a, const ApiChoice& b) { return a.index < b.index; });
      it = std::find_if(response_.choices.begin(), response_.choices.end(),
                        [&](const ApiChoice& ch) { return ch.index == idx; });
    }
    element delta;
    std::string_view piece;
    if (!c["delta"].get(delta) && delta.is_object()) {
      if (!delta["content"].get_string().get(piece)) it->text.append(piece);
    } else if (!c["text"].get_string().get(piece)) {
      it->text.append(piece);
    }
    std::string fr = get_string_or_empty(c, "finish_reason");
    if (!fr.empty()) it->finish_reason = std::move(fr);
  }
  return Status::OK();
}

Result<ApiResponse> OpenAiStreamAccumulator::finish() const {
  if (!done_) return corrupt(who_ + ": stream ended before [DONE] (truncated response)");
  return response_;
}

}  // namespace assay
