// `assay perplexity`: llama-perplexity's numbers, and its KL-divergence base files.
#include <cstdio>

#include "engines/local/local_model.h"
#include "engines/local/perplexity.h"
#include "harness/cli/cli.h"
#include "harness/cli/model_factory.h"
#include "harness/csv.h"
#include "harness/log.h"
#include "harness/model_spec.h"

namespace assay::cli {
namespace {

// The model as every command builds it (its --model-args, defaults and errors; any backend),
// with the chunk size as its context unless n_ctx (or max_length) says otherwise.
Result<std::unique_ptr<LocalModel>> load_local(const Args& args, int32_t min_ctx) {
  auto spec = args.get("model");
  if (!spec) return invalid_argument("--model SPEC is required");
  ASSAY_ASSIGN_OR_RETURN(auto margs, parse_kv_list(args.get_or("model-args", ""), "--model-args"));
  if (!margs.count("n_ctx") && !margs.count("max_length")) margs["n_ctx"] = std::to_string(min_ctx);
  return make_local_model(*spec, margs);
}

int perplexity(const Args& args) {
  auto ctx = args.get_int("ctx");
  auto chunks = args.get_int("chunks");
  if (!ctx.ok()) return fail(ctx.status());
  if (!chunks.ok()) return fail(chunks.status());
  int32_t n_ctx = static_cast<int32_t>(ctx->value_or(512));
  auto model = load_local(args, n_ctx);
  if (!model.ok()) return fail(model.status());
  if (args.has("kl-divergence")) {
    auto base = args.get("kl-divergence-base");
    if (!base) {
      log_line(LogLevel::kError, "--kl-divergence needs --kl-divergence-base FILE to read");
      return kExitUsage;
    }
    auto r = compare_kl_base(**model, *base, static_cast<int32_t>(chunks->value_or(0)));
    if (!r.ok()) return fail(r.status());
    std::printf("positions:       %lld\n", static_cast<long long>(r->n));
    std::printf("Mean PPL(Q):     %.6f\n", r->ppl_q);
    std::printf("Mean PPL(base):  %.6f\n", r->ppl_base);
    std::printf("Mean    KLD:     %.6f +/- %.6f\n", r->mean_kld, r->kld_stderr);
    std::printf("Maximum KLD:     %.6f\n", r->max_kld);
    std::printf("RMS Δp:          %.3f %%\n", 100 * r->rms_dp);
    std::printf("Same top p:      %.3f +/- %.3f %%\n", 100 * r->same_top, 100 * r->same_top_stderr);
    return kExitOk;
  }
  auto file = args.get("file");
  if (!file) {
    log_line(LogLevel::kError, "assay perplexity: --file F is required");
    return kExitUsage;
  }
  auto text = read_file(*file);
  if (!text.ok()) return fail(text.status());
  PerplexityOptions o;
  o.n_ctx = n_ctx;
  o.max_chunks = static_cast<int32_t>(chunks->value_or(0));
  o.kl_base_out = args.get_or("kl-divergence-base", "");
  o.on_chunk = [](int32_t c, double ppl) {
    std::printf("[%d]%.4f,", c + 1, ppl);
    std::fflush(stdout);
  };
  auto r = compute_perplexity(**model, *text, o);
  if (!r.ok()) return fail(r.status());
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_stderr);
  ASSAY_LOG(kInfo) << r->n_chunks << " chunks of " << n_ctx << " tokens, " << r->n_scored
                   << " scored positions";
  return kExitOk;
}

}  // namespace

Command perplexity_command() {
  Command c;
  c.name = "perplexity";
  c.summary = "llama-perplexity-compatible perplexity and KL divergence";
  c.usage = "assay perplexity --model SPEC --file F [--ctx 512] [--kl-divergence-base OUT]\n"
            "       assay perplexity --model SPEC --kl-divergence-base BASE --kl-divergence";
  c.description =
      "Chunks as llama-perplexity does (BOS overwrite, second half of each chunk scored, tail\n"
      "dropped). --kl-divergence-base writes llama.cpp's logits file; with --kl-divergence it is\n"
      "read instead (from llama.cpp or assay) and the model compared against it.";
  c.flags = {
      {"model", {}, true, "SPEC", "local:PATH or default"},
      {"model-args", {"model_args"}, true, "K=V,...", "as for run: threads, kv_type, precision, device, ..."},
      {"file", {"f"}, true, "F", "text file"},
      {"ctx", {"c"}, true, "N", "chunk size in tokens (default 512)"},
      {"chunks", {}, true, "N", "at most N chunks"},
      {"kl-divergence-base", {"kl_divergence_base"}, true, "FILE", "logits file to write (or read)"},
      {"kl-divergence", {"kl_divergence"}, false, "", "compare against --kl-divergence-base"},
  };
  c.run = perplexity;
  return c;
}

}  // namespace assay::cli
