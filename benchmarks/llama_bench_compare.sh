#!/usr/bin/env bash
# assay bench and llama-bench side by side on the same model, threads and machine, in one run,
# alternating the two tools per repetition so that load from elsewhere hits both alike.
#
#   benchmarks/llama_bench_compare.sh LLAMA_BENCH [MODEL] [THREADS] [ROUNDS]
#
# LLAMA_BENCH: a llama-bench binary built from llama.cpp's source (see
# scripts/reference/make_llama_cpp_fixtures.sh for the build). MODEL defaults to the default
# model, THREADS to the core count, ROUNDS (each: pp512 + tg128 once per tool) to 3.
# Prints a Markdown table with each tool's mean tokens/s and assay's ratio to llama.cpp.
set -euo pipefail
cd "$(dirname "$0")/.."
llama_bench="${1:?usage: $0 LLAMA_BENCH [MODEL] [THREADS] [ROUNDS]}"
model="${2:-$HOME/.cache/assay/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
threads="${3:-$(nproc)}"
rounds="${4:-3}"
assay="${ASSAY_BIN:-build/assay}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for r in $(seq 1 "$rounds"); do
  "$llama_bench" -m "$model" -p 512 -n 128 -t "$threads" -r 1 -o json > "$tmp/llama_$r.json" 2>/dev/null
  "$assay" bench --model "local:$model" --pp 512 --tg 128 --reps 1 \
    --model-args "threads=$threads" --json "$tmp/assay_$r.json" > /dev/null
done

python3 - "$tmp" "$rounds" "$model" "$threads" <<'EOF'
import json, os, statistics, sys
tmp, rounds, model, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ll = {"pp": [], "tg": []}
us = {"pp": [], "tg": []}
rss = []
for r in range(1, rounds + 1):
    for t in json.load(open(os.path.join(tmp, f"llama_{r}.json"))):
        kind = "pp" if t["n_prompt"] > 0 else "tg"
        ll[kind].append(t["avg_ts"])
    a = json.load(open(os.path.join(tmp, f"assay_{r}.json")))
    us["pp"].append(a["pp_tokens_per_s"])
    us["tg"].append(a["tg_tokens_per_s"])
    rss.append(a["peak_rss_mib"])
print(f"model {os.path.basename(model)}, {threads} threads, {rounds} alternating rounds")
print("| test | llama.cpp t/s | assay t/s | assay / llama.cpp |")
print("|---|---|---|---|")
for kind, name in (("pp", "pp512"), ("tg", "tg128")):
    l, a = statistics.mean(ll[kind]), statistics.mean(us[kind])
    print(f"| {name} | {l:.1f} | {a:.1f} | {a / l:.2f}x |")
print(f"assay peak RSS {max(rss):.0f} MiB")
EOF
