#!/usr/bin/env bash
# How close can two correct engines get on the default model? Scores webtext.txt (ctx 512, the
# first CHUNKS chunks) with assay, writes llama.cpp's KL-divergence logits file, then scores it
# again with every attention output changed by N ulp (ASSAY_DEBUG_PERTURB_ATTN_ULP=N) and prints
# the mean KL divergence and top-1 agreement against the unperturbed run. If a 1-ulp change
# already moves the KL as far as another engine is, no engine short of bit-identical arithmetic
# meets a tighter bound. With LLAMA_BASE=FILE (a llama-perplexity --kl-divergence-base file of
# the same text and ctx), assay is also compared against it. With LLAMA_BIN=DIR (a llama.cpp
# build/bin holding llama-quantize and llama-perplexity), the default model is also dequantized
# to F32 by llama-quantize and assay compared with llama.cpp on it: the same weights without the
# 8-bit activation rounding that makes the quantized model chaotic.
#
#   scripts/reference/kl_noise_floor.sh [CHUNKS=3] [ULPS="1 2 8"]
set -euo pipefail
cd "$(dirname "$0")/../.."
chunks="${1:-3}"
ulps="${2:-1 2 8}"
assay=build/assay
text=tests/engines/local/testdata/llama_cpp/webtext.txt
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

summary() { grep -E "Mean +KLD|Same top p" | sed -E 's/ +/ /g' | tr '\n' ' '; echo; }

"$assay" perplexity --model default --file "$text" --ctx 512 --chunks "$chunks" \
  --kl-divergence-base "$scratch/base.bin" 2>&1 | grep "Final estimate"
for n in $ulps; do
  printf 'assay, attention %s ulp off, vs assay: ' "$n"
  ASSAY_DEBUG_PERTURB_ATTN_ULP="$n" "$assay" perplexity --model default \
    --kl-divergence-base "$scratch/base.bin" --kl-divergence 2>&1 | summary
done
if [ -n "${LLAMA_BASE:-}" ]; then
  printf 'assay vs llama.cpp (%s): ' "$LLAMA_BASE"
  "$assay" perplexity --model default --kl-divergence-base "$LLAMA_BASE" --kl-divergence 2>&1 | summary
fi
if [ -n "${LLAMA_BIN:-}" ]; then
  model="${MODEL:-$HOME/.cache/assay/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
  export LD_LIBRARY_PATH="$LLAMA_BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  "$LLAMA_BIN/llama-quantize" --allow-requantize "$model" "$scratch/f32.gguf" F32 2 > "$scratch/quantize.log" 2>&1
  "$LLAMA_BIN/llama-perplexity" -m "$scratch/f32.gguf" -f "$text" -c 512 -b 512 -t 2 --chunks "$chunks" \
    --kl-divergence-base "$scratch/f32_llama.bin" > "$scratch/f32_llama.log" 2>&1
  printf 'F32 (dequantized by llama-quantize): assay vs llama.cpp: '
  "$assay" perplexity --model "local:$scratch/f32.gguf" --kl-divergence-base "$scratch/f32_llama.bin" \
    --kl-divergence 2>&1 | summary
  "$assay" perplexity --model "local:$scratch/f32.gguf" --file "$text" --ctx 512 --chunks "$chunks" \
    --kl-divergence-base "$scratch/f32_base.bin" > /dev/null 2>&1
  printf 'F32: assay, attention 1 ulp off, vs assay: '
  ASSAY_DEBUG_PERTURB_ATTN_ULP=1 "$assay" perplexity --model "local:$scratch/f32.gguf" \
    --kl-divergence-base "$scratch/f32_base.bin" --kl-divergence 2>&1 | summary
fi
