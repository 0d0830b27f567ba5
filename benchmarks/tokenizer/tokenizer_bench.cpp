// Tokenizer speed: the Llama 3 vocabulary (Hugging Face folder, as `local:DIR` loads it) over a
// JSONL corpus, single-threaded or with oneTBB over documents. Peers (Hugging Face
// `tokenizers`, tiktoken) run from peers.py; run.sh builds the corpus, checks that all three
// give identical ids and prints the comparison.
//
// Only encoding is timed, after a warm-up on the first 1% of the documents. Prints one JSON
// line: tool, threads, seconds (wall), cpu_seconds (the process's CPU time, which other load
// on the machine does not inflate), docs, tokens, id_sum. With a dump path, writes one line of
// space-separated ids per document (the format peers.py writes, so `cmp` compares them).
//
// Usage: tokenizer_bench HF_DIR CORPUS.jsonl THREADS [DUMP_IDS]
#include <simdjson.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "engines/local/vocab/hf_tokenizer_json.h"
#include "engines/local/vocab/tokenizer.h"

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "tokenizer_bench: %s\n", msg.c_str());
  return 1;
}

void encode_all(const assay::Tokenizer& tok, const std::vector<std::string>& docs, size_t n,
                int threads, std::vector<std::vector<int32_t>>* out) {
  out->assign(n, {});
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) (*out)[i] = tok.encode(docs[i], false, false);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, 16), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i < r.end(); ++i) (*out)[i] = tok.encode(docs[i], false, false);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return fail("usage: tokenizer_bench HF_DIR CORPUS.jsonl THREADS [DUMP_IDS]");
  const std::string hf_dir = argv[1], corpus = argv[2];
  const int threads = std::atoi(argv[3]);
  if (threads < 1) return fail("THREADS must be >= 1");

  auto data = assay::vocab_from_hf_dir(hf_dir);
  if (!data.ok()) return fail(data.status().message());
  auto tok = assay::Tokenizer::create(std::move(*data));
  if (!tok.ok()) return fail(tok.status().message());

  std::vector<std::string> docs;
  {
    simdjson::dom::parser parser;
    simdjson::dom::document_stream stream;
    simdjson::padded_string json;
    if (simdjson::padded_string::load(corpus).get(json)) return fail("cannot read " + corpus);
    if (parser.parse_many(json).get(stream)) return fail(corpus + ": not JSONL");
    for (auto doc : stream) {
      std::string_view text;
      if (doc["text"].get_string().get(text)) return fail(corpus + ": a line has no \"text\"");
      docs.emplace_back(text);
    }
  }

  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  std::vector<std::vector<int32_t>> ids;
  encode_all(**tok, docs, std::max<size_t>(1, docs.size() / 100), threads, &ids);
  auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
  };
  const double cpu0 = cpu_now();
  auto t0 = std::chrono::steady_clock::now();
  encode_all(**tok, docs, docs.size(), threads, &ids);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu_seconds = cpu_now() - cpu0;

  size_t n_tokens = 0;
  long long id_sum = 0;
  for (const auto& row : ids) {
    n_tokens += row.size();
    for (int32_t id : row) id_sum += id;
  }
  if (argc > 4) {
    std::ofstream f(argv[4], std::ios::binary);
    std::string line;
    for (const auto& row : ids) {
      line.clear();
      for (size_t k = 0; k < row.size(); ++k) {
        if (k) line.push_back(' ');
        line += std::to_string(row[k]);
      }
      line.push_back('\n');
      f << line;
    }
    if (!f) return fail(std::string("cannot write ") + argv[4]);
  }
  std::printf(
      "{\"tool\": \"assay\", \"threads\": %d, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
      "\"docs\": %zu, \"tokens\": %zu, \"id_sum\": %lld}\n",
      threads, seconds, cpu_seconds, docs.size(), n_tokens, id_sum);
  return 0;
}
