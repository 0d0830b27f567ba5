#include "engines/local/ggml_types.h"

#include <array>
#include <cstring>

namespace assay {
namespace {

// Block sizes from ggml src/ggml-common.h (each struct there has a size static_assert).
constexpr int kMaxTypeId = 40;
struct Entry {
  bool defined;
  GgmlTypeTraits traits;
};

constexpr std::array<Entry, kMaxTypeId> make_table() {
  std::array<Entry, kMaxTypeId> t{};
  auto set = [&t](uint32_t id, std::string_view name, int64_t be, int64_t bb, bool sup) {
    t[id] = Entry{true, GgmlTypeTraits{name, be, bb, sup}};
  };
  set(0, "F32", 1, 4, true);
  set(1, "F16", 1, 2, true);
  set(2, "Q4_0", 32, 18, true);
  set(3, "Q4_1", 32, 20, true);
  set(6, "Q5_0", 32, 22, false);
  set(7, "Q5_1", 32, 24, false);
  set(8, "Q8_0", 32, 34, true);
  set(9, "Q8_1", 32, 36, false);
  set(10, "Q2_K", 256, 84, false);
  set(11, "Q3_K", 256, 110, false);
  set(12, "Q4_K", 256, 144, true);
  set(13, "Q5_K", 256, 176, true);
  set(14, "Q6_K", 256, 210, true);
  set(15, "Q8_K", 256, 292, false);
  set(16, "IQ2_XXS", 256, 66, false);
  set(17, "IQ2_XS", 256, 74, false);
  set(18, "IQ3_XXS", 256, 98, false);
  set(19, "IQ1_S", 256, 50, false);
  set(20, "IQ4_NL", 32, 18, false);
  set(21, "IQ3_S", 256, 110, false);
  set(22, "IQ2_S", 256, 82, false);
  set(23, "IQ4_XS", 256, 136, false);
  set(24, "I8", 1, 1, false);
  set(25, "I16", 1, 2, false);
  set(26, "I32", 1, 4, false);
  set(27, "I64", 1, 8, false);
  set(28, "F64", 1, 8, false);
  set(29, "IQ1_M", 256, 56, false);
  set(30, "BF16", 1, 2, true);
  set(34, "TQ1_0", 256, 54, false);
  set(35, "TQ2_0", 256, 66, false);
  set(39, "MXFP4", 32, 17, false);
  return t;
}

constexpr std::array<Entry, kMaxTypeId> kTable = make_table();

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

}  // namespace

const GgmlTypeTraits* ggml_type_traits(uint32_t type_id) {
  if (type_id >= kTable.size() || !kTable[type_id].defined) return nullptr;
  return &kTable[type_id].traits;
}

std::string_view ggml_type_name(GgmlType type) {
  const GgmlTypeTraits* t = ggml_type_traits(type);
  if (t != nullptr) return t->name;
  return "unknown-type";
}

int64_t ggml_row_bytes(GgmlType type, int64_t n) {
  const GgmlTypeTraits* t = ggml_type_traits(type);
  if (t == nullptr || n < 0 || n % t->block_elems != 0) return -1;
  return n / t->block_elems * t->block_bytes;
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      // Subnormal: renormalize into a binary32 normal.
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3FFu) << 13;
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t exp = (x >> 23) & 0xFFu;
  uint32_t mant = x & 0x7FFFFFu;
  if (exp == 0xFF) return sign | 0x7C00u | (mant != 0 ? 0x200u : 0u);  // inf / quiet NaN
  const int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 0x1F) return sign | 0x7C00u;  // overflow to inf
  if (e <= 0) {
    if (e < -10) return sign;  // underflows to zero even after rounding
    mant |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t half = static_cast<uint32_t>(e) << 10 | mant >> 13;
  const uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into inf: correct
  return sign | static_cast<uint16_t>(half);
}

float bf16_to_fp32(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 64);  // quiet NaN
  return static_cast<uint16_t>((x + (0x7FFFu + ((x >> 16) & 1u))) >> 16);
}

bool dequantize_row_reference(GgmlType type, const uint8_t* src, float* dst, int64_t n) {
  if (ggml_row_bytes(type, n) < 0) return false;
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return true;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_u16(src + 2 * i));
      return true;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_u16(src + 2 * i));
      return true;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = src + b * 34;
        const float d = fp16_to_fp32(load_u16(blk));
        for (int j = 0; j < 32; ++j) dst[b * 32 + j] = static_cast<int8_t>(blk[2 + j]) * d;
      }
      return true;
    case GgmlType::Q4_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = src + b * 18;
        const float d = fp16_to_fp32(load_u16(blk));
        for (int j = 0; j < 16; ++j) {
          dst[b * 32 + j] = static_cast<float>((blk[2 + j] & 0x0F) - 8) * d;
          dst[b * 32 + j + 16] = static_cast<float>((blk[2 + j] >> 4) - 8) * d;
        }
      }
      return true;
    case GgmlType::Q4_1:
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = src + b * 20;
        const float d = fp16_to_fp32(load_u16(blk));
        const float m = fp16_to_fp32(load_u16(blk + 2));
        for (int j = 0; j < 16; ++j) {
          dst[b * 32 + j] = static_cast<float>(blk[4 + j] & 0x0F) * d + m;
          dst[b * 32 + j + 16] = static_cast<float>(blk[4 + j] >> 4) * d + m;
        }
      }
      return true;
    default:
      return false;
  }
}

}  // namespace assay
