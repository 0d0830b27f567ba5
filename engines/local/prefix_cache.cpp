#include "engines/local/prefix_cache.h"

#include <algorithm>

#include "harness/status.h"

namespace assay {

PrefixCache::PrefixCache(int32_t n_rows) : n_rows_(n_rows) {
  ASSAY_CHECK(n_rows > 0);
  nodes_.push_back(Node{});
  nodes_[0].alive = true;
  free_.reserve(n_rows);
  for (int32_t r = n_rows - 1; r >= 0; --r) free_.push_back(r);
}

std::vector<int32_t> PrefixCache::match(std::span<const int32_t> tokens) {
  std::vector<int32_t> out;
  int32_t cur = kRoot;
  ++clock_;
  for (int32_t t : tokens) {
    auto it = children_.find(key(cur, t));
    if (it == children_.end()) break;
    cur = it->second;
    nodes_[cur].last_used = clock_;
    out.push_back(cur);
  }
  return out;
}

int32_t PrefixCache::child(int32_t parent, int32_t token, bool* created) {
  auto it = children_.find(key(parent, token));
  if (it != children_.end()) {
    *created = false;
    nodes_[it->second].last_used = ++clock_;
    return it->second;
  }
  if (free_.empty() && !evict_some(std::max<int32_t>(1, n_rows_ / 16))) return -1;
  int32_t id;
  if (!free_nodes_.empty()) {
    id = free_nodes_.back();
    free_nodes_.pop_back();
  } else {
    id = static_cast<int32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& n = nodes_[id];
  n = Node{};
  n.token = token;
  n.parent = parent;
  n.depth = nodes_[parent].depth + 1;
  n.row = free_.back();
  free_.pop_back();
  n.last_used = ++clock_;
  n.alive = true;
  nodes_[parent].n_children++;
  children_[key(parent, token)] = id;
  *created = true;
  return id;
}

void PrefixCache::pin(int32_t node) {
  if (nodes_[node].pins++ == 0) ++pinned_rows_;
}

void PrefixCache::unpin(int32_t node) {
  ASSAY_CHECK(nodes_[node].pins > 0);
  if (--nodes_[node].pins == 0) --pinned_rows_;
}

void PrefixCache::path_rows(int32_t node, std::vector<int32_t>* rows) const {
  size_t start = rows->size();
  for (int32_t n = node; n != kRoot; n = nodes_[n].parent) rows->push_back(nodes_[n].row);
  std::reverse(rows->begin() + static_cast<std::ptrdiff_t>(start), rows->end());
}

void PrefixCache::remove(int32_t id) {
  Node& n = nodes_[id];
  children_.erase(key(n.parent, n.token));
  nodes_[n.parent].n_children--;
  free_.push_back(n.row);
  n.alive = false;
  free_nodes_.push_back(id);
  ++evictions_;
}

void PrefixCache::discard(int32_t id) {
  const Node& n = nodes_[id];
  if (id == kRoot || !n.alive || n.n_children != 0 || n.pins != 0) return;
  remove(id);
  --evictions_;
}

bool PrefixCache::evict_some(int32_t want) {
  // Evict unpinned leaves, least recently used first; a parent whose last child goes becomes a
  // leaf and may follow in the next round.
  int32_t freed = 0;
  while (freed < want) {
    std::vector<std::pair<uint64_t, int32_t>> leaves;
    for (int32_t i = 1; i < static_cast<int32_t>(nodes_.size()); ++i) {
      const Node& n = nodes_[i];
      if (n.alive && n.n_children == 0 && n.pins == 0) leaves.emplace_back(n.last_used, i);
    }
    if (leaves.empty()) break;
    std::sort(leaves.begin(), leaves.end());
    for (const auto& [t, id] : leaves) {
      if (freed >= want) break;
      remove(id);
      ++freed;
    }
  }
  return !free_.empty();
}

}  // namespace assay
