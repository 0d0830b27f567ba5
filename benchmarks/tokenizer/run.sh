#!/usr/bin/env bash
# Tokenizer speed: assay vs Hugging Face `tokenizers` vs `tiktoken`, Llama 3 vocabulary, ~10 MB
# of mixed text, 1 thread and 2 threads. Builds the corpus in /tmp, checks that the three tools
# give identical ids on every document, then times each tool in its own process, alternating
# tools within each round, and prints the medians with ratios (peer time / assay time; > 1
# means assay is faster), for wall time and for the process's CPU time (which load from other
# processes on a shared machine inflates far less than wall time).
#
# Usage: benchmarks/tokenizer/run.sh [ROUNDS]     (from the repo root)
# Env:   ASSAY_BUILD_DIR (default build), ASSAY_DATA (default ../shared/data),
#        TOKBENCH_VENV (default /tmp/tokbench), TOKBENCH_WORK (default /tmp/tokbench-work)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
build=${ASSAY_BUILD_DIR:-build}
data=${ASSAY_DATA:-$(cd .. && pwd)/shared/data}
venv=${TOKBENCH_VENV:-/tmp/tokbench}
work=${TOKBENCH_WORK:-/tmp/tokbench-work}
hf_dir=$data/tokenizer/hf/llama3
bench=$build/benchmarks/tokenizer_bench
here=benchmarks/tokenizer

if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import tokenizers, tiktoken' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q tokenizers tiktoken
fi
[[ -x $bench ]] || cmake --build "$build" --target tokenizer_bench -j2
mkdir -p "$work"
corpus=$work/corpus.jsonl
[[ -s $corpus ]] || python3 $here/make_corpus.py "$data" "$corpus"

run() {  # tool threads [dump]
  case $1 in
    assay) "$bench" "$hf_dir" "$corpus" "$2" ${3:+"$3"} ;;
    *) "$venv/bin/python" $here/peers.py "$1" "$hf_dir" "$corpus" "$2" ${3:+"$3"} ;;
  esac
}

echo "== identical ids (one line of ids per document)"
for tool in assay hf tiktoken; do run $tool 1 "$work/ids_$tool.txt" > /dev/null; done
cmp "$work/ids_assay.txt" "$work/ids_hf.txt"
cmp "$work/ids_assay.txt" "$work/ids_tiktoken.txt"
echo "assay, tokenizers and tiktoken agree on all $(wc -l < "$work/ids_assay.txt") documents"

results=$work/results.jsonl
: > "$results"
for ((r = 1; r <= rounds; r++)); do
  for threads in 1 2; do
    for tool in assay hf tiktoken; do run $tool $threads >> "$results"; done
  done
done

python3 - "$results" "$corpus" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
mb = sum(len(json.loads(l)['text'].encode()) for l in open(sys.argv[2], encoding='utf-8')) / 1e6
med, cpu = {}, {}
for r in rows:
    med.setdefault((r['tool'], r['threads']), []).append(r['seconds'])
    cpu.setdefault((r['tool'], r['threads']), []).append(r['cpu_seconds'])
tok = rows[0]['tokens']
print(f"corpus: {mb:.1f} MB of text, {rows[0]['docs']} documents, {tok} tokens; "
      f"median of {len(med[('assay', 1)])} runs")
print('| threads | tool | wall s | MB/s | Mtok/s | CPU s | peer/assay wall | peer/assay CPU |')
print('|---|---|---:|---:|---:|---:|---:|---:|')
for threads in (1, 2):
    a = statistics.median(med[('assay', threads)])
    ac = statistics.median(cpu[('assay', threads)])
    for tool, name in (('assay', 'assay'), ('hf', 'tokenizers'), ('tiktoken', 'tiktoken')):
        s = statistics.median(med[(tool, threads)])
        c = statistics.median(cpu[(tool, threads)])
        rw = '-' if tool == 'assay' else f'{s / a:.2f}x'
        rc = '-' if tool == 'assay' else f'{c / ac:.2f}x'
        print(f'| {threads} | {name} | {s:.3f} | {mb / s:.1f} | {tok / s / 1e6:.2f} | {c:.3f} '
              f'| {rw} | {rc} |')
PY
