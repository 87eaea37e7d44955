#!/usr/bin/env bash
# The proactor beside Asio's own performance-test server (asio
# src/tests/performance/server.cpp), both driven by Asio's client
# (client.cpp: each session sends a block, echoes back what it reads): in
# interleaved pairs, the order swapped every pair, each server on CPU 0 and
# the client on CPU 1, one thread each.  Prints each run's bytes read by the
# client, then the medians and the median of the per-pair ratios.
#
#   bench/proactor/asio_perf.sh OURS ASIO_SERVER ASIO_CLIENT [PAIRS] [SESSIONS] [SECONDS] [BLOCK]
#
# OURS: our server binary (ioduel-proactor or ioduel-proactor-uring), run
# with --mode raw-echo --threads 1.  ASIO_SERVER, ASIO_CLIENT: Asio's test
# programs, built outside this repository (never committed).  Defaults: 5
# pairs, 100 sessions, 5 s, 16384-byte blocks.
set -euo pipefail
ours=$1; asio_server=$2; asio_client=$3
pairs=${4:-5}; sessions=${5:-100}; secs=${6:-5}; block=${7:-16384}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_listening() {  # port
  for _ in $(seq 200); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null && return
    sleep 0.05
  done
  echo "nothing listening on $1" >&2; exit 1
}

# One run: server (ours|asio) -> bytes the client read.
run_one() {
  local which=$1 port pid
  port=$(free_port)
  if [[ $which == ours ]]; then
    taskset -c 0 "$ours" --mode raw-echo --threads 1 --port "$port" > "$out/srv" 2>&1 &
  else
    taskset -c 0 "$asio_server" 127.0.0.1 "$port" 1 "$block" > "$out/srv" 2>&1 &
  fi
  pid=$!
  wait_listening "$port"
  taskset -c 1 "$asio_client" 127.0.0.1 "$port" 1 "$block" "$sessions" "$secs" > "$out/cli" 2>&1
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  sed -n 's/ total bytes read//p' "$out/cli"
}

ours_runs=(); asio_runs=(); ratios=()
for ((i = 0; i < pairs; i++)); do
  if ((i % 2 == 0)); then o=$(run_one ours); a=$(run_one asio); else a=$(run_one asio); o=$(run_one ours); fi
  ours_runs+=("$o"); asio_runs+=("$a")
  r=$(python3 -c "print(f'{$o / $a:.3f}')")
  ratios+=("$r")
  echo "pair $((i + 1)): ours $o bytes, asio $a bytes, ratio $r  ($(uptime | sed 's/.*load/load/'))"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mo=$(median "${ours_runs[@]}"); ma=$(median "${asio_runs[@]}")
echo "median: ours $mo bytes ($(python3 -c "print(f'{$mo/$secs/1e6:.0f}')") MB/s), asio $ma bytes" \
     "($(python3 -c "print(f'{$ma/$secs/1e6:.0f}')") MB/s); median of pair ratios $(median "${ratios[@]}")" \
     "($sessions sessions x $block B, $secs s, $pairs pairs)"
