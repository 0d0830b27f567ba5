#!/usr/bin/env bash
# Interop check of `assay serve` with third-party clients:
#   1. the official `openai` Python client (chat, streaming chat, completions with echo+logprobs);
#   2. lm-evaluation-harness: `local-completions` (tokenizer_backend=remote: it tokenizes through
#      the server's vLLM-style /tokenize, so nothing is downloaded) and `gguf` (text prompts,
#      scored by text_offset) on two MMLU subjects, --limit 2, from the local CSVs.
# Everything Python lives in a scratch folder outside the repository.
#
# usage: scripts/interop/run_interop.sh [ASSAY_BINARY]
#   SCRATCH=/tmp/assay-interop   venv and outputs
#   ASSAY_DATA=../shared/data    MMLU CSVs (mmlu/test/*_test.csv, mmlu/dev/*_dev.csv)
#   MODEL=default                what assay serves
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
assay="${1:-$repo/build/assay}"
scratch="${SCRATCH:-/tmp/assay-interop}"
data="${ASSAY_DATA:-$repo/../shared/data}"
model="${MODEL:-default}"
mkdir -p "$scratch"

if [ ! -x "$scratch/venv/bin/python" ]; then
  python3 -m venv "$scratch/venv"
fi
py="$scratch/venv/bin/python"
# lm-eval's "api" extra is what its API models need; no torch. Pinned: CI runs this.
"$py" -c "import openai, lm_eval" 2>/dev/null || "$scratch/venv/bin/pip" install -q "openai==3.57.0" "lm-eval[api]==0.4.13"

log="$scratch/serve.log"
"$assay" serve --model "$model" --port 0 > "$scratch/serve.out" 2> "$log" &
serve_pid=$!
trap 'kill -TERM $serve_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q '^listening on ' "$scratch/serve.out" 2>/dev/null && break
  kill -0 $serve_pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
url="$(sed -n 's/^listening on //p' "$scratch/serve.out")"
echo "== assay serve at $url"

echo "== openai client"
"$py" "$here/openai_client_check.py" "$url"

echo "== lm-eval"
model_id="$("$py" -c "import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + '/models'))['data'][0]['id'])" "$url")"
tasks="$scratch/lm_eval_tasks"
mkdir -p "$tasks"
for subject in abstract_algebra anatomy; do
  cat > "$tasks/assay_mmlu_$subject.yaml" <<YAML
task: assay_mmlu_$subject
dataset_path: csv
dataset_kwargs:
  data_files:
    test: $data/mmlu/test/${subject}_test.csv
    dev: $data/mmlu/dev/${subject}_dev.csv
  column_names: [question, A, B, C, D, answer]
test_split: test
fewshot_split: dev
output_type: multiple_choice
description: "The following are multiple choice questions (with answers) about $(echo $subject | tr _ ' ').\n\n"
doc_to_text: "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: "{{['A', 'B', 'C', 'D'].index(answer)}}"
metric_list:
  - metric: acc
YAML
done
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
rm -rf "$scratch/lm_eval_local_completions" "$scratch/lm_eval_gguf" "$scratch/assay_direct"
lm_tasks=assay_mmlu_abstract_algebra,assay_mmlu_anatomy
base="${url%/v1}"
set +e
"$scratch/venv/bin/lm_eval" --model local-completions \
  --model_args "base_url=$url/completions,model=$model_id,tokenizer_backend=remote,tokenized_requests=True,num_concurrent=4,max_retries=1" \
  --include_path "$tasks" --tasks "$lm_tasks" --limit 2 --num_fewshot 0 \
  --output_path "$scratch/lm_eval_local_completions" --log_samples 2>&1 | tail -25
lc=${PIPESTATUS[0]}
"$scratch/venv/bin/lm_eval" --model gguf --model_args "base_url=$base" \
  --include_path "$tasks" --tasks "$lm_tasks" --limit 2 --num_fewshot 0 \
  --output_path "$scratch/lm_eval_gguf" --log_samples 2>&1 | tail -12
gg=${PIPESTATUS[0]}
set -e
echo "== lm-eval exit codes: local-completions $lc, gguf $gg"

echo "== stopping assay serve (SIGTERM)"
kill -TERM $serve_pid
rc=0
wait $serve_pid || rc=$?
echo "assay serve exit code $rc"
trap - EXIT

echo "== lm-eval through assay serve vs assay on the local engine"
"$assay" run --model "$model" --tasks mmlu_abstract_algebra,mmlu_anatomy --num-fewshot 0 --limit 2 \
  --log-samples --data-dir "$data" --output "$scratch/assay_direct" > "$scratch/assay_direct.md" 2>&1
cmp=0
"$py" - "$scratch" <<'PY' || cmp=$?
import glob, json, os, sys
scratch = sys.argv[1]
def load(pattern, prefix):
    out = {}
    for p in glob.glob(pattern):
        subject = os.path.basename(p)[len(prefix):].split("_20")[0].removesuffix(".jsonl")
        for line in open(p):
            r = json.loads(line)
            out[(subject, r["doc_id"])] = ([float(x[0][0]) for x in r["resps"]], float(r["acc"]))
    return out
direct = load(f"{scratch}/assay_direct/samples_mmlu_*.jsonl", "samples_mmlu_")
bad = 0
for name in ("lm_eval_local_completions", "lm_eval_gguf"):
    got = load(f"{scratch}/{name}/*/samples_assay_mmlu_*.jsonl", "samples_assay_mmlu_")
    worst = 0.0
    for key, (lls, acc) in direct.items():
        if key not in got:
            print(f"{name}: missing {key}"); bad += 1; continue
        worst = max([worst] + [abs(a - b) for a, b in zip(lls, got[key][0])])
        bad += got[key][1] != acc or len(got[key][0]) != len(lls)
    bad += worst > 1e-4 or len(got) != len(direct)
    print(f"{name}: {len(got)} docs, {len(direct)} from assay run; max |d loglik| {worst:.2e}")
sys.exit(1 if bad or not direct else 0)
PY
echo "== interop: serve exit $rc, local-completions $lc, gguf $gg, comparison $cmp"
[ "$rc" = 0 ] && [ "$lc" = 0 ] && [ "$gg" = 0 ] && [ "$cmp" = 0 ]
