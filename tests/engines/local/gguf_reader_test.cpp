#include "engines/local/gguf_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "tests/support/test_env.h"
#include "tests/support/tiny_model_writer.h"

namespace assay {
namespace {

using ::testing::HasSubstr;

Result<std::unique_ptr<GgufFile>> parse(const std::vector<uint8_t>& b,
                                        std::string name = "t.gguf") {
  return GgufFile::from_memory(b.data(), b.size(), std::move(name));
}

std::vector<uint8_t> f32_bytes(std::initializer_list<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.begin(), b.size());
  return b;
}

// A small valid file with every value type, a nested array and two tensors.
GgufBuilder small_file() {
  GgufBuilder g;
  g.kv_str("general.architecture", "llama")
      .kv_u8("t.u8", 200)
      .kv_i8("t.i8", -100)
      .kv_u16("t.u16", 60000)
      .kv_i16("t.i16", -30000)
      .kv_u32("t.u32", 4000000000u)
      .kv_i32("t.i32", -2000000000)
      .kv_u64("t.u64", 1ull << 40)
      .kv_i64("t.i64", -(1ll << 40))
      .kv_f32("t.f32", 0.25f)
      .kv_f64("t.f64", 1e-300)
      .kv_bool("t.bool", true)
      .kv_str("t.str", "héllo")
      .kv_str_array("t.strs", {"a", "", "ccc"})
      .kv_f32_array("t.f32s", {1.5f, -2.0f})
      .kv_i32_array("t.i32s", {-1, 7});
  // Nested: array of 2 arrays of u16: [[1, 2], [3]].
  std::vector<uint8_t> nested;
  GgufBuilder::put_u32(nested, 2);  // elem type u16
  std::vector<uint8_t> v;
  GgufBuilder::put_u32(v, 9);  // elem type ARRAY
  GgufBuilder::put_u64(v, 2);
  for (std::vector<uint16_t> inner : {std::vector<uint16_t>{1, 2}, std::vector<uint16_t>{3}}) {
    GgufBuilder::put_u32(v, 2);
    GgufBuilder::put_u64(v, inner.size());
    for (uint16_t x : inner)
      v.insert(v.end(), {static_cast<uint8_t>(x), static_cast<uint8_t>(x >> 8)});
  }
  g.kv_raw("t.nested", 9, v);
  g.tensor("a", GgmlType::F32, {3}, f32_bytes({1, 2, 3}));
  g.tensor("b", GgmlType::F32, {2, 2}, f32_bytes({4, 5, 6, 7}));
  return g;
}

TEST(GgufReader, ReadsEveryValueType) {
  const std::vector<uint8_t> bytes = small_file().build();  // must outlive f
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(*g.get_int("t.u8").value(), 200);
  EXPECT_EQ(*g.get_int("t.i8").value(), -100);
  EXPECT_EQ(*g.get_int("t.u16").value(), 60000);
  EXPECT_EQ(*g.get_int("t.i16").value(), -30000);
  EXPECT_EQ(*g.get_int("t.u32").value(), 4000000000ll);
  EXPECT_EQ(*g.get_int("t.i32").value(), -2000000000);
  EXPECT_EQ(*g.get_int("t.u64").value(), 1ll << 40);
  EXPECT_EQ(*g.get_int("t.i64").value(), -(1ll << 40));
  EXPECT_EQ(*g.get_float("t.f32").value(), 0.25);
  EXPECT_EQ(*g.get_float("t.f64").value(), 1e-300);
  EXPECT_EQ(*g.get_float("t.u32").value(), 4e9);  // any numeric widens
  EXPECT_EQ(*g.get_bool("t.bool").value(), true);
  EXPECT_EQ(*g.get_string("t.str").value(), "héllo");
  EXPECT_EQ(*g.get_string_array("t.strs").value(), (std::vector<std::string_view>{"a", "", "ccc"}));
  EXPECT_EQ(*g.get_float_array("t.f32s").value(), (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(*g.get_int_array("t.i32s").value(), (std::vector<int64_t>{-1, 7}));
  const GgufValue* n = g.find("t.nested");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->type, GgufValueType::ARRAY);
  EXPECT_EQ(n->elem_type, GgufValueType::ARRAY);
  const auto& outer = std::get<std::vector<GgufValue>>(n->v);
  ASSERT_EQ(outer.size(), 2u);
  EXPECT_EQ(outer[0].elem_type, GgufValueType::UINT16);
  EXPECT_EQ(std::get<std::vector<int64_t>>(outer[0].v), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(std::get<std::vector<int64_t>>(outer[1].v), (std::vector<int64_t>{3}));
  // Absent keys: empty optionals, not errors.
  EXPECT_FALSE(g.get_int("nope").value().has_value());
  EXPECT_FALSE(g.get_string_array("nope").value().has_value());
  // Wrong types are errors naming the key.
  auto bad = g.get_int("t.str");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("t.str"));
  EXPECT_THAT(bad.status().message(), HasSubstr("STRING"));
  EXPECT_FALSE(g.get_string("t.u8").ok());
  EXPECT_FALSE(g.get_bool("t.u8").ok());
  EXPECT_FALSE(g.get_string_array("t.f32s").ok());
  EXPECT_FALSE(g.get_int_array("t.strs").ok());
  EXPECT_EQ(g.metadata().size(), 17u);
  // Tensors.
  ASSERT_EQ(g.tensors().size(), 2u);
  const GgufTensorInfo* b = g.tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->ne, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(b->n_elements(), 4);
  EXPECT_EQ(b->n_bytes, 16u);
  EXPECT_EQ(b->offset, 32u);  // "a" is 12 bytes, padded to 32
  float vals[4];
  std::memcpy(vals, b->data, 16);
  EXPECT_EQ(vals[3], 7.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data) - reinterpret_cast<uintptr_t>(g.tensor("a")->data),
            32u);
  EXPECT_EQ(g.tensor("c"), nullptr);
}

TEST(GgufReader, AcceptsVersion2AndCustomAlignment) {
  GgufBuilder g = small_file();
  g.version(2).alignment(64).kv_u32("general.alignment", 64);
  const std::vector<uint8_t> bytes = g.build();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->version(), 2u);
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->tensor("b")->offset, 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
}

TEST(GgufReader, OpensFromDiskAndMissingFile) {
  const std::string path = ::testing::TempDir() + "/gguf_reader_small.gguf";
  ASSERT_TRUE(small_file().write(path).ok());
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->path(), path);
  EXPECT_EQ(*(*f)->get_string("general.architecture").value(), "llama");
  auto missing = GgufFile::open(path + ".nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(path + ".nope"));
}

void expect_error(const std::vector<uint8_t>& b, const std::string& what,
                  StatusCode code = StatusCode::kCorrupt) {
  auto f = parse(b, "bad.gguf");
  ASSERT_FALSE(f.ok()) << "expected failure: " << what;
  EXPECT_EQ(f.status().code(), code) << f.status().message();
  EXPECT_THAT(f.status().message(), HasSubstr("bad.gguf"));
  EXPECT_THAT(f.status().message(), HasSubstr(what));
}

TEST(GgufReader, RejectsBadMagicAndVersions) {
  std::vector<uint8_t> b = small_file().build();
  b[0] = 'X';
  expect_error(b, "not a GGUF file");
  expect_error(GgufBuilder().version(1).build(), "version 1", StatusCode::kUnsupported);
  expect_error(GgufBuilder().version(4).build(), "version 4", StatusCode::kUnsupported);
  expect_error(GgufBuilder().version(0x03000000).build(), "big-endian", StatusCode::kUnsupported);
  expect_error({}, "too short");
}

TEST(GgufReader, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> full = small_file().build();
  auto whole = parse(full);
  ASSERT_TRUE(whole.ok());
  // Bytes after the last tensor are padding: any prefix that keeps all tensor data is valid.
  const GgufTensorInfo* last = (*whole)->tensor("b");
  const size_t needed = (*whole)->data_offset() + last->offset + last->n_bytes;
  ASSERT_LT(needed, full.size());
  for (size_t n = 0; n < full.size(); ++n) {
    // A fresh heap copy of exactly n bytes so ASan catches any read past the end.
    std::unique_ptr<uint8_t[]> copy(new uint8_t[n == 0 ? 1 : n]);
    std::memcpy(copy.get(), full.data(), n);
    auto f = GgufFile::from_memory(copy.get(), n, "cut.gguf");
    if (n >= needed) {
      EXPECT_TRUE(f.ok()) << n << ": " << f.status().message();
      continue;
    }
    ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_THAT(f.status().message(), HasSubstr("cut.gguf"));
  }
}

std::vector<uint8_t> header(uint64_t n_tensors, uint64_t n_kv) {
  std::vector<uint8_t> b;
  GgufBuilder::put_u32(b, 0x46554747);
  GgufBuilder::put_u32(b, 3);
  GgufBuilder::put_u64(b, n_tensors);
  GgufBuilder::put_u64(b, n_kv);
  return b;
}

TEST(GgufReader, HugeCountsAreErrorsNotAllocations) {
  expect_error(header(0, 1ull << 60), "metadata_kv_count");
  expect_error(header(~0ull, 0), "tensor_count");
  // String length past the end.
  std::vector<uint8_t> b = header(0, 1);
  GgufBuilder::put_u64(b, ~0ull);
  b.resize(b.size() + 64, 'x');
  expect_error(b, "runs past the end");
  // Array count larger than remaining bytes / element size.
  for (uint32_t elem : {0u, 6u, 8u, 9u, 12u}) {
    std::vector<uint8_t> a;
    GgufBuilder::put_u32(a, elem);
    GgufBuilder::put_u64(a, 1ull << 40);
    expect_error(GgufBuilder().kv_raw("k", 9, a).build(), "array count");
  }
  // Unknown value types.
  expect_error(GgufBuilder().kv_raw("k", 13, {0, 0, 0, 0}).build(), "unknown value type");
  std::vector<uint8_t> a;
  GgufBuilder::put_u32(a, 77);
  GgufBuilder::put_u64(a, 1);
  expect_error(GgufBuilder().kv_raw("k", 9, a).build(), "unknown value type");
}

TEST(GgufReader, DeepNestingIsAnError) {
  std::vector<uint8_t> v;
  for (int i = 0; i < 100; ++i) {
    GgufBuilder::put_u32(v, 9);
    GgufBuilder::put_u64(v, 1);
  }
  GgufBuilder::put_u32(v, 0);
  GgufBuilder::put_u64(v, 0);
  expect_error(GgufBuilder().kv_raw("deep", 9, v).build(), "nested too deeply");
}

TEST(GgufReader, RejectsBadMetadata) {
  expect_error(GgufBuilder().kv_u32("k", 1).kv_u32("k", 2).build(), "duplicate metadata key 'k'");
  expect_error(GgufBuilder().kv_raw("b", 7, {2}).build(), "BOOL");
  expect_error(GgufBuilder().kv_u32("general.alignment", 24).build(), "general.alignment");
  expect_error(GgufBuilder().kv_u32("general.alignment", 0).build(), "general.alignment");
  expect_error(GgufBuilder().kv_str("general.alignment", "32").build(), "general.alignment");
  expect_error(GgufBuilder().kv_u32("", 1).build(), "empty");
}

TEST(GgufReader, RejectsBadTensors) {
  const std::vector<uint8_t> d12 = f32_bytes({1, 2, 3});
  expect_error(GgufBuilder()
                   .tensor("a", GgmlType::F32, {3}, d12)
                   .tensor("a", GgmlType::F32, {3}, d12)
                   .build(),
               "duplicate tensor name 'a'");
  // Offset past the end.
  {
    std::vector<uint8_t> b = GgufBuilder().tensor("a", GgmlType::F32, {3}, d12, 4096).build();
    b.resize(b.size() - 4096 + 64);  // keep the header, drop the data the offset points at
    expect_error(b, "past the end");
  }
  // Misaligned offset.
  expect_error(GgufBuilder().tensor("a", GgmlType::F32, {3}, d12, 8).build(),
               "not a multiple of the alignment");
  // Overlap: b starts inside a.
  expect_error(GgufBuilder()
                   .tensor("a", GgmlType::F32, {16}, std::vector<uint8_t>(64))
                   .tensor("b", GgmlType::F32, {3}, d12, 32)
                   .build(),
               "overlap");
  // Declared size larger than the data present (wrong tensor size): 1000 floats, 12 bytes.
  expect_error(GgufBuilder().tensor("a", GgmlType::F32, {1000}, d12).build(), "'a'");
  // Unknown and removed type ids.
  expect_error(GgufBuilder().tensor_raw_type("a", 4, {32}, std::vector<uint8_t>(32)).build(),
               "unknown ggml type id 4");
  expect_error(GgufBuilder().tensor_raw_type("a", 500, {32}, std::vector<uint8_t>(32)).build(),
               "unknown ggml type");
  // Block size.
  expect_error(GgufBuilder().tensor("q", GgmlType::Q8_0, {48}, std::vector<uint8_t>(64)).build(),
               "block size");
  // Dims.
  expect_error(GgufBuilder().tensor("a", GgmlType::F32, {1, 1, 1, 1, 1}, f32_bytes({1})).build(),
               "5 dims");
  expect_error(GgufBuilder().tensor("a", GgmlType::F32, {}, f32_bytes({1})).build(), "0 dims");
  expect_error(GgufBuilder().tensor("a", GgmlType::F32, {1ll << 40, 1ll << 40}, d12).build(),
               "overflow");
  expect_error(GgufBuilder().tensor(std::string(65, 'x'), GgmlType::F32, {3}, d12).build(),
               "at most 64");
}

TEST(GgufReader, QuantizedTensorSizes) {
  const std::vector<uint8_t> bytes =
      GgufBuilder()
          .tensor("q4k", GgmlType::Q4_K, {512, 2}, std::vector<uint8_t>(4 * 144))
          .tensor("q6k", GgmlType::Q6_K, {256}, std::vector<uint8_t>(210))
          .tensor("q41", GgmlType::Q4_1, {64, 3}, std::vector<uint8_t>(6 * 20))
          .tensor("bf", GgmlType::BF16, {5}, std::vector<uint8_t>(10))
          .build();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->tensor("q4k")->n_bytes, 576u);
  EXPECT_EQ((*f)->tensor("q6k")->n_bytes, 210u);
  EXPECT_EQ((*f)->tensor("q41")->n_bytes, 120u);
  EXPECT_EQ((*f)->tensor("bf")->n_bytes, 10u);
  EXPECT_EQ((*f)->tensor("q6k")->type, GgmlType::Q6_K);
}

}  // namespace
}  // namespace assay

namespace assay {
namespace {

// The file-level errors come from map_file_readonly, shared with the safetensors reader.
TEST(GgufFile, OpenNamesMissingShortAndNonRegularFiles) {
  testing::TempDir dir;
  auto missing = GgufFile::open(dir.file("nope.gguf"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.gguf: no such file"));
  testing::write_text(dir.file("short.gguf"), "GGUF");
  auto short_file = GgufFile::open(dir.file("short.gguf"));
  ASSERT_FALSE(short_file.ok());
  EXPECT_EQ(short_file.status().code(), StatusCode::kCorrupt);
  EXPECT_THAT(std::string(short_file.status().message()),
              HasSubstr("short.gguf: file is 4 bytes, too short for a GGUF file"));
  auto directory = GgufFile::open(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(std::string(directory.status().message()), HasSubstr("not a regular file"));
}

}  // namespace
}  // namespace assay
