#include "harness/cli/model_factory.h"

#include <set>

#include "engines/local/cpu/cpu_ops.h"
#ifdef ASSAY_HAVE_CUDA
#include "engines/local/cuda/cuda_ops.h"
#endif
#include "engines/local/local_model.h"
#include "engines/local/profiled_ops.h"
#include "engines/remote/remote_model.h"
#include "harness/model_spec.h"
#include "harness/suggest.h"

namespace assay::cli {

Result<std::map<std::string, std::string>> parse_kv_list(const std::string& text,
                                                         const std::string& flag) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        return invalid_argument(flag + ": expected key=value, got '" + item + "'");
      }
      out[item.substr(0, eq)] = item.substr(eq + 1);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

namespace {

Result<int64_t> int_arg(const std::map<std::string, std::string>& a, const std::string& k, int64_t dflt) {
  auto it = a.find(k);
  if (it == a.end()) return dflt;
  try {
    size_t pos = 0;
    long long v = std::stoll(it->second, &pos);
    if (pos != it->second.size()) throw 1;
    return static_cast<int64_t>(v);
  } catch (...) {
    return invalid_argument("--model-args " + k + "=" + it->second + ": expected an integer");
  }
}

}  // namespace

// 512 on the CPU (llama.cpp's default; larger batches gain nothing there), 4096 on a GPU, whose
// GEMMs need long batches to approach their rate (the speed measurements of issue #7 score at
// 4096). Activation scratch grows with it: about 1.1 GB for an 8B model at 4096.
int64_t default_n_batch(const std::map<std::string, std::string>& model_args) {
  const auto dev = model_args.find("device");
  return dev != model_args.end() && dev->second == "cuda" ? 4096 : 512;
}

Result<std::unique_ptr<Model>> make_model(const std::string& spec,
                                          const std::map<std::string, std::string>& model_args,
                                          bool require_tokenizer) {
  ASSAY_ASSIGN_OR_RETURN(ModelSpec ms, parse_model_spec(spec));
  if (ms.kind != ModelKind::kLocal) {
    ModelArgs args(model_args.begin(), model_args.end());
    return make_remote_model(spec, args);
  }
  ASSAY_ASSIGN_OR_RETURN(auto m, make_local_model(spec, model_args, require_tokenizer));
  return std::unique_ptr<Model>(std::move(m));
}

Result<std::unique_ptr<LocalModel>> make_local_model(const std::string& spec,
                                                     const std::map<std::string, std::string>& model_args,
                                                     bool require_tokenizer) {
  ASSAY_ASSIGN_OR_RETURN(ModelSpec ms, parse_model_spec(spec));
  if (ms.kind != ModelKind::kLocal) return invalid_argument("--model " + spec + ": needs a local model");
  static const std::set<std::string> kKnown = {"n_ctx", "max_length", "n_batch", "cache_rows",
                                               "threads", "add_bos", "chat_template", "kv_type",
                                               "precision", "device", "profile_ops"};
  for (const auto& [k, v] : model_args) {
    if (!kKnown.count(k)) {
      return invalid_argument("--model-args: unknown key '" + k + "'" +
                              did_you_mean(k, {kKnown.begin(), kKnown.end()}) +
                              " (known: n_ctx, max_length, n_batch, cache_rows, threads, add_bos, chat_template, kv_type, precision, device, profile_ops)");
    }
  }
  LocalModelOptions lo;
  lo.require_tokenizer = require_tokenizer;
  // max_length is lm-eval's spelling of the same thing.
  ASSAY_ASSIGN_OR_RETURN(int64_t max_length, int_arg(model_args, "max_length", 0));
  ASSAY_ASSIGN_OR_RETURN(int64_t n_ctx, int_arg(model_args, "n_ctx", max_length));
  lo.n_ctx = static_cast<int32_t>(n_ctx);
  ASSAY_ASSIGN_OR_RETURN(int64_t n_batch, int_arg(model_args, "n_batch", default_n_batch(model_args)));
  lo.n_batch = static_cast<int32_t>(n_batch);
  ASSAY_ASSIGN_OR_RETURN(int64_t rows, int_arg(model_args, "cache_rows", 0));
  lo.cache_rows = static_cast<int32_t>(rows);
  if (auto it = model_args.find("add_bos"); it != model_args.end()) {
    if (it->second != "true" && it->second != "false" && it->second != "1" && it->second != "0") {
      return invalid_argument("--model-args add_bos=" + it->second + ": expected true or false");
    }
    lo.add_bos = it->second == "true" || it->second == "1";
  }
  if (auto it = model_args.find("chat_template"); it != model_args.end()) lo.chat_template = it->second;
  // precision=f32: float arithmetic throughout (weights dequantized, F32 KV cache unless kv_type
  // says otherwise), the numbers of a float reference such as transformers reading the GGUF;
  // the default follows llama.cpp (8-bit activations against quantized weights, F16 KV cache).
  bool f32_compute = false;
  if (auto it = model_args.find("precision"); it != model_args.end()) {
    if (it->second == "f32") {
      f32_compute = true;
      lo.kv_type = GgmlType::F32;
    } else if (it->second != "default") {
      return invalid_argument("--model-args precision=" + it->second + ": expected default or f32");
    }
  }
  if (auto it = model_args.find("kv_type"); it != model_args.end()) {
    if (it->second == "f32") lo.kv_type = GgmlType::F32;
    else if (it->second == "f16") lo.kv_type = GgmlType::F16;
    else return invalid_argument("--model-args kv_type=" + it->second + ": expected f16 or f32");
  }
  ASSAY_ASSIGN_OR_RETURN(int64_t threads, int_arg(model_args, "threads", 0));
  CpuOpsOptions co;
  co.n_threads = static_cast<int>(threads);
  co.f32_compute = f32_compute;
  std::unique_ptr<Ops> ops;
  const auto dev = model_args.find("device");
  if (dev == model_args.end() || dev->second == "cpu") {
    ops = std::make_unique<CpuOps>(co);
  } else if (dev->second == "cuda") {
#ifdef ASSAY_HAVE_CUDA
    if (!cuda_device_available()) {
      return failed_precondition("--model-args device=cuda: " + cuda_device_description());
    }
    CudaOpsOptions cuo;
    cuo.f32_compute = f32_compute;
    ops = make_cuda_ops(cuo);
#else
    return unsupported("--model-args device=cuda: this assay was built without the CUDA backend "
                       "(configure with nvcc and cuBLAS installed, or -DASSAY_CUDA=ON)");
#endif
  } else {
    return invalid_argument("--model-args device=" + dev->second + ": expected cpu or cuda");
  }
  // profile_ops=1: every op timed alone, the table printed to stderr when the model goes. The
  // load's uploads and cache clearing are left out (reset once it has loaded).
  ProfiledOps* profiled = nullptr;
  if (auto it = model_args.find("profile_ops"); it != model_args.end()) {
    if (it->second != "0" && it->second != "1") {
      return invalid_argument("--model-args profile_ops=" + it->second + ": expected 0 or 1");
    }
    if (it->second == "1") {
      auto p = std::make_unique<ProfiledOps>(std::move(ops));
      profiled = p.get();
      ops = std::move(p);
    }
  }
  ASSAY_ASSIGN_OR_RETURN(auto m, LocalModel::load(ms.target, spec, std::move(ops), lo));
  if (profiled) {
    profiled->reset();
    profiled->set_print_on_destroy(true);
  }
  return m;
}

}  // namespace assay::cli
