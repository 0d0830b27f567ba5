#include "harness/http_download.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "harness/csv.h"
#include "harness/sha256.h"
#include "tests/support/http_file_server.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

std::string payload(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += std::to_string(i * 2654435761u) + "\n";
  s.resize(n);
  return s;
}

TEST(HttpDownload, DownloadsAndChecksSha) {
  testing::HttpFileServer server;
  std::string body = payload(300000);
  server.add_file("/f.bin", body);
  testing::TempDir dir;
  DownloadOptions opts;
  opts.expected_sha256 = sha256_hex(body);
  auto r = download_file(server.url("/f.bin"), dir.file("f.bin"), opts);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->bytes, 300000);
  EXPECT_EQ(*read_file(dir.file("f.bin")), body);
  EXPECT_FALSE(std::filesystem::exists(dir.file("f.bin.part")));
}

TEST(HttpDownload, ResumesAfterACutConnection) {
  testing::HttpFileServer server;
  std::string body = payload(500000);
  server.add_file("/f.bin", body);
  server.cut_next(2, 120000);  // two attempts die part-way; the third completes
  testing::TempDir dir;
  DownloadOptions opts;
  opts.expected_sha256 = sha256_hex(body);
  auto r = download_file(server.url("/f.bin"), dir.file("f.bin"), opts);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->resumed);
  EXPECT_EQ(r->attempts, 3);
  EXPECT_EQ(server.range_requests(), 2);
  EXPECT_EQ(*read_file(dir.file("f.bin")), body);
}

TEST(HttpDownload, ResumesAcrossProcessesFromAPartFile) {
  testing::HttpFileServer server;
  std::string body = payload(200000);
  server.add_file("/f.bin", body);
  testing::TempDir dir;
  testing::write_text(dir.file("f.bin.part"), body.substr(0, 77777));
  auto r = download_file(server.url("/f.bin"), dir.file("f.bin"), {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->resumed);
  EXPECT_EQ(*read_file(dir.file("f.bin")), body);
}

TEST(HttpDownload, ServerIgnoringRangeRestartsCleanly) {
  testing::HttpFileServer server;
  std::string body = payload(100000);
  server.add_file("/f.bin", body);
  server.set_ignore_range(true);
  testing::TempDir dir;
  testing::write_text(dir.file("f.bin.part"), body.substr(0, 5000));
  DownloadOptions opts;
  opts.expected_sha256 = sha256_hex(body);
  auto r = download_file(server.url("/f.bin"), dir.file("f.bin"), opts);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*read_file(dir.file("f.bin")), body);
}

TEST(HttpDownload, ShaMismatchDeletesAndFails) {
  testing::HttpFileServer server;
  server.add_file("/f.bin", "tampered");
  testing::TempDir dir;
  DownloadOptions opts;
  opts.expected_sha256 = sha256_hex("original");
  auto r = download_file(server.url("/f.bin"), dir.file("f.bin"), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("sha256 mismatch"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("f.bin")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("f.bin.part")));
}

TEST(HttpDownload, NotFoundIsNotRetried) {
  testing::HttpFileServer server;
  testing::TempDir dir;
  auto r = download_file(server.url("/missing"), dir.file("x"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("HTTP 404"), std::string::npos);
  EXPECT_EQ(server.requests(), 1);
}

}  // namespace
}  // namespace assay
