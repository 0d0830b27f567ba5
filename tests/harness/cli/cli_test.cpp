// Runs the real `assay` binary as a user would and checks its output and exit codes.
#include "harness/cli/cli.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/run_assay.h"
#include "tests/support/test_env.h"

namespace assay {
namespace {

using testing::run_assay;

TEST(Cli, HelpListsEverySubcommand) {
  auto r = run_assay("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* c : {"run", "tokenize", "inspect", "perplexity", "generate", "serve", "report",
                        "gate", "gen", "decontam", "data", "bench"}) {
    EXPECT_NE(r.out.find(std::string("\n  ") + c + " "), std::string::npos) << c;
  }
}

TEST(Cli, VersionHasGitHash) {
  auto r = run_assay("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("assay 0.", 0), 0u);
  EXPECT_NE(r.out.find("(git "), std::string::npos);
}

TEST(Cli, UnknownCommandSuggests) {
  auto r = run_assay("evalute");
  EXPECT_EQ(r.code, cli::kExitUsage);
  r = run_assay("dta list");
  EXPECT_EQ(r.code, cli::kExitUsage);
  EXPECT_NE(r.out.find("did you mean data"), std::string::npos) << r.out;
}

TEST(Cli, UnknownFlagSuggests) {
  auto r = run_assay("data list --data_dri x");
  EXPECT_EQ(r.code, cli::kExitUsage);
  EXPECT_NE(r.out.find("unknown flag --data_dri; did you mean --data_dir"), std::string::npos) << r.out;
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const auto& c : cli::all_commands()) {
    auto r = run_assay(c.name + " --help");
    EXPECT_EQ(r.code, 0) << c.name;
    EXPECT_NE(r.out.find("usage: assay " + c.name), std::string::npos) << c.name << r.out;
  }
}

TEST(Cli, UnbuiltCommandsSaySoAndFail) {
  for (const auto& c : cli::all_commands()) {
    if (c.built) continue;
    auto r = run_assay(c.name);
    EXPECT_EQ(r.code, cli::kExitNotBuilt) << c.name;
    EXPECT_NE(r.out.find("not built yet"), std::string::npos) << c.name;
    // One clear line, nothing else.
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
}

TEST(Cli, DataListShowsSharedDataSets) {
  auto r = run_assay("data list --data-dir " + testing::data_dir());
  EXPECT_EQ(r.code, 0);
  for (const char* name : {"mmlu", "math", "gsm8k", "alpaca_eval", "swe_bench_lite", "pubmedqa",
                           "medqa", "medmcqa", "dutch", "tokenizer", "webtext", "weak_to_strong"}) {
    EXPECT_NE(r.out.find(std::string("\n") + name + " "), std::string::npos) << name;
  }
  EXPECT_EQ(r.out.find("missing"), std::string::npos) << r.out;
}

TEST(Cli, MissingDataDirIsOneClearLine) {
  auto r = run_assay("data verify --data-dir /no/such/dir");
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.out, "assay: error: --data-dir /no/such/dir: no such directory\n");
  r = run_assay("data verify", "ASSAY_DATA=/nope");
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.out, "assay: error: $ASSAY_DATA=/nope: no such directory\n");
}

TEST(Cli, DataVerifyOnSharedDataAndOnATamperedCopy) {
  auto r = run_assay("data verify --data-dir " + testing::data_dir());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(" 0 missing, 0 mismatched"), std::string::npos) << r.out;
  testing::TempDir dir;
  testing::write_text(dir.file("MANIFEST.sha256"),
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  ./empty\n");
  testing::write_text(dir.file("empty"), "not empty");
  r = run_assay("data verify --data-dir " + dir.path());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("MISMATCH  empty"), std::string::npos);
}

TEST(Cli, UnwritableOutputDirIsOneClearLineBeforeAnyWork) {
  testing::TempDir dir;
  testing::write_text(dir.file("plain"), "x");
  auto r = run_assay("run --model default --tasks mmlu_anatomy --limit 1 --data-dir " +
                     testing::data_dir() + " --output " + dir.file("plain") + "/out");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "assay: error: cannot create output directory " + dir.file("plain") +
                       "/out: Not a directory\n");
}

TEST(Cli, MalformedDataRowNamesFileAndLine) {
  testing::TempDir data;
  std::filesystem::create_directories(data.path() + "/mmlu/test");
  testing::write_text(data.path() + "/mmlu/test/anatomy_test.csv", "q,a,b,c,d,A\n\"broken,a\n");
  auto r = run_assay("run --model default --tasks mmlu_anatomy --data-dir " + data.path());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("assay: error: task mmlu_anatomy failed: " + data.path() +
                       "/mmlu/test/anatomy_test.csv:2: unterminated quoted field"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace assay

namespace assay {
namespace {

TEST(Cli, BenchMeasuresTheDefaultModel) {
  testing::TempDir dir;
  const std::string json = dir.file("bench.json");
  auto r = run_assay("bench --model default --pp 32 --tg 4 --reps 1 --mmlu 2 --mmlu-header 24 "
                     "--mmlu-question 8 --json " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("| default | cpu-"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pp32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("prefix shared"), std::string::npos) << r.out;
  simdjson::dom::parser p;
  simdjson::dom::element j = p.load(json);
  EXPECT_GT(double(j["pp_tokens_per_s"].get_double()), 0.0);
  EXPECT_GT(double(j["tg_tokens_per_s"].get_double()), 0.0);
  EXPECT_GT(double(j["mmlu_shared_questions_per_s"].get_double()), 0.0);
  EXPECT_GT(double(j["mmlu_unshared_questions_per_s"].get_double()), 0.0);
  EXPECT_GT(double(j["peak_rss_mib"].get_double()), 10.0);
  EXPECT_EQ(run_assay("bench --model default --reps 0").code, 2);
  EXPECT_EQ(run_assay("bench --model default --pp 0 --tg 0 --mmlu 1 --mmlu-header 5000").code, 2);
}

// `assay perplexity` end to end: llama-perplexity's running number on its own text after 4
// chunks (the fixture of LlamaCppParity), and --model-args built as for every command: precision=f32 reaches the engine
// (another number), bad values and unknown keys are refused before any work.
TEST(Cli, PerplexityMatchesLlamaPerplexityAndTakesTheCommonModelArgs) {
  const std::string dir = testing::source_dir() + "/tests/engines/local/testdata/llama_cpp/";
  simdjson::dom::parser p;
  // Its first 4 chunks: llama-perplexity's running estimate after chunk 4.
  const double want = p.load(dir + "perplexity_ctx512.json")["running_ppl_per_chunk"].at(3).get_double();
  auto ppl_of = [](const std::string& out) {
    const size_t at = out.find("Final estimate: PPL = ");
    return at == std::string::npos ? -1.0 : std::stod(out.substr(at + 22));
  };
  const std::string base = "perplexity --model default --file " + dir + "webtext.txt --ctx 512 --chunks 4";
  auto plain = run_assay(base);
  ASSERT_EQ(plain.code, 0) << plain.out;
  const double got = ppl_of(plain.out);
  EXPECT_LT(std::abs(got - want) / want, 0.005) << got << " vs llama-perplexity " << want;
  auto f32 = run_assay(base + " --model-args precision=f32");
  ASSERT_EQ(f32.code, 0) << f32.out;
  const double got_f32 = ppl_of(f32.out);
  EXPECT_NE(got_f32, got) << "precision=f32 did not reach the engine";
  EXPECT_LT(std::abs(got_f32 - want) / want, 0.01) << got_f32;
  auto bad = run_assay(base + " --model-args threads=two");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("threads=two: expected an integer"), std::string::npos) << bad.out;
  auto unknown = run_assay(base + " --model-args thread=2");
  EXPECT_EQ(unknown.code, 2) << unknown.out;
  EXPECT_NE(unknown.out.find("unknown key 'thread'"), std::string::npos) << unknown.out;
}

// `assay generate` on the default model: greedy is deterministic; a seeded sample repeats; top-k 1
// (or a tiny nucleus) at any temperature is the greedy answer; bad cut values are refused.
TEST(Cli, GenerateGreedySeededAndCuts) {
  const std::string base = "generate --model default --prompt 'The capital of France is' --max-tokens 12";
  auto greedy = run_assay(base);
  ASSERT_EQ(greedy.code, 0) << greedy.out;
  ASSERT_NE(greedy.out.find("Paris"), std::string::npos) << greedy.out;
  auto text = [](const std::string& out) {  // the output without the "assay: ..." status lines
    std::string t;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("assay: ", 0) != 0) t += line + "\n";
    return t;
  };
  EXPECT_EQ(text(run_assay(base).out), text(greedy.out));
  auto s1 = run_assay(base + " --temperature 1.3 --seed 5");
  auto s2 = run_assay(base + " --temperature 1.3 --seed 5");
  ASSERT_EQ(s1.code, 0) << s1.out;
  EXPECT_EQ(text(s1.out), text(s2.out));
  EXPECT_EQ(text(run_assay(base + " --temperature 1.3 --seed 5 --top-k 1").out), text(greedy.out));
  EXPECT_EQ(text(run_assay(base + " --temperature 0.9 --seed 8 --top-p 0.000001").out), text(greedy.out));
  // A hot sample without cuts differs from greedy for at least one of a few seeds.
  bool differs = false;
  for (int seed : {1, 2, 3}) differs |= text(run_assay(base + " --temperature 1.5 --seed " + std::to_string(seed)).out) != text(greedy.out);
  EXPECT_TRUE(differs);
  EXPECT_EQ(run_assay(base + " --temperature 1 --top-p 0").code, 2);
  EXPECT_EQ(run_assay(base + " --temperature 1 --top-k -1").code, 2);
  // profile_ops=1: the same text, and the per-op table when the model goes.
  auto prof = run_assay(base + " --model-args profile_ops=1");
  ASSERT_EQ(prof.code, 0) << prof.out;
  EXPECT_NE(prof.out.find("ops profile ("), std::string::npos) << prof.out;
  EXPECT_NE(prof.out.find("Paris"), std::string::npos) << prof.out;
  EXPECT_EQ(run_assay(base + " --model-args profile_ops=yes").code, 2);
}

// --mmlu-shape: the lengths of a shape file filled with random ids; a bad line is named.
TEST(Cli, BenchScoresAnMmluShapeFile) {
  testing::TempDir dir;
  const std::string shape = dir.file("shape.tsv"), json = dir.file("bench.json");
  {
    std::ofstream f(shape);
    f << "subject_a\t20\t5,7,9\nsubject_b\t16\t3\n";
  }
  auto r = run_assay("bench --model default --pp 0 --tg 0 --reps 1 --mmlu-shape " + shape + " --json " + json);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("mmlu 5-shot shape: 4 questions, 16 requests"), std::string::npos) << r.out;
  simdjson::dom::parser p;
  simdjson::dom::element j = p.load(json);
  EXPECT_EQ(int64_t(j["mmlu_shape_requests"].get_int64()), 16);
  EXPECT_GT(double(j["mmlu_shape_seconds"].get_double()), 0.0);
  {
    std::ofstream f(shape);
    f << "subject_a\t20\t5,7\nsubject_b\tx\t3\n";
  }
  r = run_assay("bench --model default --pp 0 --tg 0 --reps 1 --mmlu-shape " + shape);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("shape.tsv:2:"), std::string::npos) << r.out;

  // The committed shape (benchmarks/device/make_mmlu_shape.py): all 57 subjects, 14,042 questions.
  std::ifstream in(testing::source_dir() + "/benchmarks/device/mmlu_shape.tsv");
  ASSERT_TRUE(in.good());
  int subjects = 0, questions = 0;
  for (std::string line; std::getline(in, line);) {
    ++subjects;
    questions += 1 + static_cast<int>(std::count(line.begin(), line.end(), ','));
  }
  EXPECT_EQ(subjects, 57);
  EXPECT_EQ(questions, 14042);
}

}  // namespace
}  // namespace assay

namespace assay::cli {
namespace {

TEST(Cli, CommandLineIsQuotedAndHidesSecrets) {
  Command c = run_command();
  auto a = parse_args(c, {"--model", "http://127.0.0.1:8000/v1", "--model-args",
                          "api_key=sk-123,loglikelihood=probe,Auth_Token=abc", "--tasks", "mmlu",
                          "--system-instruction", "It's a test", "--limit", "5"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  const std::string line = a->command_line();
  EXPECT_EQ(line,
            "assay run --model http://127.0.0.1:8000/v1 --model-args "
            "'api_key=***,loglikelihood=probe,Auth_Token=***' --tasks mmlu --system-instruction "
            "'It'\\''s a test' --limit 5");
  EXPECT_EQ(line.find("sk-123"), std::string::npos);
}

}  // namespace
}  // namespace assay::cli
