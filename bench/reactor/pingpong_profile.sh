#!/usr/bin/env bash
# Instructions (callgrind) or system calls (strace -c -f) per message of a
# pingpong server, on muduo's pingpong client.  Two runs of different length;
# the difference in the tool's total divided by the difference in messages
# (bytes echoed / block size) removes start-up and shutdown.
#
#   bench/reactor/pingpong_profile.sh callgrind|strace MUDUO_CLIENT S1 S2 \
#       SESSIONS BLOCK -- SERVER_COMMAND... (its port must be PORT, replaced)
# e.g.
#   ... callgrind $client 4 8 100 16384 -- build/reactor/ioduel-reactor --mode raw-echo --port PORT
#   ... strace    $client 4 8 100 16384 -- /tmp/muduo/pingpong_server 127.0.0.1 PORT 1
# The server runs on CPU 0, the client on CPU 1.
set -euo pipefail
# A port nothing listens on now (the machine is shared).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tool=$1 client=$2 s1=$3 s2=$4 sessions=$5 block=$6
shift 6
[[ $1 == -- ]] && shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

one() {  # $1 = seconds; prints "<tool total> <messages>"
  local secs=$1 port=$(free_port) args=() pid
  for a in "${cmd[@]}"; do args+=("${a//PORT/$port}"); done
  if [[ $tool == callgrind ]]; then
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out/cg.$secs" "${args[@]}" \
      >/dev/null 2>"$out/tool.$secs" &
  else
    taskset -c 0 strace -c -f -o "$out/st.$secs" "${args[@]}" >/dev/null 2>&1 &
  fi
  pid=$!
  for _ in $(seq 400); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.05; done
  local bytes
  bytes=$(taskset -c 1 "$client" 127.0.0.1 "$port" 1 "$block" "$sessions" "$secs" 2>&1 |
    sed -n 's/.* \([0-9]*\) total bytes read.*/\1/p')
  # The server is the tool's child: signal it, not the tool.
  kill -TERM "$(pgrep -P "$pid" | head -1)" 2>/dev/null || kill -TERM "$pid"
  sleep 0.5
  kill -INT "$(pgrep -P "$pid" | head -1)" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local total
  if [[ $tool == callgrind ]]; then
    total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out/cg.$secs"*)
  else
    total=$(awk '$NF == "total" { print $4 }' "$out/st.$secs")
  fi
  echo "$total $((bytes / block))"
  [[ $tool == strace ]] && sed -n '3,12p' "$out/st.$secs" >&2
  return 0
}

cmd=("$@")
read -r t1 m1 < <(one "$s1")
read -r t2 m2 < <(one "$s2")
printf '%s: runs of %s and %s s: %s and %s in all, %s and %s messages: %.3f per message\n' \
  "$tool" "$s1" "$s2" "$t1" "$t2" "$m1" "$m2" "$(echo "($t2 - $t1) / ($m2 - $m1)" | bc -l)"
