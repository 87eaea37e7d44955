#!/usr/bin/env bash
# What the harness costs, against one reactor server:
#   1. one-connection 64-byte ECHO ping-pong, by ioduel-pingpong-ref (one
#      blocking socket, nothing else) and by `ioduel drive`, alternated
#      ref, ioduel, ioduel, ref so that drift hits both alike: the round trip
#      the harness adds (budget: 5 us);
#   2. pipelined 64-byte ECHO (workloads/pipeline.json) by `ioduel drive`: the
#      client CPU per request (budget: 1 us).
# Usage: bench/harness/overhead.sh [BUILD_DIR] [SECONDS]   (default build/harness-release, 3)
# IODUEL_BENCH_PIN=1 pins the server to CPU 0 and the clients to CPU 1 (on a
# VM, cross-CPU wake-ups can cost more than the round trip itself).
# Prints a JSON summary on stdout and writes it to results/bench/harness-overhead.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/harness-release}
seconds=${2:-3}
for b in "$build/harness/ioduel" "$build/harness/ioduel-pingpong-ref" "$build/reactor/ioduel-reactor"; do
  [[ -x $b ]] || { echo "overhead: $b is not built (cmake --build $build --target ioduel ioduel-pingpong-ref ioduel-reactor)" >&2; exit 1; }
done
cpus=$(nproc)
pin_server=() pin_client=() taskset_client=()
if [[ ${IODUEL_BENCH_PIN:-0} == 1 ]] && (( cpus >= 2 )) && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0) taskset_client=(taskset -c 1) pin_client=(--pin-client 1)
fi
work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/out"
"${pin_server[@]}" "$build/reactor/ioduel-reactor" --port 0 > "$work/out" &
server_pid=$!
read -r line < "$work/out"   # listening on 127.0.0.1:PORT
target=${line#listening on }
echo "overhead: reactor at $target (pid $server_pid); ${seconds}s per measurement" >&2

ref() { "${taskset_client[@]}" "$build/harness/ioduel-pingpong-ref" --target "$target" --duration "$seconds" --warmup 0.5 > "$work/ref$1.json"; }
harness() {
  "$build/harness/ioduel" drive --quiet --target "$target" --workload workloads/"$2".json \
    --duration "$seconds" --warmup 0.5 "${pin_client[@]}" --out "$work/$2$1.json" 2>/dev/null
}
echo "overhead: ping-pong, reference client" >&2; ref 1
echo "overhead: ping-pong, ioduel drive" >&2;    harness 1 pingpong
echo "overhead: ping-pong, ioduel drive" >&2;    harness 2 pingpong
echo "overhead: ping-pong, reference client" >&2; ref 2
echo "overhead: pipeline, ioduel drive" >&2;     harness 1 pipeline

mkdir -p results/bench
python3 - "$work" "$target" "$seconds" > "$work/summary.json" <<'PY'
import json, sys, statistics
work, target, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
load = lambda n: json.load(open(f"{work}/{n}.json"))
def measurement(r):
    m = r["workloads"][0]["results"][0]["repetitions"][0]
    assert m["valid"], m["invalid_reasons"]
    return m
refs = [load("ref1"), load("ref2")]
pp = [measurement(load("pingpong1")), measurement(load("pingpong2"))]
pl = measurement(load("pipeline1"))
ref_p50 = statistics.mean(r["latency_us"]["p50"] for r in refs)
ref_mean = statistics.mean(r["latency_us"]["mean"] for r in refs)
h_p50 = statistics.mean(m["latency_us"]["p50"] for m in pp)
h_mean = statistics.mean(m["latency_us"]["mean"] for m in pp)
out = {
  "schema_version": 1, "kind": "ioduel-harness-overhead", "target": target, "seconds": seconds,
  "pingpong": {
    "reference": [{"p50_us": r["latency_us"]["p50"], "mean_us": r["latency_us"]["mean"], "round_trips": r["round_trips"]} for r in refs],
    "ioduel": [{"p50_us": m["latency_us"]["p50"], "mean_us": m["latency_us"]["mean"], "round_trips": m["requests"]["completed"]} for m in pp],
    "added_p50_us": h_p50 - ref_p50, "added_mean_us": h_mean - ref_mean, "budget_us": 5,
  },
  "pipeline": {
    "throughput_rps": pl["throughput_rps"],
    "client_cpu_us_per_request": pl["client"]["cpu_us_per_request"],
    "generator_saturated": pl["client"]["generator_saturated"],
    "budget_us": 1,
  },
}
out["within_budget"] = out["pingpong"]["added_mean_us"] <= 5 and out["pipeline"]["client_cpu_us_per_request"] <= 1
print(json.dumps(out, indent=1))
PY
mv "$work/summary.json" results/bench/harness-overhead.json.tmp
mv results/bench/harness-overhead.json.tmp results/bench/harness-overhead.json
cat results/bench/harness-overhead.json
