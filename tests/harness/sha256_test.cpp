#include "harness/sha256.h"

#include <gtest/gtest.h>

#include "tests/support/test_env.h"

namespace assay {
namespace {

TEST(Sha256, Fips180Vectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  EXPECT_EQ(sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += std::to_string(i * 7919) + ",";
  for (size_t step : {1u, 3u, 63u, 64u, 65u, 1000u}) {
    Sha256 h;
    for (size_t off = 0; off < data.size(); off += step) h.update(std::string_view(data).substr(off, step));
    EXPECT_EQ(h.hex_digest(), sha256_hex(data)) << step;
  }
}

TEST(Sha256, MatchesTheSharedDataManifest) {
  // MANIFEST.sha256 was made by sha256sum.
  auto got = sha256_file(testing::data_dir() + "/gsm8k/test.jsonl");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14");
}

}  // namespace
}  // namespace assay
