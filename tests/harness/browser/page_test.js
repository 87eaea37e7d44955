// Opens a page written by `ioduel html` in Debian's headless chromium
// (playwright-core drives it; no browser is downloaded) and checks it as a
// reader would see it: nothing fetched, no console error, every chart drawn
// with real size, the summary matrix holding the report's own figures, and a
// chart answering a hover with the value under the cursor.  Writes a
// screenshot.  Usage: node page_test.js PAGE.html SCREENSHOT.png|- REPORT.json [AFTER.json]
// (two reports: the before/after page of both).
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [pagePath, shotArg, ...reportPaths] = process.argv.slice(2);
const shotPath = shotArg === '-' ? null : shotArg;
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };

// The headline metric, decided here again from the definition (show.hpp):
// p99 where the workload sets its own rate, throughput otherwise.
function openLoop(d) {
  if (!d) return false;
  if (d.trace) return !d.trace.as_fast_as_possible;
  return Array.isArray(d.groups) && d.groups.length > 0 && d.groups.every((g) => g.loop === 'open');
}

(async () => {
  const reports = reportPaths.map((p) => JSON.parse(fs.readFileSync(p, 'utf8')));
  const report = reports[0];  // the matrix checked is the first report's
  const url = 'file://' + path.resolve(pagePath);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const started = Date.now();
  try {
    const page = await browser.newPage({ viewport: { width: 1240, height: 1500 } });
    const left = [], errors = [];
    // Every request but the page itself is blocked, and counted.
    await page.route('**/*', (route) => {
      if (route.request().url() === url) return route.continue();
      left.push(route.request().url());
      return route.abort();
    });
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => window.ioduelReady === true, null, { timeout: 20000 });

    check(left.length === 0, `requests left the page: ${left.join(', ')}`);
    check(errors.length === 0, `console errors: ${errors.join(' | ')}`);

    if (report.command === 'capacity') {
      // A capacity report: the answer lines, and per workload one chart of
      // p50 and one of p99 (and of each other objective) against offered
      // load, a series per server holding that server's steps, and the
      // objective's bound as a line of its own.
      const answer = await page.$$eval('ul.capacity-answer li', (lis) => lis.map((li) => li.textContent));
      let searched = 0;
      for (const w of report.workloads)
        for (const r of w.results || []) {
          if (!r.capacity) continue;
          ++searched;
          check(answer.some((l) => l.startsWith(r.server + ' holds')), `no answer line for ${r.server}: ${JSON.stringify(answer)}`);
        }
      check(searched > 0, 'the capacity report has no search');
      const drawnCap = await page.evaluate(() => window.ioduelCharts.filter((u) => u.root.closest('[data-capacity]')).map((u) => ({
        title: u.root.closest('[data-capacity]').querySelector('h3').textContent,
        labels: u.series.map((x) => x.label), data: u.data })));
      // One chart per latency percentile shown (p50, p99 and each objective's), nothing else.
      let expectedCap = 0;
      for (const w of report.workloads) {
        const rs = (w.results || []).filter((r) => r.capacity);
        if (rs.length) expectedCap += new Set(['p50', 'p99', ...(rs[0].capacity.objectives || []).map((o) => o.percentile)]).size;
      }
      const total = await page.evaluate(() => window.ioduelCharts.length);
      check(drawnCap.length === expectedCap && total === expectedCap, `expected ${expectedCap} capacity charts and no other, found ${drawnCap.length} of ${total}`);
      for (const w of report.workloads) {
        const rs = (w.results || []).filter((r) => r.capacity);
        if (!rs.length) continue;
        const chart = drawnCap.find((c) => c.title.startsWith(`${w.name}: p99 latency`));
        check(chart !== undefined, `${w.name}: no p99 against load chart among ${JSON.stringify(drawnCap.map((c) => c.title))}`);
        if (!chart) continue;
        const objectives = (rs[0].capacity.objectives || []).filter((o) => o.percentile === 'p99');
        check(chart.labels.length === 1 + rs.length + objectives.length, `${w.name}: series ${JSON.stringify(chart.labels)}`);
        rs.forEach((r, j) => {
          check(chart.labels[1 + j] === r.server, `${w.name}: series ${1 + j} is ${chart.labels[1 + j]}, not ${r.server}`);
          // The last step at each rate (a rate measured twice shows its later step).
          for (const st of r.capacity.steps.filter((t, k, all) => !all.slice(k + 1).some((u) => u.offered_rps === t.offered_rps))) {
            const i = chart.data[0].indexOf(st.offered_rps);
            const want = ((st.latency_us || {}).p99 || {}).median;
            check(i >= 0 && chart.data[1 + j][i] === want, `${w.name} / ${r.server}: the step at ${st.offered_rps} req/s drew ${i >= 0 ? chart.data[1 + j][i] : 'nothing'}, the report says ${want}`);
          }
        });
        objectives.forEach((o, k) => check(chart.data[1 + rs.length + k].every((v) => v === o.bound_us), `${w.name}: the objective line is not at ${o.bound_us}`));
      }
      if (shotPath) await page.screenshot({ path: shotPath });
    } else {
      // Charts: a spectrum per workload (of the last report) with a histogram,
      // three overview charts (throughput, CPU per request, RSS) and two per
      // sweep for each report.
      const withHistogram = reports[reports.length - 1].workloads.filter((w) => (w.results || []).some((r) =>
        (r.repetitions || []).some((rep) => rep.valid && rep.latency_us && rep.latency_us.histogram))).length;
      // Two more per workload whose repetitions have intervals (version 3): throughput and p99 over the window.
      const withIntervals = reports[reports.length - 1].workloads.filter((w) => (w.results || []).some((r) =>
        (r.repetitions || []).some((rep) => rep.valid && rep.intervals && (rep.intervals.start_s || []).length > 1))).length;
      const expected = withHistogram + 2 * withIntervals + reports.reduce((n, r) => n + 3 + (r.sweep ? 2 : 0), 0);
      const sizes = await page.$$eval('.chart canvas', (cs) => cs.map((c) => {
        const b = c.getBoundingClientRect();
        return [b.width, b.height];
      }));
      check(sizes.length === expected, `expected ${expected} charts, found ${sizes.length}`);
      check(sizes.every(([w, h]) => w >= 200 && h >= 100), `a chart is too small: ${JSON.stringify(sizes)}`);
      const drawn = await page.evaluate(() => window.ioduelCharts.length);
      check(drawn === expected, `uPlot drew ${drawn} charts, expected ${expected}`);

      // The matrix: each cell is the ratio of the report's own comparison.
      const cells = await page.$$eval('table.matrix td.cell', (tds) => tds.map((td) => ({
        workload: td.dataset.workload, server: td.dataset.server,
        ratio: td.querySelector('.ratio').textContent, verdict: td.querySelector('.verdict').textContent })));
      // The oracle is `ioduel show --format json` of the same report
      // (IODUEL_SUMMARY, written by run_page_test.sh): the page must say what
      // show says, which for a report of an older schema is the comparisons
      // made anew from its repetitions, not the verdicts it stored.
      const oracle = process.env.IODUEL_SUMMARY ? JSON.parse(fs.readFileSync(process.env.IODUEL_SUMMARY, 'utf8')) : report;
      let compared = 0;
      for (const w of oracle.workloads) {
        const key = w.headline || (openLoop(w.workload) ? 'p99_us' : 'throughput_rps');
        for (const c of w.comparisons || []) {
          const m = (c.metrics || {})[key];
          const cell = cells.find((x) => x.workload === w.name && x.server === c.candidate);
          check(cell !== undefined, `no cell for ${w.name} / ${c.candidate}`);
          if (!cell || !m) continue;
          const want = m.ratio == null ? '-' : m.ratio.toFixed(3);
          check(cell.ratio === want, `${w.name} / ${c.candidate}: cell ${cell.ratio}, report ${want}`);
          check(cell.verdict === String(m.verdict).replace(/_/g, ' '), `${w.name} / ${c.candidate}: verdict ${cell.verdict}, report ${m.verdict}`);
          ++compared;
        }
      }
      check(compared > 0, 'no matrix cell was compared with the report');

      // Every flag show gives a server is on the page, in show's words and
      // order, and each --until-width workload's rounds line likewise
      // (IODUEL_SUMMARY is show's JSON).  Counted by kind too, so a kind the
      // page dropped is named.
      if (process.env.IODUEL_SUMMARY) {
        const items = await page.$$eval('ul.flags li', (lis) => lis.map((li) => ({ kind: li.dataset.kind, text: li.textContent })));
        const want = oracle.workloads.flatMap((w) => w.servers.flatMap((s) => s.flags || []));
        for (const kind of ['status', 'invalid', 'rate_shortfall', 'busy', 'drifting', 'generator_saturated']) {
          const n = want.filter((f) => f.kind === kind).length, got = items.filter((f) => f.kind === kind).length;
          check(got === n, `${n} "${kind}" flags expected, ${got} on the page`);
        }
        check(JSON.stringify(items.map((f) => f.text)) === JSON.stringify(want.map((f) => f.text)),
          `flags ${JSON.stringify(items.map((f) => f.text))}, expected ${JSON.stringify(want.map((f) => f.text))}`);
        const rounds = await page.$$eval('section.workload p.rounds', (ps) => ps.map((p) => p.textContent));
        const lines = oracle.workloads.filter((w) => w.rounds && w.rounds.line).map((w) => w.rounds.line);
        check(JSON.stringify(rounds) === JSON.stringify(lines),
          `rounds lines ${JSON.stringify(rounds)}, expected ${JSON.stringify(lines)}`);
      }

      // Two reports: one before/after row per workload and server (or
      // server and group, named as compare names it): a row that repeats
      // another's name is a group row shown as if it were the server's.
      if (reports.length === 2) {
        const keys = await page.$$eval('table.before-after tbody tr', (trs) => trs.map((tr) =>
          [...tr.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent).join(' / ')));
        check(keys.length > 0, 'no before/after row');
        const repeated = keys.filter((k, i) => keys.indexOf(k) !== i);
        check(repeated.length === 0, `before/after rows repeat: ${JSON.stringify([...new Set(repeated)])}`);
      }

      // The first spectrum's median (x = 1/(1-p) = 10^0.3, p = 49.9%) is the
      // report's p50 for that server, to within the merging of repetitions:
      // a histogram read in the wrong unit (ns as us) would be 1000 times off.
      const last = reports[reports.length - 1];
      const first = last.workloads.find((w) => (w.results || []).some((r) =>
        (r.repetitions || []).some((rep) => rep.valid && rep.latency_us && rep.latency_us.histogram)));
      if (first) {
        const server = first.results.find((r) => (r.repetitions || []).some((rep) => rep.valid && rep.latency_us && rep.latency_us.histogram));
        const p50s = server.repetitions.filter((rep) => rep.valid && rep.latency_us).map((rep) => rep.latency_us.p50).sort((a, b) => a - b);
        const want = p50s[Math.floor(p50s.length / 2)];
        const drawnMedian = await page.evaluate(() => {
          const u = window.ioduelCharts.find((c) => c.root.closest('section.workload'));
          return u ? u.data[1][6] : null;
        });
        check(drawnMedian != null && drawnMedian > want / 2 && drawnMedian < want * 2,
          `${first.name} / ${server.server}: the spectrum's median is ${drawnMedian} us, the report's p50 ${want} us`);
      }

      // Hover the first spectrum: its legend must show the series' value at
      // the index under the cursor.
      if (shotPath) await page.screenshot({ path: shotPath });
      const over = page.locator('section.workload .u-over').first();
      await over.scrollIntoViewIfNeeded();
      const box = await over.boundingBox();
      await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
      await page.waitForTimeout(100);
      const hover = await page.evaluate(() => {
        const charts = window.ioduelCharts;
        const u = charts.find((c) => c.root.closest('section.workload'));
        const idx = u.cursor.idx;
        const legend = u.root.querySelectorAll('.u-legend .u-series')[1].querySelector('.u-value').textContent;
        return { idx, value: idx == null ? null : u.data[1][idx], legend };
      });
      const shown = /^([\d.]+)([kMG]?) us$/.exec(hover.legend);
      check(hover.idx != null && hover.value != null, `hover found no point: ${JSON.stringify(hover)}`);
      if (shown && hover.value != null) {
        const v = Number(shown[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 }[shown[2]]);
        check(Math.abs(v - hover.value) <= 0.006 * hover.value, `legend ${hover.legend}, value under cursor ${hover.value}`);
      } else {
        check(false, `the legend did not show a value on hover: ${JSON.stringify(hover)}`);
      }
    }
  } finally {
    await browser.close();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (failures.length) {
    for (const f of failures) console.error('FAIL: ' + f);
    process.exit(1);
  }
  console.log(`page ok: ${pagePath} (${seconds} s in the browser)`);
})().catch((e) => { console.error(e); process.exit(1); });
