// Flat open-addressing lookup tables for the tokenizer's hot paths: token bytes -> id and
// (left id, right id) -> merge. std::unordered_map spent most of encode() chasing nodes
// (benchmarks/tokenizer); these keep keys in one arena and probe linearly over 16-byte slots.
//
// Built once, then read-only: safe for concurrent readers. Not a general container (no
// erase, no iteration); the first insert of a key wins, as the tokenizer wants for duplicates.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace assay {

// A fast 64-bit hash for short byte strings (token pieces are mostly under 16 bytes).
inline uint64_t hash_bytes(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(n) * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

class StringIdIndex {
 public:
  // Sizes the table for n keys; call before insert().
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }

  // Returns false (and keeps the old id) when the key is already present.
  bool insert(std::string_view key, int32_t id) {
    if (slots_.empty() || (size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t h = hash_bytes(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = Slot{static_cast<uint32_t>(h >> 32), static_cast<uint32_t>(key.size()), id,
                 static_cast<uint32_t>(arena_.size())};
        arena_.append(key);
        ++size_;
        return true;
      }
      if (matches(s, h, key)) return false;
    }
  }

  // Id of the key, or -1.
  int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (matches(s, h, key)) return s.id;
    }
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint32_t tag = 0;  // high half of the hash
    uint32_t len = 0;
    int32_t id = -1;   // -1: empty
    uint32_t off = 0;  // key bytes at arena_[off, off + len)
  };

  bool matches(const Slot& s, uint64_t h, std::string_view key) const {
    return s.tag == static_cast<uint32_t>(h >> 32) && s.len == key.size() &&
           std::memcmp(arena_.data() + s.off, key.data(), key.size()) == 0;
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    reserve(old.empty() ? 8 : old.size());
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      const uint64_t h = hash_bytes(std::string_view(arena_.data() + s.off, s.len));
      size_t i = h & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
  std::string arena_;
};

// (left id, right id) -> {rank, merged id}.
class MergeIndex {
 public:
  struct Merge {
    int32_t rank;
    int32_t id;
  };

  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }

  // Ids are non-negative. Returns false (keeping the first merge) if the pair is present.
  bool insert(int32_t left, int32_t right, Merge m) {
    if ((size_ + 1) * 2 > slots_.size()) {
      std::vector<Slot> old;
      old.swap(slots_);
      reserve(old.empty() ? 8 : old.size());
      for (const Slot& s : old) {
        if (s.key != kEmpty) place(s);
      }
    }
    const uint64_t key = make_key(left, right);
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == kEmpty) {
        slots_[i] = Slot{key, m};
        ++size_;
        return true;
      }
      if (slots_[i].key == key) return false;
    }
  }

  // The merge of the pair, or nullptr.
  const Merge* find(int32_t left, int32_t right) const {
    if (size_ == 0) return nullptr;
    const uint64_t key = make_key(left, right);
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }

  bool empty() const { return size_ == 0; }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{-1, -1};
  };

  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t slot_of(uint64_t key) const {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (h ^ (h >> 29)) & mask_;
  }
  void place(const Slot& s) {
    size_t i = slot_of(s.key);
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = s;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace assay
