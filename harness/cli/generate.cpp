// `assay generate`, `assay tokenize`, `assay inspect`: quick looks at a local model.
#include <cstdio>
#include <iostream>

#include "engines/local/cpu/cpu_ops.h"
#include "engines/local/local_model.h"
#include "engines/local/vocab/hf_tokenizer_json.h"
#include "engines/local/vocab_from_gguf.h"
#include "harness/cli/cli.h"
#include "harness/cli/model_factory.h"
#include "harness/csv.h"
#include "harness/log.h"
#include "harness/model_spec.h"

namespace assay::cli {
namespace {

Result<std::string> local_path(const Args& args) {
  auto spec = args.get("model");
  if (!spec) return invalid_argument("--model SPEC is required");
  ASSAY_ASSIGN_OR_RETURN(ModelSpec ms, parse_model_spec(*spec));
  if (ms.kind != ModelKind::kLocal) return invalid_argument("--model " + *spec + ": needs a local model");
  return ms.target;
}

int generate(const Args& args) {
  auto prompt = args.get("prompt");
  if (!prompt) {
    log_line(LogLevel::kError, "assay generate: --prompt TEXT is required");
    return kExitUsage;
  }
  auto spec = args.get("model");
  if (!spec) {
    log_line(LogLevel::kError, "assay generate: --model SPEC is required");
    return kExitUsage;
  }
  auto margs = parse_kv_list(args.get_or("model-args", ""), "--model-args");
  if (!margs.ok()) return fail(margs.status());
  auto model = make_model(*spec, *margs);
  if (!model.ok()) return fail(model.status());
  GenerateRequest req;
  if (args.has("chat")) {
    if (auto sys = args.get("system")) req.messages.push_back({"system", *sys});
    req.messages.push_back({"user", *prompt});
  } else {
    req.context = *prompt;
  }
  auto n = args.get_int("max-tokens");
  if (!n.ok()) return fail(n.status());
  req.params.max_gen_toks = static_cast<int32_t>(n->value_or(128));
  auto temp = args.get_double("temperature");
  if (!temp.ok()) return fail(temp.status());
  if (temp->value_or(0) > 0) {
    req.params.do_sample = true;
    req.params.temperature = **temp;
  }
  auto top_k = args.get_int("top-k");
  auto top_p = args.get_double("top-p");
  if (!top_k.ok()) return fail(top_k.status());
  if (!top_p.ok()) return fail(top_p.status());
  if (top_k->value_or(0) < 0 || !(top_p->value_or(1.0) > 0 && top_p->value_or(1.0) <= 1.0)) {
    log_line(LogLevel::kError, "assay generate: --top-k must be >= 0 and --top-p in (0, 1]");
    return kExitUsage;
  }
  req.params.top_k = static_cast<int32_t>(top_k->value_or(0));
  req.params.top_p = top_p->value_or(1.0);
  auto seed = args.get_int("seed");
  if (!seed.ok()) return fail(seed.status());
  if (*seed) req.params.seed = static_cast<uint64_t>(**seed);
  for (const auto& s : args.get_all("stop")) req.params.until.push_back(s);
  auto out = (*model)->generate_until(std::span(&req, 1));
  if (!out[0].ok()) return fail(out[0].status());
  std::printf("%s\n", out[0]->text.c_str());
  ASSAY_LOG(kInfo) << out[0]->usage.prompt_tokens << " prompt tokens, "
                   << out[0]->usage.completion_tokens << " generated, finish: "
                   << out[0]->finish_reason;
  return kExitOk;
}

// A tokenizer for `tokenize`: from a GGUF or an HF folder (weights not needed).
Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path) {
  ModelFilesOptions o;
  o.require_weights = false;
  ASSAY_ASSIGN_OR_RETURN(auto files, ModelFiles::open(path, o));
  if (files->gguf()) {
    ASSAY_ASSIGN_OR_RETURN(VocabData v, vocab_from_gguf(*files->gguf()));
    return Tokenizer::create(std::move(v));
  }
  ASSAY_ASSIGN_OR_RETURN(VocabData v, vocab_from_hf_dir(path));
  return Tokenizer::create(std::move(v));
}

int tokenize(const Args& args) {
  auto path = local_path(args);
  if (!path.ok()) return fail(path.status());
  auto tok = load_tokenizer(*path);
  if (!tok.ok()) return fail(tok.status());
  bool add_special = args.has("add-special"), parse_special = args.has("parse-special");
  std::vector<std::string> inputs;
  if (auto t = args.get("text")) inputs.push_back(*t);
  if (auto f = args.get("file")) {
    auto text = read_file(*f);
    if (!text.ok()) return fail(text.status());
    // llama.cpp's .inp format: tests separated by "\n__ggml_vocab_test__\n".
    const std::string sep = "\n__ggml_vocab_test__\n";
    size_t start = 0;
    while (true) {
      size_t p = text->find(sep, start);
      if (p == std::string::npos) {
        std::string last = text->substr(start);
        if (!last.empty() || start == 0) inputs.push_back(last);
        break;
      }
      inputs.push_back(text->substr(start, p - start));
      start = p + sep.size();
    }
  }
  if (inputs.empty()) {
    log_line(LogLevel::kError, "assay tokenize: give --text S or --file F");
    return kExitUsage;
  }
  for (const auto& in : inputs) {
    if (args.has("decode")) {
      std::vector<int32_t> ids;
      size_t i = 0;
      while (i < in.size()) {
        while (i < in.size() && (in[i] == ' ' || in[i] == ',' || in[i] == '\n')) ++i;
        if (i >= in.size()) break;
        size_t j = i;
        while (j < in.size() && std::isdigit(static_cast<unsigned char>(in[j]))) ++j;
        if (j == i) {
          log_line(LogLevel::kError, "assay tokenize --decode: expected token ids, got '" + in.substr(i, 20) + "'");
          return kExitUsage;
        }
        int64_t id = std::stoll(in.substr(i, j - i));
        if (id >= (*tok)->n_vocab()) {
          log_line(LogLevel::kError, "assay tokenize --decode: id " + std::to_string(id) + " is outside the vocabulary");
          return kExitUsage;
        }
        ids.push_back(static_cast<int32_t>(id));
        i = j;
      }
      DecodeOptions dopt;
      dopt.render_special = true;
      std::printf("%s\n", (*tok)->decode(ids, dopt).c_str());
      continue;
    }
    auto ids = (*tok)->encode(in, add_special, parse_special);
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::printf("%s\n", line.c_str());
  }
  return kExitOk;
}

int inspect(const Args& args) {
  auto path = local_path(args);
  if (!path.ok()) return fail(path.status());
  ModelFilesOptions o;
  o.require_weights = false;
  auto files = ModelFiles::open(*path, o);
  if (!files.ok()) return fail(files.status());
  std::printf("%s", describe_model(**files).c_str());
  return kExitOk;
}

}  // namespace

Command generate_command() {
  Command c;
  c.name = "generate";
  c.summary = "generate text from a prompt";
  c.usage = "assay generate --model SPEC --prompt S [--chat] [--max-tokens N] [--temperature T]";
  c.flags = {
      {"model", {}, true, "SPEC", "local:PATH or default"},
      {"model-args", {"model_args"}, true, "K=V,...", "as for assay run"},
      {"prompt", {}, true, "TEXT", "the prompt"},
      {"chat", {}, false, "", "send the prompt as a user message through the chat template"},
      {"system", {}, true, "TEXT", "system message (with --chat)"},
      {"max-tokens", {"max_tokens"}, true, "N", "most tokens to generate (default 128)"},
      {"temperature", {}, true, "T", "sample at this temperature (default greedy)"},
      {"top-k", {"top_k"}, true, "K", "with --temperature: sample among the K most likely tokens (default all)"},
      {"top-p", {"top_p"}, true, "P", "with --temperature: sample within the nucleus of probability P (default 1)"},
      {"seed", {}, true, "S", "sampling seed"},
      {"stop", {}, true, "TEXT", "stop string (repeatable)", true},
  };
  c.run = generate;
  return c;
}

Command tokenize_command() {
  Command c;
  c.name = "tokenize";
  c.summary = "print the token ids of text (or decode ids)";
  c.usage = "assay tokenize --model SPEC (--text S | --file F) [--add-special] [--parse-special] [--decode]";
  c.description =
      "One line of token ids per input. --file takes llama.cpp's .inp format (inputs separated by\n"
      "\"\\n__ggml_vocab_test__\\n\"). By default no BOS/EOS is added and special-token text is not\n"
      "parsed, as in llama.cpp's test vectors.";
  c.flags = {
      {"model", {}, true, "SPEC", "a .gguf file or a Hugging Face folder (weights not needed)"},
      {"text", {}, true, "S", "text to tokenize"},
      {"file", {}, true, "F", "inputs in llama.cpp's .inp format"},
      {"add-special", {"add_special"}, false, "", "add BOS/EOS as the tokenizer does"},
      {"parse-special", {"parse_special"}, false, "", "recognize special-token text"},
      {"decode", {}, false, "", "the inputs are token ids: print their text"},
  };
  c.run = tokenize;
  return c;
}

Command inspect_command() {
  Command c;
  c.name = "inspect";
  c.summary = "show a model's architecture, tensors and tokenizer";
  c.usage = "assay inspect --model SPEC";
  c.flags = {{"model", {}, true, "SPEC", "a .gguf file, a Hugging Face folder, or default"}};
  c.run = inspect;
  return c;
}

}  // namespace assay::cli
