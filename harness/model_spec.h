// Model SPEC strings as the CLI takes them (DESIGN.md §5):
//   local:PATH            a .gguf file or a Hugging Face model folder
//   openai:MODEL          OpenAI API
//   anthropic:MODEL       Anthropic API
//   http(s)://HOST:PORT/v1  any OpenAI-compatible server
//   default               the bundled default model (SmolLM2-135M-Instruct Q4_1), fetched by
//                         scripts/setup into the models directory
// A bare path to an existing .gguf file or folder is accepted as local:PATH.
#pragma once

#include <string>

#include "harness/status.h"

namespace assay {

enum class ModelKind { kLocal, kOpenAI, kAnthropic, kOpenAICompatible };

struct ModelSpec {
  ModelKind kind = ModelKind::kLocal;
  std::string spec;    // as given
  std::string target;  // path, model name or base URL
};

inline constexpr const char* kDefaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";
inline constexpr const char* kDefaultModelSha256 =
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

// The models directory: $ASSAY_MODELS_DIR, else ($XDG_CACHE_HOME or ~/.cache)/assay/models.
std::string models_dir();
// Path of the default model: $ASSAY_DEFAULT_MODEL if set, else models_dir()/kDefaultModelFile.
// FailedPrecondition (telling to run scripts/setup) if the file is absent.
Result<std::string> default_model_path();

Result<ModelSpec> parse_model_spec(const std::string& spec);

}  // namespace assay
