#!/usr/bin/env bash
# The browser test as CTest runs it: ioduel html writes the page of a
# committed report, then page_test.js opens it in chromium.  Fails, rather
# than skipping, when chromium, node or the npm packages are missing.
#   run_page_test.sh IODUEL NODE REPORT OUT_DIR
# (the screenshot is OUT_DIR/page.png; docs/report-page.png is one)
set -euo pipefail
ioduel=$1 node=$2 report=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
source "$here/need_browser.sh"
mkdir -p "$out"
"$ioduel" html "$report" -o "$out/page.html"
# A report with a hostile name must still make one quiet page: the name lands
# in the title, the run table and the data, all as text (a "/" cannot be in
# a file name; html_test covers "</script>" in the data).
hostile="$out/<img src=x onerror=alert(1)><!--&amp;'\".json"
cp "$report" "$hostile"
"$ioduel" html "$hostile" -o "$out/hostile.html"
started=$SECONDS
# check_page PAGE SCREENSHOT|- REPORT [AFTER]: page_test.js, with the page's
# matrix and flags checked against `ioduel show --format json` of REPORT
# (IODUEL_SUMMARY).
check_page() {
  local summary="${1%.html}-summary.json"
  "$ioduel" show --format json "$3" >"$summary"
  IODUEL_SUMMARY="$summary" "$node" "$here/page_test.js" "$@"
}
check_page "$out/page.html" "$out/page.png" "$report"
check_page "$out/hostile.html" - "$report"
# A sweep: three of the report's workloads renamed as the points of a
# connections sweep, so that the sweep charts are drawn and counted.
"$node" -e '
  const fs = require("fs");
  const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  r.command = "sweep";
  r.workloads = r.workloads.filter((w) => !w.workload.groups || w.workload.groups.every((g) => g.loop !== "open")).slice(0, 3);
  r.workloads.forEach((w, i) => { w.name = "pingpong/connections=" + (i + 1) * 10; });
  r.sweep = { parameter: "connections", values: [10, 20, 30] };
  // As --until-width records it, so that the page must say how many rounds ran and why.
  r.workloads[0].rounds = { rounds: 9, until_width: 0.05, max_repeat: 20,
                            widest: { what: "proactor p99_us", width: 0.042 }, stopped: "width reached" };
  fs.writeFileSync(process.argv[2], JSON.stringify(r));
' "$report" "$out/sweep.json"
"$ioduel" html "$out/sweep.json" -o "$out/sweep.html"
check_page "$out/sweep.html" - "$out/sweep.json"
# A report of schema version 3, whose histograms count nanoseconds
# (histogram_unit): the spectrum must read them as such.
v3="$here/../../../results/examples/example-run-v3.json"
"$ioduel" html "$v3" -o "$out/v3.html"
check_page "$out/v3.html" - "$v3"
# Before and after: the same report twice.
"$ioduel" html "$report" "$hostile" -o "$out/before-after.html"
check_page "$out/before-after.html" - "$report" "$report"
echo "browser test: $((SECONDS - started)) s; screenshot $out/page.png"
