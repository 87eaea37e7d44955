#!/usr/bin/env bash
# Heap allocations per request of ioduel-reactor, counted by heaptrack over the
# whole server run.  Two runs with different request counts; the difference
# divided by the difference in requests removes start-up and shutdown.
#
#   bench/reactor/allocations.sh BUILD_DIR DEPTH N1 N2 [server flags...]
set -euo pipefail
build=$1 depth=$2 n1=$3 n2=$4; shift 4
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
run() {  # $1 = requests, then server flags
  local n=$1
  shift
  heaptrack -o "$out/heap.$n" "$build/reactor/ioduel-reactor" --port 0 "$@" >"$out/listen.$n" &
  local tracer=$!
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out/listen.$n")
    [[ -n $port ]] && break
    sleep 0.1
  done
  python3 "$here/load.py" "$port" echo "$n" "$depth" >&2
  kill -TERM "$(pgrep -f -P "$tracer" ioduel-reactor || pgrep -P "$tracer")"
  wait "$tracer" >/dev/null 2>&1 || true
  heaptrack_print "$out"/heap."$n".*zst 2>/dev/null | grep -E '^calls to allocation functions' |
    sed "s/^/n=$n: /"
}
for n in "$n1" "$n2"; do run "$n" "$@"; done
rm -rf "$out"
