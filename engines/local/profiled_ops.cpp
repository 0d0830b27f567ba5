#include "engines/local/profiled_ops.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace assay {

ProfiledOps::~ProfiledOps() {
  if (print_on_destroy_ && !stats_.empty()) std::fputs(table().c_str(), stderr);
}

template <class F>
void ProfiledOps::timed(const std::string& key, F&& f) {
  inner_->synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  inner_->synchronize();
  Stat& s = stats_[key];
  ++s.calls;
  s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string ProfiledOps::table() const {
  std::vector<std::pair<std::string, Stat>> rows(stats_.begin(), stats_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0;
  for (const auto& r : rows) total += r.second.seconds;
  std::string out = "ops profile (" + std::string(inner_->name()) +
                    "; each op timed alone, the backend synchronized around it):\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-46s %9s %11s %10s %6s\n", "op", "calls", "total ms", "us/call", "share");
  out += line;
  for (const auto& [key, s] : rows) {
    std::snprintf(line, sizeof line, "  %-46s %9lld %11.2f %10.1f %5.1f%%\n", key.c_str(),
                  static_cast<long long>(s.calls), s.seconds * 1e3, s.seconds * 1e6 / static_cast<double>(s.calls),
                  total > 0 ? 100.0 * s.seconds / total : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof line, "  %-46s %9s %11.2f\n", "total", "", total * 1e3);
  out += line;
  return out;
}

void ProfiledOps::upload(void* dst, const void* src, size_t bytes) {
  timed("upload", [&] { inner_->upload(dst, src, bytes); });
}
void ProfiledOps::download(void* dst, const void* src, size_t bytes) {
  timed("download", [&] { inner_->download(dst, src, bytes); });
}
void ProfiledOps::fill_zero(void* dst, size_t bytes) {
  timed("fill_zero", [&] { inner_->fill_zero(dst, bytes); });
}
void ProfiledOps::embed(const TensorRef& table, std::span<const int32_t> ids, float* out, int64_t out_stride) {
  timed("embed", [&] { inner_->embed(table, ids, out, out_stride); });
}
void ProfiledOps::rms_norm(const float* x, const float* weight, float* out, int64_t n_rows, int64_t n, float eps) {
  timed("rms_norm", [&] { inner_->rms_norm(x, weight, out, n_rows, n, eps); });
}
void ProfiledOps::matmul(const float* x, int64_t n_tokens, const TensorRef& w, const float* bias, float* out,
                         int64_t x_stride, int64_t out_stride) {
  const char* batch = n_tokens <= 4 ? "1-4 tokens" : n_tokens <= 64 ? "5-64 tokens" : "65+ tokens";
  const std::string key = "matmul " + std::to_string(w.ne1) + "x" + std::to_string(w.ne0) + " " +
                          std::string(ggml_type_name(w.type)) + " (" + batch + ")";
  timed(key, [&] { inner_->matmul(x, n_tokens, w, bias, out, x_stride, out_stride); });
}
void ProfiledOps::rope(float* x, int64_t n_tokens, int n_head, int head_dim, std::span<const int32_t> positions,
                       const RopeParams& p, int64_t x_stride) {
  timed("rope", [&] { inner_->rope(x, n_tokens, n_head, head_dim, positions, p, x_stride); });
}
void ProfiledOps::store_rows(const float* src, std::span<const int32_t> rows, MutableTensorRef dst,
                             int64_t src_stride) {
  timed("store_rows", [&] { inner_->store_rows(src, rows, dst, src_stride); });
}
void ProfiledOps::attention(const float* q, const TensorRef& k_cache, const TensorRef& v_cache,
                            const AttentionLayout& layout, const AttentionParams& p, float* out, int64_t q_stride,
                            int64_t out_stride) {
  timed("attention", [&] { inner_->attention(q, k_cache, v_cache, layout, p, out, q_stride, out_stride); });
}
void ProfiledOps::swiglu(const float* gate, const float* up, float* out, int64_t n_rows, int64_t n,
                         int64_t gate_stride, int64_t up_stride, int64_t out_stride) {
  timed("swiglu", [&] { inner_->swiglu(gate, up, out, n_rows, n, gate_stride, up_stride, out_stride); });
}
void ProfiledOps::add(const float* a, const float* b, float* out, int64_t n) {
  timed("add", [&] { inner_->add(a, b, out, n); });
}
void ProfiledOps::gather_rows(const float* src, int64_t src_stride, std::span<const int32_t> rows, int64_t width,
                              float* dst) {
  timed("gather_rows", [&] { inner_->gather_rows(src, src_stride, rows, width, dst); });
}
void ProfiledOps::token_logprobs(const float* logits, int64_t n_rows, int64_t n_vocab,
                                 std::span<const int32_t> targets, float* logprob, int32_t* argmax,
                                 float* logsumexp) {
  timed("token_logprobs", [&] { inner_->token_logprobs(logits, n_rows, n_vocab, targets, logprob, argmax, logsumexp); });
}
void ProfiledOps::sample_tokens(const float* logits, int64_t n_rows, int64_t n_vocab, std::span<const SampleRow> rows,
                                int32_t* out) {
  timed("sample_tokens", [&] { inner_->sample_tokens(logits, n_rows, n_vocab, rows, out); });
}

}  // namespace assay
