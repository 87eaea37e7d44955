# Sourced by the measurement scripts: runs the server under a tool, drives
# N echo requests at DEPTH through it, and stops it with SIGTERM.
#
#   drive_under LISTEN_FILE N DEPTH TOOL... SERVER SERVER_ARGS...
# (--port 0 is added at the end; the announced port is read from LISTEN_FILE)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

drive_under() {
  local listen=$1 n=$2 depth=$3
  shift 3
  "$@" --port 0 >"$listen" &
  local tracer=$! port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$listen")
    [[ -n $port ]] && break
    sleep 0.1
  done
  python3 "$here/load.py" "$port" echo "$n" "$depth" >&2
  # The server is the tool's child: signal it, not the tool.
  kill -TERM "$(pgrep -P "$tracer" -x ioduel-reactor)"
  wait "$tracer" >/dev/null 2>&1 || true
}
