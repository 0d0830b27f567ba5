#!/usr/bin/env bash
# MMLU 5-shot end-to-end parity: assay vs lm-evaluation-harness on the same GGUF and data
# (issue #5). Runs both on the first LIMIT test questions of every subject, then compares
# accuracy (micro and macro), per-question agreement and per-option log-likelihoods.
#
# Usage: scripts/reference/mmlu_lm_eval_parity.sh [LIMIT|all]   (default 5 = 285 questions)
#
# Environment (defaults in brackets):
#   SCRATCH   scratch dir, never inside the repo               [/tmp/mmlu-parity]
#   VENV      venv with lm-eval 0.4.13                         [/tmp/lmeval/venv]
#   LLAMA_PY  llama-cpp-python 0.3.36 source tree (its llama_cpp/ package is used as is)
#                                                               [/tmp/llamacpp/llama_cpp_python-0.3.36]
#   LLAMA_LIB dir with libllama.so/libggml*.so built from the llama.cpp vendored in 0.3.36
#                                                               [/tmp/llamacpp/build/bin]
#   MODEL     GGUF                  [~/.cache/assay/models/SmolLM2-135M-Instruct.Q4_1.gguf]
#   DATA      data root holding mmlu/{dev,test}/*.csv          [<repo>/../shared/data]
#   ASSAY     assay binary                                     [<repo>/build/assay]
#   THREADS   threads for llama.cpp                            [2]
#   ASSAY_MODEL_ARGS  --model-args for the assay run, e.g. precision=f32 (float arithmetic on the
#             dequantized weights: what the HF backend below computes)    [none]
#   SUBJECTS  comma-separated subjects (e.g. abstract_algebra,anatomy) instead of all 57; with
#             LIMIT=all they are run whole, which is how the full run's speed ratio is measured
#             (a whole subject shares its few-shot header over all its questions)
#   GGUF_PROBE=1  also start `python -m llama_cpp.server` and send the 4 requests of one
#             question exactly as lm-eval's `gguf` backend does (shows its result; slow:
#             about 80 s per request on a 2-core machine)
#   CALIBRATE=1  also run the lm-eval side with llama.cpp flash attention on and compare it with
#             the flash-attention-off run: how well llama.cpp agrees with itself (noise floor)
#   DOCS=A-B  with one subject in SUBJECTS and LIMIT=all: only its test questions A..B-1, for
#             the HF backend run (lm-eval --samples; it numbers them 0.. in its samples file,
#             `compact --part A-B` maps them back). Splits a long subject into shorter runs.
#   SKIP_ASSAY=1 / SKIP_LMEVAL=1  reuse an existing output dir
#   CACHE=DIR  lm-eval's request cache (`use_cache`) for the lm-eval runs, under DIR: a stopped
#             run started again with the same arguments only computes what is missing (the full
#             MMLU run with the HF backend takes about 6.5 h on a 2-core machine). Each start
#             appends its wall time and lm-eval's "Cached requests: …" line to the run's wall.txt,
#             so the total compute time is the sum over starts
#   HF_VENV   also run lm-eval's own Hugging Face backend reading the GGUF (`lm_eval --model hf
#             --model_args pretrained=DIR,gguf_file=FILE`: transformers dequantizes it to F32),
#             with a venv that has lm-eval 0.4.13, torch, transformers, gguf and accelerate
#             (`pip install lm-eval==0.4.13 torch transformers gguf accelerate`); HF_BATCH [16]
#
# Why not lm-eval's `gguf` backend for the full comparison: with llama-cpp-python 0.3.36's
# server, /v1/completions with echo+logprobs (a) pairs each prompt token with the logits
# row *after* it (off by one) and (b) drops the generated token, so lm_eval.models.gguf.
# get_result sums an empty slice and every option scores 0.0 (argmax = always "A"); and
# (c) the server sorts the whole vocabulary in Python for every prompt token (~80 s per
# 5-shot request here). So the reference run uses lm-eval's own evaluator, task template,
# few-shot sampler, TemplateLM._encode_pair and metrics, with the model scored in process
# by the same llama-cpp-python/libllama (helper: mmlu_lm_eval_parity.py, class LlamaCppLM).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIMIT="${1:-5}"
SCRATCH="${SCRATCH:-/tmp/mmlu-parity}"
VENV="${VENV:-/tmp/lmeval/venv}"
LLAMA_PY="${LLAMA_PY:-/tmp/llamacpp/llama_cpp_python-0.3.36}"
LLAMA_LIB="${LLAMA_LIB:-/tmp/llamacpp/build/bin}"
MODEL="${MODEL:-$HOME/.cache/assay/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
DATA="${DATA:-$REPO/../shared/data}"
ASSAY="${ASSAY:-$REPO/build/assay}"
THREADS="${THREADS:-2}"
HELPER="$REPO/scripts/reference/mmlu_lm_eval_parity.py"
PY="$VENV/bin/python"

case "$SCRATCH" in "$REPO"/*) echo "SCRATCH must be outside the repo" >&2; exit 2;; esac
mkdir -p "$SCRATCH"
export HF_HOME="$SCRATCH/hf" HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export LLAMA_CPP_LIB_PATH="$LLAMA_LIB" PYTHONPATH="$LLAMA_PY${PYTHONPATH:+:$PYTHONPATH}"

# 1. Python deps of llama-cpp-python (+ its server extra) in the lm-eval venv; only the
#    llama.cpp-backed steps need them (an HF-backend-only run, SKIP_LMEVAL=1, does not).
NEED_LLAMA=0
[ "${SKIP_LMEVAL:-0}" = 1 ] && [ "${GGUF_PROBE:-0}" != 1 ] && [ "${CALIBRATE:-0}" != 1 ] || NEED_LLAMA=1
if [ "$NEED_LLAMA" = 1 ] && ! "$PY" -c 'import diskcache, fastapi, uvicorn, sse_starlette, starlette_context, pydantic_settings' 2>/dev/null; then
  "$VENV/bin/pip" install -q "diskcache>=5.6.1" "uvicorn>=0.22.0" "fastapi>=0.100.0" \
    "pydantic-settings>=2.0.1" "sse-starlette>=1.6.1" "starlette-context>=0.3.6,<0.4" PyYAML
fi
if [ "$NEED_LLAMA" = 1 ]; then
  "$PY" -c 'import llama_cpp, lm_eval; print("llama_cpp", llama_cpp.__version__, "| lm_eval", lm_eval.__version__)'
fi

# 2. Local copies of the MMLU CSVs in cais/mmlu layout + lm-eval task YAMLs (scratch only).
"$PY" "$HELPER" prepare --data "$DATA/mmlu" --scratch "$SCRATCH"

TAG="l$LIMIT${SUBJECTS:+_$(echo "$SUBJECTS" | tr ',' '+' | cut -c1-60)}${DOCS:+_$DOCS}"
A_TASKS=mmlu L_TASKS=mmlu_local
if [ -n "${SUBJECTS:-}" ]; then
  A_TASKS="$(echo "$SUBJECTS" | sed -E 's/(^|,)/\1mmlu_/g')"
  L_TASKS="$(echo "$SUBJECTS" | sed -E 's/(^|,)/\1mmlu_local_/g')"
fi
A_LIMIT=(--limit "$LIMIT") L_LIMIT=(--limit "$LIMIT")
if [ "$LIMIT" = all ]; then A_LIMIT=(); L_LIMIT=(); fi
A_OUT="$SCRATCH/assay_$TAG"
L_OUT="$SCRATCH/lmeval_$TAG"
uptime

# 3. assay.
if [ "${SKIP_ASSAY:-0}" != 1 ]; then
  rm -rf "$A_OUT"; mkdir -p "$A_OUT"
  t0=$(date +%s.%N)
  "$ASSAY" run --model default --tasks "$A_TASKS" --num-fewshot 5 "${A_LIMIT[@]}" \
    ${ASSAY_MODEL_ARGS:+--model-args "$ASSAY_MODEL_ARGS"} \
    --output "$A_OUT" --log-samples --data-dir "$DATA" > "$A_OUT/stdout.txt" 2> "$A_OUT/stderr.txt"
  t1=$(date +%s.%N)
  echo "assay wall: $(echo "$t1 - $t0" | bc) s" | tee "$A_OUT/wall.txt"
  uptime
fi

# 4. lm-eval (in-process llama-cpp-python scorer, lm-eval evaluator and task template).
if [ "${SKIP_LMEVAL:-0}" != 1 ]; then
  rm -rf "$L_OUT"
  t0=$(date +%s.%N)
  "$PY" "$HELPER" lmeval --scratch "$SCRATCH" --model "$MODEL" --out "$L_OUT" --tasks "$L_TASKS" \
    "${L_LIMIT[@]}" --threads "$THREADS" ${CACHE:+--cache "$CACHE/llamacpp_$TAG"} > "$SCRATCH/lmeval_$TAG.log" 2>&1
  t1=$(date +%s.%N)
  echo "lm-eval wall: $(echo "$t1 - $t0" | bc) s (process, incl. model load)" | tee "$L_OUT/wall.txt"
  [ -z "${CACHE:-}" ] || grep -h "Cached requests" "$SCRATCH/lmeval_$TAG.log" | tee -a "$L_OUT/wall.txt"
  tail -1 "$SCRATCH/lmeval_$TAG.log"
  uptime
fi

# 4b. Optional: lm-eval's own HF backend on the same GGUF, as a user would run it.
if [ -n "${HF_VENV:-}" ]; then
  H_OUT="$SCRATCH/lmeval_hf_$TAG"
  rm -rf "$H_OUT.raw"
  [ -n "${CACHE:-}" ] || rm -rf "$H_OUT"
  HF_LIMIT=(); [ "$LIMIT" = all ] || HF_LIMIT=(--limit "$LIMIT")
  if [ -n "${DOCS:-}" ]; then
    case "$LIMIT,${SUBJECTS:-}" in all,*,*|all,) echo "DOCS needs LIMIT=all and one subject" >&2; exit 2;; all,*) ;; *) echo "DOCS needs LIMIT=all" >&2; exit 2;; esac
    HF_LIMIT=(--samples "{\"$L_TASKS\": [$(seq -s, "${DOCS%-*}" $((${DOCS#*-} - 1)))]}")
  fi
  [ -z "${CACHE:-}" ] || { mkdir -p "$CACHE"; HF_LIMIT+=(--use_cache "$CACHE/hf_$TAG"); }
  # Appended, not replaced: with CACHE a run may take several starts, each logged with its time.
  [ -n "${CACHE:-}" ] || : > "$SCRATCH/lmeval_hf_$TAG.log"
  echo "=== start $(date -u +%FT%TZ) $(uptime)" >> "$SCRATCH/lmeval_hf_$TAG.log"
  t0=$(date +%s.%N)
  "$HF_VENV/bin/lm_eval" --model hf \
    --model_args "pretrained=$(dirname "$MODEL"),gguf_file=$(basename "$MODEL"),dtype=float32" \
    --tasks "$L_TASKS" --include_path "$SCRATCH/tasks" --num_fewshot 5 "${HF_LIMIT[@]}" \
    --batch_size "${HF_BATCH:-16}" --log_samples --output_path "$H_OUT.raw" >> "$SCRATCH/lmeval_hf_$TAG.log" 2>&1 \
    || { echo "lm-eval hf stopped after $(echo "$(date +%s.%N) - $t0" | bc) s; see $SCRATCH/lmeval_hf_$TAG.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  mkdir -p "$H_OUT"
  for f in "$H_OUT.raw"/*/samples_*.jsonl; do
    b="$(basename "$f")"; cp "$f" "$H_OUT/${b%_*}.jsonl"   # drop lm-eval's date suffix
  done
  echo "lm-eval hf wall: $(echo "$t1 - $t0" | bc) s (process, incl. GGUF dequantization)" | tee "$H_OUT/wall.txt"
  [ -z "${CACHE:-}" ] || grep -h "=== start\|Cached requests" "$SCRATCH/lmeval_hf_$TAG.log" | tee -a "$H_OUT/wall.txt"
  if ls "$A_OUT"/samples_*.jsonl >/dev/null 2>&1; then
    echo "== assay vs lm-eval's HF backend on the dequantized GGUF =="
    "$PY" "$HELPER" compare --assay "$A_OUT" --lmeval "$H_OUT" --json "$SCRATCH/compare_hf_$TAG.json" | grep -v '^| [a-z]'
  fi
  uptime
fi

# 5. Optional: lm-eval's real `gguf` backend path against llama-cpp-python's server, one question.
if [ "${GGUF_PROBE:-0}" = 1 ]; then
  PORT=8765
  "$PY" -m llama_cpp.server --model "$MODEL" --logits_all true --n_ctx 8192 \
    --n_threads "$THREADS" --n_threads_batch "$THREADS" --host 127.0.0.1 --port $PORT \
    > "$SCRATCH/server.log" 2>&1 &
  SPID=$!
  trap 'kill $SPID 2>/dev/null || true' EXIT
  for _ in $(seq 60); do curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break; sleep 1; done
  "$PY" "$HELPER" gguf-probe --data "$DATA/mmlu" --url "http://127.0.0.1:$PORT" | tee "$SCRATCH/gguf_probe.jsonl"
  kill $SPID; trap - EXIT
fi

# 6. Optional noise floor: llama.cpp (flash attention on) vs llama.cpp (off), same lm-eval setup.
if [ "${CALIBRATE:-0}" = 1 ]; then
  F_OUT="$SCRATCH/lmeval_fa_$TAG"
  rm -rf "$F_OUT"
  "$PY" "$HELPER" lmeval --scratch "$SCRATCH" --model "$MODEL" --out "$F_OUT" --tasks "$L_TASKS" \
    "${L_LIMIT[@]}" --threads "$THREADS" --flash-attn > "$SCRATCH/lmeval_fa_$TAG.log" 2>&1
  echo "== calibration: llama.cpp flash-attn on (as 'assay' column) vs off (as 'lm-eval' column) =="
  "$PY" "$HELPER" compare --assay "$F_OUT" --lmeval "$L_OUT" --json "$SCRATCH/compare_fa_$TAG.json" \
    | grep -v '^| [a-z]'
fi

# 7. Compare.
echo "assay:   $(cat "$A_OUT/wall.txt" 2>/dev/null || echo '?')"
echo "lm-eval: $(cat "$L_OUT/wall.txt" 2>/dev/null || echo '?')"
[ -f "$L_OUT/results.json" ] || { echo "no in-process lm-eval run in $L_OUT (SKIP_LMEVAL=1)"; exit 0; }
"$PY" "$HELPER" compare --assay "$A_OUT" --lmeval "$L_OUT" --json "$SCRATCH/compare_$TAG.json"
