#include "engines/local/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "harness/status.h"

namespace assay {
namespace {

// Higher scaled logit first; on ties the lower id.
bool before(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// Index of the first entry of w (in order) where the running sum reaches u; if rounding leaves
// u above the sum, the last entry of positive weight (never a masked, -inf token).
size_t walk(const std::vector<double>& w, size_t n, double u) {
  size_t last = 0;
  for (size_t c = 0; c < n; ++c) {
    if (w[c] > 0) last = c;
    u -= w[c];
    if (u <= 0 && w[c] > 0) return c;
  }
  return last;
}

}  // namespace

double Sampler::draw_unit(std::mt19937_64& rng) {
  return std::generate_canonical<double, std::numeric_limits<double>::digits>(rng);
}

int32_t Sampler::sample(std::span<const float> logits, const SamplingParams& p, std::mt19937_64& rng) {
  // One draw per call whatever the path, so the generator's state advances alike.
  return sample(logits, p, draw_unit(rng));
}

int32_t Sampler::sample(std::span<const float> logits, const SamplingParams& p, double unit) {
  ASSAY_CHECK(!logits.empty());
  ASSAY_CHECK_MSG(p.temperature > 0, "Sampler: temperature must be > 0");
  const size_t n = logits.size();
  const float t = static_cast<float>(p.temperature);
  cand_.resize(n);
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t v = 0; v < n; ++v) {
    float x = logits[v] / t;
    if (std::isnan(x)) x = -std::numeric_limits<float>::infinity();
    cand_[v] = {x, static_cast<int32_t>(v)};
    mx = std::max(mx, x);
  }
  if (!std::isfinite(mx)) {  // every logit -inf (or NaN): the first id; some +inf: the first of those
    for (size_t v = 0; v < n; ++v)
      if (cand_[v].first == mx) return static_cast<int32_t>(v);
    return 0;
  }
  const bool top_k = p.top_k > 0 && static_cast<size_t>(p.top_k) < n;
  const bool top_p = p.top_p < 1.0;
  w_.resize(n);
  if (!top_k && !top_p) {
    double total = 0;
    for (size_t v = 0; v < n; ++v) total += (w_[v] = std::exp(static_cast<double>(cand_[v].first) - mx));
    return cand_[walk(w_, n, unit * total)].second;
  }
  // The top-k set, sorted (all of the vocabulary without top-k, sorted only as far as needed).
  size_t k = top_k ? static_cast<size_t>(p.top_k) : n;
  size_t sorted = 0;
  auto sort_prefix = [&](size_t m) {
    m = std::min(m, k);
    if (m <= sorted) return;
    if (m < n) std::nth_element(cand_.begin() + sorted, cand_.begin() + m, cand_.end(), before);
    std::sort(cand_.begin() + sorted, cand_.begin() + m, before);
    sorted = m;
  };
  if (top_k) sort_prefix(k);
  double z = 0;
  for (size_t c = 0; c < k; ++c) z += std::exp(static_cast<double>(cand_[c].first) - mx);
  size_t keep = k;
  if (top_p) {
    const double need = p.top_p * z;
    double acc = 0;
    size_t c = 0;
    keep = 0;
    for (size_t m = 64; keep == 0; m *= 4) {
      sort_prefix(m);
      for (; c < sorted; ++c) {
        acc += (w_[c] = std::exp(static_cast<double>(cand_[c].first) - mx));
        if (acc >= need) {
          keep = c + 1;
          break;
        }
      }
      if (keep == 0 && sorted == k) keep = k;  // rounding: the whole set
    }
  }
  // The kept set is the first `keep` in sorted order: every value above the last kept one, and
  // of the values equal to it the lowest ids. The draw walks it in id order, as the CUDA
  // sampler does (it finds the same set by bisection and never sorts).
  const float last = cand_[keep - 1].first;
  size_t ties = 0;
  for (size_t c = 0; c < keep; ++c) ties += cand_[c].first == last;
  kept_.clear();
  for (size_t v = 0; v < n; ++v) {
    const float x = logits[v] / t;
    if (x > last || (x == last && ties > 0)) {
      if (x == last) --ties;
      kept_.push_back(static_cast<int32_t>(v));
    }
  }
  double total = 0;
  for (size_t c = 0; c < kept_.size(); ++c)
    total += (w_[c] = std::exp(static_cast<double>(logits[kept_[c]] / t) - mx));
  return kept_[walk(w_, kept_.size(), unit * total)];
}

}  // namespace assay
