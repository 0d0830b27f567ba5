// ChatTemplate: renders a conversation into the prompt string a chat model was trained on,
// byte for byte as Hugging Face's apply_chat_template renders the model's own Jinja template.
//
// Not a Jinja engine: the known template families are recognized from the Jinja source
// (from_jinja) by their distinctive expressions and rendered natively. Families:
//   llama3                Meta Llama 3 Instruct (bos + header/trimmed content/<|eot_id|> turns)
//   llama3-always-prompt  the first Llama 3 release, which emits the assistant header even
//                         without add_generation_prompt
//   llama3.1              Llama 3.1 / 3.2 / 3.3 Instruct: always a system block with
//                         "Cutting Knowledge Date: December 2023\nToday Date: <date>"
//   chatml                <|im_start|>role\ncontent<|im_end|>\n, with the template's default
//                         system turn if it injects one (SmolLM2, Qwen2); also by name:
//                         "smollm2", "qwen2"
//   qwen3                 Qwen3 (ChatML with <think> handling, enable_thinking)
//   llama2                Llama 2 chat [INST] with <<SYS>>
//   mistral               Mistral 7B Instruct v0.1/v0.2, Mixtral [INST] (no system role)
// A template that matches none of them is an error naming the choices, and from_name() forces a
// family when the caller knows better. Tool calls and tool messages are not supported (error).
//
// The rendered string already contains BOS where the template writes it (Llama 3, Llama 2,
// Mistral): tokenize it with add_special = false and parse_special = true.
// Thread safety: immutable; render() may be called concurrently.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "harness/request.h"  // ChatMessage
#include "harness/status.h"

namespace assay {


struct ChatRenderOptions {
  bool add_generation_prompt = true;
  std::string bos_token;    // empty: the family's usual token ("<|begin_of_text|>", "<s>")
  std::string eos_token;    // empty: the family's usual token
  std::string date_string;  // Llama 3.1: empty means the template's default ("26 Jul 2024")
  std::optional<bool> enable_thinking;  // Qwen3: false appends an empty <think> block
};

class ChatTemplate {
 public:
  // Recognizes the family from a tokenizer.chat_template / tokenizer_config.json template.
  static Result<ChatTemplate> from_jinja(std::string_view source);
  // Forces a family by name (see above).
  static Result<ChatTemplate> from_name(std::string_view name);
  static std::vector<std::string> names();

  const std::string& name() const { return name_; }

  // Errors (kInvalidArgument) mirror the templates' own raise_exception checks (roles that do
  // not alternate, a system message where the template has none) plus empty conversations and
  // tool messages.
  Result<std::string> render(std::span<const ChatMessage> messages,
                             const ChatRenderOptions& opt = {}) const;

 private:
  enum class Kind { kLlama3, kLlama31, kChatml, kQwen3, kLlama2, kMistral };
  ChatTemplate(Kind kind, std::string name) : kind_(kind), name_(std::move(name)) {}

  Kind kind_;
  std::string name_;
  bool always_generation_prompt_ = false;  // llama3-always-prompt
  std::string default_system_;             // chatml: injected when the first turn is not system
  std::string default_date_ = "26 Jul 2024";
};

}  // namespace assay
