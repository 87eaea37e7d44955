#!/usr/bin/env bash
# Side by side, in one run: the proactor's backends and context models under
# the harness's pingpong and pipeline workloads (ioduel drive), each server
# with --threads 1 and pinned to CPU 0, the client pinned to CPU 1.
#   bench/proactor/compare_models.sh BUILD_DIR IODUEL [SECONDS]
set -euo pipefail
build=$1; ioduel=$2; secs=${3:-4}
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
for wl in pingpong pipeline; do
  for cfg in "ioduel-proactor --contexts per-thread" "ioduel-proactor --contexts shared" \
             "ioduel-proactor-uring --contexts per-thread" "ioduel-proactor-uring --contexts shared"; do
    set -- $cfg
    taskset -c 0 "$build/proactor/$1" --port 0 "${@:2}" > "$out/srv" &
    pid=$!
    until grep -q listening "$out/srv"; do sleep 0.05; done
    port=$(sed -n 's/listening on .*://p' "$out/srv")
    line=$("$ioduel" drive -t "127.0.0.1:$port" -w "workloads/$wl.json" --pin-client 1 --duration "$secs" \
      --warmup 1 -q -o "$out/r.json" 2>&1 | grep 'req/s,' || true)
    kill -TERM $pid; wait $pid
    printf '%-9s %-45s %s\n' "$wl" "$cfg" "$line"
  done
done
rm -rf "$out"
