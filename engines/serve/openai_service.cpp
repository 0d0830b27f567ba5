#include "engines/serve/openai_service.h"

#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

namespace assay::serve {
namespace json = boost::json;

namespace {

ServeReply json_reply(int status, const json::value& v) {
  ServeReply r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

ServeReply error_reply(const ApiError& e) {
  ServeReply r;
  r.status = e.http_status;
  r.body = error_body(e);
  return r;
}

// Engine failures: a request the model cannot take (too long, bad template) is the client's 400;
// anything else is the server's 500.
ApiError engine_error(const Status& st) {
  ApiError e;
  e.message = st.message();
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
      e.http_status = 400;
      if (st.message().find("context") != std::string::npos) e.code = "context_length_exceeded";
      break;
    case StatusCode::kResourceExhausted:
      e.http_status = 400;
      e.code = "context_length_exceeded";
      break;
    default:
      e.http_status = 500;
      e.type = "server_error";
  }
  return e;
}

std::string finish_reason(const std::string& engine_reason) {
  return engine_reason == "eos" ? "stop" : engine_reason;
}

json::object usage_json(int64_t prompt, int64_t completion) {
  return json::object{{"prompt_tokens", prompt},
                      {"completion_tokens", completion},
                      {"total_tokens", prompt + completion}};
}

// Splits text into chunks along the tokens the model would write it with, never inside a
// UTF-8 character, so a stream reads like token-by-token output.
std::vector<std::string> token_chunks(const LocalModel& m, const std::string& text) {
  std::vector<std::string> out;
  const Tokenizer& tok = m.tokenizer();
  std::string pending;
  for (int32_t id : tok.encode(text, false, false)) {
    pending.append(tok.token_to_piece(id));
    size_t n = complete_utf8_prefix(pending);
    if (n == 0) continue;
    out.push_back(pending.substr(0, n));
    pending.erase(0, n);
  }
  if (!pending.empty()) out.push_back(pending);
  // Whatever the pieces do not cover (an SPM leading space, say) keeps the sum equal to text.
  std::string joined;
  for (const auto& c : out) joined += c;
  if (joined != text) out = {text};
  return out;
}

// One prompt's answer on the logprobs path.
struct LogprobChoice {
  std::vector<std::string> tokens;
  std::vector<std::optional<double>> token_logprobs;
  std::vector<std::vector<std::pair<std::string, double>>> top;  // empty vector -> null
  std::vector<int64_t> text_offset;
  std::string generated;  // text after the prompt
  std::string finish = "length";
  int64_t n_generated = 0;
};

json::value top_json(const std::vector<std::pair<std::string, double>>& top) {
  json::object o;
  for (const auto& [k, v] : top) {
    if (!o.contains(k)) o.emplace(k, json_logprob(v));
  }
  return o;
}

// Per prompt on the logprobs path: prompt ids, which score item they own, results.
struct PromptWork {
  std::vector<int32_t> ids;
  int score_index = -1;
  std::optional<Status> error;
  LogprobChoice choice;
};

}  // namespace

OpenAiService::OpenAiService(LocalModel& model, EngineWorker& worker)
    : worker_(worker),
      model_id_(model.info().id),
      identity_(model.info().identity),
      spec_(model.info().spec),
      n_ctx_(model.n_ctx()),
      created_(static_cast<int64_t>(std::time(nullptr))) {
  // Read before any request: the tokenizer is immutable, and the worker is idle until then.
  const Tokenizer& tok = model.tokenizer();
  if (tok.bos_id() >= 0) bos_token_ = tok.token_text(tok.bos_id());
  if (tok.eos_id() >= 0) eos_token_ = tok.token_text(tok.eos_id());
}

std::string OpenAiService::next_id(const char* prefix) {
  return std::string(prefix) + std::to_string(created_) + "-" + std::to_string(++counter_);
}

std::optional<ApiError> OpenAiService::check_model(const std::string& requested) const {
  if (requested.empty() || requested == model_id_ || requested == spec_) return std::nullopt;
  ApiError e;
  e.http_status = 404;
  e.message =
      "The model `" + requested + "` does not exist; this server serves `" + model_id_ + "`";
  e.param = "model";
  e.code = "model_not_found";
  return e;
}

ServeReply OpenAiService::handle(std::string_view method, std::string_view target,
                                 std::string_view body) {
  std::string_view path = target.substr(0, target.find('?'));
  auto wrong_method = [&](const char* allowed) {
    ApiError e;
    e.http_status = 405;
    e.message = "Method " + std::string(method) + " is not allowed on " + std::string(path) +
                " (use " + allowed + ")";
    return error_reply(e);
  };
  if (path == "/health") {
    if (method != "GET") return wrong_method("GET");
    return json_reply(200, json::object{{"status", "ok"}});
  }
  if (path == "/v1/models" || path.rfind("/v1/models/", 0) == 0) {
    if (method != "GET") return wrong_method("GET");
    return models(path);
  }
  if (path == "/v1/completions") {
    if (method != "POST") return wrong_method("POST");
    return completions(body);
  }
  if (path == "/v1/chat/completions") {
    if (method != "POST") return wrong_method("POST");
    return chat(body);
  }
  if (path == "/tokenize" || path == "/detokenize") {
    if (method != "POST") return wrong_method("POST");
    return path == "/tokenize" ? tokenize(body) : detokenize(body);
  }
  if (path == "/tokenizer_info") {
    if (method != "GET") return wrong_method("GET");
    return tokenizer_info();
  }
  ApiError e;
  e.http_status = 404;
  e.message = "Invalid URL (" + std::string(method) + " " + std::string(path) + ")";
  e.code = "not_found";
  return error_reply(e);
}

ServeReply OpenAiService::models(std::string_view path) const {
  json::object card{{"id", model_id_},
                    {"object", "model"},
                    {"created", created_},
                    {"owned_by", "assay"},
                    {"max_model_len", n_ctx_},
                    // The weights' content hash: clients key caches on it instead of the URL.
                    {"assay_identity", identity_}};
  if (path == "/v1/models") {
    return json_reply(200, json::object{{"object", "list"}, {"data", json::array{card}}});
  }
  std::string id(path.substr(std::string_view("/v1/models/").size()));
  if (id != model_id_) {
    ApiError e;
    e.http_status = 404;
    e.message = "The model `" + id + "` does not exist";
    e.param = "model";
    e.code = "model_not_found";
    return error_reply(e);
  }
  return json_reply(200, card);
}

ServeReply OpenAiService::tokenize(std::string_view body) {
  auto parsed = parse_tokenize_request(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_reply(*e);
  const TokenizeRequest& req = std::get<TokenizeRequest>(parsed);
  std::vector<int32_t> ids;
  EngineJob job;
  // Special-token text is recognized, as Hugging Face tokenizers (and so vLLM) do.
  job.prepare = [&](LocalModel& m, EngineJob&) {
    ids = m.tokenizer().encode(req.prompt, req.add_special_tokens, true);
  };
  if (!worker_.run(job))
    return error_reply({503, "the server is shutting down", "server_error", "", ""});
  json::array tokens;
  for (int32_t id : ids) tokens.emplace_back(id);
  return json_reply(200, json::object{{"count", static_cast<int64_t>(ids.size())},
                                      {"max_model_len", n_ctx_},
                                      {"tokens", std::move(tokens)}});
}

ServeReply OpenAiService::detokenize(std::string_view body) {
  auto parsed = parse_detokenize_request(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_reply(*e);
  const std::vector<int32_t>& ids = std::get<std::vector<int32_t>>(parsed);
  std::string text;
  std::optional<ApiError> bad_id;
  EngineJob job;
  job.prepare = [&](LocalModel& m, EngineJob&) {
    for (int32_t id : ids) {
      if (id >= m.tokenizer().n_vocab()) {
        bad_id = ApiError{400, "token id " + std::to_string(id) + " is outside the vocabulary",
                          "invalid_request_error", "tokens", ""};
        return;
      }
    }
    text = m.tokenizer().decode(ids);
  };
  if (!worker_.run(job))
    return error_reply({503, "the server is shutting down", "server_error", "", ""});
  if (bad_id) return error_reply(*bad_id);
  return json_reply(200, json::object{{"prompt", valid_utf8(text)}});
}

ServeReply OpenAiService::tokenizer_info() const {
  auto or_null = [](const std::string& s) {
    return s.empty() ? json::value(nullptr) : json::value(s);
  };
  return json_reply(200, json::object{{"tokenizer_class", "assay"},
                                      {"bos_token", or_null(bos_token_)},
                                      {"eos_token", or_null(eos_token_)},
                                      {"pad_token", nullptr},
                                      {"model_max_length", n_ctx_}});
}

ServeReply OpenAiService::completions(std::string_view body) {
  auto parsed = parse_completion_request(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_reply(*e);
  CompletionRequest& req = std::get<CompletionRequest>(parsed);
  if (auto e = check_model(req.s.model)) return error_reply(*e);
  if (!req.token_prompts.empty()) {
    // The text of a token-id prompt is its tokens' bytes, so echo and text_offset agree.
    std::optional<ApiError> bad_id;
    EngineJob decode;
    decode.prepare = [&](LocalModel& m, EngineJob&) {
      const Tokenizer& tok = m.tokenizer();
      for (const auto& ids : req.token_prompts) {
        std::string text;
        for (int32_t id : ids) {
          if (id >= tok.n_vocab()) {
            bad_id = ApiError{400,
                              "token id " + std::to_string(id) + " is outside the vocabulary (" +
                                  std::to_string(tok.n_vocab()) + " tokens)",
                              "invalid_request_error", "prompt", ""};
            return;
          }
          text.append(tok.token_to_piece(id));
        }
        req.prompts.push_back(std::move(text));
      }
    };
    if (!worker_.run(decode))
      return error_reply({503, "the server is shutting down", "server_error", "", ""});
    if (bad_id) return error_reply(*bad_id);
  }
  const size_t n_prompts = req.prompts.size();
  const size_t n = static_cast<size_t>(req.s.n);
  const std::string id = next_id("cmpl-");
  const int64_t created = static_cast<int64_t>(std::time(nullptr));

  json::array choices;
  int64_t prompt_tokens = 0, completion_tokens = 0;

  if (!req.logprobs && req.s.stream && n_prompts == 1 && n == 1) {
    // One answer streamed as the engine produces it.
    GenerateRequest g;
    g.context = req.prompts[0];
    g.params = to_gen_params(req.s, 16);
    return stream_generation(std::move(g), req.s,
                             StreamShape{"cmpl-", "text_completion", false,
                                         req.echo ? req.prompts[0] : std::string()});
  }
  if (!req.logprobs) {
    // Plain generation: every (prompt, choice) is one engine request, all in one batch.
    // Several prompts or choices stream too, each choice as one piece once all are done.
    EngineJob job;
    for (size_t p = 0; p < n_prompts; ++p) {
      for (size_t c = 0; c < n; ++c) {
        GenerateRequest g;
        g.context = req.prompts[p];
        g.params = to_gen_params(req.s, 16);
        // Distinct seeds so n samples differ; greedy choices are identical anyway.
        if (n > 1) g.params.seed = req.s.seed.value_or(counter_.load()) + c;
        job.generate.push_back(std::move(g));
      }
    }
    if (!worker_.run(job))
      return error_reply({503, "the server is shutting down", "server_error", "", ""});
    for (size_t p = 0; p < n_prompts; ++p) {
      for (size_t c = 0; c < n; ++c) {
        const auto& r = job.generated[p * n + c];
        if (!r.ok()) return error_reply(engine_error(r.status()));
        if (c == 0) prompt_tokens += r->usage.prompt_tokens;
        completion_tokens += r->usage.completion_tokens;
        std::string text = (req.echo ? req.prompts[p] : std::string()) + r->text;
        choices.push_back(json::object{{"index", static_cast<int64_t>(p * n + c)},
                                       {"text", valid_utf8(text)},
                                       {"logprobs", nullptr},
                                       {"finish_reason", finish_reason(r->finish_reason)}});
      }
    }
    if (req.s.stream) {
      ServeReply out;
      out.sse = true;
      const json::object& ch = choices[0].as_object();
      // Re-chunking needs the tokenizer, which lives on the worker.
      std::vector<std::string> chunks;
      EngineJob split;
      std::string text(ch.at("text").as_string());
      split.prepare = [&](LocalModel& m, EngineJob&) { chunks = token_chunks(m, text); };
      if (!worker_.run(split)) chunks = {text};
      for (const auto& piece : chunks) {
        out.events.push_back(json::serialize(
            json::object{{"id", id},
                         {"object", "text_completion"},
                         {"created", created},
                         {"model", model_id_},
                         {"choices", json::array{json::object{{"index", 0},
                                                              {"text", valid_utf8(piece)},
                                                              {"logprobs", nullptr},
                                                              {"finish_reason", nullptr}}}}}));
      }
      out.events.push_back(json::serialize(json::object{
          {"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", model_id_},
          {"choices", json::array{json::object{{"index", 0},
                                               {"text", ""},
                                               {"logprobs", nullptr},
                                               {"finish_reason", ch.at("finish_reason")}}}},
          {"usage", usage_json(prompt_tokens, completion_tokens)}}));
      if (req.s.include_usage) {
        out.events.push_back(
            json::serialize(json::object{{"id", id},
                                         {"object", "text_completion"},
                                         {"created", created},
                                         {"model", model_id_},
                                         {"choices", json::array{}},
                                         {"usage", usage_json(prompt_tokens, completion_tokens)}}));
      }
      out.events.push_back("[DONE]");
      return out;
    }
  } else {
    // Logprobs: prompt tokens scored in the batched score_tokens call; top-k and generated
    // tokens from full logits afterwards, on the worker.
    const int k = *req.logprobs;
    const int64_t max_tokens = req.s.max_tokens.value_or(16);
    std::vector<PromptWork> work(n_prompts);
    EngineJob job;
    job.prepare = [&](LocalModel& m, EngineJob& j) {
      const Tokenizer& tok = m.tokenizer();
      for (size_t p = 0; p < n_prompts; ++p) {
        if (!req.token_prompts.empty()) {
          work[p].ids = req.token_prompts[p];
        } else {
          // The token sequence LocalModel::loglikelihood scores for context+continuation.
          work[p].ids = tok.encode(req.prompts[p], false, false);
          if (m.add_bos() && tok.bos_id() >= 0)
            work[p].ids.insert(work[p].ids.begin(), tok.bos_id());
        }
        if (req.echo && work[p].ids.size() >= 2) {
          work[p].score_index = static_cast<int>(j.score.size());
          j.score.push_back(TokenScoreItem{work[p].ids, 1, true});
        }
      }
    };
    job.finish = [&](LocalModel& m, EngineJob& j) {
      const Tokenizer& tok = m.tokenizer();
      auto piece = [&](int32_t t) {
        return valid_utf8(tok.token_to_piece(t, /*render_special=*/true));
      };
      for (size_t p = 0; p < n_prompts; ++p) {
        PromptWork& w = work[p];
        LogprobChoice& ch = w.choice;
        int64_t chars = 0;
        if (req.echo) {
          std::string bytes;
          const TokenScore* sc = nullptr;
          if (w.score_index >= 0) {
            auto& r = j.scored[static_cast<size_t>(w.score_index)];
            if (!r.ok()) {
              w.error = r.status();
              continue;
            }
            sc = &*r;
          }
          // Positions whose top list needs the full distribution. A top-1 list (lm-eval's
          // local-completions asks logprobs=1) is the scored argmax and its log-prob: no second
          // pass of the output head over every prompt token.
          std::vector<size_t> need;
          for (size_t i = 1; k > 1 && i < w.ids.size(); ++i) need.push_back(i);
          std::vector<std::vector<std::pair<int32_t, double>>> tops(w.ids.size());
          constexpr size_t kChunk = 128;
          for (size_t a = 0; a < need.size();) {
            size_t first = need[a] - 1, last = first;
            size_t b = a;
            while (b < need.size() && need[b] - 1 < first + kChunk) last = need[b++] - 1;
            auto logits =
                m.logits_range(w.ids, static_cast<int32_t>(first), static_cast<int32_t>(last));
            if (!logits.ok()) {
              w.error = logits.status();
              break;
            }
            const size_t n_vocab = logits->size() / (last - first + 1);
            for (size_t q = a; q < b; ++q) {
              size_t row = need[q] - 1 - first;
              tops[need[q]] =
                  top_logprobs(logits->data() + row * n_vocab, static_cast<int64_t>(n_vocab), k);
            }
            a = b;
          }
          if (w.error) continue;
          for (size_t i = 0; i < w.ids.size(); ++i) {
            const int32_t t = w.ids[i];
            ch.tokens.push_back(piece(t));
            ch.text_offset.push_back(codepoints(bytes));
            bytes.append(tok.token_to_piece(t));
            if (i == 0) {
              ch.token_logprobs.push_back(std::nullopt);
              ch.top.emplace_back();
              continue;
            }
            const double lp = sc->token_logprobs[i - 1];
            ch.token_logprobs.push_back(lp);
            std::vector<std::pair<std::string, double>> top;
            if (k == 1 && sc->argmax[i - 1] != t) {
              top.emplace_back(piece(sc->argmax[i - 1]), sc->argmax_logprobs[i - 1]);
            } else if (tops[i].empty()) {
              top.emplace_back(piece(t), lp);  // k == 0, or the target was the argmax
            } else {
              for (const auto& [id, v] : tops[i]) {
                // The scored value, exactly, so "is this the argmax" compares equal numbers.
                top.emplace_back(piece(id), id == t ? lp : v);
              }
            }
            ch.top.push_back(std::move(top));
          }
          chars = codepoints(req.prompts[p]);
        }
        // Greedy generation with the chosen token's log-prob and the top k at each step.
        std::vector<int32_t> ctx = w.ids;
        if (ctx.empty()) ctx.push_back(tok.bos_id() >= 0 ? tok.bos_id() : tok.eos_id());
        std::string gen;
        for (int64_t step = 0; step < max_tokens; ++step) {
          if (static_cast<int64_t>(ctx.size()) >= m.n_ctx()) break;
          auto logits = m.last_logits(ctx);
          if (!logits.ok()) {
            w.error = logits.status();
            break;
          }
          auto top =
              top_logprobs(logits->data(), static_cast<int64_t>(logits->size()), std::max(k, 1));
          const int32_t t = top[0].first;
          ++ch.n_generated;
          ch.tokens.push_back(piece(t));
          ch.token_logprobs.push_back(top[0].second);
          std::vector<std::pair<std::string, double>> entries;
          for (size_t q = 0; q < (k == 0 ? 1 : top.size()); ++q)
            entries.emplace_back(piece(top[q].first), top[q].second);
          ch.top.push_back(std::move(entries));
          ch.text_offset.push_back(chars + codepoints(gen));
          ctx.push_back(t);
          if (tok.is_eog(t)) {
            ch.finish = "stop";
            break;
          }
          gen.append(tok.token_to_piece(t));
          size_t cut = std::string::npos;
          for (const auto& s : req.s.stop) cut = std::min(cut, gen.find(s));
          if (cut != std::string::npos) {
            gen.resize(cut);
            ch.finish = "stop";
            break;
          }
        }
        if (ch.n_generated == 0 && max_tokens > 0 && !w.error) ch.finish = "length";
        ch.generated = std::move(gen);
      }
    };
    if (!worker_.run(job))
      return error_reply({503, "the server is shutting down", "server_error", "", ""});
    for (size_t p = 0; p < n_prompts; ++p) {
      const PromptWork& w = work[p];
      if (w.error) return error_reply(engine_error(*w.error));
      prompt_tokens += static_cast<int64_t>(w.ids.size());
      const LogprobChoice& ch = w.choice;
      json::array tokens, lps, tops, offsets;
      for (size_t i = 0; i < ch.tokens.size(); ++i) {
        tokens.emplace_back(ch.tokens[i]);
        lps.push_back(ch.token_logprobs[i] ? json::value(json_logprob(*ch.token_logprobs[i]))
                                           : json::value(nullptr));
        tops.push_back(ch.top[i].empty() ? json::value(nullptr) : top_json(ch.top[i]));
        offsets.emplace_back(ch.text_offset[i]);
      }
      json::object lp{{"tokens", tokens},
                      {"token_logprobs", lps},
                      {"top_logprobs", tops},
                      {"text_offset", offsets}};
      std::string text = (req.echo ? req.prompts[p] : std::string()) + ch.generated;
      for (size_t c = 0; c < n; ++c) {
        completion_tokens += ch.n_generated;
        choices.push_back(json::object{{"index", static_cast<int64_t>(p * n + c)},
                                       {"text", valid_utf8(text)},
                                       {"logprobs", lp},
                                       {"finish_reason", ch.finish}});
      }
    }
  }
  return json_reply(200, json::object{{"id", id},
                                      {"object", "text_completion"},
                                      {"created", created},
                                      {"model", model_id_},
                                      {"choices", std::move(choices)},
                                      {"usage", usage_json(prompt_tokens, completion_tokens)}});
}

ServeReply OpenAiService::chat(std::string_view body) {
  auto parsed = parse_chat_request(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error_reply(*e);
  const ChatRequest& req = std::get<ChatRequest>(parsed);
  if (auto e = check_model(req.s.model)) return error_reply(*e);
  if (req.s.stream) return chat_stream(req);
  const size_t n = static_cast<size_t>(req.s.n);
  EngineJob job;
  for (size_t c = 0; c < n; ++c) {
    GenerateRequest g;
    g.messages = req.messages;
    // No max_tokens: until the end of the turn or the context, as OpenAI does.
    g.params = to_gen_params(req.s, static_cast<int32_t>(n_ctx_));
    if (n > 1) g.params.seed = req.s.seed.value_or(counter_.load()) + c;
    job.generate.push_back(std::move(g));
  }
  if (!worker_.run(job))
    return error_reply({503, "the server is shutting down", "server_error", "", ""});
  const std::string id = next_id("chatcmpl-");
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  int64_t prompt_tokens = 0, completion_tokens = 0;
  json::array choices;
  for (size_t c = 0; c < n; ++c) {
    const auto& r = job.generated[c];
    if (!r.ok()) return error_reply(engine_error(r.status()));
    if (c == 0) prompt_tokens = r->usage.prompt_tokens;
    completion_tokens += r->usage.completion_tokens;
    choices.push_back(json::object{
        {"index", static_cast<int64_t>(c)},
        {"message", json::object{{"role", "assistant"}, {"content", valid_utf8(r->text)}}},
        {"logprobs", nullptr},
        {"finish_reason", finish_reason(r->finish_reason)}});
  }
  return json_reply(200, json::object{{"id", id},
                                      {"object", "chat.completion"},
                                      {"created", created},
                                      {"model", model_id_},
                                      {"choices", std::move(choices)},
                                      {"usage", usage_json(prompt_tokens, completion_tokens)}});
}

namespace {

// One streamed chat answer: the engine job (run by `runner` through the worker) publishes text
// as it grows; the connection thread sends it.
struct ChatStream {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> deltas;  // text not yet sent
  size_t published = 0;            // bytes of the answer handed to `deltas`
  bool done = false;
  bool ran = false;  // false: the worker had stopped
  EngineJob job;
  std::thread runner;
  ~ChatStream() {
    if (runner.joinable()) runner.join();
  }
};

}  // namespace

ServeReply OpenAiService::chat_stream(const ChatRequest& req) {
  GenerateRequest g;
  g.messages = req.messages;
  g.params = to_gen_params(req.s, static_cast<int32_t>(n_ctx_));
  return stream_generation(std::move(g), req.s, StreamShape{"chatcmpl-", "chat.completion.chunk", true, ""});
}

// One generation streamed while the engine works: chat chunks ({"delta": {"content"}}, a role
// chunk first) or completion chunks ({"text"}, the echoed prompt first).
ServeReply OpenAiService::stream_generation(GenerateRequest g, const SamplingFields& s,
                                            StreamShape shape) {
  auto st = std::make_shared<ChatStream>();
  st->job.generate.push_back(std::move(g));
  // The engine reports text before it looks for stop strings, so a stop string may already be
  // in it (cut there), and one may still complete at the end (hold back its length - 1 bytes).
  // What has been sent is then never taken back.
  size_t hold = 0;
  for (const auto& stop : s.stop) hold = std::max(hold, stop.size() - 1);
  ChatStream* raw = st.get();
  st->job.on_text = [raw, hold, stop = s.stop](size_t, const std::string& text) {
    size_t safe = text.size() > hold ? text.size() - hold : 0;
    for (const auto& x : stop) safe = std::min(safe, text.find(x));
    safe = complete_utf8_prefix(std::string_view(text).substr(0, safe));
    std::lock_guard<std::mutex> lock(raw->mu);
    if (safe <= raw->published) return;
    raw->deltas.push_back(text.substr(raw->published, safe - raw->published));
    raw->published = safe;
    raw->cv.notify_all();
  };
  st->runner = std::thread([this, raw] {
    bool ran = worker_.run(raw->job);
    std::lock_guard<std::mutex> lock(raw->mu);
    raw->ran = ran;
    raw->done = true;
    raw->cv.notify_all();
  });
  // Wait for the first text or the end, so a request that fails at once (context too long, no
  // template) still gets its HTTP error status instead of an error inside a 200 stream.
  {
    std::unique_lock<std::mutex> lock(raw->mu);
    raw->cv.wait(lock, [&] { return raw->done || !raw->deltas.empty(); });
    if (raw->done && raw->deltas.empty()) {
      lock.unlock();
      raw->runner.join();
      if (!raw->ran)
        return error_reply({503, "the server is shutting down", "server_error", "", ""});
      if (!raw->job.generated[0].ok())
        return error_reply(engine_error(raw->job.generated[0].status()));
    }
  }
  const std::string id = next_id(shape.id_prefix);
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const bool include_usage = s.include_usage;
  ServeReply out;
  out.sse = true;
  out.stream = [this, st, id, created, include_usage,
                shape = std::move(shape)](const std::function<bool(const std::string&)>& send) {
    auto chunk = [&](json::value piece, json::value finish) {
      json::object choice{{"index", 0}};
      if (shape.chat) {
        choice["delta"] = std::move(piece);
      } else {
        choice["text"] = std::move(piece);
      }
      choice["logprobs"] = nullptr;
      choice["finish_reason"] = std::move(finish);
      return json::object{{"id", id},
                          {"object", shape.object},
                          {"created", created},
                          {"model", model_id_},
                          {"choices", json::array{std::move(choice)}}};
    };
    auto text_chunk = [&](const std::string& text) {
      return shape.chat ? chunk(json::object{{"content", valid_utf8(text)}}, nullptr)
                        : chunk(json::string(valid_utf8(text)), nullptr);
    };
    // After a failed write the client is gone; the engine still finishes the job.
    bool client = true;
    if (shape.chat) {
      client = send(json::serialize(chunk(json::object{{"role", "assistant"}, {"content", ""}}, nullptr)));
    } else if (!shape.leading_text.empty()) {
      client = send(json::serialize(text_chunk(shape.leading_text)));
    }
    while (true) {
      std::deque<std::string> take;
      bool done;
      {
        std::unique_lock<std::mutex> lock(st->mu);
        st->cv.wait(lock, [&] { return st->done || !st->deltas.empty(); });
        take.swap(st->deltas);
        done = st->done;
      }
      for (const auto& d : take) {
        if (client) client = send(json::serialize(text_chunk(d)));
      }
      if (done) break;
    }
    if (st->runner.joinable()) st->runner.join();  // joined already when the answer was empty
    if (!client) return;
    const auto& r = st->job.generated.empty()
                        ? Result<GenerateResponse>(unavailable("the server is shutting down"))
                        : st->job.generated[0];
    if (!r.ok()) {
      ApiError e = engine_error(r.status());
      send(error_body(e));
      send("[DONE]");
      return;
    }
    if (r->text.size() > st->published) {
      client = send(json::serialize(text_chunk(r->text.substr(st->published))));
    }
    // The finishing chunk carries usage too, so clients that never ask for the separate usage
    // chunk still see the counts.
    json::object last = shape.chat ? chunk(json::object{}, json::value(finish_reason(r->finish_reason)))
                                   : chunk(json::string(), json::value(finish_reason(r->finish_reason)));
    json::object usage = usage_json(r->usage.prompt_tokens, r->usage.completion_tokens);
    last["usage"] = usage;
    if (client) client = send(json::serialize(last));
    if (client && include_usage) {
      client = send(json::serialize(json::object{{"id", id},
                                                 {"object", shape.object},
                                                 {"created", created},
                                                 {"model", model_id_},
                                                 {"choices", json::array{}},
                                                 {"usage", usage}}));
    }
    if (client) send("[DONE]");
  };
  return out;
}

}  // namespace assay::serve
