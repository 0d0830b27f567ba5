#include "engines/remote/anthropic_api.h"

#include <simdjson.h>

#include <boost/json.hpp>

#include "engines/remote/api_error.h"
#include "engines/remote/json_util.h"

namespace assay {
namespace json = boost::json;
using simdjson::dom::element;

namespace {

std::string str_or_empty(element el, const char* key) {
  std::string_view v;
  if (el[key].get_string().get(v)) return {};
  return std::string(v);
}

bool all_space(const std::string& s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') return false;
  }
  return true;
}

// Anthropic's input_tokens leaves out the cache reads and writes; assay's prompt_tokens counts
// every input token (OpenAI's meaning), so the three are added and the cache parts kept apart.
// A streamed message_delta repeats the counts cumulatively, so fields it lacks keep their value.
void read_usage(element u, TokenUsage& usage) {
  usage.reported = true;
  int64_t v = 0;
  const int64_t cache_read = usage.cached_prompt_tokens.value_or(0);
  const int64_t cache_write = usage.cache_write_tokens.value_or(0);
  int64_t input = usage.prompt_tokens - cache_read - cache_write;
  if (!u["input_tokens"].get_int64().get(v)) input = v;
  if (!u["cache_read_input_tokens"].get_int64().get(v)) usage.cached_prompt_tokens = v;
  if (!u["cache_creation_input_tokens"].get_int64().get(v)) usage.cache_write_tokens = v;
  usage.prompt_tokens =
      input + usage.cached_prompt_tokens.value_or(0) + usage.cache_write_tokens.value_or(0);
  if (!u["output_tokens"].get_int64().get(v)) usage.completion_tokens = v;
}

}  // namespace

std::string anthropic_messages_body(const GenerateRequest& req, const AnthropicOptions& opt) {
  json::object o;
  o["model"] = opt.model;
  o["max_tokens"] = req.params.max_gen_toks;
  std::string system;
  json::array messages;
  if (req.messages.empty()) {
    messages.push_back(json::object{{"role", "user"}, {"content", req.context}});
  } else {
    for (const auto& m : req.messages) {
      if (m.role == "system") {
        if (!system.empty()) system += "\n\n";
        system += m.content;
      } else {
        messages.push_back(json::object{{"role", m.role}, {"content", m.content}});
      }
    }
  }
  if (!system.empty()) o["system"] = system;
  o["messages"] = std::move(messages);
  const GenParams& p = req.params;
  o["temperature"] = json_number(p.do_sample ? p.temperature : 0.0);
  if (p.do_sample && p.top_p < 1.0) o["top_p"] = json_number(p.top_p);
  if (p.do_sample && p.top_k > 0) o["top_k"] = p.top_k;
  json::array stop;
  for (const auto& s : p.until) {
    if (!s.empty() && !all_space(s)) stop.emplace_back(s);
  }
  if (!stop.empty()) o["stop_sequences"] = std::move(stop);
  if (opt.stream) o["stream"] = true;
  return json::serialize(o);
}

Result<ApiResponse> parse_anthropic_response(std::string_view body) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root)) {
    return corrupt(std::string("anthropic: response is not valid JSON: ") + simdjson::error_message(err));
  }
  if (str_or_empty(root, "type") == "error") return stream_error_status("anthropic", body);
  ApiResponse out;
  out.id = str_or_empty(root, "id");
  out.model = str_or_empty(root, "model");
  ApiChoice ch;
  simdjson::dom::array content;
  if (root["content"].get_array().get(content)) return corrupt("anthropic: response has no content array");
  for (element block : content) {
    if (str_or_empty(block, "type") == "text") ch.text += str_or_empty(block, "text");
  }
  ch.finish_reason = normalize_finish_reason(str_or_empty(root, "stop_reason"));
  element u;
  if (!root["usage"].get(u) && u.is_object()) {
    TokenUsage usage;
    read_usage(u, usage);
    out.usage = usage;
  }
  out.choices.push_back(std::move(ch));
  return out;
}

Status AnthropicStreamAccumulator::on_event(const SseEvent& event) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(event.data.data(), event.data.size()).get(root)) {
    return corrupt(std::string("anthropic: stream event is not valid JSON: ") + simdjson::error_message(err));
  }
  // The `type` field in the data repeats the SSE event name; prefer it (some proxies drop `event:`).
  std::string type = str_or_empty(root, "type");
  if (type.empty()) type = event.event;
  if (response_.choices.empty()) response_.choices.emplace_back();
  ApiChoice& ch = response_.choices.front();
  if (type == "error") return stream_error_status("anthropic", event.data);
  if (type == "message_start") {
    element msg;
    if (!root["message"].get(msg) && msg.is_object()) {
      response_.id = str_or_empty(msg, "id");
      response_.model = str_or_empty(msg, "model");
      element u;
      if (!msg["usage"].get(u) && u.is_object()) {
        TokenUsage usage;
        read_usage(u, usage);
        response_.usage = usage;
      }
    }
  } else if (type == "content_block_delta") {
    element delta;
    if (!root["delta"].get(delta) && str_or_empty(delta, "type") == "text_delta") {
      ch.text += str_or_empty(delta, "text");
    }
  } else if (type == "message_delta") {
    element delta;
    if (!root["delta"].get(delta)) {
      std::string sr = str_or_empty(delta, "stop_reason");
      if (!sr.empty()) ch.finish_reason = normalize_finish_reason(sr);
    }
    element u;
    if (!root["usage"].get(u) && u.is_object()) {
      // Cumulative: overwrite, and keep the input count from message_start if absent here.
      TokenUsage usage = response_.usage.value_or(TokenUsage{});
      read_usage(u, usage);
      response_.usage = usage;
    }
  } else if (type == "message_stop") {
    done_ = true;
  }
  // ping, content_block_start/stop and unknown future events: nothing to do.
  return Status::OK();
}

Result<ApiResponse> AnthropicStreamAccumulator::finish() const {
  if (!done_) return corrupt("anthropic: stream ended before message_stop (truncated response)");
  return response_;
}

}  // namespace assay
