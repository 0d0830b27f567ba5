// `assay bench`: prompt-processing and generation speed of a local model, and its peak memory,
// measured the way llama-bench measures them (pp: one batch of N random tokens into an empty
// context, logits of the last; tg: N single-token decode steps), so the two tools' numbers can
// stand side by side (benchmarks/llama_bench_compare.sh).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "engines/local/local_model.h"
#include "harness/cli/cli.h"
#include "harness/cli/model_factory.h"
#include "harness/json_write.h"
#include "harness/log.h"

namespace assay::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

struct Stat {
  double mean = 0, sd = 0;
};

Stat stat_of(const std::vector<double>& v) {
  Stat s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(s.sd / static_cast<double>(v.size() - 1));
  }
  return s;
}

// Random token ids as llama-bench draws them; each repetition gets fresh ones so the prefix
// cache cannot serve a repetition from the previous one.
std::vector<int32_t> random_tokens(std::mt19937_64& rng, int32_t n_vocab, int64_t n) {
  std::uniform_int_distribution<int32_t> d(0, n_vocab - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = d(rng);
  return t;
}

// One MMLU-shaped question: header + question, then each one-token option scored after it.
void add_question(std::vector<TokenScoreItem>& items, const std::vector<int32_t>& header,
                  const std::vector<int32_t>& question, const std::vector<int32_t>& options) {
  for (int32_t opt : options) {
    TokenScoreItem it;
    it.tokens = header;
    it.tokens.insert(it.tokens.end(), question.begin(), question.end());
    it.tokens.push_back(opt);
    it.n_prefix = static_cast<int32_t>(it.tokens.size()) - 1;
    items.push_back(std::move(it));
  }
}

int bench(const Args& args) {
  auto spec = args.get("model");
  if (!spec) {
    log_line(LogLevel::kError, "assay bench: --model SPEC is required");
    return kExitUsage;
  }
  auto pp = args.get_int("pp");
  auto tg = args.get_int("tg");
  auto reps = args.get_int("reps");
  if (!pp.ok()) return fail(pp.status());
  if (!tg.ok()) return fail(tg.status());
  if (!reps.ok()) return fail(reps.status());
  const int64_t n_pp = pp->value_or(512), n_tg = tg->value_or(128), n_reps = reps->value_or(3);
  if (n_pp < 0 || n_tg < 0 || n_reps < 1) {
    log_line(LogLevel::kError, "assay bench: --pp and --tg must be >= 0, --reps >= 1");
    return kExitUsage;
  }
  auto margs = parse_kv_list(args.get_or("model-args", ""), "--model-args");
  if (!margs.ok()) return fail(margs.status());
  // The context must hold the longest test; the batch must take the whole prompt at once, as
  // llama-bench's does (-b 2048 by default).
  if (!margs->count("n_ctx") && !margs->count("max_length"))
    (*margs)["n_ctx"] = std::to_string(std::max<int64_t>({n_pp, n_tg + 1, args.get("mmlu-shape") ? 4096 : 1024}));
  if (!margs->count("n_batch")) (*margs)["n_batch"] = std::to_string(std::max(n_pp, default_n_batch(*margs)));
  const auto t_load = Clock::now();
  auto model = make_model(*spec, *margs, /*require_tokenizer=*/false);  // random ids only
  if (!model.ok()) return fail(model.status());
  const double load_s = seconds_since(t_load);
  auto* local = dynamic_cast<LocalModel*>(model->get());
  if (!local) {
    log_line(LogLevel::kError, "assay bench: --model " + *spec + " is not a local model");
    return kExitUsage;
  }
  const int32_t n_vocab = static_cast<int32_t>(local->files().hparams().n_vocab);
  std::mt19937_64 rng(1234);

  // One untimed warm-up (page in the mmapped weights, size the scratch buffers), as llama-bench.
  {
    auto w = local->last_logits(random_tokens(rng, n_vocab, std::max<int64_t>(std::min<int64_t>(n_pp, 32), 1)));
    if (!w.ok()) return fail(w.status());
  }
  std::vector<double> pp_tps, tg_tps;
  for (int64_t r = 0; r < n_reps; ++r) {
    if (n_pp > 0) {
      auto toks = random_tokens(rng, n_vocab, n_pp);
      const auto t0 = Clock::now();
      auto out = local->last_logits(toks);
      if (!out.ok()) return fail(out.status());
      pp_tps.push_back(static_cast<double>(n_pp) / seconds_since(t0));
    }
    if (n_tg > 0) {
      std::vector<int32_t> seq = random_tokens(rng, n_vocab, 1);
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < n_tg; ++i) {
        auto logits = local->last_logits(seq);
        if (!logits.ok()) return fail(logits.status());
        seq.push_back(static_cast<int32_t>(
            std::max_element(logits->begin(), logits->end()) - logits->begin()));
      }
      tg_tps.push_back(static_cast<double>(n_tg) / seconds_since(t0));
    }
  }
  // MMLU-shaped scoring: n_q questions, each a shared few-shot header + its own question + 4
  // one-token options (" A".." D"), scored as 4 log-likelihood items. "shared": one header for all
  // questions (what the prefix cache serves); "unshared": every item gets its own random header
  // and question of the same lengths, so nothing can be reused: the cost without prefix sharing.
  auto mmlu = args.get_int("mmlu");
  auto hdr = args.get_int("mmlu-header");
  auto qlen = args.get_int("mmlu-question");
  if (!mmlu.ok()) return fail(mmlu.status());
  if (!hdr.ok()) return fail(hdr.status());
  if (!qlen.ok()) return fail(qlen.status());
  const int64_t n_q = mmlu->value_or(0), n_hdr = hdr->value_or(480), n_qtok = qlen->value_or(90);
  double shared_qps = 0, unshared_qps = 0;
  if (n_q > 0) {
    if (n_hdr < 1 || n_qtok < 1 || n_hdr + n_qtok + 1 > local->n_ctx()) {
      log_line(LogLevel::kError, "assay bench: --mmlu-header + --mmlu-question + 1 must fit the context (" +
                                     std::to_string(local->n_ctx()) + "; raise --model-args n_ctx)");
      return kExitUsage;
    }
    const std::vector<int32_t> options = random_tokens(rng, n_vocab, 4);
    for (bool shared : {true, false}) {
      std::vector<TokenScoreItem> items;
      const auto header = random_tokens(rng, n_vocab, n_hdr);
      for (int64_t q = 0; q < n_q; ++q) {
        auto question = random_tokens(rng, n_vocab, n_qtok);
        if (shared) {
          add_question(items, header, question, options);
        } else {
          for (int32_t opt : options)
            add_question(items, random_tokens(rng, n_vocab, n_hdr), random_tokens(rng, n_vocab, n_qtok), {opt});
        }
      }
      const auto t0 = Clock::now();
      auto out = local->score_tokens(items);
      const double s = seconds_since(t0);
      for (auto& r : out)
        if (!r.ok()) return fail(r.status());
      (shared ? shared_qps : unshared_qps) = static_cast<double>(n_q) / s;
    }
  }
  // The real MMLU 5-shot shape (benchmarks/device/mmlu_shape.tsv: per subject its few-shot
  // header's tokens and each question's): one random header per subject, random question ids of
  // each question's length, 4 one-token options; all items in one score_tokens call, as `assay
  // run` hands them over.
  int64_t shape_q = 0, shape_items = 0;
  double shape_s = 0;
  if (auto shape_path = args.get("mmlu-shape")) {
    std::ifstream in(*shape_path);
    if (!in) {
      log_line(LogLevel::kError, "assay bench: cannot read --mmlu-shape " + *shape_path);
      return kExitUsage;
    }
    const std::vector<int32_t> options = random_tokens(rng, n_vocab, 4);
    std::vector<TokenScoreItem> items;
    std::string line;
    for (int64_t ln = 1; std::getline(in, line); ++ln) {
      if (line.empty()) continue;
      const size_t t1 = line.find('\t'), t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
      int64_t h = 0;
      std::vector<int64_t> qs;
      bool ok = t2 != std::string::npos;
      if (ok) {
        try {
          h = std::stoll(line.substr(t1 + 1, t2 - t1 - 1));
          std::stringstream ss(line.substr(t2 + 1));
          for (std::string f; std::getline(ss, f, ',');) qs.push_back(std::stoll(f));
        } catch (const std::exception&) {
          ok = false;
        }
      }
      for (int64_t q : qs) ok = ok && h >= 1 && q >= 1 && h + q + 1 <= local->n_ctx();
      if (!ok || qs.empty()) {
        log_line(LogLevel::kError, *shape_path + ":" + std::to_string(ln) +
                                       ": expected SUBJECT<TAB>HEADER<TAB>Q1,Q2,... with header + question + 1 "
                                       "within the context (" + std::to_string(local->n_ctx()) + ")");
        return kExitUsage;
      }
      const auto header = random_tokens(rng, n_vocab, h);
      for (int64_t q : qs) {
        add_question(items, header, random_tokens(rng, n_vocab, q), options);
        ++shape_q;
      }
    }
    shape_items = static_cast<int64_t>(items.size());
    const auto t0 = Clock::now();
    auto out = local->score_tokens(items);
    shape_s = seconds_since(t0);
    for (auto& r : out)
      if (!r.ok()) return fail(r.status());
  }
  const Stat pps = stat_of(pp_tps), tgs = stat_of(tg_tps);
  const double rss = peak_rss_mib();
  const std::string backend(local->ops().name());
  std::printf("| model | backend | test | t/s |\n|---|---|---|---|\n");
  if (n_pp > 0)
    std::printf("| %s | %s | pp%lld | %.2f ± %.2f |\n", spec->c_str(), backend.c_str(),
                static_cast<long long>(n_pp), pps.mean, pps.sd);
  if (n_tg > 0)
    std::printf("| %s | %s | tg%lld | %.2f ± %.2f |\n", spec->c_str(), backend.c_str(),
                static_cast<long long>(n_tg), tgs.mean, tgs.sd);
  if (n_q > 0) {
    std::printf("| %s | %s | mmlu-shaped %lld q (header %lld, question %lld, 4 options), prefix shared | %.2f q/s |\n",
                spec->c_str(), backend.c_str(), static_cast<long long>(n_q), static_cast<long long>(n_hdr),
                static_cast<long long>(n_qtok), shared_qps);
    std::printf("| %s | %s | mmlu-shaped, nothing shared | %.2f q/s |\n", spec->c_str(), backend.c_str(),
                unshared_qps);
  }
  if (shape_q > 0)
    std::printf("| %s | %s | mmlu 5-shot shape: %lld questions, %lld requests | %.1f s (%.1f q/s) |\n",
                spec->c_str(), backend.c_str(), static_cast<long long>(shape_q),
                static_cast<long long>(shape_items), shape_s, static_cast<double>(shape_q) / shape_s);
  std::printf("load %.2f s, peak RSS %.1f MiB, context %d tokens\n", load_s, rss, local->n_ctx());
  std::fflush(stdout);

  if (auto path = args.get("json")) {
    boost::json::object o;
    o["model"] = *spec;
    o["backend"] = backend;
    o["n_pp"] = n_pp;
    o["n_tg"] = n_tg;
    o["reps"] = n_reps;
    o["pp_tokens_per_s"] = pps.mean;
    o["pp_tokens_per_s_sd"] = pps.sd;
    o["tg_tokens_per_s"] = tgs.mean;
    o["tg_tokens_per_s_sd"] = tgs.sd;
    o["peak_rss_mib"] = rss;
    o["load_s"] = load_s;
    o["n_ctx"] = local->n_ctx();
    if (n_q > 0) {
      o["mmlu_questions"] = n_q;
      o["mmlu_header_tokens"] = n_hdr;
      o["mmlu_question_tokens"] = n_qtok;
      o["mmlu_shared_questions_per_s"] = shared_qps;
      o["mmlu_unshared_questions_per_s"] = unshared_qps;
    }
    if (shape_q > 0) {
      o["mmlu_shape_questions"] = shape_q;
      o["mmlu_shape_requests"] = shape_items;
      o["mmlu_shape_seconds"] = shape_s;
    }
    Status st = write_json_file_atomic(*path, o);
    if (!st.ok()) return fail(st);
  }
  return kExitOk;
}

}  // namespace

Command bench_command() {
  Command c;
  c.name = "bench";
  c.summary = "prompt-processing and generation speed and peak memory of a local model";
  c.usage = "assay bench --model SPEC [--pp N] [--tg N] [--reps N] [--model-args K=V,...] [--json FILE]";
  c.description =
      "pp: one batch of N random tokens into an empty context (logits of the last token);\n"
      "tg: N single-token decode steps. As llama-bench's pp512/tg128, for side-by-side numbers.";
  c.flags = {
      {"model", {}, true, "SPEC", "local:PATH or default"},
      {"model-args", {"model_args"}, true, "K=V,...", "as for assay run (threads=N, n_ctx, kv_type, precision, device, profile_ops)"},
      {"pp", {}, true, "N", "prompt tokens per pp test (default 512; 0 skips)"},
      {"tg", {}, true, "N", "generated tokens per tg test (default 128; 0 skips)"},
      {"reps", {}, true, "N", "repetitions (default 3)"},
      {"mmlu", {}, true, "N", "also score N MMLU-shaped questions with and without prefix sharing (default 0)"},
      {"mmlu-header", {}, true, "N", "few-shot header tokens of an MMLU-shaped question (default 480)"},
      {"mmlu-question", {}, true, "N", "question tokens of an MMLU-shaped question (default 90)"},
      {"mmlu-shape", {}, true, "FILE", "score the real MMLU 5-shot shape (benchmarks/device/mmlu_shape.tsv) with random ids"},
      {"json", {}, true, "FILE", "also write the numbers as JSON"},
  };
  c.run = bench;
  return c;
}

}  // namespace assay::cli
