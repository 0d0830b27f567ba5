#include "engines/local/vocab/chat_template.h"

#include "engines/local/vocab/unicode.h"

namespace assay {

namespace {

// Python's str.isspace(), which Jinja's trim filter and str.strip() use.
bool py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string_view lstrip_space(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    uint32_t cp;
    size_t len = utf8_decode(s, pos, &cp);
    if (cp == 0xFFFFFFFF || !py_space(cp)) break;
    pos += len;
  }
  return s.substr(pos);
}

std::string_view rstrip_space(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && end - start < 4 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
    uint32_t cp;
    size_t len = utf8_decode(s.substr(0, end), start, &cp);
    if (start + len != end || cp == 0xFFFFFFFF || !py_space(cp)) break;
    end = start;
  }
  return s.substr(0, end);
}

std::string strip(std::string_view s) { return std::string(rstrip_space(lstrip_space(s))); }

std::string_view lstrip_nl(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view rstrip_nl(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// Templates write newlines as the escape "\n" inside Jinja strings, or (in some GGUF metadata)
// as real newlines. Matching tries both spellings.
bool has(std::string_view src, std::string_view needle) {
  if (src.find(needle) != std::string_view::npos) return true;
  std::string escaped;
  for (char c : needle) {
    if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return src.find(escaped) != std::string_view::npos;
}

// Decodes the simple escapes of a Jinja string literal.
std::string unescape_jinja(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char c = s[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

Status roles_error(std::string_view name, std::string_view msg) {
  return invalid_argument("chat template " + std::string(name) + ": " + std::string(msg));
}

}  // namespace

std::vector<std::string> ChatTemplate::names() {
  return {
      "llama3", "llama3-always-prompt", "llama3.1", "chatml", "smollm2", "qwen2", "qwen3", "llama2",
      "mistral"};
}

Result<ChatTemplate> ChatTemplate::from_name(std::string_view name) {
  if (name == "llama3") return ChatTemplate(Kind::kLlama3, "llama3");
  if (name == "llama3-always-prompt") {
    ChatTemplate t(Kind::kLlama3, "llama3-always-prompt");
    t.always_generation_prompt_ = true;
    return t;
  }
  if (name == "llama3.1" || name == "llama3.2" || name == "llama3.3") {
    return ChatTemplate(Kind::kLlama31, "llama3.1");
  }
  if (name == "chatml") return ChatTemplate(Kind::kChatml, "chatml");
  if (name == "smollm2") {
    ChatTemplate t(Kind::kChatml, "chatml");
    t.default_system_ = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
    return t;
  }
  if (name == "qwen2") {
    ChatTemplate t(Kind::kChatml, "chatml");
    t.default_system_ = "You are a helpful assistant.";
    return t;
  }
  if (name == "qwen3") return ChatTemplate(Kind::kQwen3, "qwen3");
  if (name == "llama2") return ChatTemplate(Kind::kLlama2, "llama2");
  if (name == "mistral") return ChatTemplate(Kind::kMistral, "mistral");
  std::string all;
  for (const std::string& n : names()) all += (all.empty() ? "" : ", ") + n;
  return invalid_argument("unknown chat template '" + std::string(name) + "' (known: " + all + ")");
}

Result<ChatTemplate> ChatTemplate::from_jinja(std::string_view src) {
  if (has(src, "<|im_start|>")) {
    if (has(src, "last_query_index") && has(src, "</think>") &&
        has(src, "'<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n'")) {
      return from_name("qwen3");
    }
    if (has(src,
            "'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'") &&
        has(src, "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")) {
      ChatTemplate t(Kind::kChatml, "chatml");
      for (std::string_view open : {"messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n",
                                    "messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"}) {
        size_t p = src.find(open);
        if (p == std::string_view::npos) continue;
        size_t b = p + open.size();
        size_t e = src.find("<|im_end|>", b);
        if (e == std::string_view::npos) break;
        t.default_system_ = unescape_jinja(src.substr(b, e - b));
        break;
      }
      return t;
    }
  } else if (has(src, "<|start_header_id|>") && has(src, "<|end_header_id|>")) {
    if (has(src, "Cutting Knowledge Date: December 2023") && has(src, "Today Date: ") &&
        has(src, "message['content'] | trim + '<|eot_id|>'")) {
      ChatTemplate t(Kind::kLlama31, "llama3.1");
      const std::string_view key = "set date_string = \"";
      size_t p = src.find(key);
      if (p != std::string_view::npos) {
        size_t e = src.find('"', p + key.size());
        if (e != std::string_view::npos)
          t.default_date_ = std::string(src.substr(p + key.size(), e - p - key.size()));
      }
      return t;
    }
    if (has(src,
            "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] "
            "| trim + '<|eot_id|>'") &&
        has(src, "bos_token + content")) {
      return from_name(has(src, "add_generation_prompt") ? "llama3" : "llama3-always-prompt");
    }
  } else if (has(src, "[INST]")) {
    if (has(src, "<<SYS>>") && has(src, "bos_token + '[INST] ' + content.strip() + ' [/INST]'") &&
        has(src, "' '  + content.strip() + ' ' + eos_token")) {
      return from_name("llama2");
    }
    if (!has(src, "<<SYS>>") && !has(src, "system") && starts_with(src, "{{ bos_token }}") &&
        has(src, "'[INST] ' + message['content'] + ' [/INST]'") &&
        has(src, "{{ message['content'] + eos_token}}")) {
      return from_name("mistral");
    }
  }
  std::string all;
  for (const std::string& n : names()) all += (all.empty() ? "" : ", ") + n;
  std::string head(src.substr(0, 60));
  for (char& c : head) {
    if (c == '\n') c = ' ';
  }
  return unsupported("unrecognized chat template (starts '" + head +
                     "...'); pick one by name: " + all);
}

Result<std::string> ChatTemplate::render(std::span<const ChatMessage> messages,
                                         const ChatRenderOptions& opt) const {
  if (messages.empty()) return roles_error(name_, "no messages to render");
  for (const ChatMessage& m : messages) {
    if (m.role == "tool" || m.role == "ipython") {
      return roles_error(name_, "tool messages are not supported");
    }
  }
  auto pick = [](const std::string& v, const char* d) { return v.empty() ? std::string(d) : v; };
  std::string out;
  switch (kind_) {
    case Kind::kLlama3: {
      const std::string bos = pick(opt.bos_token, "<|begin_of_text|>");
      for (size_t i = 0; i < messages.size(); ++i) {
        if (i == 0) out += bos;
        out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n" +
               strip(messages[i].content) + "<|eot_id|>";
      }
      if (opt.add_generation_prompt || always_generation_prompt_) {
        out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      }
      return out;
    }
    case Kind::kLlama31: {
      out += pick(opt.bos_token, "<|begin_of_text|>");
      size_t first = 0;
      std::string system;
      if (messages[0].role == "system") {
        system = strip(messages[0].content);
        first = 1;
      }
      out += "<|start_header_id|>system<|end_header_id|>\n\n";
      out += "Cutting Knowledge Date: December 2023\n";
      out += "Today Date: " + (opt.date_string.empty() ? default_date_ : opt.date_string) + "\n\n";
      out += system + "<|eot_id|>";
      for (size_t i = first; i < messages.size(); ++i) {
        out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n" +
               strip(messages[i].content) + "<|eot_id|>";
      }
      if (opt.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
    }
    case Kind::kChatml: {
      if (!default_system_.empty() && messages[0].role != "system") {
        out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
      }
      for (const ChatMessage& m : messages) {
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      }
      if (opt.add_generation_prompt) out += "<|im_start|>assistant\n";
      return out;
    }
    case Kind::kQwen3: {
      if (messages[0].role == "system") {
        out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
      }
      size_t last_query = messages.size() - 1;
      for (size_t k = messages.size(); k-- > 0;) {
        const ChatMessage& m = messages[k];
        if (m.role == "user" && !(starts_with(m.content, "<tool_response>") &&
                                  ends_with(m.content, "</tool_response>"))) {
          last_query = k;
          break;
        }
      }
      for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == "user" || (m.role == "system" && i != 0)) {
          out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
        } else if (m.role == "assistant") {
          std::string_view content = m.content, reasoning;
          size_t close = m.content.find("</think>");
          if (close != std::string::npos) {
            // content.split('</think>')[-1] and [0].rstrip('\n').split('<think>')[-1]
            size_t last_close = m.content.rfind("</think>");
            content = lstrip_nl(std::string_view(m.content).substr(last_close + 8));
            std::string_view before = rstrip_nl(std::string_view(m.content).substr(0, close));
            size_t open = before.rfind("<think>");
            reasoning =
                lstrip_nl(open == std::string_view::npos ? before : before.substr(open + 7));
          }
          out += "<|im_start|>assistant\n";
          if (i > last_query && (i + 1 == messages.size() || !reasoning.empty())) {
            out += "<think>\n" + std::string(rstrip_nl(lstrip_nl(reasoning))) + "\n</think>\n\n" +
                   std::string(lstrip_nl(content));
          } else {
            out += content;
          }
          out += "<|im_end|>\n";
        }
      }
      if (opt.add_generation_prompt) {
        out += "<|im_start|>assistant\n";
        if (opt.enable_thinking.has_value() && !*opt.enable_thinking)
          out += "<think>\n\n</think>\n\n";
      }
      return out;
    }
    case Kind::kLlama2: {
      const std::string bos = pick(opt.bos_token, "<s>");
      const std::string eos = pick(opt.eos_token, "</s>");
      size_t first = 0;
      bool has_system = false;
      std::string system;
      if (messages[0].role == "system") {
        system = messages[0].content;
        has_system = true;
        first = 1;
      }
      for (size_t i = first; i < messages.size(); ++i) {
        const size_t k = i - first;
        const ChatMessage& m = messages[i];
        if ((m.role == "user") != (k % 2 == 0)) {
          return roles_error(name_,
                             "Conversation roles must alternate user/assistant/user/assistant/...");
        }
        std::string content = (k == 0 && has_system)
                                  ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + m.content
                                  : m.content;
        if (m.role == "user") {
          out += bos + "[INST] " + strip(content) + " [/INST]";
        } else if (m.role == "assistant") {
          out += " " + strip(content) + " " + eos;
        }
      }
      return out;
    }
    case Kind::kMistral: {
      out += pick(opt.bos_token, "<s>");
      const std::string eos = pick(opt.eos_token, "</s>");
      for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if ((m.role == "user") != (i % 2 == 0)) {
          return roles_error(name_,
                             "Conversation roles must alternate user/assistant/user/assistant/...");
        }
        if (m.role == "user") {
          out += "[INST] " + m.content + " [/INST]";
        } else if (m.role == "assistant") {
          out += m.content + eos;
        } else {
          return roles_error(name_, "Only user and assistant roles are supported!");
        }
      }
      return out;
    }
  }
  return internal_error("chat template: unhandled kind");
}

}  // namespace assay
