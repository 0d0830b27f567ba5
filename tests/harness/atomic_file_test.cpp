#include "harness/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "harness/csv.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

TEST(AtomicFile, WritesAndReplacesWithoutLeavingTempFiles) {
  testing::TempDir dir;
  std::string p = dir.file("results.json");
  ASSERT_TRUE(write_file_atomic(p, "first").ok());
  ASSERT_TRUE(write_file_atomic(p, "second version").ok());
  EXPECT_EQ(*read_file(p), "second version");
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) { (void)e; ++n; }
  EXPECT_EQ(n, 1);
}

TEST(AtomicFile, KilledWriterLeavesOldOrNewNeverTorn) {
  // A child process rewrites the file in a loop and is SIGKILLed at some moment; the file must
  // then hold one complete version.
  testing::TempDir dir;
  std::string p = dir.file("f.txt");
  std::string a(1 << 20, 'a'), b(1 << 20, 'b');
  ASSERT_TRUE(write_file_atomic(p, a).ok());
  for (int round = 0; round < 5; ++round) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0;; ++i) (void)write_file_atomic(p, i % 2 ? a : b);
    }
    usleep(20000 + round * 7000);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::string got = *read_file(p);
    EXPECT_TRUE(got == a || got == b) << "torn file of size " << got.size();
  }
}

TEST(AtomicFile, UnwritableDirectoryIsAClearError) {
  if (geteuid() == 0) {
    // root ignores permission bits: use a path under a regular file instead.
    testing::TempDir dir;
    testing::write_text(dir.file("plain"), "x");
    Status st = ensure_writable_dir(dir.file("plain") + "/out");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(dir.file("plain")), std::string::npos) << st.message();
    Status w = write_file_atomic(dir.file("plain") + "/r.json", "x");
    EXPECT_FALSE(w.ok());
    EXPECT_NE(w.message().find("cannot write"), std::string::npos);
    return;
  }
  testing::TempDir dir;
  std::string ro = dir.file("ro");
  std::filesystem::create_directory(ro);
  chmod(ro.c_str(), 0500);
  Status st = ensure_writable_dir(ro);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
}

TEST(AppendLog, AppendsWholeLinesAndDropsPartialTail) {
  testing::TempDir dir;
  std::string p = dir.file("wal.jsonl");
  {
    auto log = AppendLog::open(p);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->append("{\"a\":1}").ok());
    ASSERT_TRUE((*log)->append("{\"a\":2}").ok());
    ASSERT_TRUE((*log)->sync().ok());
  }
  // Simulate a crash mid-append.
  {
    FILE* f = fopen(p.c_str(), "ab");
    fputs("{\"a\":3", f);
    fclose(f);
  }
  auto lines = read_complete_lines(p, true);
  ASSERT_TRUE(lines.ok());
  EXPECT_EQ(*lines, (std::vector<std::string>{"{\"a\":1}", "{\"a\":2}"}));
  {
    auto log = AppendLog::open(p);
    ASSERT_TRUE((*log)->append("{\"a\":4}").ok());
  }
  EXPECT_EQ(*read_file(p), "{\"a\":1}\n{\"a\":2}\n{\"a\":4}\n");
}

}  // namespace
}  // namespace assay
