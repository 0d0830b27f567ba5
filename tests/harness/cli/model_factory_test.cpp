// --model-args for local models: precision and KV type reach the engine, change the request-cache
// identity, and bad values are refused naming the key.
#include "harness/cli/model_factory.h"

#include <gtest/gtest.h>

#include "tests/support/test_env.h"
#include "tests/support/tiny_model_writer.h"

namespace assay::cli {
namespace {

TEST(ModelFactory, PrecisionAndKvTypeChangeTheBackendAndTheIdentity) {
  testing::TempDir tmp;
  TinyModelSpec spec;
  spec.gguf_type = GgmlType::Q4_0;
  const std::string path = tmp.file("m.gguf");
  ASSERT_TRUE(write_tiny_gguf_model(spec, path).ok());
  auto plain = make_model(path, {});
  auto f32 = make_model(path, {{"precision", "f32"}});
  auto kv = make_model(path, {{"kv_type", "f32"}});
  auto f32_kv16 = make_model(path, {{"precision", "f32"}, {"kv_type", "f16"}});
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  ASSERT_TRUE(f32.ok() && kv.ok() && f32_kv16.ok());
  const std::string base = (*plain)->info().identity;
  EXPECT_EQ(base.rfind("local:", 0), 0u);
  EXPECT_EQ(base.find('|'), std::string::npos) << "the default identity must stay as it was: " << base;
  EXPECT_EQ((*f32)->info().backend, "cpu-avx2-f32");
  EXPECT_EQ((*f32)->info().identity, base + "|cpu-avx2-f32|kv=F32");
  EXPECT_EQ((*kv)->info().identity, base + "|kv=F32");
  EXPECT_EQ((*f32_kv16)->info().identity, base + "|cpu-avx2-f32");
}

TEST(ModelFactory, BadPrecisionIsRefusedNamingTheKey) {
  testing::TempDir tmp;
  const std::string path = tmp.file("m.gguf");
  ASSERT_TRUE(write_tiny_gguf_model(TinyModelSpec{}, path).ok());
  auto bad = make_model(path, {{"precision", "bf16"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("precision=bf16"), std::string::npos) << bad.status().message();
  // precision=f32 on CUDA: loads where there is a device (an identity of its own), else the
  // error names device=cuda (no device here, or a build without the backend).
  auto cuda = make_model(path, {{"precision", "f32"}, {"device", "cuda"}});
  if (cuda.ok()) {
    EXPECT_NE((*cuda)->info().identity.find(" f32|kv=F32"), std::string::npos) << (*cuda)->info().identity;
  } else {
    EXPECT_NE(cuda.status().message().find("device=cuda"), std::string::npos) << cuda.status().message();
  }
}

// Tokens per forward pass without n_batch: the CPU's 512, a GPU's 4096 (run and bench both
// take it from here).
TEST(ModelFactory, DefaultBatchFollowsTheDevice) {
  EXPECT_EQ(default_n_batch({}), 512);
  EXPECT_EQ(default_n_batch({{"device", "cpu"}}), 512);
  EXPECT_EQ(default_n_batch({{"device", "cuda"}, {"threads", "2"}}), 4096);
}

}  // namespace
}  // namespace assay::cli
