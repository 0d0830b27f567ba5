// Next-token sampling on the host for the local engine: temperature, then top-k, then top-p
// (nucleus), then one draw from the sequence's generator.
//
// Candidates are ordered by scaled logit (descending), ties by token id (ascending); top-k keeps
// the first k; top-p keeps the shortest prefix whose probability (within the top-k set) reaches
// top_p; the draw picks from what is kept in proportion to exp(x - max), walking the kept tokens
// in id order (the CUDA sampler's order too: a unit gives the same token on both backends, up to
// the rounding of the sums). Every call consumes exactly one 64-bit draw, so a seeded sequence is
// reproducible whatever else runs beside it.
//
// Cost: O(n_vocab) when neither cut applies (the draw walks the vocabulary in id order, no sort);
// with a cut, a partial selection of the kept prefix instead of sorting the vocabulary (a full
// sort per token cost as much as the forward pass of a small model).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace assay {

struct SamplingParams {
  double temperature = 1.0;  // > 0
  int32_t top_k = 0;         // 0 or >= n_vocab: off
  double top_p = 1.0;        // >= 1: off
};

class Sampler {
 public:
  // The sampled token id; logits holds one row of n_vocab values (NaN counts as -inf).
  int32_t sample(std::span<const float> logits, const SamplingParams& p, std::mt19937_64& rng);
  // The same with the call's draw already made: unit in [0, 1) from draw_unit.
  int32_t sample(std::span<const float> logits, const SamplingParams& p, double unit);
  static double draw_unit(std::mt19937_64& rng);

 private:
  std::vector<std::pair<float, int32_t>> cand_;  // scratch reused across calls
  std::vector<double> w_;
  std::vector<int32_t> kept_;
};

}  // namespace assay
