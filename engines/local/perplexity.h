// llama-perplexity-compatible perplexity and KL divergence (llama.cpp tools/perplexity).
//
// Chunking as llama-perplexity does it: the whole text tokenized once (BOS first if the vocab
// adds one), n_chunk = n_tokens / n_ctx (the tail dropped), each chunk evaluated from position 0
// with its first token replaced by BOS when the vocab adds BOS, and only the second half scored
// (positions n_ctx/2 .. n_ctx-2 predicting the next token). PPL = exp(mean nll) with
// uncertainty ppl * sqrt(var(nll) / (N - 1)).
//
// The KL base file is llama.cpp's `--kl-divergence-base` format (magic "_logits_", n_ctx,
// n_vocab, n_chunk, the token table, then one uint16-quantized log-prob row per scored
// position), so either tool can write the base and the other compare against it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engines/local/local_model.h"
#include "harness/status.h"

namespace assay {

struct PerplexityOptions {
  int32_t n_ctx = 512;
  int32_t max_chunks = 0;               // 0: all
  std::string kl_base_out;              // write a KL base file here
  std::function<void(int32_t chunk, double ppl)> on_chunk;
};

struct PerplexityResult {
  int32_t n_chunks = 0;
  int64_t n_scored = 0;
  double ppl = 0;
  double ppl_stderr = 0;
  std::vector<double> chunk_ppl;  // running PPL after each chunk, as llama-perplexity prints
};

Result<PerplexityResult> compute_perplexity(LocalModel& model, const std::string& text,
                                            const PerplexityOptions& opts);

struct KlResult {
  int64_t n = 0;
  double ppl_q = 0, ppl_base = 0;
  double mean_kld = 0, kld_stderr = 0, max_kld = 0;
  double same_top = 0, same_top_stderr = 0;
  double rms_dp = 0;  // RMS of p_q(tok) - p_base(tok)
};

// Compares the model against a KL base file (from llama.cpp or assay): the tokens come from the
// file. n_ctx must match the file's.
Result<KlResult> compare_kl_base(LocalModel& model, const std::string& base_path,
                                 int32_t max_chunks = 0);

}  // namespace assay
