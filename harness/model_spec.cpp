#include "harness/model_spec.h"

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace assay {

std::string models_dir() {
  if (const char* env = std::getenv("ASSAY_MODELS_DIR"); env && *env) return env;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  std::string base;
  if (xdg && *xdg) {
    base = xdg;
  } else {
    const char* home = std::getenv("HOME");
    base = std::string(home && *home ? home : "/tmp") + "/.cache";
  }
  return base + "/assay/models";
}

Result<std::string> default_model_path() {
  std::string path;
  if (const char* env = std::getenv("ASSAY_DEFAULT_MODEL"); env && *env) {
    path = env;
  } else {
    path = models_dir() + "/" + kDefaultModelFile;
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return failed_precondition("the default model is not installed (" + path +
                               " not found): run scripts/setup, or pass --model local:PATH");
  }
  return path;
}

Result<ModelSpec> parse_model_spec(const std::string& spec) {
  ModelSpec m;
  m.spec = spec;
  if (spec.empty()) return invalid_argument("--model: empty model spec");
  if (spec == "default") {
    ASSAY_ASSIGN_OR_RETURN(m.target, default_model_path());
    m.kind = ModelKind::kLocal;
    return m;
  }
  auto starts = [&](const char* p) { return spec.rfind(p, 0) == 0; };
  if (starts("local:")) {
    m.kind = ModelKind::kLocal;
    m.target = spec.substr(6);
  } else if (starts("openai:")) {
    m.kind = ModelKind::kOpenAI;
    m.target = spec.substr(7);
  } else if (starts("anthropic:")) {
    m.kind = ModelKind::kAnthropic;
    m.target = spec.substr(10);
  } else if (starts("http://") || starts("https://")) {
    m.kind = ModelKind::kOpenAICompatible;
    m.target = spec;
  } else {
    std::error_code ec;
    if (fs::exists(spec, ec)) {
      m.kind = ModelKind::kLocal;
      m.target = spec;
    } else {
      return invalid_argument("--model " + spec +
                              ": unknown model spec; use local:PATH, openai:MODEL, "
                              "anthropic:MODEL, http://HOST:PORT/v1 or default");
    }
  }
  if (m.target.empty()) return invalid_argument("--model " + spec + ": nothing after the prefix");
  if (m.kind == ModelKind::kLocal) {
    std::error_code ec;
    if (!fs::exists(m.target, ec)) return not_found("--model " + spec + ": " + m.target + " does not exist");
  }
  return m;
}

}  // namespace assay
