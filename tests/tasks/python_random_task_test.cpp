// PythonRandom against values printed by CPython 3.11:
//   r = random.Random(1234); [r.getrandbits(32) for _ in range(3)]
//   r = random.Random(1234); r.sample(range(7473), 5), r.sample(range(7473), 5)
//   r = random.Random(0); r.random(), r.getrandbits(40), r.sample(range(10), 4)
//   r = random.Random(2**40 + 5); x = list(range(8)); r.shuffle(x); x, r.sample(range(100), 8)
#include <gtest/gtest.h>

#include "tasks/common/python_random.h"
#include "tasks/gsm8k/gsm8k_task.h"

namespace assay {
namespace {

using V = std::vector<int64_t>;

TEST(PythonRandom, SeedAndGetrandbitsMatchCPython) {
  PythonRandom r(1234);
  EXPECT_EQ(r.getrandbits(32), 4150886329u);
  EXPECT_EQ(r.getrandbits(32), 3342196574u);
  EXPECT_EQ(r.getrandbits(32), 1892932127u);
}

TEST(PythonRandom, SampleSetAlgorithmMatchesCPython) {
  PythonRandom r(1234);
  EXPECT_EQ(r.sample_indices(7473, 5), (V{6374, 3610, 957, 61, 742}));
  EXPECT_EQ(r.sample_indices(7473, 5), (V{7462, 6610, 4769, 286, 5501}));
  // The same draws through the gsm8k helper (one sample per document).
  auto idx = gsm8k_fewshot_indices(2, 5, 1234);
  EXPECT_EQ(idx[0], (V{6374, 3610, 957, 61, 742}));
  EXPECT_EQ(idx[1], (V{7462, 6610, 4769, 286, 5501}));
}

TEST(PythonRandom, RandomWideBitsAndPoolSampleMatchCPython) {
  PythonRandom r(0);
  EXPECT_DOUBLE_EQ(r.random(), 0.8444218515250481);
  EXPECT_EQ(r.getrandbits(40), 978212965548u);
  EXPECT_EQ(r.sample_indices(10, 4), (V{6, 0, 4, 7}));
}

TEST(PythonRandom, MultiWordSeedShuffleAndLargeKSampleMatchCPython) {
  PythonRandom r((uint64_t{1} << 40) + 5);
  V x{0, 1, 2, 3, 4, 5, 6, 7};
  r.shuffle(x);
  EXPECT_EQ(x, (V{1, 2, 3, 6, 7, 0, 5, 4}));
  EXPECT_EQ(r.sample_indices(100, 8), (V{17, 30, 83, 87, 31, 48, 93, 15}));
}

}  // namespace
}  // namespace assay
