// PrefixCache: which KV-cache rows hold which token prefixes. Plain bookkeeping, no compute
// (the scheduler half of the engine, as vLLM separates scheduler from model runner).
//
// The cache is a trie of tokens: a node is "token t at position p after this exact prefix" and
// owns one KV row (the keys/values of that token in every layer). A sequence of tokens walks the
// trie; the matched part is reused, the rest gets new nodes whose rows the engine must compute.
// So the context of a multiple-choice question is computed once for all its options, and a
// few-shot header shared by many questions stays computed while it is in the cache.
//
// Memory is bounded by the number of rows. Rows are reclaimed from least-recently-used leaves
// that are not pinned; nodes on the path of a sequence being computed are pinned by the caller.
//
// Thread safety: not thread-safe; the engine drives it from one thread.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace assay {

class PrefixCache {
 public:
  static constexpr int32_t kRoot = 0;

  explicit PrefixCache(int32_t n_rows);

  int32_t capacity() const { return n_rows_; }
  int32_t free_rows() const { return static_cast<int32_t>(free_.size()); }
  // Rows held by pinned nodes; every other row can be had (free, or by evicting a leaf).
  int32_t pinned_rows() const { return pinned_rows_; }

  // Walks `tokens` from the root; returns the node ids of the matched prefix (may be empty) and
  // touches them (LRU).
  std::vector<int32_t> match(std::span<const int32_t> tokens);

  // Child of `parent` for `token`, creating it if needed (allocating a row, evicting unpinned
  // LRU leaves if needed). *created says whether it is new (its KV row must be computed).
  // Returns -1 when no row can be freed (everything pinned).
  int32_t child(int32_t parent, int32_t token, bool* created);

  // Takes out a node that was created but never computed (an admission that did not fit):
  // it must be an unpinned leaf. Not counted as an eviction.
  void discard(int32_t node);

  void pin(int32_t node);
  void unpin(int32_t node);

  int32_t row(int32_t node) const { return nodes_[node].row; }
  int32_t position(int32_t node) const { return nodes_[node].depth - 1; }
  int32_t token(int32_t node) const { return nodes_[node].token; }
  int32_t parent(int32_t node) const { return nodes_[node].parent; }
  // Rows of the path root→node, in position order.
  void path_rows(int32_t node, std::vector<int32_t>* rows) const;

  int64_t evictions() const { return evictions_; }
  int32_t live_nodes() const { return static_cast<int32_t>(nodes_.size() - free_nodes_.size()) - 1; }

 private:
  struct Node {
    int32_t token = -1;
    int32_t parent = -1;
    int32_t depth = 0;  // root 0; a token at position p has depth p + 1
    int32_t row = -1;
    int32_t pins = 0;
    int32_t n_children = 0;
    uint64_t last_used = 0;
    bool alive = false;
  };
  static uint64_t key(int32_t parent, int32_t token) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(parent)) << 32) | static_cast<uint32_t>(token);
  }
  bool evict_some(int32_t want);
  void remove(int32_t node);

  int32_t n_rows_;
  std::vector<Node> nodes_;
  std::vector<int32_t> free_nodes_;
  std::vector<int32_t> free_;  // free rows
  std::unordered_map<uint64_t, int32_t> children_;
  uint64_t clock_ = 0;
  int64_t evictions_ = 0;
  int32_t pinned_rows_ = 0;
};

}  // namespace assay
