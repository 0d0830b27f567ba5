#include "engines/local/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engines/local/sampler.h"

#include "harness/status.h"

namespace assay {

int64_t check_attention_args(const TensorRef& k_cache, const TensorRef& v_cache,
                             const AttentionLayout& layout, const AttentionParams& p) {
  ASSAY_CHECK(p.n_head > 0 && p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0 && p.head_dim > 0);
  const int64_t n_tokens = static_cast<int64_t>(layout.token_seq.size());
  ASSAY_CHECK(static_cast<int64_t>(layout.token_n_kv.size()) == n_tokens);
  const int64_t kv_width = static_cast<int64_t>(p.n_head_kv) * p.head_dim;
  ASSAY_CHECK(k_cache.ne0 == kv_width && v_cache.ne0 == kv_width);
  ASSAY_CHECK((k_cache.type == GgmlType::F32 || k_cache.type == GgmlType::F16) &&
              (v_cache.type == GgmlType::F32 || v_cache.type == GgmlType::F16));
  const int64_t n_seq = static_cast<int64_t>(layout.seq_offsets.size()) - 1;
  ASSAY_CHECK(n_seq >= 1);
  for (int64_t s = 0; s < n_seq; ++s)
    ASSAY_CHECK(layout.seq_offsets[s] >= 0 && layout.seq_offsets[s] <= layout.seq_offsets[s + 1]);
  ASSAY_CHECK(layout.seq_offsets[n_seq] <= static_cast<int64_t>(layout.rows.size()));
  const int64_t n_cache_rows = std::min(k_cache.ne1, v_cache.ne1);
  for (int32_t r : layout.rows) ASSAY_CHECK_MSG(r >= 0 && r < n_cache_rows, "attention: cache row out of range");
  int64_t max_kv = 1;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int32_t s = layout.token_seq[t];
    ASSAY_CHECK(s >= 0 && s < n_seq);
    const int32_t nkv = layout.token_n_kv[t];
    ASSAY_CHECK_MSG(nkv >= 1 && nkv <= layout.seq_offsets[s + 1] - layout.seq_offsets[s],
                    "attention: token_n_kv exceeds its sequence's rows");
    max_kv = std::max<int64_t>(max_kv, nkv);
  }
  return max_kv;
}

void Ops::sample_tokens(const float* logits, int64_t n_rows, int64_t n_vocab, std::span<const SampleRow> rows,
                        int32_t* out) {
  ASSAY_CHECK(static_cast<int64_t>(rows.size()) == n_rows && n_vocab > 0);
  std::vector<float> host;
  const float* base = logits;
  if (!host_memory_is_device()) {
    host.resize(static_cast<size_t>(n_rows * n_vocab));
    download(host.data(), logits, sizeof(float) * host.size());
    base = host.data();
  }
  thread_local Sampler sampler;  // its vocabulary-sized scratch outlives the call
  for (int64_t r = 0; r < n_rows; ++r) {
    const std::span<const float> row(base + r * n_vocab, static_cast<size_t>(n_vocab));
    const SampleRow& p = rows[static_cast<size_t>(r)];
    if (p.temperature <= 0) {
      // NaN counts as -inf; the lowest id of the maxima (id 0 when all are -inf).
      int32_t best = 0;
      float m = -INFINITY;
      for (size_t v = 0; v < row.size(); ++v)
        if (row[v] > m) m = row[v], best = static_cast<int32_t>(v);
      out[r] = best;
    } else {
      out[r] = sampler.sample(row, SamplingParams{p.temperature, p.top_k, p.top_p}, p.unit);
    }
  }
}

}  // namespace assay
