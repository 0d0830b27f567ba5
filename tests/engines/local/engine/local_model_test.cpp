// The engine's numbers against independent references: a float64 numpy forward pass
// (scripts/fixtures/tiny_llama_reference.py) on tiny random models in the HF layout, the same
// weights written as GGUF, and batch/order independence on the real default model.
#include "engines/local/local_model.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "engines/local/cpu/cpu_ops.h"
#include "engines/local/llama_forward.h"
#include "engines/local/profiled_ops.h"
#include "harness/model_spec.h"
#include "tests/support/default_model.h"
#include "tests/support/test_env.h"
#include "tests/support/tiny_model_writer.h"

namespace assay {
namespace {

std::string testdata(const std::string& name) {
  return testing::source_dir() + "/tests/engines/local/engine/testdata/" + name;
}

std::unique_ptr<LocalModel> load(const std::string& path, LocalModelOptions o = {}) {
  o.require_tokenizer = false;
  o.kv_type = GgmlType::F32;
  auto m = LocalModel::load(path, "local:" + path, std::make_unique<CpuOps>(), o);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

class NumpyReference : public ::testing::TestWithParam<const char*> {};

TEST_P(NumpyReference, LogprobsAgreeToRelativeError1e4) {
  std::string dir = testdata(GetParam());
  auto model = load(dir);
  ASSERT_NE(model, nullptr);
  simdjson::dom::parser parser;
  simdjson::dom::element ref = parser.load(dir + "/reference.json");
  std::vector<int32_t> tokens;
  for (int64_t t : ref["tokens"].get_array()) tokens.push_back(static_cast<int32_t>(t));
  std::vector<std::vector<double>> lp;
  for (simdjson::dom::element row : ref["logprobs"].get_array()) {
    std::vector<double> r;
    for (double x : row.get_array()) r.push_back(x);
    lp.push_back(r);
  }
  // Every prefix's full distribution.
  for (size_t n = 1; n <= tokens.size(); ++n) {
    auto logits = model->last_logits(std::span<const int32_t>(tokens.data(), n));
    ASSERT_TRUE(logits.ok());
    double mx = -1e30, z = 0;
    for (float v : *logits) mx = std::max<double>(mx, v);
    for (float v : *logits) z += std::exp(v - mx);
    for (size_t v = 0; v < logits->size(); ++v) {
      double got = (*logits)[v] - mx - std::log(z);
      double want = lp[n - 1][v];
      ASSERT_NEAR(got, want, 1e-4 * std::max(1.0, std::abs(want))) << "position " << n - 1 << " token " << v;
    }
  }
  // And the scoring path.
  TokenScoreItem item{tokens, 1, true};
  auto s = model->score_tokens(std::span<const TokenScoreItem>(&item, 1));
  ASSERT_TRUE(s[0].ok());
  double want_sum = 0;
  for (size_t p = 1; p < tokens.size(); ++p) {
    want_sum += lp[p - 1][tokens[p]];
    EXPECT_NEAR(s[0]->token_logprobs[p - 1], lp[p - 1][tokens[p]], 1e-4 * std::max(1.0, std::abs(lp[p - 1][tokens[p]])));
  }
  EXPECT_NEAR(s[0]->logprob, want_sum, 1e-4 * std::abs(want_sum));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, NumpyReference,
                         ::testing::Values("llama_gqa", "llama3_scaled_tied", "qwen2_bias", "llama_long"));

TEST(LocalModel, SameWeightsAsHfFolderAndGgufGiveTheSameLogits) {
  testing::TempDir tmp;
  for (bool llama3 : {false, true}) {
    TinyModelSpec spec;
    spec.llama3_rope_scaling = llama3;
    spec.seed = llama3 ? 7 : 3;
    ASSERT_TRUE(write_tiny_hf_model(spec, tmp.file(llama3 ? "hf3" : "hf")).ok());
    ASSERT_TRUE(write_tiny_gguf_model(spec, tmp.file(llama3 ? "m3.gguf" : "m.gguf")).ok());
    auto hf = load(tmp.file(llama3 ? "hf3" : "hf"));
    auto gg = load(tmp.file(llama3 ? "m3.gguf" : "m.gguf"));
    ASSERT_TRUE(hf && gg);
    std::vector<int32_t> toks = {1, 4, 9, 16, 25, 36, 49, 64, 81, 3, 5, 7, 11, 13, 17, 19, 23, 29};
    for (size_t n : {size_t{1}, size_t{5}, toks.size()}) {
      auto a = hf->last_logits(std::span<const int32_t>(toks.data(), n));
      auto b = gg->last_logits(std::span<const int32_t>(toks.data(), n));
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(a->size(), b->size());
      for (size_t v = 0; v < a->size(); ++v) {
        ASSERT_NEAR((*a)[v], (*b)[v], 1e-4 * std::max(1.0f, std::abs((*a)[v]))) << n << " " << v;
      }
    }
  }
}

// precision=f32 (CpuOps f32_compute + F32 KV): a quantized file gives exactly the logits of its
// float twin (the same weights quantized and decoded back, written as F32), which is what a
// float reference reading the quantized file computes; the default 8-bit-activation path does not.
TEST(LocalModel, F32ComputeOnAQuantizedFileEqualsItsFloatTwin) {
  testing::TempDir tmp;
  for (GgmlType q : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    TinyModelSpec spec;
    spec.seed = 11;
    spec.gguf_type = q;
    ASSERT_TRUE(write_tiny_gguf_model(spec, tmp.file("q.gguf")).ok());
    spec.gguf_type = GgmlType::F32;
    spec.round_through = q;
    ASSERT_TRUE(write_tiny_gguf_model(spec, tmp.file("twin.gguf")).ok());
    LocalModelOptions o;
    o.require_tokenizer = false;
    o.kv_type = GgmlType::F32;
    CpuOpsOptions f32;
    f32.f32_compute = true;
    auto quant_f32 = LocalModel::load(tmp.file("q.gguf"), "q", std::make_unique<CpuOps>(f32), o);
    auto quant_default = LocalModel::load(tmp.file("q.gguf"), "q", std::make_unique<CpuOps>(), o);
    auto twin = LocalModel::load(tmp.file("twin.gguf"), "twin", std::make_unique<CpuOps>(), o);
    ASSERT_TRUE(quant_f32.ok() && quant_default.ok() && twin.ok());
    EXPECT_NE((*quant_f32)->info().identity, (*quant_default)->info().identity)
        << "two numerics share one request-cache identity";
    EXPECT_NE((*quant_f32)->info().identity.find("|cpu-avx2-f32|kv=F32"), std::string::npos)
        << (*quant_f32)->info().identity;
    std::vector<int32_t> toks = {1, 4, 9, 16, 25, 36, 49, 64, 81, 3, 5, 7, 11, 13, 17, 19, 23, 29};
    double max_default_diff = 0;
    for (size_t n : {size_t{1}, size_t{7}, toks.size()}) {
      std::span<const int32_t> prefix(toks.data(), n);
      auto a = (*quant_f32)->last_logits(prefix);
      auto b = (*twin)->last_logits(prefix);
      auto c = (*quant_default)->last_logits(prefix);
      ASSERT_TRUE(a.ok() && b.ok() && c.ok());
      ASSERT_EQ(*a, *b) << "n=" << n;
      for (size_t v = 0; v < c->size(); ++v)
        max_default_diff = std::max(max_default_diff, std::fabs(double((*c)[v]) - (*b)[v]));
    }
    EXPECT_GT(max_default_diff, 0.0) << "the 8-bit-activation path should differ from the twin";
  }
}

TEST(LocalModel, ProfiledOpsForwardsEveryOpAndCountsIt) {
  testing::TempDir tmp;
  TinyModelSpec spec;
  ASSERT_TRUE(write_tiny_gguf_model(spec, tmp.file("m.gguf")).ok());
  LocalModelOptions o;
  o.require_tokenizer = false;
  auto plain = LocalModel::load(tmp.file("m.gguf"), "tiny", std::make_unique<CpuOps>(), o);
  auto wrapped = std::make_unique<ProfiledOps>(std::make_unique<CpuOps>());
  ProfiledOps* prof = wrapped.get();
  auto profiled = LocalModel::load(tmp.file("m.gguf"), "tiny", std::move(wrapped), o);
  ASSERT_TRUE(plain.ok() && profiled.ok());
  prof->reset();  // loading's uploads and cache clearing
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5};
  auto a = (*plain)->last_logits(prompt);
  auto b = (*profiled)->last_logits(prompt);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);  // bit for bit: the wrapper only forwards
  const auto& st = prof->stats();
  ASSERT_TRUE(st.count("attention"));
  EXPECT_EQ(st.at("attention").calls, spec.n_layer);
  int64_t matmuls = 0;
  for (const auto& [k, v] : st)
    if (k.rfind("matmul ", 0) == 0) matmuls += v.calls;
  EXPECT_GE(matmuls, 4 * spec.n_layer + 1);  // attention in/out and the FFN per layer, the output
  EXPECT_NE(prof->table().find("attention"), std::string::npos);
}

// An Ops that records like a CUDA graph: between begin_graph and end_graph every op is kept
// (with copies of its host lists, as the CUDA backend stages them) and runs only at end_graph,
// or is dropped when end_graph reports a failed recording (every fail_every-th one). A memory
// call or a read of results while recording breaks Ops' contract and is counted; so are the
// bytes of the distinct host lists a recording hands over (as CudaOps stages them, each rounded
// to 256 bytes), which must stay within begin_graph's stage_bytes.
class RecordingOps final : public Ops {
 public:
  explicit RecordingOps(int fail_every, CpuOpsOptions o = {}) : cpu_(o), fail_every_(fail_every) {}
  int64_t begun = 0, launched = 0, dropped = 0, max_tokens = 0, calls_while_recording = 0;
  size_t stage_bytes = 0;
  bool staged_within_bound = true;

  std::string_view name() const override { return cpu_.name(); }
  bool supports_type(GgmlType t) const override { return cpu_.supports_type(t); }
  void* alloc(size_t b) override {
    calls_while_recording += recording_;
    return cpu_.alloc(b);
  }
  void free(void* p) override {
    calls_while_recording += recording_;
    cpu_.free(p);
  }
  void upload(void* d, const void* s, size_t b) override {
    calls_while_recording += recording_;
    cpu_.upload(d, s, b);
  }
  void download(void* d, const void* s, size_t b) override {
    calls_while_recording += recording_;
    cpu_.download(d, s, b);
  }
  void fill_zero(void* d, size_t b) override {
    calls_while_recording += recording_;
    cpu_.fill_zero(d, b);
  }
  void synchronize() override { calls_while_recording += recording_; }
  bool host_memory_is_device() const override { return true; }

  void embed(const TensorRef& t, std::span<const int32_t> ids, float* out, int64_t os) override {
    staged(ids.data(), ids.size());
    act([=, this, v = copy(ids)] { cpu_.embed(t, v, out, os); });
  }
  void rms_norm(const float* x, const float* w, float* out, int64_t nr, int64_t n, float eps) override {
    act([=, this] { cpu_.rms_norm(x, w, out, nr, n, eps); });
  }
  void matmul(const float* x, int64_t nt, const TensorRef& w, const float* b, float* out, int64_t xs,
              int64_t os) override {
    act([=, this] { cpu_.matmul(x, nt, w, b, out, xs, os); });
  }
  void rope(float* x, int64_t nt, int nh, int hd, std::span<const int32_t> pos, const RopeParams& p,
            int64_t xs) override {
    staged(pos.data(), pos.size());
    act([=, this, v = copy(pos)] { cpu_.rope(x, nt, nh, hd, v, p, xs); });
  }
  void store_rows(const float* src, std::span<const int32_t> rows, MutableTensorRef dst, int64_t ss) override {
    staged(rows.data(), rows.size());
    act([=, this, v = copy(rows)] { cpu_.store_rows(src, v, dst, ss); });
  }
  void attention(const float* q, const TensorRef& k, const TensorRef& v, const AttentionLayout& l,
                 const AttentionParams& p, float* out, int64_t qs, int64_t os) override {
    // CudaOps' one block: rows, offsets, token_seq, token_n_kv and a token list (<= n_tokens).
    staged(l.rows.data(), l.rows.size() + l.seq_offsets.size() + 3 * l.token_seq.size());
    act([=, this, r = copy(l.rows), so = copy(l.seq_offsets), ts = copy(l.token_seq), nk = copy(l.token_n_kv)] {
      cpu_.attention(q, k, v, AttentionLayout{r, so, ts, nk}, p, out, qs, os);
    });
  }
  void swiglu(const float* g, const float* u, float* out, int64_t nr, int64_t n, int64_t gs, int64_t us,
              int64_t os) override {
    act([=, this] { cpu_.swiglu(g, u, out, nr, n, gs, us, os); });
  }
  void add(const float* a, const float* b, float* out, int64_t n) override {
    act([=, this] { cpu_.add(a, b, out, n); });
  }
  void gather_rows(const float* src, int64_t ss, std::span<const int32_t> rows, int64_t w, float* dst) override {
    act([=, this, v = copy(rows)] { cpu_.gather_rows(src, ss, v, w, dst); });
  }
  void token_logprobs(const float* l, int64_t nr, int64_t nv, std::span<const int32_t> t, float* lp,
                      int32_t* am, float* lse) override {
    calls_while_recording += recording_;
    cpu_.token_logprobs(l, nr, nv, t, lp, am, lse);
  }
  void sample_tokens(const float* l, int64_t nr, int64_t nv, std::span<const SampleRow> rows, int32_t* out) override {
    calls_while_recording += recording_;
    cpu_.sample_tokens(l, nr, nv, rows, out);
  }

  bool begin_graph(int64_t n_tokens, size_t bytes) override {
    EXPECT_FALSE(recording_);
    if (n_tokens > 4) return false;
    ++begun;
    max_tokens = std::max(max_tokens, n_tokens);
    stage_bytes = bytes;
    recording_ = true;
    lists_.clear();
    return true;
  }
  bool end_graph() override {
    EXPECT_TRUE(recording_);
    recording_ = false;
    std::vector<std::function<void()>> ops;
    ops.swap(recorded_);
    if (fail_every_ > 0 && begun % fail_every_ == 0) {
      ++dropped;
      return false;
    }
    for (auto& f : ops) f();
    ++launched;
    return true;
  }

 private:
  static std::vector<int32_t> copy(std::span<const int32_t> s) { return {s.begin(), s.end()}; }
  // A list handed over while recording, identified by its host address (as CudaOps keys them).
  void staged(const int32_t* p, size_t n) {
    if (!recording_ || !lists_.insert({p, n}).second) return;
    size_t total = 0;
    for (const auto& [q, m] : lists_) total += (m * sizeof(int32_t) + 255) & ~size_t{255};
    if (total > stage_bytes) staged_within_bound = false;
  }
  std::set<std::pair<const int32_t*, size_t>> lists_;
  void act(std::function<void()> f) {
    if (recording_) {
      recorded_.push_back(std::move(f));
    } else {
      f();
    }
  }
  CpuOps cpu_;
  int fail_every_;
  bool recording_ = false;
  std::vector<std::function<void()>> recorded_;
};

// Decode steps offered to a recording backend (CUDA graphs): the forward pass is recorded,
// runs at end_graph, and runs again as plain ops when a recording is dropped; nothing reads
// results while recording. Greedy and seeded generation and the step's logits stay bit for bit
// those of the plain backend, with every 3rd recording dropped and with none.
TEST(LocalModel, RecordedDecodeStepsGiveTheSameResults) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto plain = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>())).value();
  std::vector<GenerateRequest> g = greedy_and_sampled_requests(24);
  g.emplace_back();
  g[2].context = "Water boils at";
  g[2].params.max_gen_toks = 12;
  auto want = plain->generate_until(g);
  // A long context: its layout (one row per position) outweighs the bound's slack.
  std::string story;
  for (int i = 0; i < 80; ++i) story += "Once upon a time, in a small village by the sea, ";
  const std::vector<int32_t> prompt = plain->tokenizer().encode(story, true, false);
  ASSERT_GT(prompt.size(), 900u);
  std::vector<int32_t> seq = prompt;
  std::vector<std::vector<float>> want_logits;
  for (int step = 0; step < 6; ++step) {  // one new token per call: the decode path
    auto l = plain->last_logits(seq);
    ASSERT_TRUE(l.ok());
    want_logits.push_back(*l);
    seq.push_back(static_cast<int32_t>(std::max_element(l->begin(), l->end()) - l->begin()));
  }
  for (int fail_every : {0, 3}) {
    auto wrapped = std::make_unique<RecordingOps>(fail_every);
    RecordingOps* rec = wrapped.get();
    auto m = std::move(LocalModel::load(*path, "default", std::move(wrapped))).value();
    auto got = m->generate_until(g);
    for (size_t i = 0; i < g.size(); ++i) {
      ASSERT_TRUE(want[i].ok() && got[i].ok());
      EXPECT_EQ(got[i]->text, want[i]->text) << "fail_every " << fail_every << ", request " << i;
    }
    seq = prompt;
    for (int step = 0; step < 6; ++step) {
      auto l = m->last_logits(seq);
      ASSERT_TRUE(l.ok());
      EXPECT_EQ(*l, want_logits[static_cast<size_t>(step)]) << "fail_every " << fail_every << ", step " << step;
      seq.push_back(static_cast<int32_t>(std::max_element(l->begin(), l->end()) - l->begin()));
    }
    EXPECT_GE(rec->begun, 24) << fail_every;  // the decode steps; prompts (> 4 tokens) run as ops
    EXPECT_EQ(rec->launched + rec->dropped, rec->begun);
    EXPECT_LE(rec->max_tokens, 4);
    EXPECT_EQ(rec->dropped, fail_every ? rec->begun / fail_every : 0);
    EXPECT_EQ(rec->calls_while_recording, 0);
    EXPECT_TRUE(rec->staged_within_bound) << fail_every;
  }
}

// Where weights are copied (a GPU), Q|K|V and gate|up are stacked into one matrix each and
// computed by one matmul; on CpuOps made to copy weights the logits stay bit for bit the same,
// for every weight type, and with qwen2's Q/K/V biases.
TEST(LocalModel, StackedProjectionsGiveTheSameLogits) {
  testing::TempDir tmp;
  std::vector<std::pair<std::string, TinyModelSpec>> models;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
    TinyModelSpec spec;
    spec.gguf_type = t;
    models.emplace_back(tmp.file("m_" + std::string(ggml_type_name(t)) + ".gguf"), spec);
    ASSERT_TRUE(write_tiny_gguf_model(spec, models.back().first).ok());
  }
  TinyModelSpec qwen;
  qwen.arch = "qwen2";
  models.emplace_back(tmp.file("qwen_hf"), qwen);
  ASSERT_TRUE(write_tiny_hf_model(qwen, models.back().first).ok());
  for (const auto& [path, spec] : models) {
    LocalModelOptions o;
    o.require_tokenizer = false;
    CpuOpsOptions copy;
    copy.copy_weights = true;
    auto plain = LocalModel::load(path, "m", std::make_unique<CpuOps>(), o);
    auto wrapped = std::make_unique<ProfiledOps>(std::make_unique<CpuOps>(copy));
    ProfiledOps* prof = wrapped.get();
    auto stacked = LocalModel::load(path, "m", std::move(wrapped), o);
    ASSERT_TRUE(plain.ok() && stacked.ok()) << path;
    prof->reset();
    const std::vector<int32_t> prompt = {1, 5, 9, 2, 7, 3};
    auto a = (*plain)->logits_range(prompt, 0, 5);
    auto b = (*stacked)->logits_range(prompt, 0, 5);
    ASSERT_TRUE(a.ok() && b.ok()) << path;
    EXPECT_EQ(*a, *b) << path;
    const int64_t hd = spec.n_embd / spec.n_head;
    const std::string qkv = "matmul " + std::to_string((spec.n_head + 2 * spec.n_head_kv) * hd) + "x" +
                            std::to_string(spec.n_embd);
    const std::string gate_up = "matmul " + std::to_string(2 * spec.n_ff) + "x" + std::to_string(spec.n_embd);
    int64_t qkv_calls = 0, gate_up_calls = 0, all = 0;
    for (const auto& [k, v] : prof->stats()) {
      if (k.rfind(qkv, 0) == 0) qkv_calls += v.calls;
      if (k.rfind(gate_up, 0) == 0) gate_up_calls += v.calls;
      if (k.rfind("matmul ", 0) == 0) all += v.calls;
    }
    EXPECT_EQ(qkv_calls, spec.n_layer) << path;
    EXPECT_EQ(gate_up_calls, spec.n_layer) << path;
    EXPECT_EQ(all, 4 * spec.n_layer + 1) << path;  // qkv, out, gate|up, down per layer; output
  }
}

// The same on the real model through generation (decode steps, greedy and seeded sampling).
TEST(LocalModel, StackedProjectionsGenerateTheSameText) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  CpuOpsOptions copy;
  copy.copy_weights = true;
  auto plain = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>())).value();
  auto stacked = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>(copy))).value();
  std::vector<GenerateRequest> g = greedy_and_sampled_requests(16);
  auto a = plain->generate_until(g);
  auto b = stacked->generate_until(g);
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_TRUE(a[i].ok() && b[i].ok());
    EXPECT_EQ(a[i]->text, b[i]->text) << i;
    EXPECT_EQ(a[i]->usage.completion_tokens, 16) << i;
  }
}

// Batching, order, n_batch and thread count must not change any result (bit for bit).
// On a backend that reports its free memory (a GPU; here CpuOps told to report some), the KV
// cache takes 85% of what is left above a 4 GiB + scratch reserve once the weights are in; an
// explicit cache_rows wins, and below the reserve, or on a CPU reporting nothing, the fixed
// default stays.
TEST(LocalModel, CacheRowsComeFromTheFreeMemoryTheBackendReports) {
  testing::TempDir tmp;
  TinyModelSpec spec;  // n_ctx 256: default max(2 * 256, 8192) rows
  ASSERT_TRUE(write_tiny_gguf_model(spec, tmp.file("m.gguf")).ok());
  auto rows_with = [&](size_t free_bytes, int32_t cache_rows) -> int32_t {
    CpuOpsOptions c;
    c.n_threads = 1;
    c.report_free_memory = free_bytes;
    LocalModelOptions o;
    o.require_tokenizer = false;
    o.cache_rows = cache_rows;
    auto m = LocalModel::load(tmp.file("m.gguf"), "tiny", std::make_unique<CpuOps>(c), o);
    EXPECT_TRUE(m.ok()) << m.status().message();
    if (!m.ok()) return -1;
    // The cache it got is usable: a prompt scores.
    const std::vector<int32_t> prompt = {1, 2, 3};
    auto lp = (*m)->last_logits(prompt);
    EXPECT_TRUE(lp.ok());
    return (*m)->cache().capacity();
  };
  const size_t reserve = size_t{4} << 30, above = size_t{64} << 20;
  const double row = 2 * 2 * (2 * 16 * 2) + 64 * 4;  // 2 layers x K,V x 2 heads x 16 F16 + hidden f32
  EXPECT_EQ(rows_with(0, 0), 8192);
  const int32_t sized = rows_with(reserve + above, 0);
  EXPECT_LE(sized, static_cast<int32_t>(0.85 * static_cast<double>(above) / row));
  EXPECT_GE(sized, static_cast<int32_t>(0.80 * static_cast<double>(above) / row));  // less the forward's scratch
  EXPECT_EQ(rows_with(reserve + above, 10000), 10000);
  EXPECT_EQ(rows_with(reserve / 2, 0), 8192);
  EXPECT_EQ(auto_cache_rows(size_t{1} << 50, 0, 100, 8192), kMaxAutoCacheRows);
  EXPECT_EQ(auto_cache_rows(size_t{1} << 20, 0, 1 << 20, 8192), 8192);
}

TEST(LocalModel, ResultsIndependentOfBatchingOrderAndThreads) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  std::vector<LoglikelihoodRequest> reqs;
  std::string header = "The following are questions about the world.\n\nQ: What is the capital of France?\nA:";
  for (const char* c : {" Paris", " London", " Rome", " Berlin"}) reqs.push_back({header, c});
  reqs.push_back({"Once upon a time", " there was a cat."});
  reqs.push_back({"", "Hello world"});
  reqs.push_back({"1, 2, 3, 4,", " 5, 6"});
  std::vector<std::vector<LoglikelihoodResponse>> runs;
  for (int variant = 0; variant < 3; ++variant) {
    LocalModelOptions o;
    o.n_batch = variant == 0 ? 512 : variant == 1 ? 7 : 64;
    CpuOpsOptions co;
    co.n_threads = variant == 2 ? 1 : 2;
    auto m = LocalModel::load(*path, "default", std::make_unique<CpuOps>(co), o);
    ASSERT_TRUE(m.ok()) << m.status().message();
    std::vector<LoglikelihoodRequest> rq = reqs;
    if (variant == 1) std::reverse(rq.begin(), rq.end());
    std::vector<LoglikelihoodResponse> got;
    if (variant == 2) {
      // One request at a time.
      for (const auto& r : rq) got.push_back(*(*m)->loglikelihood(std::span(&r, 1))[0]);
    } else {
      for (auto& r : (*m)->loglikelihood(rq)) {
        ASSERT_TRUE(r.ok()) << r.status().message();
        got.push_back(*r);
      }
    }
    if (variant == 1) std::reverse(got.begin(), got.end());
    runs.push_back(got);
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(runs[0][i].logprob, runs[1][i].logprob) << i;
    EXPECT_EQ(runs[0][i].logprob, runs[2][i].logprob) << i;
    EXPECT_EQ(runs[0][i].is_greedy, runs[2][i].is_greedy) << i;
    EXPECT_LT(runs[0][i].logprob, 0.0);
  }
  // A sensible model prefers Paris.
  EXPECT_GT(runs[0][0].logprob, runs[0][1].logprob);
  EXPECT_GT(runs[0][0].logprob, runs[0][3].logprob);
}

TEST(LocalModel, SharedContextIsComputedOnce) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto m = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>())).value();
  std::string ctx;
  for (int i = 0; i < 40; ++i) ctx += "This sentence is part of a long shared header. ";
  std::vector<LoglikelihoodRequest> reqs;
  for (const char* c : {" A", " B", " C", " D"}) reqs.push_back({ctx + "\nAnswer:", c});
  auto r = m->loglikelihood(reqs);
  int64_t ctx_tokens = static_cast<int64_t>(m->tokenizer().encode(ctx + "\nAnswer:", false, false).size());
  // Each option adds no new row (its token is only predicted), so the context is computed once.
  EXPECT_LE(m->tokens_computed(), ctx_tokens + 1);
  // A second question with the same header reuses it.
  int64_t before = m->tokens_computed();
  LoglikelihoodRequest q2{ctx + "\nQuestion two?\nAnswer:", " A"};
  (void)m->loglikelihood(std::span(&q2, 1));
  EXPECT_LT(m->tokens_computed() - before, 10);
}

// assay serve's echo log-probs score every prompt token; a few-shot header shared by many
// requests is scored once and served from the per-row score cache after that. The reused numbers
// must be the ones a fresh engine computes, also after the cache has recycled rows for other
// prefixes, and whether the first scoring asked for per-token log-probs or not.
TEST(LocalModel, PromptTokenScoresOfASharedPrefixAreReusedExactly) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto tok = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>())).value();
  auto enc = [&](const std::string& s) { return tok->tokenizer().encode(s, false, false); };
  std::string h1, h2;
  for (int i = 0; i < 12; ++i) h1 += "Question: what is " + std::to_string(i) + " plus one? Answer: " + std::to_string(i + 1) + "\n";
  for (int i = 0; i < 12; ++i) h2 += "The river number " + std::to_string(i) + " flows to the sea.\n";
  std::vector<TokenScoreItem> items;
  for (const std::string* h : {&h1, &h2, &h1, &h2, &h1}) {
    for (const char* q : {"Question: what is 40 plus one? Answer: 41", "Question: what is 7 plus one? Answer: 9"}) {
      items.push_back({enc(*h + q), 1, true});
    }
  }
  items[0].want_token_logprobs = false;  // a first pass without per-token lists
  std::map<std::pair<std::vector<int32_t>, bool>, TokenScore> fresh_memo;
  auto fresh = [&](const TokenScoreItem& it) {
    auto key = std::make_pair(it.tokens, it.want_token_logprobs);
    if (!fresh_memo.count(key)) {
      auto m = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>())).value();
      fresh_memo[key] = *m->score_tokens(std::span(&it, 1))[0];
    }
    return fresh_memo[key];
  };
  for (int32_t cache_rows : {0, 260}) {  // 260 rows: each header evicts the other's rows
    LocalModelOptions o;
    o.cache_rows = cache_rows;
    o.n_ctx = 256;
    auto m = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>(), o)).value();
    for (size_t i = 0; i < items.size(); ++i) {
      auto got = m->score_tokens(std::span(&items[i], 1));
      ASSERT_TRUE(got[0].ok()) << got[0].status().message();
      TokenScore want = fresh(items[i]);
      EXPECT_EQ(got[0]->logprob, want.logprob) << "rows " << cache_rows << " item " << i;
      EXPECT_EQ(got[0]->is_greedy, want.is_greedy) << i;
      EXPECT_EQ(got[0]->token_logprobs, want.token_logprobs) << "rows " << cache_rows << " item " << i;
      EXPECT_EQ(got[0]->argmax, want.argmax) << i;
      EXPECT_EQ(got[0]->argmax_logprobs, want.argmax_logprobs) << "rows " << cache_rows << " item " << i;
    }
    int64_t header = static_cast<int64_t>(enc(h1).size());
    if (cache_rows == 0) {
      // Everything stays: from the third item on, both headers come from the cache.
      EXPECT_GE(m->scores_reused(), 6 * (header - 2)) << m->scores_reused();
    } else {
      EXPECT_GT(m->scores_reused(), 0);
      EXPECT_GT(m->cache().evictions(), 0) << enc(h1).size() << " + " << enc(h2).size();
    }
  }
}

TEST(LocalModel, TooLongPromptFailsAloneWithAClearMessage) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  LocalModelOptions o;
  o.n_ctx = 64;
  auto m = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>(), o)).value();
  std::string long_ctx;
  for (int i = 0; i < 100; ++i) long_ctx += "word ";
  std::vector<LoglikelihoodRequest> reqs = {{long_ctx, " end"}, {"short", " one"}};
  auto r = m->loglikelihood(reqs);
  ASSERT_FALSE(r[0].ok());
  EXPECT_NE(r[0].status().message().find("longer than the context"), std::string::npos);
  EXPECT_TRUE(r[1].ok());
  std::vector<GenerateRequest> g(1);
  g[0].context = long_ctx;
  auto gr = m->generate_until(g);
  ASSERT_FALSE(gr[0].ok());
  EXPECT_NE(gr[0].status().message().find("does not fit the context"), std::string::npos);
}

TEST(LocalModel, GreedyGenerationStopsAtStopStringsAndMaxTokens) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto m = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>())).value();
  std::vector<GenerateRequest> g(3);
  g[0].context = "1, 2, 3, 4, 5,";
  g[0].params.max_gen_toks = 8;
  g[1].context = "1, 2, 3, 4, 5,";
  g[1].params.until = {"8"};
  g[1].params.max_gen_toks = 32;
  g[2].messages = {{"user", "What is the capital of France?"}};
  g[2].params.max_gen_toks = 24;
  auto r = m->generate_until(g);
  ASSERT_TRUE(r[0].ok() && r[1].ok() && r[2].ok()) << r[2].status().message();
  EXPECT_EQ(r[0]->finish_reason, "length");
  EXPECT_EQ(r[0]->usage.completion_tokens, 8);
  EXPECT_EQ(r[1]->finish_reason, "stop");
  EXPECT_EQ(r[1]->text.find('8'), std::string::npos);
  EXPECT_EQ(r[1]->text.rfind(" 6, 7,", 0), 0u) << r[1]->text;
  // The chat request went through SmolLM2's ChatML template (with its default system turn).
  std::string rendered =
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(r[2]->usage.prompt_tokens,
            static_cast<int64_t>(m->tokenizer().encode(rendered, false, true).size()));
  EXPECT_FALSE(r[2]->text.empty());
  // Greedy decoding is deterministic.
  auto again = m->generate_until(std::span(&g[0], 1));
  EXPECT_EQ(again[0]->text, r[0]->text);
}

// Continuous batching: with room for a few sequences at a time (n_batch 4, and a KV cache too
// small to hold every request at once), requests are admitted as others finish; each answer is
// the one it gets alone, and none fails for lack of rows while others hold them.
TEST(LocalModel, ContinuousBatchingAdmitsRequestsAsOthersFinishWithTheirSoloAnswers) {
  auto path = default_model_path();
  ASSERT_TRUE(path.ok()) << path.status().message();
  std::vector<GenerateRequest> g(9);
  for (size_t i = 0; i < g.size(); ++i) {
    g[i].context = "Count: " + std::to_string(3 * i + 1) + ", " + std::to_string(3 * i + 2) + ",";
    g[i].params.max_gen_toks = 8 + static_cast<int32_t>((5 * i) % 13);
    if (i % 3 == 1) g[i].params.until = {","};  // stops after a token or two
  }
  g[4].params.do_sample = true;
  g[4].params.temperature = 0.8;
  g[4].params.seed = 7;
  LocalModelOptions small;
  small.n_batch = 4;
  small.n_ctx = 48;
  small.cache_rows = 49;  // room for two or three sequences at a time
  auto batched = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>(), small)).value();
  auto r = batched->generate_until(g);
  auto solo_model = std::move(LocalModel::load(*path, "default", std::make_unique<CpuOps>())).value();
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_TRUE(r[i].ok()) << i << ": " << r[i].status().message();
    auto solo = solo_model->generate_until(std::span(&g[i], 1));
    ASSERT_TRUE(solo[0].ok());
    EXPECT_EQ(r[i]->text, solo[0]->text) << i;
    EXPECT_EQ(r[i]->finish_reason, solo[0]->finish_reason) << i;
    EXPECT_EQ(r[i]->usage.completion_tokens, solo[0]->usage.completion_tokens) << i;
    EXPECT_EQ(r[i]->usage.prompt_tokens, solo[0]->usage.prompt_tokens) << i;
  }
  EXPECT_GT(batched->cache().evictions(), 0) << "the cache was meant to be too small for all at once";
}

}  // namespace
}  // namespace assay

namespace assay {
namespace {

// A mid-size quantized model decoded greedily one token at a time on both CPU kernel sets: every
// logit finite, and the AVX2 and scalar kernels pick the same tokens (they compute the same
// integer block dots; only the f32 summation order differs). Found by the CUDA backend's
// comparison: a NaN here would poison every later step.
TEST(LocalModel, MidSizeQuantizedDecodeIsFiniteOnBothKernelSets) {
  testing::TempDir dir;
  TinyModelSpec spec;
  spec.n_vocab = 3000;
  spec.n_embd = 512;
  spec.n_layer = 4;
  spec.n_head = 8;
  spec.n_head_kv = 2;
  spec.n_ff = 1408;
  spec.n_ctx_train = 2048;
  spec.llama3_rope_scaling = true;
  spec.weight_scale = 0.05f;
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0}) {  // what tiny_model_writer quantizes
    spec.gguf_type = t;
    const std::string path = dir.file("mid_" + std::to_string(static_cast<int>(t)) + ".gguf");
    ASSERT_TRUE(write_tiny_gguf_model(spec, path).ok());
    std::vector<std::vector<int32_t>> picks;
    for (bool avx2 : {true, false}) {
      auto m = LocalModel::load(path, "local:" + path, std::make_unique<CpuOps>(CpuOpsOptions{1, avx2}));
      ASSERT_TRUE(m.ok()) << m.status().message();
      std::vector<int32_t> seq = {5, 17, 2999, 40, 41, 42, 7, 1000};
      std::vector<int32_t> got;
      for (int step = 0; step < 24; ++step) {
        auto logits = (*m)->last_logits(seq);
        ASSERT_TRUE(logits.ok());
        for (size_t v = 0; v < logits->size(); ++v)
          ASSERT_TRUE(std::isfinite((*logits)[v])) << "type " << static_cast<int>(t) << " avx2 " << avx2
                                                   << " step " << step << " token " << v;
        const int32_t best = static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
        got.push_back(best);
        seq.push_back(best);
      }
      picks.push_back(got);
    }
    EXPECT_EQ(picks[0], picks[1]) << "type " << static_cast<int>(t);
  }
}

}  // namespace
}  // namespace assay
