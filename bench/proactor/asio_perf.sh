#!/usr/bin/env bash
# The proactor beside Asio's own performance-test server (asio
# src/tests/performance/server.cpp), both driven by Asio's client
# (client.cpp: each session sends a block, echoes back what it reads): in
# interleaved pairs, the order swapped every pair, each server on CPU 0 and
# the client on CPU 1, one thread each.  Prints each run's bytes read by the
# client and the server's CPU time (from /proc/PID/task/*/schedstat, in
# nanoseconds), then the medians and the
# median of the per-pair ratios: of throughput, and of bytes per server
# CPU-second (the figure that holds when the client, or a busy machine, is
# what limits the throughput).
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

# One run: server (ours|asio) -> "BYTES CPU_NS" (bytes the client read,
# the server's time on a CPU, all its threads).
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
  local ticks
  ticks=$(cat /proc/"$pid"/task/*/schedstat | awk '{n += $1} END {printf "%.0f\n", n}')
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$(sed -n 's/ total bytes read//p' "$out/cli") $ticks"
}

ours_runs=(); asio_runs=(); ratios=(); cpu_ratios=()
for ((i = 0; i < pairs; i++)); do
  if ((i % 2 == 0)); then ro=$(run_one ours); ra=$(run_one asio); else ra=$(run_one asio); ro=$(run_one ours); fi
  read -r o ot <<< "$ro"; read -r a at <<< "$ra"
  ours_runs+=("$o"); asio_runs+=("$a")
  r=$(python3 -c "print(f'{$o / $a:.3f}')")
  c=$(python3 -c "print(f'{($o / max($ot, 1)) / ($a / max($at, 1)):.3f}')")
  ratios+=("$r"); cpu_ratios+=("$c")
  echo "pair $((i + 1)): ours $o bytes ($((ot / 1000000)) ms CPU), asio $a bytes ($((at / 1000000)) ms CPU)," \
       "ratio $r, per CPU-second $c" \
       " ($(uptime | sed 's/.*load/load/'))"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mo=$(median "${ours_runs[@]}"); ma=$(median "${asio_runs[@]}")
echo "median: ours $mo bytes ($(python3 -c "print(f'{$mo/$secs/1e6:.0f}')") MB/s), asio $ma bytes" \
     "($(python3 -c "print(f'{$ma/$secs/1e6:.0f}')") MB/s); median of pair ratios $(median "${ratios[@]}")," \
     "per server CPU-second $(median "${cpu_ratios[@]}")" \
     "($sessions sessions x $block B, $secs s, $pairs pairs)"
