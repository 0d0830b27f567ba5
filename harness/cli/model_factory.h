// Builds a Model from a --model SPEC and --model-args k=v,... (the CLI's one place that knows
// every engine).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "harness/model.h"

namespace assay {
class LocalModel;
}

namespace assay::cli {

// "k=v,k2=v2" -> map. Errors name the malformed item.
Result<std::map<std::string, std::string>> parse_kv_list(const std::string& text,
                                                         const std::string& flag);

// require_tokenizer = false: a local model folder without tokenizer files still loads (token-level
// use only, as `assay bench`, which feeds random ids).
Result<std::unique_ptr<Model>> make_model(const std::string& spec,
                                          const std::map<std::string, std::string>& model_args,
                                          bool require_tokenizer = true);

// Tokens per forward pass when --model-args gives no n_batch: 512 on the CPU, 4096 with
// device=cuda.
int64_t default_n_batch(const std::map<std::string, std::string>& model_args);

// The local engine alone (spec "local:PATH" or "default"), for the commands that need its own
// interface (`assay perplexity`): the same --model-args, defaults and errors as make_model.
Result<std::unique_ptr<LocalModel>> make_local_model(const std::string& spec,
                                                     const std::map<std::string, std::string>& model_args,
                                                     bool require_tokenizer = true);

}  // namespace assay::cli
