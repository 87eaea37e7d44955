#!/usr/bin/env bash
# Two servers under one load generator, in interleaved pairs (the order
# swapped every pair), each server on CPU 0 and the client on CPU 1.
# Prints each run's throughput as the client reports it, each pair's ratio
# B/A, the medians and the median pair ratio.
#
#   bench/ceiling/ab.sh PAIRS -- SERVER_A... -- SERVER_B... -- CLIENT...
#
# PORT in any command is replaced by a free port.  The client is a peer's
# own: Asio's performance client (its last line "N total bytes read") or
# muduo's pingpong client ("... X MiB/s throughput ..."); the figure is read
# from that line.  With the ceiling (ceiling_echo.cpp) as A, the median
# pair ratio says how far B is from what any server reaches here; e.g.
#   g++ -std=c++20 -O2 -o /tmp/ceiling_echo bench/ceiling/ceiling_echo.cpp
#   bench/ceiling/ab.sh 9 -- /tmp/ceiling_echo 127.0.0.1 PORT \
#       -- ASIO/server 127.0.0.1 PORT 1 16384 \
#       -- ASIO/client 127.0.0.1 PORT 1 16384 100 5
set -euo pipefail
usage() { echo "usage: $0 PAIRS -- SERVER_A... -- SERVER_B... -- CLIENT..." >&2; exit 2; }
(($# >= 1)) && [[ $1 =~ ^[1-9][0-9]*$ ]] || usage
pairs=$1; shift
[[ ${1-} == -- ]] || usage; shift
a=(); b=(); client=()
while (($#)) && [[ $1 != -- ]]; do a+=("$1"); shift; done
(($#)) || usage; shift
while (($#)) && [[ $1 != -- ]]; do b+=("$1"); shift; done
(($#)) || usage; shift
client=("$@")
((${#a[@]} && ${#b[@]} && ${#client[@]})) || usage

out=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT

# shellcheck source=bench/serve.sh
source "$(dirname "$0")/../serve.sh"

# One run of server $1 (a or b): prints the client's throughput figure.
run_one() {
  local -n cmd=$1
  local port args=() cargs=() x
  port=$(free_port)
  for x in "${cmd[@]}"; do args+=("${x//PORT/$port}"); done
  for x in "${client[@]}"; do cargs+=("${x//PORT/$port}"); done
  start_server "$port" "$out/server.log" "${args[@]}"
  taskset -c 1 "${cargs[@]}" >"$out/client.log" 2>&1 || { echo "the client failed" >&2; cat "$out/client.log" >&2; exit 1; }
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  pid=
  local figure
  figure=$(sed -nE 's/.* ([0-9.]+) MiB\/s throughput.*/\1/p; s/^([0-9]+) total bytes read.*/\1/p' "$out/client.log" | tail -1)
  [[ -n $figure ]] || { echo "no throughput in the client's output:" >&2; cat "$out/client.log" >&2; exit 1; }
  echo "$figure"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
as=(); bs=(); ratios=()
for ((i = 1; i <= pairs; i++)); do
  if ((i % 2)); then ra=$(run_one a); rb=$(run_one b); else rb=$(run_one b); ra=$(run_one a); fi
  r=$(python3 -c "print(f'{$rb / $ra:.3f}')")
  as+=("$ra"); bs+=("$rb"); ratios+=("$r")
  echo "pair $i: A $ra, B $rb, B/A $r ($(uptime | sed 's/.*load/load/'))"
done
ma=$(median "${as[@]}"); mb=$(median "${bs[@]}")
echo "A: ${a[*]}"
echo "B: ${b[*]}"
echo "median A $ma, median B $mb, ratio of medians $(python3 -c "print(f'{$mb / $ma:.3f}')")," \
     "median pair ratio B/A $(median "${ratios[@]}") ($pairs pairs)"
