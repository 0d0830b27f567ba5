#include "harness/progress.h"

#include <gtest/gtest.h>

namespace assay {
namespace {

TEST(Progress, LineHasCountsRateAndEta) {
  EXPECT_EQ(Progress::format_line("mmlu", 250, 1000, 10.0),
            "mmlu  250/1000  25.0%  25.0/s  elapsed 0:10  ETA 0:30");
  EXPECT_EQ(Progress::format_line("mmlu", 1000, 1000, 3725.0),
            "mmlu  1000/1000  100.0%  0.3/s  elapsed 1:02:05  ETA 0:00");
  EXPECT_EQ(Progress::format_line("reqs", 5, 0, 2.0), "reqs  5  2.5/s  elapsed 0:02");
  EXPECT_EQ(Progress::format_line("x", 0, 10, 0.0), "x  0/10  0.0%  0.0/s  elapsed 0:00  ETA ?");
}

TEST(Progress, CountsFromManyThreads) {
  Progress p("t", 4000, 1000.0);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back([&] { for (int j = 0; j < 1000; ++j) p.add(); });
  for (auto& t : ts) t.join();
  EXPECT_EQ(p.done(), 4000);
}

}  // namespace
}  // namespace assay
