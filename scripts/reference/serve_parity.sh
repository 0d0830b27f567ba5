#!/usr/bin/env bash
# Issue #6 end to end: `assay run` over real HTTP on loopback against `assay serve --model default`
# gives the same per-sample results as `assay run --model default` on the local engine. No model
# args on the HTTP side: the plain URL is probed for prompt log-probs because mmlu needs them.
#
# Usage: scripts/reference/serve_parity.sh [LIMIT=200] [TASKS=mmlu]
#   SCRATCH [/tmp/serve-parity] (outside the repo); ASSAY [build/assay]; DATA [../shared/data]
#   SKIP_DIRECT=1 reuses $SCRATCH/direct (a resumed run is also fine: results are per request);
#   it may have been run with a larger LIMIT: the HTTP run's samples are compared with the same
#   documents of the direct run.
# Prints, per side, the wall time and accuracy, then how many samples have byte-identical
# responses (the log-likelihood strings as written to samples_*.jsonl) and equal acc.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIMIT="${1:-200}"
TASKS="${2:-mmlu}"
SCRATCH="${SCRATCH:-/tmp/serve-parity}"
ASSAY="${ASSAY:-$REPO/build/assay}"
DATA="${DATA:-$REPO/../shared/data}"
case "$SCRATCH" in "$REPO"/*) echo "SCRATCH must be outside the repo" >&2; exit 2;; esac
mkdir -p "$SCRATCH"
common=(--tasks "$TASKS" --num-fewshot 5 --limit "$LIMIT" --log-samples --data-dir "$DATA")

if [ "${SKIP_DIRECT:-0}" != 1 ]; then
  t0=$(date +%s)
  "$ASSAY" run --model default "${common[@]}" --output "$SCRATCH/direct" > "$SCRATCH/direct.md" 2> "$SCRATCH/direct.err"
  echo "direct: $(( $(date +%s) - t0 )) s"
fi

"$ASSAY" serve --model default --port 0 > "$SCRATCH/serve.out" 2> "$SCRATCH/serve.err" &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
url=""
for _ in $(seq 600); do
  url="$(sed -n 's/^listening on //p' "$SCRATCH/serve.out" | head -1)"
  [ -n "$url" ] && break
  kill -0 $spid 2>/dev/null || { cat "$SCRATCH/serve.err" >&2; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "serve did not start" >&2; exit 1; }
t0=$(date +%s)
"$ASSAY" run --model "$url" "${common[@]}" --output "$SCRATCH/http" > "$SCRATCH/http.md" 2> "$SCRATCH/http.err"
echo "http ($url): $(( $(date +%s) - t0 )) s"
kill -TERM $spid
wait $spid || { echo "serve exited with $?" >&2; exit 1; }
trap - EXIT

python3 - "$SCRATCH/direct" "$SCRATCH/http" <<'PY'
import glob, json, os, sys
direct, http = sys.argv[1], sys.argv[2]
def load(d):
    out = {}
    for p in glob.glob(os.path.join(d, "samples_*.jsonl")):
        task = os.path.basename(p)[len("samples_"):-len(".jsonl")]
        for line in open(p):
            r = json.loads(line)
            out[(task, r["doc_id"], r.get("filter", "none"))] = r
    return out
A, B = load(direct), load(http)
same_resps = same_acc = same_prompt = 0
acc_a = acc_b = 0.0
maxdiff = 0.0
for k, b in B.items():
    a = A.get(k)
    if a is None:
        continue
    acc_a += float(a.get("acc", 0))
    acc_b += float(b.get("acc", 0))
    same_resps += a["resps"] == b["resps"]
    same_acc += a.get("acc") == b.get("acc")
    same_prompt += a.get("prompt_hash") == b.get("prompt_hash")
    for x, y in zip(a["resps"], b["resps"]):
        maxdiff = max(maxdiff, abs(float(x[0][0]) - float(y[0][0])))
ra = json.load(open(os.path.join(direct, "results.json")))
rb = json.load(open(os.path.join(http, "results.json")))
both = len(set(A) & set(B))
print(f"samples: direct {len(A)}, http {len(B)}, in both {both}")
print(f"identical responses {same_resps}, equal acc {same_acc}, equal prompt hash {same_prompt}; "
      f"max |d loglik| {maxdiff:g}")
if both:
    print(f"micro acc over the common samples: direct {acc_a / both:.4f}, http {acc_b / both:.4f}")
print("http model:", json.dumps({k: v for k, v in rb["assay"]["model"].items()
                                  if k in ("spec", "backend", "supports_loglikelihood", "probe.echo_logprobs")}))
ok = len(B) > 0 and both == len(B) == same_resps == same_acc
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
