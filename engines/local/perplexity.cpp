#include "engines/local/perplexity.h"

#include <cmath>
#include <cstring>
#include <fstream>

namespace assay {
namespace {

struct RowStats {
  float max;
  double lse;  // log sum exp(z - max), summed in double as llama.cpp does
};

RowStats row_stats(const float* z, int64_t n) {
  float mx = z[0];
  for (int64_t v = 1; v < n; ++v) mx = std::max(mx, z[v]);
  double sum = 0;
  for (int64_t v = 0; v < n; ++v) sum += std::exp(z[v] - mx);
  return {mx, std::log(sum)};
}

// llama.cpp's process_logits row encoding (tools/perplexity/perplexity.cpp).
void encode_row(const float* z, int64_t n_vocab, uint16_t* out, int64_t nv) {
  RowStats s = row_stats(z, n_vocab);
  float mn = z[0];
  for (int64_t v = 1; v < n_vocab; ++v) mn = std::min(mn, z[v]);
  mn = std::max(mn, s.max - 16.0f);
  float scale = (s.max - mn) / 65535.0f;
  float min_log_prob = static_cast<float>(mn - s.max - s.lse);
  std::memset(out, 0, sizeof(uint16_t) * static_cast<size_t>(nv));
  std::memcpy(out, &scale, 4);
  std::memcpy(out + 2, &min_log_prob, 4);
  uint16_t* q = out + 4;
  if (scale == 0) return;
  float inv = 1.0f / scale;
  for (int64_t v = 0; v < n_vocab; ++v) {
    if (z[v] > mn) {
      // Round to nearest even, as the float magic-number trick does.
      float x = std::nearbyint((z[v] - mn) * inv);
      q[v] = static_cast<uint16_t>(std::min(65535.0f, std::max(0.0f, x)));
    }
  }
}

}  // namespace

Result<PerplexityResult> compute_perplexity(LocalModel& model, const std::string& text,
                                            const PerplexityOptions& opts) {
  if (!model.has_tokenizer()) return failed_precondition("perplexity needs a tokenizer");
  const Tokenizer& tok = model.tokenizer();
  bool add_bos = model.add_bos() && tok.bos_id() >= 0;
  std::vector<int32_t> tokens = tok.encode(text, false, false);
  if (add_bos) tokens.insert(tokens.begin(), tok.bos_id());
  const int32_t n_ctx = opts.n_ctx;
  if (n_ctx < 4) return invalid_argument("--ctx must be at least 4");
  if (n_ctx > model.n_ctx()) {
    return invalid_argument("--ctx " + std::to_string(n_ctx) + " exceeds the model context of " +
                            std::to_string(model.n_ctx()) + " (--model-args n_ctx=N)");
  }
  if (static_cast<int64_t>(tokens.size()) < 2 * static_cast<int64_t>(n_ctx)) {
    return invalid_argument("you need at least " + std::to_string(2 * n_ctx) +
                            " tokens to evaluate perplexity with a context of " +
                            std::to_string(n_ctx) + " (the text has " +
                            std::to_string(tokens.size()) + ")");
  }
  int32_t n_chunk = static_cast<int32_t>(tokens.size() / static_cast<size_t>(n_ctx));
  if (opts.max_chunks > 0) n_chunk = std::min(n_chunk, opts.max_chunks);
  const int64_t n_vocab = model.files().hparams().n_vocab;
  const int32_t first = n_ctx / 2;
  std::ofstream kl;
  const int64_t nv = 2 * ((n_vocab + 1) / 2) + 4;
  if (!opts.kl_base_out.empty()) {
    kl.open(opts.kl_base_out, std::ios::binary);
    if (!kl) return io_error("cannot write " + opts.kl_base_out);
    kl.write("_logits_", 8);
    int32_t hdr[3] = {n_ctx, static_cast<int32_t>(n_vocab), n_chunk};
    kl.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    kl.write(reinterpret_cast<const char*>(tokens.data()),
             static_cast<std::streamsize>(sizeof(int32_t) * static_cast<size_t>(n_chunk) * n_ctx));
  }
  PerplexityResult r;
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  std::vector<uint16_t> row(static_cast<size_t>(nv));
  for (int32_t c = 0; c < n_chunk; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + static_cast<std::ptrdiff_t>(c) * n_ctx,
                               tokens.begin() + static_cast<std::ptrdiff_t>(c + 1) * n_ctx);
    if (add_bos) chunk[0] = tok.bos_id();
    ASSAY_ASSIGN_OR_RETURN(auto logits, model.logits_range(chunk, first, n_ctx - 2));
    for (int32_t p = first; p < n_ctx - 1; ++p) {
      const float* z = logits.data() + static_cast<size_t>(p - first) * static_cast<size_t>(n_vocab);
      RowStats s = row_stats(z, n_vocab);
      double v = -(static_cast<double>(z[chunk[p + 1]]) - s.max - s.lse);
      nll += v;
      nll2 += v * v;
      ++count;
      if (kl.is_open()) {
        encode_row(z, n_vocab, row.data(), nv);
        kl.write(reinterpret_cast<const char*>(row.data()), static_cast<std::streamsize>(sizeof(uint16_t) * row.size()));
      }
    }
    double ppl = std::exp(nll / count);
    r.chunk_ppl.push_back(ppl);
    if (opts.on_chunk) opts.on_chunk(c, ppl);
  }
  if (kl.is_open()) {
    kl.close();
    if (!kl) return io_error("error writing " + opts.kl_base_out);
  }
  r.n_chunks = n_chunk;
  r.n_scored = count;
  double m = nll / count;
  double var = nll2 / count - m * m;
  r.ppl = std::exp(m);
  r.ppl_stderr = count > 1 && var > 0 ? r.ppl * std::sqrt(var / (count - 1)) : 0;
  return r;
}

Result<KlResult> compare_kl_base(LocalModel& model, const std::string& base_path, int32_t max_chunks) {
  std::ifstream in(base_path, std::ios::binary);
  if (!in) return not_found(base_path + ": cannot open");
  char magic[8];
  int32_t hdr[3];
  if (!in.read(magic, 8) || std::memcmp(magic, "_logits_", 8) != 0) {
    return corrupt(base_path + ": not a llama.cpp logits file (bad magic)");
  }
  if (!in.read(reinterpret_cast<char*>(hdr), sizeof hdr)) return corrupt(base_path + ": truncated header");
  const int32_t n_ctx = hdr[0], n_vocab = hdr[1], n_chunk_file = hdr[2];
  const int64_t model_vocab = model.files().hparams().n_vocab;
  if (n_ctx < 4 || n_ctx > model.n_ctx()) {
    return invalid_argument(base_path + ": n_ctx " + std::to_string(n_ctx) +
                            " does not fit the model's context of " + std::to_string(model.n_ctx()));
  }
  if (n_vocab != model_vocab) {
    return invalid_argument(base_path + ": n_vocab " + std::to_string(n_vocab) +
                            " differs from the model's " + std::to_string(model_vocab));
  }
  if (n_chunk_file <= 0 || n_chunk_file > (1 << 20)) return corrupt(base_path + ": bad chunk count");
  std::vector<int32_t> tokens(static_cast<size_t>(n_chunk_file) * n_ctx);
  if (!in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(sizeof(int32_t) * tokens.size()))) {
    return corrupt(base_path + ": truncated token table");
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= n_vocab) return corrupt(base_path + ": token id out of range");
  }
  int32_t n_chunk = max_chunks > 0 ? std::min(max_chunks, n_chunk_file) : n_chunk_file;
  const int64_t nv = 2 * ((n_vocab + 1) / 2) + 4;
  const int32_t first = n_ctx / 2;
  bool add_bos = model.add_bos() && model.has_tokenizer() && model.tokenizer().bos_id() >= 0;
  std::vector<uint16_t> row(static_cast<size_t>(nv));
  std::vector<double> base_lp(static_cast<size_t>(n_vocab));
  double s_kld = 0, s_kld2 = 0, s_q = 0, s_b = 0, s_dp2 = 0;
  int64_t n = 0, same = 0;
  KlResult r;
  for (int32_t c = 0; c < n_chunk; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + static_cast<std::ptrdiff_t>(c) * n_ctx,
                               tokens.begin() + static_cast<std::ptrdiff_t>(c + 1) * n_ctx);
    if (add_bos) chunk[0] = model.tokenizer().bos_id();
    ASSAY_ASSIGN_OR_RETURN(auto logits, model.logits_range(chunk, first, n_ctx - 2));
    for (int32_t p = first; p < n_ctx - 1; ++p) {
      if (!in.read(reinterpret_cast<char*>(row.data()), static_cast<std::streamsize>(sizeof(uint16_t) * row.size()))) {
        return corrupt(base_path + ": truncated at chunk " + std::to_string(c));
      }
      float scale, min_lp;
      std::memcpy(&scale, row.data(), 4);
      std::memcpy(&min_lp, row.data() + 2, 4);
      int32_t base_top = 0;
      for (int32_t v = 0; v < n_vocab; ++v) {
        base_lp[v] = static_cast<double>(scale) * row[4 + v] + min_lp;
        if (base_lp[v] > base_lp[base_top]) base_top = v;
      }
      const float* z = logits.data() + static_cast<size_t>(p - first) * static_cast<size_t>(n_vocab);
      RowStats s = row_stats(z, n_vocab);
      int32_t top = 0;
      double kld = 0;
      for (int32_t v = 0; v < n_vocab; ++v) {
        if (z[v] > z[top]) top = v;
        if (base_lp[v] > -16) {
          double q = static_cast<double>(z[v]) - s.max - s.lse;
          kld += std::exp(base_lp[v]) * (base_lp[v] - q);
        }
      }
      int32_t t = chunk[p + 1];
      double nll_q = s.max + s.lse - z[t];
      double nll_b = -base_lp[t];
      double dp = std::exp(-nll_q) - std::exp(-nll_b);
      s_kld += kld;
      s_kld2 += kld * kld;
      r.max_kld = std::max(r.max_kld, kld);
      s_q += nll_q;
      s_b += nll_b;
      s_dp2 += dp * dp;
      same += top == base_top;
      ++n;
    }
  }
  r.n = n;
  r.mean_kld = s_kld / n;
  double var = s_kld2 / n - r.mean_kld * r.mean_kld;
  r.kld_stderr = n > 10 && var > 0 ? std::sqrt(var / (n - 1)) : 0;
  r.ppl_q = std::exp(s_q / n);
  r.ppl_base = std::exp(s_b / n);
  r.same_top = static_cast<double>(same) / n;
  r.same_top_stderr = n > 1 ? std::sqrt(r.same_top * (1 - r.same_top) / (n - 1)) : 0;
  r.rms_dp = std::sqrt(s_dp2 / n);
  return r;
}

}  // namespace assay
