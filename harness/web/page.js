// The report page: reads the JSON that `ioduel html` wrote into the page and
// draws it.  Every text goes in through textContent (the DOM does the
// escaping), every chart through uPlot, every histogram through
// hdr-histogram-js.  Nothing is fetched.
'use strict';
(function () {
  const data = JSON.parse(document.getElementById('ioduel-data').textContent);
  const page = document.getElementById('page');
  const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
  const charts = [];  // every uPlot drawn, for the browser test (window.ioduelCharts)

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function fmt(v) {
    if (v == null || !isFinite(v)) return '-';
    const a = Math.abs(v);
    const units = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (const [d, s] of units) if (a >= d * 0.9995) return (v / d).toPrecision(3) + s;
    return a === 0 ? '0' : v.toPrecision(3);
  }
  const ratioText = (r) => (r == null ? '-' : Number(r).toFixed(3));

  // A cell's colour: how much better the candidate is, on a log scale that
  // saturates at 2x; decided verdicts at full strength, undetermined faded.
  function heat(ratio, higherIsBetter, verdict) {
    if (ratio == null || !(ratio > 0)) return '#ffffff';
    let good = Math.log(ratio) / Math.log(2);
    if (!higherIsBetter) good = -good;
    const t = Math.min(1, Math.abs(good));
    const alpha = (verdict === 'faster' || verdict === 'slower' || verdict === 'same') ? 0.25 + 0.6 * t : 0.08 + 0.3 * t;
    return good >= 0 ? `rgba(34,139,34,${alpha})` : `rgba(200,30,30,${alpha})`;
  }

  const verdictWord = (v) => (v ? String(v).replace(/_/g, ' ') : '-');

  function matrixTable(entry) {
    const s = entry.summary;
    const rows = entry.matrix;
    const servers = [s.baseline];
    for (const r of rows) for (const c of r.cells) if (!servers.includes(c.server)) servers.push(c.server);
    const head = el('tr', {}, el('th', { class: 'name' }, 'workload'), el('th', { class: 'name' }, 'metric'),
      ...servers.map((n, i) => el('th', {}, i === 0 ? `${n} (baseline)` : n)));
    const table = el('table', { class: 'matrix', 'data-report': entry.name }, el('thead', {}, head));
    const body = el('tbody');
    for (const r of rows) {
      const tr = el('tr', {}, el('td', { class: 'name' }, r.workload), el('td', { class: 'name' }, r.label));
      tr.append(el('td', { class: 'baseline', 'data-server': s.baseline, 'data-workload': r.workload },
        fmt(r.baseline.median)));
      for (const name of servers.slice(1)) {
        const c = r.cells.find((x) => x.server === name);
        if (!c) { tr.append(el('td', {}, '-')); continue; }
        const decided = ['faster', 'slower', 'same'].includes(c.verdict);
        const td = el('td', { class: 'cell' + (decided ? ' decided' : ''), 'data-server': name,
          'data-workload': r.workload, title: c.reason || '' },
        el('span', { class: 'ratio' }, ratioText(c.ratio)),
        el('span', { class: 'verdict' }, verdictWord(c.verdict)));
        td.style.background = heat(c.ratio, r.higher_is_better, c.verdict);
        tr.append(td);
      }
      body.append(tr);
    }
    table.append(body);
    return table;
  }

  function metadata(entry) {
    const s = entry.summary, r = entry.report, m = r.metadata || {};
    const host = m.host || {}, build = m.build || {};
    const dl = el('dl', { class: 'meta' });
    const add = (k, v) => { if (v != null && v !== '') dl.append(el('dt', {}, k), el('dd', {}, String(v))); };
    add('report', entry.name);
    add('command', `ioduel ${r.command || '?'}` + (r.suite ? ` (suite ${r.suite})` : ''));
    add('started', `${m.started_at || '?'}, ${fmt(m.duration_s)} s`);
    add('rounds', `${r.repetitions}; baseline ${s.baseline}; margin ${(s.margin * 100).toFixed(1)}%; seed ${r.seed ?? '-'}`);
    add('host', `${host.hostname || '?'}: ${host.cpu_model || '?'}, ${host.cores ?? '?'} cores, ${host.kernel || ''}`);
    add('build', `${build.compiler || '?'} ${build.build_type || ''}, Boost ${build.boost_version || '?'}`);
    add('commit', (m.git_commit || 'unknown') + (m.git_dirty ? ' (with uncommitted changes)' : ''));
    add('verdicts', s.recomputed);
    if (m.calibration && m.calibration.server) add('noise floor', `${m.calibration.server} against itself, ${m.calibration.rounds} rounds`);
    if (r.complete === false) add('INCOMPLETE', r.incomplete_reason || 'interrupted');
    add('argv', (r.argv || []).join(' '));
    return dl;
  }

  // Every flag a measurement carries, in show's words (the summary carries
  // them: show_tables.cpp's flag_sentences).
  function flags(w) {
    const ul = el('ul', { class: 'flags' });
    for (const s of w.servers)
      for (const f of s.flags || []) ul.append(el('li', { 'data-kind': f.kind }, f.text));
    return ul.childNodes.length ? ul : null;
  }

  // The workload's figures per server, and per group under it: the same
  // medians and intervals as show's table.
  function figuresTable(w) {
    const cols = ['server', 'status', 'req/s', '95% CI', 'p50 us', 'p99 us', 'p99.9 us', 'cpu us/req', 'RSS MiB', 'errors'];
    const table = el('table', { class: 'figures' }, el('thead', {}, el('tr', {}, ...cols.map((c, i) => el('th', { class: i < 2 ? 'name' : '' }, c)))));
    const body = el('tbody');
    const med = (e) => fmt(e && e.median);
    const ci = (e) => (e && e.ci95 ? `[${fmt(e.ci95.low)}, ${fmt(e.ci95.high)}]` : '-');
    const row = (name, status, f, extra) => el('tr', {}, el('td', { class: 'name' }, name), el('td', { class: 'name' }, status),
      el('td', {}, med(f.throughput_rps)), el('td', {}, ci(f.throughput_rps)), el('td', {}, med(f.p50_us)),
      el('td', {}, med(f.p99_us)), el('td', {}, med(f.p99_9_us)), ...extra.map((x) => el('td', {}, x)));
    for (const s of w.servers) {
      body.append(row(s.server, s.status + (s.generator_saturated > 0 ? '!' : ''), s,
        [med(s.server_cpu_us_per_request), s.peak_rss_bytes ? (s.peak_rss_bytes / 1048576).toFixed(1) : '-', String(s.errors)]));
      for (const g of s.groups || []) body.append(row('\u2003' + g.name, 'group', g, ['', '', '']));
    }
    table.append(body);
    return table;
  }

  // The unit the histogram counts: schema version 3 says so
  // (histogram_unit: "ns", while the figures beside it are in "unit": "us");
  // earlier reports' histograms count microseconds.
  function toMicros(lat) {
    const unit = (lat && lat.histogram_unit) || 'us';
    return { ns: 1e-3, us: 1, ms: 1e3, s: 1e6 }[unit] ?? 1;
  }

  // The valid repetitions' histograms of one server, merged.
  function mergedHistogram(result, report) {
    let acc = null, scale = 1;
    for (const rep of result.repetitions || []) {
      const lat = rep.latency_us;
      if (!rep.valid || !lat || !lat.histogram) continue;
      scale = toMicros(lat);
      const h = hdr.decodeFromCompressedBase64(lat.histogram);
      if (acc === null) acc = h; else acc.add(h);
    }
    return acc ? { h: acc, scale } : null;
  }

  function chartBox(title, caption) {
    const box = el('div', { class: 'chart' }, el('h3', {}, title));
    if (caption) box.append(el('div', { class: 'caption' }, caption));
    return box;
  }

  function draw(box, opts, rows) {
    const u = new uPlot(Object.assign({ width: 540, height: 300 }, opts), rows, box);
    charts.push(u);
    return u;
  }

  // HdrHistogram's percentile spectrum: x = 1/(1-p) on a log axis, so that
  // 90%, 99%, 99.9% are evenly spaced; latency on a log axis.
  function spectrum(workload, sides) {
    const xs = [];
    for (let k = 0; k <= 100; k++) xs.push(Math.pow(10, k / 20));  // p = 0 .. 99.999%
    const series = [{ label: 'percentile', value: (u, v) => (v == null ? '--' : (100 * (1 - 1 / v)).toPrecision(6) + '%') }];
    const rows = [xs];
    let i = 0;
    for (const side of sides) {
      const w = (side.report.workloads || []).find((x) => x.name === workload);
      if (!w) continue;
      for (const result of w.results || []) {
        const m = mergedHistogram(result, side.report);
        if (!m) continue;
        const n = m.h.totalCount;
        rows.push(xs.map((x) => (x <= n ? m.h.getValueAtPercentile(100 * (1 - 1 / x)) * m.scale : null)));
        series.push({ label: side.prefix + result.server, stroke: palette[i++ % palette.length], width: 2,
          value: (u, v) => (v == null ? '--' : fmt(v) + ' us') });
      }
    }
    if (rows.length < 2) return null;
    const box = chartBox('latency by percentile', 'all valid repetitions merged; x: percentile on a 1/(1-p) axis; y: latency (us), log');
    draw(box, {
      series, scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
      // Ticks at 0%, 90%, 99%, ... only: a log axis's minor ticks would crowd the labels.
      axes: [{ splits: (u, i, min, max) => [1, 10, 100, 1e3, 1e4, 1e5].filter((v) => v >= min && v <= max),
        values: (u, vals) => vals.map((v) => String(+(100 * (1 - 1 / v)).toFixed(3)) + '%') },
        { label: 'us', values: (u, vals) => vals.map(fmt) }],
    }, rows);
    return box;
  }

  // Throughput and p99 over the window, from each server's first valid
  // repetition's intervals (schema version 3: requests by intended send
  // time, 100 ms or more each); none for earlier reports.
  function overTime(workload, report) {
    const w = (report.workloads || []).find((x) => x.name === workload);
    if (!w) return [];
    const picks = [];
    for (const result of w.results || []) {
      const rep = (result.repetitions || []).find((r) => r.valid && r.intervals && (r.intervals.start_s || []).length > 1);
      if (rep) picks.push({ server: result.server, iv: rep.intervals, round: rep.repetition });
    }
    if (!picks.length) return [];
    const n = Math.min(...picks.map((p) => p.iv.start_s.length));
    const half = (picks[0].iv.interval_s || 0) / 2;
    const xs = picks[0].iv.start_s.slice(0, n).map((t) => t + half);
    const drifting = picks.filter((p) => p.iv.stationary === false).map((p) => `${p.server}: ${(p.iv.trends || []).join('; ')}`);
    const boxes = [];
    for (const [key, title, unit] of [['throughput_rps', 'throughput over the window', 'req/s'], ['p99_us', 'p99 over the window', 'us']]) {
      const series = [{ label: 'seconds into the window', value: (u, v) => (v == null ? '--' : v.toFixed(2) + ' s') }];
      const rows = [xs];
      picks.forEach((p, i) => {
        rows.push(xs.map((_, k) => (p.iv[key] && p.iv[key][k] != null ? p.iv[key][k] : null)));
        series.push({ label: `${p.server} (round ${p.round})`, stroke: palette[i % palette.length], width: 2,
          value: (u, v) => (v == null ? '--' : fmt(v) + ' ' + unit) });
      });
      const box = chartBox(title, `each server's first valid round, in ${Math.round(half * 2000)} ms intervals by intended send time` +
        (drifting.length ? `; not stationary: ${drifting.join(' | ')}` : ''));
      draw(box, { series, scales: { x: { time: false } }, axes: [{ label: 's' }, { label: unit, values: (u, vals) => vals.map(fmt) }] }, rows);
      boxes.push(box);
    }
    return boxes;
  }

  // Points with interval whiskers: per workload (x), one point per server,
  // nudged apart; the whisker is the summary's 95% interval.
  function whiskers(title, caption, workloads, servers, figure) {
    const xs = [], n = servers.length, rows = [];
    workloads.forEach((w, i) => servers.forEach((s, j) => xs.push(i + (j - (n - 1) / 2) * 0.18)));
    const low = [], high = [];
    const series = [{ label: 'workload', value: (u, v) => (v == null ? '--' : workloads[Math.round(v)]) }];
    servers.forEach((name, j) => {
      const ys = xs.map(() => null), lo = xs.map(() => null), hi = xs.map(() => null);
      workloads.forEach((w, i) => {
        const f = figure(w, name);
        if (f && f.median > 0) { ys[i * n + j] = f.median; lo[i * n + j] = f.low; hi[i * n + j] = f.high; }
      });
      rows.push(ys); low.push(lo); high.push(hi);
      series.push({ label: name, stroke: palette[j % palette.length], fill: palette[j % palette.length],
        paths: () => null, points: { show: true, size: 9 }, value: (u, v) => (v == null ? '--' : fmt(v)) });
    });
    if (!rows.some((r) => r.some((v) => v != null))) return null;
    const box = chartBox(title, caption);
    draw(box, {
      width: 1100, series, scales: { x: { time: false, range: [-0.5, workloads.length - 0.5] }, y: { distr: 3 } },
      axes: [{ splits: () => workloads.map((w, i) => i), values: (u, vals) => vals.map((v) => workloads[v] || ''),
        rotate: -20, size: 90 },
        { values: (u, vals) => vals.map(fmt) }],
      hooks: { draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.lineWidth = 2 * devicePixelRatio;
        servers.forEach((s, j) => {
          if (!u.series[j + 1].show) return;
          ctx.strokeStyle = palette[j % palette.length];
          xs.forEach((x, k) => {
            const lo = low[j][k], hi = high[j][k];
            if (lo == null || hi == null || !(lo > 0)) return;
            const px = u.valToPos(x, 'x', true);
            ctx.beginPath();
            ctx.moveTo(px, u.valToPos(lo, 'y', true));
            ctx.lineTo(px, u.valToPos(hi, 'y', true));
            ctx.stroke();
          });
        });
        ctx.restore();
      }] },
    }, [xs, ...rows]);
    return box;
  }

  function estimate(w, server, key) {
    const s = w.servers.find((x) => x.server === server);
    const e = s && s[key];
    if (!e || e.median == null) return null;
    return { median: e.median, low: e.ci95 ? e.ci95.low : null, high: e.ci95 ? e.ci95.high : null };
  }

  function overview(entry) {
    const ws = entry.summary.workloads;
    const names = ws.map((w) => w.name);
    const servers = [];
    for (const w of ws) for (const s of w.servers) if (!servers.includes(s.server)) servers.push(s.server);
    const byName = (n) => ws.find((w) => w.name === n);
    const wrap = el('div', { class: 'charts' });
    for (const box of [
      whiskers('throughput (req/s)', 'median over valid repetitions, whisker: its 95% interval; log axis', names, servers, (n, s) => estimate(byName(n), s, 'throughput_rps')),
      whiskers('server CPU per request (us)', 'user + system CPU in the window per reply; whisker: 95% interval', names, servers, (n, s) => estimate(byName(n), s, 'server_cpu_us_per_request')),
      whiskers('peak RSS (MiB)', 'median peak resident set over repetitions', names, servers, (n, s) => {
        const r = byName(n).servers.find((x) => x.server === s);
        return r && r.peak_rss_bytes ? { median: r.peak_rss_bytes / 1048576, low: null, high: null } : null;
      }),
    ]) if (box) wrap.append(box);
    return wrap;
  }

  // A sweep report: workloads "base/param=value"; throughput and p99 against the value.
  function sweep(entry) {
    const sw = entry.report.sweep;
    if (!sw || !sw.parameter) return null;
    const ws = entry.summary.workloads;
    const value = (name) => Number(name.slice(name.lastIndexOf('=') + 1));
    const points = ws.filter((w) => w.name.includes('/' + sw.parameter + '=')).sort((a, b) => value(a.name) - value(b.name));
    if (!points.length) return null;
    const xs = points.map((w) => value(w.name));
    const servers = [];
    for (const w of points) for (const s of w.servers) if (!servers.includes(s.server)) servers.push(s.server);
    const wrap = el('div', { class: 'charts' });
    for (const [key, label] of [['throughput_rps', 'throughput (req/s)'], ['p99_us', 'p99 latency (us)']]) {
      const rows = servers.map((s) => points.map((w) => { const e = estimate(w, s, key); return e ? e.median : null; }));
      const box = chartBox(`sweep: ${label} by ${sw.parameter}`, 'medians over repetitions');
      draw(box, { series: [{ label: sw.parameter }, ...servers.map((s, j) => ({ label: s, stroke: palette[j % palette.length], width: 2, value: (u, v) => fmt(v) }))],
        scales: { x: { time: false } }, axes: [{}, { values: (u, vals) => vals.map(fmt) }] }, [xs, ...rows]);
      wrap.append(box);
    }
    return wrap;
  }

  // A capacity report: per workload, latency against offered load for every
  // server (the steps, sorted by rate), each objective's bound as a dashed
  // line, on log axes; the answer lines above it.
  function capacity(entry) {
    if (entry.report.command !== 'capacity') return null;
    const wrap = el('div', {});
    wrap.append(el('ul', { class: 'capacity-answer' }, ...(entry.capacity_lines || []).map((l) => el('li', {}, l))));
    const charts = el('div', { class: 'charts' });
    for (const w of entry.summary.workloads) {
      const searched = w.servers.filter((s) => s.capacity);
      if (!searched.length) continue;
      const objectives = searched[0].capacity.objectives || [];
      const keys = [...new Set(['p50_us', 'p99_us', ...objectives.map((o) => o.percentile + '_us')])];
      for (const key of keys) {
        const xs = [...new Set(searched.flatMap((s) => s.capacity.steps.map((st) => st.offered_rps)))].sort((a, b) => a - b);
        if (!xs.length) continue;
        const rows = searched.map((s) => xs.map((x) => {
          // A rate measured twice (a generator-limited step, measured again): the later one.
          const st = [...s.capacity.steps].reverse().find((t) => t.offered_rps === x);
          return st && st[key] != null ? st[key] : null;
        }));
        const series = [{ label: 'offered req/s', value: (u, v) => fmt(v) },
          ...searched.map((s, j) => ({ label: s.server, stroke: palette[j % palette.length], width: 2, spanGaps: true,
            points: { show: true, size: 6 }, value: (u, v) => fmt(v) }))];
        const bounds = objectives.filter((o) => o.percentile + '_us' === key);
        for (const o of bounds) {
          series.push({ label: `objective ${o.text}`, stroke: '#555', dash: [6, 4], width: 1, points: { show: false }, value: (u, v) => fmt(v) });
          rows.push(xs.map(() => o.bound_us));
        }
        const name = key.replace(/_us$/, '').replace('_', '.');
        const box = chartBox(`${w.name}: ${name} latency (us) against offered load`,
          'each point a step of the search: the median over its measurements; latency from the intended send time');
        box.setAttribute('data-capacity', w.name);
        // A log axis leaves some ticks unlabelled (null): blank, not "-".
        const ticks = (u, vals) => vals.map((v) => (v == null ? '' : fmt(v)));
        draw(box, { series, scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
          axes: [{ values: ticks }, { values: ticks }] }, [xs, ...rows]);
        charts.append(box);
      }
    }
    wrap.append(charts);
    return wrap;
  }

  // Two reports: compare's before/after rows of each workload's headline metric.
  function beforeAfter(c, headline) {
    const table = el('table', { class: 'before-after' }, el('thead', {}, el('tr', {},
      ...['workload', 'server', 'metric', 'before', 'after', 'after / before', '95% CI', 'verdict'].map((h) => el('th', { class: 'name' }, h)))));
    const body = el('tbody');
    for (const w of c.workloads) {
      if (w.not_comparable) { body.append(el('tr', {}, el('td', { class: 'name' }, w.name), el('td', { class: 'name', colspan: 7 }, 'not comparable: ' + w.not_comparable))); continue; }
      for (const row of w.rows.filter((r) => r.metric === (headline[w.name] || 'throughput_rps'))) {
        const td = el('td', { class: 'cell' }, ratioText(row.ratio));
        td.style.background = heat(row.ratio, row.higher_is_better, row.verdict);
        // A group's row (hog's light group) names the group, as compare prints it.
        const who = row.group ? `${row.candidate.server} [${row.group}]` : row.candidate.server;
        body.append(el('tr', {}, el('td', { class: 'name' }, w.name), el('td', { class: 'name' }, who),
          el('td', { class: 'name' }, row.label), el('td', {}, fmt(row.baseline.median)), el('td', {}, fmt(row.candidate.median)), td,
          el('td', {}, row.ci95 ? `[${ratioText(row.ci95.low)}, ${ratioText(row.ci95.high)}]` : '-'), el('td', { class: 'name' }, verdictWord(row.verdict))));
      }
    }
    table.append(body);
    return table;
  }

  const entries = data.reports;
  document.getElementById('title').textContent = entries.length === 2
    ? `ioduel: ${entries[0].name} (before) and ${entries[1].name} (after)` : `ioduel report: ${entries[0].name}`;

  if (data.comparison) {
    const headline = {};
    for (const w of entries[0].summary.workloads) headline[w.name] = w.headline;
    page.append(el('h2', {}, 'before and after'),
      el('p', { class: 'note' }, `each server against itself, after / before, headline metric; margin ${(data.comparison.margin * 100).toFixed(1)}%`),
      beforeAfter(data.comparison, headline));
    for (const n of data.comparison.notes || []) page.append(el('p', { class: 'note' }, n));
  }
  entries.forEach((entry, idx) => {
    const tag = entries.length === 2 ? (idx === 0 ? 'before: ' : 'after: ') : '';
    // A capacity report has no rounds to compare: its answer and curves instead.
    if (entry.report.command === 'capacity') {
      page.append(el('h2', {}, `${tag}capacity`), capacity(entry), el('h2', {}, `${tag}run`), metadata(entry));
      return;
    }
    page.append(el('h2', {}, `${tag}summary`), matrixTable(entry),
      el('p', { class: 'note' }, 'cell: server / baseline of req/s, or of p99 latency where the workload sets its own rate (open loop), the paired rounds\' Hodges-Lehmann ratio (not a ratio of medians); the baseline column holds its median'),
      el('ul', { class: 'winners' }, ...entry.matrix.map((r) => el('li', {}, r.line))),
      el('h2', {}, `${tag}run`), metadata(entry), el('h2', {}, `${tag}figures per server`), overview(entry));
    const sw = sweep(entry);
    if (sw) page.append(el('h2', {}, `${tag}sweep`), sw);
  });
  // Per workload: the spectra of every server (of both reports when two).
  const sides = entries.map((e, i) => ({ report: e.report, prefix: entries.length === 2 ? (i === 0 ? 'before ' : 'after ') : '' }));
  const lastEntry = entries[entries.length - 1];
  for (const w of lastEntry.report.command === 'capacity' ? [] : lastEntry.summary.workloads) {
    const section = el('section', { class: 'workload', 'data-workload': w.name },
      el('h2', {}, `${w.name}` + (w.file ? ` (${w.file})` : '')));
    // --until-width: the rounds run and the rule that ended them (show's line).
    if (w.rounds && w.rounds.line) section.append(el('p', { class: 'note rounds' }, w.rounds.line));
    const f = flags(w);
    if (f) section.append(f);
    if (entries.length === 1) section.append(figuresTable(w));
    const box = spectrum(w.name, sides);
    const timeline = overTime(w.name, entries[entries.length - 1].report);
    if (box || timeline.length) section.append(el('div', { class: 'charts' }, ...(box ? [box] : []), ...timeline));
    page.append(section);
  }
  window.ioduelCharts = charts;
  window.ioduelReady = true;
})();
