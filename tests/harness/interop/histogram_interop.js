#!/usr/bin/env node
// The other side of histogram_interop_test: hdr-histogram-js reads what
// ioduel encodes, and encodes histograms for ioduel to read.  Prints one JSON
// object: the histogram's summary as hdr-histogram-js computes it.
//
//   node histogram_interop.js decode BASE64
//   node histogram_interop.js encode fixed|resizing SEED COUNT
'use strict';

const hdr = require('hdr-histogram-js');

const percentiles = [0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100];

function summary(h) {
  const p = {};
  for (const q of percentiles) p[String(q)] = h.getValueAtPercentile(q);
  return {
    total_count: h.totalCount,
    max: h.maxValue,
    mean: h.mean,
    lowest: h.lowestDiscernibleValue,
    highest: h.highestTrackableValue,
    significant_figures: h.numberOfSignificantValueDigits,
    percentiles: p,
  };
}

// mulberry32: a small seeded generator, so a failure can be replayed.
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function encode(kind, seed, count) {
  const h = kind === 'fixed'
    ? hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60000000,
                  numberOfSignificantValueDigits: 3, autoResize: false, bitBucketSize: 64 })
    : hdr.build({ bitBucketSize: 64 });  // its defaults: 3 figures, resizing as values grow
  const random = generator(seed);
  for (let i = 0; i < count; ++i) {
    // Log-uniform over 1 us .. 10 s, with a run of repeats to exercise counts > 1.
    const v = Math.floor(Math.exp(random() * Math.log(10000000))) + 1;
    h.recordValueWithCount(v, i % 100 === 0 ? 7 : 1);
  }
  return { encoded: h.encodeIntoCompressedBase64(), ...summary(h) };
}

const [mode, ...args] = process.argv.slice(2);
let out;
if (mode === 'decode' && args.length === 1) {
  out = summary(hdr.decodeFromCompressedBase64(args[0], 64));
} else if (mode === 'encode' && args.length === 3 && ['fixed', 'resizing'].includes(args[0])) {
  out = encode(args[0], Number(args[1]), Number(args[2]));
} else {
  console.error('usage: histogram_interop.js decode BASE64 | encode fixed|resizing SEED COUNT');
  process.exit(2);
}
process.stdout.write(JSON.stringify(out) + '\n');
