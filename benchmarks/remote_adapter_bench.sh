#!/usr/bin/env bash
# assay's remote adapter vs the Python openai async client: N chat requests, 512 in flight, against
# the same trivial local server (remote_adapter_bench server). Goal: >= 5x requests per CPU-second.
# Writes benchmarks/results/<date>-remote-adapter.md.
#
# usage: benchmarks/remote_adapter_bench.sh BUILD_DIR [PYTHON]   (PYTHON needs `openai`)
#   N=5000 INFLIGHT=512 REPEATS=3
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: $0 BUILD_DIR [PYTHON]}"
py="${2:-python3}"
n="${N:-5000}"
inflight="${INFLIGHT:-512}"
repeats="${REPEATS:-3}"
bench="$build/benchmarks/remote_adapter_bench"
ulimit -n 65536 2>/dev/null || ulimit -n 4096 || true

out="$(mktemp)"
"$bench" server > "$out" &
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
url="$(sed -n 's/^listening on //p' "$out")"

assay_lines=() py_lines=()
for r in $(seq 1 "$repeats"); do
  assay_lines+=("$("$bench" client "$url" "$n" "$inflight")")
  py_lines+=("$("$py" "$here/remote_adapter_bench_openai.py" "$url" "$n" "$inflight")")
done
printf '%s\n' "${assay_lines[@]}" "${py_lines[@]}"

summary="$(python3 - "${assay_lines[@]}" -- "${py_lines[@]}" <<'PY'
import json, statistics, sys
args = sys.argv[1:]
cut = args.index("--")
a = [json.loads(x) for x in args[:cut]]
p = [json.loads(x) for x in args[cut + 1:]]
med = lambda rows, k: statistics.median(r[k] for r in rows)
ra, rp = med(a, "req_per_cpu_s"), med(p, "req_per_cpu_s")
print(f"| client | req/s (median) | CPU s (median) | req per CPU-second (median) |")
print(f"|---|---:|---:|---:|")
print(f"| assay remote adapter (libcurl multi) | {med(a, 'req_per_s'):.0f} | {med(a, 'cpu_s'):.2f} | {ra:.0f} |")
print(f"| {p[0]['client']} (AsyncOpenAI, default HTTP client) | {med(p, 'req_per_s'):.0f} | {med(p, 'cpu_s'):.2f} | {rp:.0f} |")
print()
print(f"**Ratio (requests per CPU-second, assay / openai-python): {ra / rp:.1f}x** (goal: at least 5x); "
      f"wall-clock requests/s ratio {med(a, 'req_per_s') / med(p, 'req_per_s'):.1f}x.")
PY
)"
echo "$summary"

date_utc="$(date -u +%Y-%m-%d)"
result="$here/results/$date_utc-remote-adapter.md"
mkdir -p "$here/results"
{
  echo "# Remote adapter throughput vs the Python openai client ($date_utc)"
  echo
  echo "Command: \`N=$n INFLIGHT=$inflight REPEATS=$repeats benchmarks/remote_adapter_bench.sh $build $py\`"
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr);" \
       "date $(date -u '+%Y-%m-%d %H:%M UTC'). Shared machine: other builds were running, so wall-clock"\
       "numbers are noisy; CPU seconds are the clients' own (getrusage / time.process_time)."
  echo
  echo "Each client sends $n chat completions, $inflight in flight, to the same trivial server"
  echo "(\`remote_adapter_bench server\`: Beast, fixed JSON answer, its own process), $repeats runs each."
  echo
  echo "$summary"
  echo
  echo "Raw runs:"
  echo
  echo '```'
  printf '%s\n' "${assay_lines[@]}" "${py_lines[@]}"
  echo '```'
} > "$result"
echo "wrote $result"
