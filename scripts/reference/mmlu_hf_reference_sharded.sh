#!/usr/bin/env bash
# lm-eval's own HF-backend result on all 14,042 MMLU questions, in shards of subjects, kept in the
# repository as a compact reference (issue #5). The full reference takes about 9-10 h on a 2-core
# machine, longer than one working session, and scratch space does not outlive a session: so each
# finished shard is compacted (per question: the four options' log-likelihoods, acc, lm-eval's
# prompt hash; `mmlu_lm_eval_parity.py compact`) into REF, which is committed, and a shard whose
# subjects are all in REF is never run again. A stopped shard resumes from lm-eval's request cache
# while the scratch folder lasts.
#
# Usage: scripts/reference/mmlu_hf_reference_sharded.sh [ASSAY_OUTPUT_DIR]
#   ASSAY_OUTPUT_DIR: a full `assay run --tasks mmlu --num-fewshot 5 --log-samples` output
#   (for example with --model-args precision=f32); compared with REF once every shard is there.
# Environment: as scripts/reference/mmlu_lm_eval_parity.sh (SCRATCH, HF_VENV, MODEL, DATA);
#   REF [tests/tasks/testdata/mmlu_lm_eval_hf]; SHARDS [scripts/reference/mmlu_hf_shards.txt: one
#   comma-separated subject list per line, or SUBJECT:A-B for its test questions A..B-1 alone
#   (kept as REF/mmlu_SUBJECT.pA-B.jsonl), about 10-40 min of lm-eval each]; HF_BATCH [4: 16
#   needs more than 24 GiB on the longest prompts]. A shard still running when the session's
#   scratch space goes is lost, hence short shards.
# Each shard's wall and CPU time (process, incl. model load) is appended to REF/shards.tsv, with
# the date, the machine and the versions; its sum over shards is lm-eval's time for the full run.
# To run it in the background on idle CPU only: `setsid nohup chrt -i 0 SCRIPT ... &` with
# BACKGROUND=1, which also sets its session's autogroup to nice 19 (with the kernel's autogroups
# on, every session gets an equal CPU share whatever its processes' policy, so SCHED_IDLE alone
# still takes half of a 2-core machine from the foreground). Times measured so are not quiet.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
A_OUT=""
[ -z "${1:-}" ] || A_OUT="$(cd "$1" && pwd)"
SCRATCH="${SCRATCH:-/tmp/mmlu-parity}"
SHARDS="${SHARDS:-$REPO/scripts/reference/mmlu_hf_shards.txt}"
REF="${REF:-$REPO/tests/tasks/testdata/mmlu_lm_eval_hf}"
: "${HF_VENV:?set HF_VENV to a venv with lm-eval 0.4.13, torch, transformers, gguf, accelerate}"
export SCRATCH HF_VENV HF_BATCH="${HF_BATCH:-4}" VENV="${VENV:-$HF_VENV}"
PY="$VENV/bin/python"
HELPER="$REPO/scripts/reference/mmlu_lm_eval_parity.py"
mkdir -p "$SCRATCH/cache" "$REF"
if [ "${BACKGROUND:-0}" = 1 ]; then echo 19 > /proc/self/autogroup 2>/dev/null || true; fi
[ -f "$REF/shards.tsv" ] || printf 'date\tsubjects\tquestions\twall_s\tcpu_s\tmachine\tversions\n' > "$REF/shards.tsv"
versions="$("$HF_VENV/bin/python" -c 'from importlib.metadata import version as v; print(", ".join(f"{p} {v(p)}" for p in ("lm_eval", "torch", "transformers", "gguf")))' 2>/dev/null || echo '?')"
machine="$(nproc)-core $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"

# A shard is "s1,s2,..." (whole subjects) or "s:A-B" (questions A..B-1 of subject s).
subjects_of() { echo "${1%%:*}"; }
docs_of() { [[ $1 == *:* ]] && echo "${1#*:}" || true; }
tag_of() {
  local d; d="$(docs_of "$1")"
  echo "lall_$(subjects_of "$1" | tr ',' '+' | cut -c1-60)${d:+_$d}"
}
in_ref() {
  local s d; d="$(docs_of "$1")"
  if [ -n "$d" ]; then [ -s "$REF/mmlu_$(subjects_of "$1").p$d.jsonl" ]; return; fi
  for s in ${1//,/ }; do [ -s "$REF/mmlu_$s.jsonl" ] || return 1; done
}

# Shards are read up front: the list may be edited while a run is in progress.
mapfile -t shards < <(grep -v '^\s*$' "$SHARDS")
for subj in "${shards[@]}"; do
  if in_ref "$subj"; then continue; fi
  tag="$(tag_of "$subj")"
  echo "$(date -u +%FT%TZ) shard start: $subj"
  # CPU time of the lm-eval process (children included) as the shell's `times` sees it.
  t0=$(date +%s.%N)
  SUBJECTS="$(subjects_of "$subj")" DOCS="$(docs_of "$subj")" CACHE="$SCRATCH/cache" SKIP_ASSAY=1 SKIP_LMEVAL=1 \
    bash -c '"$0" all; times' "$REPO/scripts/reference/mmlu_lm_eval_parity.sh" > "$SCRATCH/shard_$tag.log" 2>&1 || true
  t1=$(date +%s.%N)
  H="$SCRATCH/lmeval_hf_$tag"
  grep -q "lm-eval hf wall" "$H/wall.txt" 2>/dev/null \
    || { echo "shard did not finish: $subj (see $SCRATCH/shard_$tag.log); run again to resume" >&2; exit 1; }
  d="$(docs_of "$subj")"
  "$PY" "$HELPER" compact --lmeval "$H" --out "$REF" ${d:+--part "$d"}
  n=$(cat "$H"/samples_*.jsonl | wc -l)
  # `times` prints the shell's then its children's user/sys; the children line is lm-eval's.
  cpu=$(tail -1 "$SCRATCH/shard_$tag.log" | awk '{ t=0; for (i=1;i<=NF;i++) { split($i,a,"m"); t+=a[1]*60+a[2] } print t }')
  starts=$(grep -c "=== start" "$H/wall.txt" || true)
  printf '%s\t%s\t%s\t%.1f\t%.1f\t%s\t%s\n' "$(date -u +%F)" "$subj" "$n" \
    "$(echo "$t1 - $t0" | bc)" "$cpu" "$machine${starts:+, $starts start(s)}" "$versions" >> "$REF/shards.tsv"
done

echo "every shard is in $REF"
awk -F'\t' 'NR>1 { q+=$3; w+=$4; c+=$5 } END { printf "lm-eval hf, summed over shards: %d questions, %.0f s wall, %.0f CPU-s\n", q, w, c }' "$REF/shards.tsv"
[ -n "$A_OUT" ] || exit 0
# transformers' GGUF tokenizer lacks SmolLM2's digit split (see `tokdiff`): the comparison is
# also reported on the questions whose contexts both sides tokenize alike.
"$PY" "$HELPER" tokdiff --assay "$A_OUT" --model "${MODEL:-$HOME/.cache/assay/models/SmolLM2-135M-Instruct.Q4_1.gguf}" \
  --json "$SCRATCH/tokdiff_full.json"
"$PY" "$HELPER" compare --assay "$A_OUT" --lmeval "$REF" --tokdiff "$SCRATCH/tokdiff_full.json" \
  --json "$SCRATCH/compare_hf_full.json"
