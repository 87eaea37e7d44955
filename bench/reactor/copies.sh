#!/usr/bin/env bash
# Bytes a server copies per byte it sends, under a workload whose replies the
# socket often takes only in part.  The server runs under callgrind; the
# instructions counted inside memcpy/memmove (callgrind counts one per
# iteration of `rep movs`, so there they track bytes copied) are divided by
# the bytes the server sent (its STATS bytes_out, or what the client given
# prints last: the bytes it received; raw-echo servers answer no STATS).  Prints the server's
# instructions and memcpy instructions, both per KiB sent.
#
#   bench/reactor/copies.sh WORKLOAD SECONDS -- SERVER_COMMAND... (its port must be PORT)
#   bench/reactor/copies.sh - 0 -- SERVER_COMMAND... -- CLIENT_COMMAND... (PORT replaced in both)
# e.g.
#   bench/reactor/copies.sh /tmp/echo-256k.json 3 -- build/test/reactor/ioduel-reactor --port PORT
#   bench/reactor/copies.sh - 0 -- build/test/reactor/ioduel-reactor --port PORT \
#       -- bench/reactor/slow_reader.py PORT 2000 65536 8
# The server runs on CPU 0, the client (build/test/harness/ioduel drive, or
# the command given) on CPU 1.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/serve.sh"
workload=$1 secs=$2
shift 2
[[ $1 == -- ]] && shift
ioduel=${IODUEL:-$here/build/test/harness/ioduel}
out=$(mktemp -d)
pid=
# On any exit: the server (if a step failed before it was stopped) goes too.
trap '[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null; [[ -n ${KEEP:-} ]] || rm -rf "$out"' EXIT
[[ -n ${KEEP:-} ]] && echo "kept in $out" >&2
port=$(free_port)
args=() client=()
while (($#)) && [[ $1 != -- ]]; do args+=("${1//PORT/$port}"); shift; done
if (($#)); then shift; for a in "$@"; do client+=("${a//PORT/$port}"); done; fi
start_server "$port" "$out/server.log" valgrind --tool=callgrind --callgrind-out-file="$out/cg" "${args[@]}"
if ((${#client[@]})); then
  taskset -c 1 "${client[@]}" >"$out/drive.log" 2>&1 || { cat "$out/drive.log" >&2; exit 1; }
else
  taskset -c 1 "$ioduel" drive -q -t "127.0.0.1:$port" -w "$workload" --warmup 0.2 --duration "$secs" \
    -o "$out/report.json" >"$out/drive.log" 2>&1 || { cat "$out/drive.log" >&2; exit 1; }
fi
if ((${#client[@]})); then
  bytes_out=$(tail -1 "$out/drive.log")  # the client prints the bytes it received
else
  bytes_out=$(python3 - "$port" <<'PY'
import json, socket, struct, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'IO\x01\x05' + struct.pack('>IQ', 0, 1))
def exact(n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise SystemExit('closed')
        b += c
    return b
h = exact(16)
print(json.loads(exact(struct.unpack('>I', h[4:8])[0]))['bytes_out'])
PY
)
fi
# valgrind runs the server in its own process: SIGTERM is the server's.
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=
total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out/cg"*)
copies=$(callgrind_annotate --inclusive=no --auto=no "$out/cg"* 2>/dev/null |
  awk '/libc\.so/ && /mem(cpy|move)/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')
printf 'sent %s bytes; instructions per KiB sent: %.0f in all, %.0f in memcpy/memmove\n' \
  "$bytes_out" "$(echo "$total * 1024 / $bytes_out" | bc -l)" "$(echo "$copies * 1024 / $bytes_out" | bc -l)"
