#!/usr/bin/env bash
# Splits the default model (98 MB) into .devmodel/ parts small enough to travel to the GPU
# machine beside .devpack: a call's working tree is limited to 64 MiB, so the parts go over
# several calls (each naming some of them in carry), and benchmarks/device_check.sh joins them
# there once all have arrived (ignored paths stay on a warm machine between calls).
#
#   bash benchmarks/device/model_parts.sh          # here: .devmodel/part-aa ... + MANIFEST, SHA256
#   carry [".devpack", ".devmodel/part-aa", ".devmodel/MANIFEST", ".devmodel/SHA256"], then
#   carry [".devmodel/part-ab", ".devmodel/part-ac"], ... and the device_check call last.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${1:-${ASSAY_DEFAULT_MODEL:-$HOME/.cache/assay/models/SmolLM2-135M-Instruct.Q4_1.gguf}}
[[ -f $src ]] || { echo "model_parts.sh: $src not found (run scripts/setup)" >&2; exit 1; }
rm -rf .devmodel
mkdir -p .devmodel
split -b "${PART_MB:-25}M" -a 2 "$src" .devmodel/part-
(cd .devmodel && ls part-* > MANIFEST && sha256sum "$src" | cut -d' ' -f1 > SHA256)
echo "model_parts.sh: $(basename "$src") as $(wc -l < .devmodel/MANIFEST) parts:"
ls -la .devmodel
