#include "engines/local/safetensors_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/test_env.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tests/support/tiny_model_writer.h"

namespace assay {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> bytes(size_t n, uint8_t fill = 1) { return std::vector<uint8_t>(n, fill); }

Result<std::unique_ptr<SafetensorsFile>> parse(const std::vector<uint8_t>& b) {
  return SafetensorsFile::from_memory(b.data(), b.size(), "x.safetensors");
}

void expect_error(const std::vector<uint8_t>& b, const std::string& what,
                  StatusCode code = StatusCode::kCorrupt) {
  auto f = parse(b);
  ASSERT_FALSE(f.ok()) << what;
  EXPECT_EQ(f.status().code(), code) << f.status().message();
  EXPECT_THAT(f.status().message(), HasSubstr("x.safetensors"));
  EXPECT_THAT(f.status().message(), HasSubstr(what));
}

TEST(SafetensorsReader, ReadsTensorsAndMetadata) {
  SafetensorsBuilder sb;
  std::vector<uint8_t> w(2 * 3 * 4);
  const float vals[6] = {1, 2, 3, 4, 5, 6};
  std::memcpy(w.data(), vals, sizeof vals);
  sb.metadata("format", "pt")
      .tensor("w", "F32", {2, 3}, w)
      .tensor("h", "F16", {4}, bytes(8))
      .tensor("b", "BF16", {1, 1, 2}, bytes(4))
      .tensor("empty", "F32", {0, 5}, {});
  const std::vector<uint8_t> file = sb.build();  // must outlive f
  auto f = parse(file);
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ((*f)->tensors().size(), 4u);
  const SafetensorsTensor* t = (*f)->tensor("w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t->type, GgmlType::F32);
  EXPECT_EQ(t->n_bytes, 24u);
  float got[6];
  std::memcpy(got, t->data, 24);
  EXPECT_EQ(got[5], 6.0f);
  EXPECT_EQ((*f)->tensor("h")->type, GgmlType::F16);
  EXPECT_EQ((*f)->tensor("b")->type, GgmlType::BF16);
  EXPECT_EQ((*f)->tensor("b")->n_elements(), 2);
  EXPECT_EQ((*f)->tensor("empty")->n_bytes, 0u);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->tensor("nope"), nullptr);
}

TEST(SafetensorsReader, HostileHeaders) {
  SafetensorsBuilder sb;
  sb.tensor("w", "F32", {2}, bytes(8));
  expect_error({1, 2, 3}, "too short");
  // Header length past EOF.
  std::vector<uint8_t> b = sb.build();
  const uint64_t big = 1ull << 50;
  std::memcpy(b.data(), &big, 8);
  expect_error(b, "runs past the end");
  // Invalid JSON, non-object JSON.
  expect_error(sb.build_with_header("{\"w\": {"), "not valid JSON");
  expect_error(sb.build_with_header("[1, 2]"), "not a JSON object");
  expect_error(sb.build_with_header("{\"w\": 3}"), "'w' is not a JSON object");
  expect_error(sb.build_with_header(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})"), "dtype");
  expect_error(sb.build_with_header(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})"), "shape");
  expect_error(sb.build_with_header(R"({"w": {"dtype": "F32", "shape": [2]}})"), "data_offsets");
  expect_error(
      sb.build_with_header(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})"),
      "non-negative");
  expect_error(
      sb.build_with_header(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]}})"),
      "data_offsets");
  expect_error(
      sb.build_with_header(R"({"w": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}})"),
      "unknown dtype 'Q9'");
  expect_error(
      sb.build_with_header(R"({"w": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})"),
      "dtype I64", StatusCode::kUnsupported);
  // Offsets out of bounds, wrong size, reversed.
  expect_error(
      sb.build_with_header(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}})"),
      "outside the data buffer");
  expect_error(
      sb.build_with_header(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})"),
      "need 12");
  expect_error(
      sb.build_with_header(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})"),
      "outside");
  expect_error(
      sb.build_with_header(
          R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})"),
      "overflows");
  // Overlap.
  SafetensorsBuilder two;
  two.tensor("a", "F32", {2}, bytes(8)).tensor("b", "F32", {2}, bytes(8));
  expect_error(
      two.build_with_header(
          R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})"),
      "overlap");
  expect_error(
      two.build_with_header(
          R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})"),
      "duplicate");
  expect_error(sb.build_with_header(R"({"__metadata__": {"k": 1}})"), "__metadata__");
}

TEST(SafetensorsReader, EveryTruncationFailsCleanly) {
  SafetensorsBuilder sb;
  sb.metadata("format", "pt")
      .tensor("a", "F32", {2, 2}, bytes(16))
      .tensor("b", "BF16", {3}, bytes(6));
  const std::vector<uint8_t> full = sb.build();
  ASSERT_TRUE(parse(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[n == 0 ? 1 : n]);
    std::memcpy(copy.get(), full.data(), n);
    auto f = SafetensorsFile::from_memory(copy.get(), n, "cut.safetensors");
    ASSERT_FALSE(f.ok()) << n;
    EXPECT_THAT(f.status().message(), HasSubstr("cut.safetensors"));
  }
}

TEST(SafetensorsReader, ShardedFolder) {
  const std::string dir = ::testing::TempDir() + "/st_sharded";
  std::filesystem::remove_all(dir);
  TinyModelSpec spec;
  ASSERT_TRUE(write_tiny_hf_model(spec, dir, 3).ok());
  auto m = SafetensorsModel::open_folder(dir);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->files().size(), 3u);
  const std::vector<TinyTensor> want = tiny_model_tensors(spec);
  ASSERT_EQ((*m)->tensors().size(), want.size());
  for (const TinyTensor& t : want) {
    const SafetensorsTensor* st = (*m)->tensor(t.hf_name);
    ASSERT_NE(st, nullptr) << t.hf_name;
    EXPECT_EQ(st->shape, t.hf_shape);
    ASSERT_EQ(st->n_bytes, t.values.size() * 4);
    EXPECT_EQ(std::memcmp(st->data, t.values.data(), st->n_bytes), 0) << t.hf_name;
  }
  // An index that names a tensor its shard lacks.
  {
    FILE* f = std::fopen((dir + "/model.safetensors.index.json").c_str(), "w");
    std::fputs(R"({"weight_map": {"ghost": "model-00001-of-00003.safetensors"}})", f);
    std::fclose(f);
    auto bad = SafetensorsModel::open_folder(dir);
    ASSERT_FALSE(bad.ok());
    EXPECT_THAT(bad.status().message(), HasSubstr("ghost"));
  }
  {
    FILE* f = std::fopen((dir + "/model.safetensors.index.json").c_str(), "w");
    std::fputs(R"({"weight_map": {"x": "../evil.safetensors"}})", f);
    std::fclose(f);
    auto bad = SafetensorsModel::open_folder(dir);
    ASSERT_FALSE(bad.ok());
    EXPECT_THAT(bad.status().message(), HasSubstr("not a file in the same folder"));
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto none = SafetensorsModel::open_folder(dir);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace assay

namespace assay {
namespace {

// A file written by huggingface/safetensors itself (scripts/fixtures/safetensors_fixture.py).
TEST(SafetensorsReader, ReadsReferenceWriterOutput) {
  const std::string root = testing::source_dir();
  auto f = SafetensorsFile::open(root + "/tests/engines/local/testdata/tiny_reference.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->metadata().at("note"), "assay fixture");
  ASSERT_EQ((*f)->tensors().size(), 3u);
  const SafetensorsTensor* a = (*f)->tensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  float av[6];
  std::memcpy(av, a->data, 24);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(av[i], 0.5f * i);
  const SafetensorsTensor* b = (*f)->tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, GgmlType::F16);
  float bv[4];
  ASSERT_TRUE(dequantize_row_reference(GgmlType::F16, b->data, bv, 4));
  EXPECT_EQ(bv[0], 1.0f);
  EXPECT_EQ(bv[1], -2.0f);
  EXPECT_EQ(bv[2], 0.5f);
  EXPECT_EQ(bv[3], 65504.0f);
  const SafetensorsTensor* c = (*f)->tensor("c.weight");
  ASSERT_NE(c, nullptr);
  float cv[3];
  std::memcpy(cv, c->data, 12);
  EXPECT_EQ(cv[2], 3.25f);
}

}  // namespace
}  // namespace assay
