#include "harness/data_registry.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "harness/csv.h"
#include "harness/sha256.h"
#include "tests/support/http_file_server.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1); else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DataRegistry, ResolutionOrderFlagThenEnvThenCache) {
  testing::TempDir a, b, home;
  ScopedEnv env("ASSAY_DATA", b.path().c_str());
  ScopedEnv xdg("XDG_CACHE_HOME", home.path().c_str());
  EXPECT_EQ(*resolve_data_dir(a.path()), a.path());
  EXPECT_EQ(*resolve_data_dir(""), b.path());
  {
    ScopedEnv unset("ASSAY_DATA", nullptr);
    auto r = resolve_data_dir("");
    ASSERT_FALSE(r.ok());  // cache dir absent
    EXPECT_NE(r.status().message().find("assay data pull"), std::string::npos);
    EXPECT_EQ(*resolve_data_dir("", false), home.path() + "/assay/data");
    std::filesystem::create_directories(home.path() + "/assay/data");
    EXPECT_EQ(*resolve_data_dir(""), home.path() + "/assay/data");
  }
}

TEST(DataRegistry, MissingDirectoriesAreClearErrors) {
  auto r = resolve_data_dir("/definitely/not/here");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "--data-dir /definitely/not/here: no such directory");
  ScopedEnv env("ASSAY_DATA", "/nope/data");
  auto e = resolve_data_dir("");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "$ASSAY_DATA=/nope/data: no such directory");
}

TEST(DataRegistry, KnowsTheSharedDataSets) {
  // Every data set the registry knows is present in the shared data folder.
  for (const auto& d : known_datasets()) {
    auto p = dataset_path(testing::data_dir(), d.name);
    EXPECT_TRUE(p.ok()) << d.name << ": " << p.status().message();
  }
  testing::TempDir empty;
  auto missing = dataset_path(empty.path(), "mmlu");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("assay data pull mmlu"), std::string::npos);
}

TEST(DataRegistry, VerifyDetectsMissingAndChangedFiles) {
  testing::TempDir dir;
  testing::write_text(dir.file("a.txt"), "alpha");
  testing::write_text(dir.file("b.txt"), "beta");
  testing::write_text(dir.file("MANIFEST.sha256"),
                      sha256_hex("alpha") + "  ./a.txt\n" + sha256_hex("BETA") + "  ./b.txt\n" +
                          sha256_hex("x") + "  ./c.txt\n");
  auto rep = verify_manifest(dir.path());
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->ok, 1);
  EXPECT_EQ(rep->missing, std::vector<std::string>{"c.txt"});
  ASSERT_EQ(rep->mismatched.size(), 1u);
  EXPECT_EQ(rep->mismatched[0].rfind("b.txt: expected", 0), 0u);
}

TEST(DataRegistry, PullsFromALocalMirrorAndVerifies) {
  // Serve the real gsm8k files (whose sha256 the registry pins) from a loopback server standing
  // in for the upstream host, then pull and verify.
  testing::HttpFileServer server;
  const DatasetSpec* d = find_dataset("gsm8k");
  ASSERT_NE(d, nullptr);
  for (const auto& f : d->files) {
    std::string path = f.url.substr(f.url.find('/', 8));
    std::string name = f.dest.substr(f.dest.find('/') + 1);
    server.add_file(path, *read_file(testing::data_dir() + "/gsm8k/" + name));
  }
  server.cut_next(1, 100000);  // the first transfer dies part-way and must resume
  testing::TempDir dir;
  PullOptions opts;
  opts.mirror = "http://127.0.0.1:" + std::to_string(server.port());
  auto files = pull_dataset(*d, dir.path(), opts);
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_EQ(files->size(), 2u);
  EXPECT_GE(server.range_requests(), 1);
  auto rep = verify_manifest(dir.path());
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->ok, 2);
  EXPECT_TRUE(rep->missing.empty());
  EXPECT_TRUE(rep->mismatched.empty());
}

TEST(DataRegistry, PullUnpacksTarArchives) {
  testing::TempDir src;
  std::filesystem::create_directories(src.path() + "/data/test");
  testing::write_text(src.path() + "/data/test/x_test.csv", "q,a,b,c,d,A\n");
  ASSERT_EQ(std::system(("tar -cf " + src.file("data.tar") + " -C " + src.path() + " data").c_str()), 0);
  testing::HttpFileServer server;
  server.add_file("/~hendrycks/data.tar", *read_file(src.file("data.tar")));
  testing::TempDir dir;
  PullOptions opts;
  opts.mirror = "http://127.0.0.1:" + std::to_string(server.port());
  auto files = pull_dataset(*find_dataset("mmlu"), dir.path(), opts);
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_EQ(*read_file(dir.path() + "/mmlu/test/x_test.csv"), "q,a,b,c,d,A\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/mmlu/data.tar"));
  EXPECT_EQ(verify_manifest(dir.path())->ok, 1);
}

TEST(DataRegistry, DataSetsWithoutDownloadsSaySo) {
  testing::TempDir dir;
  auto r = pull_dataset(*find_dataset("dutch"), dir.path(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace assay
