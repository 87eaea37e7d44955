#!/usr/bin/env bash
# How much of a server's CPU time is the kernel's, under a peer's load
# generator: the ceiling on what any user-space change can gain.  If the
# kernel takes a share K of a server's samples, a server that did the same
# system calls with no user-space time at all would be at most 1/K times as
# fast (Amdahl); two servers whose system calls per message are level and
# whose kernel shares are both K cannot differ by more than that.
#
#   bench/kernel_share.sh SECONDS -- SERVER_COMMAND... -- CLIENT_COMMAND...
#
# PORT in either command is replaced by a free port.  The server runs on
# CPU 0, the client on CPU 1; perf samples the server (cpu-clock, the only
# event these VMs have) from the moment it listens until the client exits.
# e.g.
#   bench/kernel_share.sh 6 -- /tmp/muduo/pingpong_server 127.0.0.1 PORT 1 \
#       -- /tmp/muduo/pingpong_client 127.0.0.1 PORT 1 16384 100 6
# Prints how busy the server was (its CPU time over the wall time), its
# samples, the kernel's and user space's shares, and
# the ceiling 1/K.
set -euo pipefail
secs=$1; shift
[[ ${1-} == -- ]] || { echo "usage: $0 SECONDS -- SERVER... -- CLIENT..." >&2; exit 2; }
shift
server=(); client=()
while (($#)) && [[ $1 != -- ]]; do server+=("$1"); shift; done
(($#)) || { echo "usage: $0 SECONDS -- SERVER... -- CLIENT..." >&2; exit 2; }
shift
client=("$@")
((${#server[@]} && ${#client[@]})) || { echo "usage: $0 SECONDS -- SERVER... -- CLIENT..." >&2; exit 2; }
command -v perf >/dev/null || { echo "$0: perf is not installed" >&2; exit 1; }

out=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT

# shellcheck source=bench/serve.sh
source "$(dirname "$0")/serve.sh"
port=$(free_port)
sub() { local a; for a in "$@"; do printf '%s\0' "${a//PORT/$port}"; done; }
mapfile -d '' server < <(sub "${server[@]}")
mapfile -d '' client < <(sub "${client[@]}")

start_server "$port" "$out/server.log" "${server[@]}"
# The server's time on a CPU (schedstat, ns) and the wall clock (ns): how
# busy it was, which says whether it or the client set the pace.
cpu_ns() { cat /proc/"$pid"/task/*/schedstat | awk '{n += $1} END {printf "%.0f\n", n}'; }
perf record -q -e cpu-clock -p "$pid" -o "$out/perf.data" >/dev/null 2>&1 &
perf_pid=$!
cpu0=$(cpu_ns); t0=$(date +%s%N)
taskset -c 1 "${client[@]}" >"$out/client.log" 2>&1 || { echo "the client failed:" >&2; cat "$out/client.log" >&2; exit 1; }
cpu1=$(cpu_ns); t1=$(date +%s%N)
kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
pid=

# perf script prints one line per sample; the kernel's samples are those
# whose address is in the kernel's half (these VMs name no DSO for them).
perf script -F ip -i "$out/perf.data" 2>/dev/null | awk -v busy="$(((cpu1 - cpu0) * 1000 / (t1 - t0)))" '
  { n++; if ($1 ~ /^ffff/) k++ }
  END {
    if (n == 0) { print "no samples" > "/dev/stderr"; exit 1 }
    printf "server busy %.1f%%  samples %d  kernel %.1f%%  user %.1f%%  ceiling for a zero-cost user space %.3fx\n",
           busy / 10, n, 100 * k / n, 100 * (n - k) / n, n / k
  }'
sed -n '$p' "$out/client.log"
