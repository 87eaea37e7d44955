#!/usr/bin/env bash
# The reactor's raw-echo mode against muduo's pingpong server, on muduo's own
# pingpong client, in interleaved A/B pairs (A = muduo, B = the reactor, in
# alternating order so that a drift in the machine's load hits both).  The
# servers run on one core and the client on another (taskset), each with one
# thread.  muduo is not part of this repository: build it elsewhere and pass
# its binaries.
#
#   bench/reactor/pingpong.sh REACTOR MUDUO_SERVER MUDUO_CLIENT \
#       [PAIRS=5] [SESSIONS=100] [BLOCK=16384] [SECONDS=10] [SERVER_CPU=0] [CLIENT_CPU=1]
#
# Prints each run's MiB/s, then the medians and B/A.  Extra reactor flags can
# be given in REACTOR_FLAGS.
set -euo pipefail
# A port nothing listens on now (the machine is shared).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
reactor=$1 muduo_server=$2 muduo_client=$3
pairs=${4:-5} sessions=${5:-100} block=${6:-16384} secs=${7:-10}
server_cpu=${8:-0} client_cpu=${9:-1}
port=$(free_port)

wait_listening() {
  for _ in $(seq 100); do
    ss -ltn "sport = :$port" | grep -q LISTEN && return 0
    sleep 0.05
  done
  echo "nothing listens on $port" >&2
  return 1
}

run_one() {  # $1 = muduo|reactor; prints MiB/s
  local pid
  if [[ $1 == muduo ]]; then
    taskset -c "$server_cpu" "$muduo_server" 127.0.0.1 "$port" 1 >/dev/null 2>&1 &
  else
    # shellcheck disable=SC2086
    taskset -c "$server_cpu" "$reactor" --mode raw-echo --threads 1 --port "$port" \
      --idle-timeout-ms 0 ${REACTOR_FLAGS:-} >/dev/null 2>&1 &
  fi
  pid=$!
  wait_listening
  taskset -c "$client_cpu" "$muduo_client" 127.0.0.1 "$port" 1 "$block" "$sessions" "$secs" 2>&1 |
    sed -n 's/.* \([0-9.]*\) MiB\/s throughput.*/\1/p'
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  port=$(free_port)
}

a=() b=()
for i in $(seq "$pairs"); do
  if ((i % 2)); then
    x=$(run_one muduo); y=$(run_one reactor)
  else
    y=$(run_one reactor); x=$(run_one muduo)
  fi
  a+=("$x") b+=("$y")
  printf 'pair %d: muduo %s MiB/s, reactor %s MiB/s, ratio %.3f (load %s)\n' "$i" "$x" "$y" \
    "$(echo "$y / $x" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ma=$(median "${a[@]}") mb=$(median "${b[@]}")
ratios=()
for i in "${!a[@]}"; do ratios+=("$(echo "${b[$i]} / ${a[$i]}" | bc -l)"); done
printf 'sessions %s, block %s, %s s, %s pairs: median muduo %s MiB/s, reactor %s MiB/s, ratio of medians %.3f, median pair ratio %.3f\n' \
  "$sessions" "$block" "$secs" "$pairs" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)" "$(median "${ratios[@]}")"
