#!/usr/bin/env node
// The loader's settings on 1 thread, the six cars in turn, 1536 images per epoch, median of 5
// epochs; prints one JSON line. For an A/B of native changes, run it, then check out the other
// native/ (git checkout REV -- native/ && npm run build:native), run it again, and restore.
'use strict';
const path = require('path');
const carclass = require(path.resolve(__dirname, '../../../dist'));
const { carFiles } = require('./cars');
const cars = carFiles();
const files = Array.from({ length: 1536 }, (_, i) => cars[i % cars.length]);
const settings = { tf: {}, caffe: { preprocess: 'caffe' }, none: { preprocess: 'none' }, bilinear: { resize: 'bilinear' },
  nearest: { resize: 'nearest' }, augment: { augment: { p: 0.7 }, seed: 1 } };
(async () => {
  const out = {};
  for (const [name, s] of Object.entries(settings)) {
    const loader = carclass.createLoader({ files, batchSize: 32, size: [212, 320], shuffle: false, threads: 1, prefetch: 4, ...s });
    const rates = [];
    for (let e = 0; e < 6; e++) {
      const t0 = process.hrtime.bigint(); let n = 0;
      for await (const b of loader.epoch(e)) { n += b.size; b.release(); }
      if (e > 0) rates.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    loader.close();
    rates.sort((a, b) => a - b);
    out[name] = Math.round(rates[2]);
  }
  console.log(JSON.stringify(out));
})();
