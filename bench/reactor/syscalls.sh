#!/usr/bin/env bash
# System calls per request of ioduel-reactor, from strace -c -f on the server.
# Two runs with different request counts; the difference divided by the
# difference in requests removes start-up and shutdown.
#
#   bench/reactor/syscalls.sh BUILD_DIR DEPTH N1 N2 [server flags...]
set -euo pipefail
build=$1 depth=$2 n1=$3 n2=$4; shift 4
source "$(dirname "$0")/common.sh"
out=$(mktemp -d)
run() {  # $1 = requests, then server flags; writes $out/strace.$1
  local n=$1
  shift
  drive_under "$out/listen" "$n" "$depth" \
    strace -c -f -o "$out/strace.$n" "$build/reactor/ioduel-reactor" "$@"
}
for n in "$n1" "$n2"; do run "$n" "$@"; done 2>&1 | sed 's/^/  /' >&2
calls() { awk -v s="$2" '$NF == s { print $4 }' "$out/strace.$1"; }
printf '%-12s %10s %10s %12s\n' syscall "n=$n1" "n=$n2" "per request"
for s in epoll_wait poll select readv read recvfrom sendto write writev epoll_ctl timerfd_settime; do
  a=$(calls "$n1" "$s"); b=$(calls "$n2" "$s")
  [[ -z $a && -z $b ]] && continue
  printf '%-12s %10s %10s %12.4f\n' "$s" "${a:-0}" "${b:-0}" \
    "$(echo "(${b:-0} - ${a:-0}) / ($n2 - $n1)" | bc -l)"
done
rm -rf "$out"
