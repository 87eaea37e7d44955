# Sourced by the bench scripts that start a server under a peer's client
# (bench/kernel_share.sh, bench/ceiling/ab.sh).

# A port nothing listens on now (the machine is shared).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server PORT LOG COMMAND...: starts COMMAND on CPU 0 with its output
# in LOG, sets `pid` to it, and returns once PORT accepts a connection.
# Exits the script if the server exits first or nothing listens within 10 s.
start_server() {
  local port=$1 log=$2
  shift 2
  taskset -c 0 "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "the server exited: $*" >&2; cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  echo "nothing listens on port $port after 10 s: $*" >&2
  exit 1
}
