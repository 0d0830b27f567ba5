#!/usr/bin/env bash
# make_llama_cpp_fixtures.sh: regenerate the llama.cpp reference fixtures in
# tests/engines/local/testdata/llama_cpp/ (see the README.md there for what each file is).
#
# llama.cpp is a REFERENCE PEER only: it is built outside this repository and none of its code is
# copied here. The helper llama_cpp_greedy.cpp (next to this script) is our own code that calls
# llama.cpp's public C API; it is compiled here against the given build, outside the assay build.
#
# Usage:
#   scripts/reference/make_llama_cpp_fixtures.sh [LLAMA_CPP_BUILD_DIR] [MODEL.gguf]
# Environment (all optional):
#   LLAMA_CPP_BUILD  llama.cpp CMake build dir (default /tmp/llamacpp/build); arg 1 overrides
#   MODEL            GGUF model (default ~/.cache/assay/models/SmolLM2-135M-Instruct.Q4_1.gguf);
#                    arg 2 overrides
#   OUT              fixture folder (default <repo>/tests/engines/local/testdata/llama_cpp)
#   WORK             scratch folder for big intermediates (default: a fresh mktemp -d)
#   THREADS          CPU threads for llama-perplexity / llama-bench (default 2)
#   GREEDY_THREADS   threads for the greedy helper (default 1: token-by-token decoding with 2
#                    OpenMP threads on a busy 2-core machine was ~100x slower; same tokens)
#   WEBTEXT          webtext JSONL (default /work/shared/data/webtext_sample/webtext.test.jsonl)
#   STEPS            space-separated subset of: webtext ppl kld greedy tokenize bench
#                    (default: all, in that order)
#   KLD_FULL_OUT     if set, also keep the full ctx-512 KLD base file there (~200 MB; not a fixture)
#
# Building llama.cpp (what the fixtures were made with; 2 cores, no internet besides PyPI):
#   mkdir -p /tmp/llamacpp && cd /tmp/llamacpp
#   pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/llamacpp
#   tar xzf llama_cpp_python-0.3.36.tar.gz      # vendor/llama.cpp = ggml-org/llama.cpp@0c1e57098
#   ln -sfn llama_cpp_python-0.3.36/vendor/llama.cpp src
#   cmake -S src -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release \
#         -DLLAMA_BUILD_TESTS=OFF
#   cmake --build build -j2 --target llama-perplexity llama-simple llama-tokenize llama-bench \
#         llama-completion
# The llama.cpp commit is read back from the sdist's git metadata:
#   git -C /tmp/llamacpp/src rev-parse HEAD
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
BUILD="$(cd "${1:-${LLAMA_CPP_BUILD:-/tmp/llamacpp/build}}" && pwd)"
MODEL="${2:-${MODEL:-$HOME/.cache/assay/models/SmolLM2-135M-Instruct.Q4_1.gguf}}"
OUT="${OUT:-$repo/tests/engines/local/testdata/llama_cpp}"
WORK="${WORK:-$(mktemp -d /tmp/llama_cpp_fixtures.XXXXXX)}"
THREADS="${THREADS:-2}"
GREEDY_THREADS="${GREEDY_THREADS:-1}"
WEBTEXT="${WEBTEXT:-/work/shared/data/webtext_sample/webtext.test.jsonl}"
STEPS="${STEPS:-webtext ppl kld greedy tokenize bench}"
PY="python3 $here/llama_cpp_fixture_data.py"

# First N webtext.test documents: the smallest N giving >= 8 chunks of 512 tokens (no BOS is
# added for SmolLM2, so 8*512 = 4096 tokens).
N_DOCS="${N_DOCS:-60}"
CTX=512
# Small, complete KLD base file (the ctx-512 one is ~25 MB per chunk; see README).
KLD_CTX=32
KLD_CHUNKS=1
N_PREDICT=32

BIN="$BUILD/bin"
for t in llama-perplexity llama-tokenize llama-bench; do
  [[ -x "$BIN/$t" ]] || echo "warning: missing $BIN/$t (build llama.cpp first, see header)" >&2
done
[[ -f "$MODEL" ]] || { echo "missing model $MODEL (run scripts/fetch-model)" >&2; exit 1; }
SRC="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt")"
mkdir -p "$OUT" "$WORK"
echo "build=$BUILD src=$SRC model=$MODEL out=$OUT work=$WORK threads=$THREADS"

has_step() { [[ " $STEPS " == *" $1 "* ]]; }

# Our helper (greedy generation / tokenize with parse_special=true) against this llama.cpp build.
helper() {
  if [[ ! -x "$WORK/llama_cpp_greedy" ]]; then
    g++ -std=c++17 -O2 -o "$WORK/llama_cpp_greedy" "$here/llama_cpp_greedy.cpp" \
      -I"$SRC/include" -I"$SRC/ggml/include" -L"$BIN" -lllama -lggml -lggml-base \
      -Wl,-rpath,"$BIN"
  fi
  "$WORK/llama_cpp_greedy" "$@"
}

# Lines of a llama-perplexity log worth keeping next to the numbers.
keep_lines() {
  grep -E 'build:|system_info|print_info: (n_vocab|n_ctx_train|file type|model type)|llama_context: (n_ctx|n_ctx_seq|n_batch|n_ubatch|causal_attn|flash_attn|n_seq_max|kv_unified|freq_base)|llama_kv_cache: size|Flash Attention|REPACK|repack|buffer size|perplexity:|kl_divergence|\[[0-9]+\][0-9]|Final estimate|save_all_logits|tokeniz' "$1" || true
}

if has_step webtext; then
  $PY webtext "$WEBTEXT" "$N_DOCS" "$OUT/webtext.txt"
  "$BIN/llama-tokenize" -m "$MODEL" -f "$OUT/webtext.txt" --no-escape --ids --show-count \
    --log-disable > "$WORK/webtext.tokens" 2>/dev/null
  tail -1 "$WORK/webtext.tokens"
fi

if has_step ppl; then
  # -lv 4 only makes the log list the context (n_ctx, flash attention, KV cache types).
  "$BIN/llama-perplexity" -m "$MODEL" -f "$OUT/webtext.txt" -c $CTX -b $CTX -t "$THREADS" -lv 4 \
    > "$WORK/ppl_ctx512.log" 2>&1
  {
    echo "# llama-perplexity -m $(basename "$MODEL") -f webtext.txt -c $CTX -b $CTX -t $THREADS"
    echo "# (lines kept from the full stdout+stderr log)"
    keep_lines "$WORK/ppl_ctx512.log"
  } > "$OUT/perplexity_ctx512.txt"
  $PY ppl "$WORK/ppl_ctx512.log" "$OUT/perplexity_ctx512.json" $CTX
  cat "$OUT/perplexity_ctx512.json"
fi

if has_step kld; then
  # Full ctx-512 base file (all chunks) into WORK, for the summary; too big for the repo.
  "$BIN/llama-perplexity" -m "$MODEL" -f "$OUT/webtext.txt" -c $CTX -b $CTX -t "$THREADS" \
    --kl-divergence-base "$WORK/kld_base_ctx512.bin" > "$WORK/kld_ctx512.log" 2>&1
  python3 "$here/llama_cpp_kld_summary.py" "$WORK/kld_base_ctx512.bin" \
    "$OUT/kld_base_ctx512_summary.json"
  if [[ -n "${KLD_FULL_OUT:-}" ]]; then cp "$WORK/kld_base_ctx512.bin" "$KLD_FULL_OUT"; fi
  # Small complete base file: ctx 32, 1 chunk, 15 scored rows (~1.5 MB).
  "$BIN/llama-perplexity" -m "$MODEL" -f "$OUT/webtext.txt" -c $KLD_CTX -b $KLD_CTX \
    --chunks $KLD_CHUNKS -t "$THREADS" \
    --kl-divergence-base "$OUT/kld_base_ctx${KLD_CTX}.bin" > "$WORK/kld_ctx${KLD_CTX}.log" 2>&1
  {
    echo "# llama-perplexity -m $(basename "$MODEL") -f webtext.txt -c $KLD_CTX -b $KLD_CTX" \
      "--chunks $KLD_CHUNKS -t $THREADS --kl-divergence-base kld_base_ctx${KLD_CTX}.bin"
    keep_lines "$WORK/kld_ctx${KLD_CTX}.log"
    echo "# the same file read back by llama-perplexity --kl-divergence (same model):"
    "$BIN/llama-perplexity" -m "$MODEL" -c $KLD_CTX -b $KLD_CTX -t "$THREADS" \
      --kl-divergence-base "$OUT/kld_base_ctx${KLD_CTX}.bin" --kl-divergence 2>&1 |
      grep -E 'kl_divergence|^ *[0-9]+ +[0-9.]+|Mean|KLD|Same top|RMS|Δp|Maximum|Minimum|Median|percentile|Cor' || true
  } > "$OUT/kld_base_ctx${KLD_CTX}.txt"
  ls -l "$OUT/kld_base_ctx${KLD_CTX}.bin" "$WORK/kld_base_ctx512.bin"
fi

if has_step greedy; then
  $PY prompts "$WORK/prompts.hex"
  helper "$MODEL" "$WORK/prompts.hex" $N_PREDICT "$GREEDY_THREADS" \
    > "$WORK/greedy.raw" 2> "$WORK/greedy.log"
  cat "$WORK/greedy.log"
  bos_id="$(sed -n 's/.* bos=\([0-9-]*\) .*/\1/p' "$WORK/greedy.log" | head -1)"
  add_bos="$(sed -n 's/.* add_bos=\([0-9]\) .*/\1/p' "$WORK/greedy.log" | head -1)"
  $PY greedy "$WORK/prompts.hex" "$WORK/greedy.raw" "$OUT/greedy_32.jsonl" "$bos_id" "$add_bos"
  # The same with llama.cpp's other attention path: how far llama.cpp agrees with itself.
  LLAMA_GREEDY_FLASH_ATTN=0 helper "$MODEL" "$WORK/prompts.hex" $N_PREDICT "$GREEDY_THREADS" \
    > "$WORK/greedy_nofa.raw" 2> "$WORK/greedy_nofa.log"
  $PY greedy "$WORK/prompts.hex" "$WORK/greedy_nofa.raw" "$OUT/greedy_32_nofa.jsonl" "$bos_id" "$add_bos"
  wc -l "$OUT/greedy_32.jsonl"
fi

if has_step tokenize; then
  $PY strings "$WORK/strings" > /dev/null
  mkdir -p "$WORK/tok"
  for f in "$WORK"/strings/str_*.txt; do
    i="$(basename "$f" .txt)"; i="${i#str_}"
    tok() { "$BIN/llama-tokenize" -m "$MODEL" -f "$f" --no-escape --ids --log-disable "$@" 2>/dev/null; }
    tok > "$WORK/tok/ids_$i.txt"
    tok --no-bos > "$WORK/tok/ids_no_bos_$i.txt"
    tok --no-parse-special > "$WORK/tok/ids_no_parse_special_$i.txt"
  done
  # Cross-check column: our helper's llama_tokenize(add_special=true, parse_special=true), the
  # same call llama-simple/llama-cli make for a prompt (N_PREDICT=0: tokenize only).
  helper "$MODEL" "$WORK/strings/list.hex" 0 1 > "$WORK/tok_special.raw" 2> /dev/null
  $PY tokenize "$WORK/strings" "$WORK/tok" "$OUT/tokenize.jsonl" "$WORK/tok_special.raw"
  wc -l "$OUT/tokenize.jsonl"
fi

if has_step bench; then
  {
    echo "# llama-bench -m $(basename "$MODEL") -t $THREADS -p 512 -n 128 -r 3"
    echo "# date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "# uptime/load before: $(uptime)"
    echo "# lscpu | head -20:"
    lscpu | head -20 | sed 's/^/#   /'
    echo
    "$BIN/llama-bench" -m "$MODEL" -t "$THREADS" -p 512 -n 128 -r 3 2>&1
    echo
    echo "# for comparison, 1 thread (2 OpenMP threads suffer badly when the 2 cores are shared):"
    echo "# llama-bench -m $(basename "$MODEL") -t 1 -p 512 -n 128 -r 3"
    "$BIN/llama-bench" -m "$MODEL" -t 1 -p 512 -n 128 -r 3 2>&1
    echo
    echo "# uptime/load after: $(uptime)"
  } > "$OUT/bench.txt"
  cat "$OUT/bench.txt"
fi

du -ab "$OUT" | sort -n
