// PythonRandom: CPython's random.Random (Mersenne Twister MT19937), bit for bit, for the parts
// lm-evaluation-harness's few-shot samplers use.
//
// lm-eval's default sampler holds one random.Random(fewshot_seed) per task and calls
// Random.sample(fewshot_docs, k) once per document while it builds prompts, so reproducing its
// few-shot choices in C++ needs Python's exact seeding and sampling algorithms:
//   * seeding from an int: init_by_array over the 32-bit words of abs(seed), little-endian
//     first (CPython Modules/_randommodule.c random_seed), key [0] for seed 0;
//   * getrandbits(k) for k <= 32: the top k bits of one 32-bit output;
//   * _randbelow(n): getrandbits(n.bit_length()) until the draw is < n (Lib/random.py);
//   * sample(population, k): the pool algorithm for small populations, else the set algorithm
//     (setsize = 21, plus 4 ** ceil(log(3k, 4)) when k > 5), returning population indices in
//     the order Python returns the elements;
//   * random(): 53-bit float from two outputs, as random_random does.
// Verified against CPython by tests/tasks/python_random_task_test.cpp (values printed by Python).
//
// Thread safety: a PythonRandom is a mutable generator; use one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace assay {

class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed = 0) { seed_int(seed); }

  // random.seed(n) for a non-negative int n < 2**64.
  void seed_int(uint64_t seed);

  uint32_t genrand_uint32();
  // getrandbits(k), 0 <= k <= 64.
  uint64_t getrandbits(int k);
  // _randbelow(n) for n >= 1 (returns 0 for n == 0, as Python does).
  uint64_t randbelow(uint64_t n);
  // random.random().
  double random();
  // The indices Random.sample(range(n), k) returns, in order. Requires 0 <= k <= n.
  std::vector<int64_t> sample_indices(int64_t n, int64_t k);
  // random.shuffle(x) applied to an index vector (the indices are permuted in place).
  void shuffle(std::vector<int64_t>& x);

 private:
  void init_genrand(uint32_t s);
  void init_by_array(const std::vector<uint32_t>& key);

  static constexpr int kN = 624;
  static constexpr int kM = 397;
  std::array<uint32_t, kN> mt_{};
  int mti_ = kN + 1;
};

}  // namespace assay
