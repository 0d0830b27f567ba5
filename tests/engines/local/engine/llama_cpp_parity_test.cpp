// The engine on the default model against llama.cpp's own outputs
// (tests/engines/local/testdata/llama_cpp/, made by scripts/reference/make_llama_cpp_fixtures.sh).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>

#include "engines/local/cpu/cpu_ops.h"
#include "engines/local/local_model.h"
#include "engines/local/perplexity.h"
#include "harness/csv.h"
#include "harness/model_spec.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

std::string fixture(const std::string& name) {
  return testing::source_dir() + "/tests/engines/local/testdata/llama_cpp/" + name;
}

std::unique_ptr<LocalModel> default_model(int32_t n_ctx = 0) {
  auto path = default_model_path();
  EXPECT_TRUE(path.ok()) << path.status().message();
  if (!path.ok()) return nullptr;
  LocalModelOptions o;
  o.n_ctx = n_ctx;
  auto m = LocalModel::load(*path, "default", std::make_unique<CpuOps>(), o);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

TEST(LlamaCppParity, TokenizationMatchesLlamaTokenize) {
  auto m = default_model();
  ASSERT_NE(m, nullptr);
  simdjson::dom::parser parser;
  int n = 0;
  for (simdjson::dom::element row : parser.load_many(fixture("tokenize.jsonl"))) {
    std::string text(row["text"].get_string().value());
    std::vector<int32_t> want_special, want_plain;
    for (int64_t t : row["ids_no_bos"].get_array()) want_special.push_back(static_cast<int32_t>(t));
    for (int64_t t : row["ids_no_parse_special"].get_array()) want_plain.push_back(static_cast<int32_t>(t));
    EXPECT_EQ(m->tokenizer().encode(text, false, true), want_special) << text;
    EXPECT_EQ(m->tokenizer().encode(text, false, false), want_plain) << text;
    ++n;
  }
  EXPECT_EQ(n, 247);
}

TEST(LlamaCppParity, PerplexityWithinHalfAPercent) {
  auto m = default_model(512);
  ASSERT_NE(m, nullptr);
  auto text = read_file(fixture("webtext.txt"));
  ASSERT_TRUE(text.ok());
  simdjson::dom::parser parser;
  simdjson::dom::element ref = parser.load(fixture("perplexity_ctx512.json"));
  double want = ref["ppl"].get_double();
  PerplexityOptions o;
  o.n_ctx = 512;
  auto r = compute_perplexity(*m, *text, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->n_chunks, static_cast<int32_t>(int64_t(ref["n_chunks"].get_int64())));
  EXPECT_LT(std::abs(r->ppl - want) / want, 0.005) << r->ppl << " vs llama.cpp " << want;
}

// Greedy continuations against llama.cpp's first 32 tokens. Where llama.cpp's top two logits were
// within 0.01 (a near-tie any two correct engines may break differently), only the tokens before
// it are compared. Issue #4 asked for 95/100; llama.cpp's own two attention paths (flash attention
// on and off, greedy_32_nofa.jsonl) agree on only 44 (50 up to the near-tie) on this model, so
// the bound is llama.cpp's self-agreement: assay must agree with llama.cpp about as well as
// llama.cpp agrees with itself (testdata/llama_cpp/README.md has the measurements).
TEST(LlamaCppParity, GreedyFirst32TokensMatch) {
  auto m = default_model(2048);
  ASSERT_NE(m, nullptr);
  simdjson::dom::parser parser;
  int total = 0, full = 0, up_to_tie = 0;
  std::string report;
  for (simdjson::dom::element row : parser.load_many(fixture("greedy_32.jsonl"))) {
    std::vector<int32_t> seq, want;
    std::vector<double> margins;
    for (int64_t t : row["prompt_tokens"].get_array()) seq.push_back(static_cast<int32_t>(t));
    for (int64_t t : row["tokens"].get_array()) want.push_back(static_cast<int32_t>(t));
    for (double x : row["top1_margins"].get_array()) margins.push_back(x);
    std::vector<int32_t> got;
    for (size_t step = 0; step < want.size(); ++step) {
      auto logits = m->last_logits(seq);
      ASSERT_TRUE(logits.ok());
      int32_t best = 0;
      for (size_t v = 1; v < logits->size(); ++v) if ((*logits)[v] > (*logits)[best]) best = static_cast<int32_t>(v);
      got.push_back(best);
      seq.push_back(best);
      if (m->tokenizer().is_eog(best)) break;
    }
    size_t first_diff = 0;
    while (first_diff < want.size() && first_diff < got.size() && want[first_diff] == got[first_diff]) ++first_diff;
    size_t first_tie = 0;
    while (first_tie < margins.size() && margins[first_tie] >= 0.01) ++first_tie;
    ++total;
    if (first_diff == want.size()) ++full;
    if (first_diff >= std::min(first_tie, want.size())) ++up_to_tie;
    else report += std::string(row["prompt"].get_string().value()).substr(0, 40) + " diverges at " + std::to_string(first_diff) + "\n";
  }
  EXPECT_EQ(total, 100);
  // llama.cpp against itself, scored the same way.
  int self_full = 0, self_tie = 0;
  {
    simdjson::dom::parser p1, p2;
    std::vector<std::vector<int64_t>> on_tokens, on_margins_ok;
    std::vector<size_t> on_first_tie;
    for (simdjson::dom::element row : p1.load_many(fixture("greedy_32.jsonl"))) {
      std::vector<int64_t> toks;
      for (int64_t t : row["tokens"].get_array()) toks.push_back(t);
      size_t ft = 0;
      for (double x : row["top1_margins"].get_array()) {
        if (x < 0.01) break;
        ++ft;
      }
      on_tokens.push_back(toks);
      on_first_tie.push_back(ft);
    }
    size_t i = 0;
    for (simdjson::dom::element row : p2.load_many(fixture("greedy_32_nofa.jsonl"))) {
      ASSERT_LT(i, on_tokens.size());
      std::vector<int64_t> off;
      for (int64_t t : row["tokens"].get_array()) off.push_back(t);
      const auto& on = on_tokens[i];
      size_t fd = 0;
      while (fd < on.size() && fd < off.size() && on[fd] == off[fd]) ++fd;
      if (fd == on.size()) ++self_full;
      if (fd >= std::min(on_first_tie[i], on.size())) ++self_tie;
      ++i;
    }
  }
  std::printf("llama.cpp flash attention on vs off: %d identical, %d up to the first near-tie\n",
              self_full, self_tie);
  std::printf("greedy: %d/%d identical over all tokens, %d/%d up to llama.cpp's first near-tie\n",
              full, total, up_to_tie, total);
  EXPECT_GE(full, self_full - 6) << report;
  EXPECT_GE(up_to_tie, self_tie - 6) << report;
}

}  // namespace
}  // namespace assay
