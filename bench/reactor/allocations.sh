#!/usr/bin/env bash
# Heap allocations per request of ioduel-reactor, counted by heaptrack over the
# whole server run.  Two runs with different request counts; the difference
# divided by the difference in requests removes start-up and shutdown.
#
#   bench/reactor/allocations.sh BUILD_DIR DEPTH N1 N2 [server flags...]
set -euo pipefail
build=$1 depth=$2 n1=$3 n2=$4; shift 4
source "$(dirname "$0")/common.sh"
out=$(mktemp -d)
run() {  # $1 = requests, then server flags
  local n=$1
  shift
  drive_under "$out/listen.$n" "$n" "$depth" \
    heaptrack -o "$out/heap.$n" "$build/reactor/ioduel-reactor" "$@"
  heaptrack_print "$out"/heap."$n".*zst 2>/dev/null | grep -E '^calls to allocation functions' |
    sed "s/^/n=$n: /"
}
for n in "$n1" "$n2"; do run "$n" "$@"; done
rm -rf "$out"
