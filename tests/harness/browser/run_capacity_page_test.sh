#!/usr/bin/env bash
# The browser test of a capacity report's page: a short search of the reactor
# and the proactor (2 measurements a step, coarse resolution), its page, then
# page_test.js, which checks the answer lines and the latency-against-load
# charts against the report.  Fails, rather than skipping, when chromium,
# node or the npm packages are missing.
#   run_capacity_page_test.sh IODUEL NODE BIN_DIR OUT_DIR
set -euo pipefail
ioduel=$1 node=$2 bin=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
source "$here/need_browser.sh"
mkdir -p "$out"
"$ioduel" capacity --quiet --workload "$here/../../../workloads/capacity.json" --slo p99=20ms --slo p50=5ms \
  --server reactor --server proactor --bin-dir "$bin" --repeat 2 --resolution 25 --max-steps 5 \
  --warmup 0.05 --duration 0.2 --out "$out/capacity.json" >"$out/capacity.log" 2>&1 ||
  { tail -20 "$out/capacity.log"; exit 1; }
"$ioduel" html "$out/capacity.json" -o "$out/capacity.html"
"$node" "$here/page_test.js" "$out/capacity.html" "$out/capacity.png" "$out/capacity.json"
