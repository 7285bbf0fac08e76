#!/usr/bin/env node
// npm run bench:png — PNG against JPEG in the carclass loader (decode + crop_or_pad to 212x320 + tf preprocessing
// into batches of 32, 1 thread), next to sharp (libvips + libspng) and pngjs decoding the same PNGs, on the six
// sample cars written as PNG (8-bit RGB, zlib level 6) and as the JPEGs they are. Medians of BENCH_RUNS rounds
// (default 5), methods round-robin so background load hits each alike.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const sharp = require('sharp');
const { PNG } = require('pngjs');

const root = path.resolve(__dirname, '../../..');
const carclass = require(path.join(root, 'dist'));
const { carFiles } = require('./cars');
const RUNS = Number(process.env.BENCH_RUNS || 5);
const IMAGES = Number(process.env.BENCH_IMAGES || 768);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const now = () => Number(process.hrtime.bigint()) / 1e9;
const repeat = (files, n) => Array.from({ length: n }, (_, i) => files[i % files.length]);

async function main() {
  const jpegs = carFiles();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-bench-png-'));
  const pngs = [];
  for (const file of jpegs) {
    const target = path.join(dir, `${path.basename(file, '.jpg')}.png`);
    await sharp(file).png({ compressionLevel: 6 }).toFile(target);
    pngs.push(target);
  }
  sharp.concurrency(1);
  const buffers = pngs.map((f) => fs.readFileSync(f));
  let epoch = 0;
  const loaderOf = (files) => carclass.createLoader({ files: repeat(files, IMAGES), batchSize: 32, size: [212, 320], resize: 'crop_or_pad',
    preprocess: 'tf', shuffle: false, threads: 1, prefetch: 4 });
  const loaders = { jpeg: loaderOf(jpegs), png: loaderOf(pngs) };
  const loaderRate = async (loader) => {
    const start = now();
    let n = 0;
    for await (const batch of loader.epoch(epoch++)) { n += batch.size; batch.release(); }
    return n / (now() - start);
  };
  const methods = {
    'carclass loader, JPEG, 1 thread': () => loaderRate(loaders.jpeg),
    'carclass loader, PNG, 1 thread': () => loaderRate(loaders.png),
    'sharp PNG decode to raw RGB, 1 in flight': async () => {
      const start = now();
      for (let i = 0; i < IMAGES / 4; i++) await sharp(buffers[i % buffers.length]).removeAlpha().raw().toBuffer();
      return IMAGES / 4 / (now() - start);
    },
    'pngjs PNG decode (sync)': async () => {
      const start = now();
      for (let i = 0; i < IMAGES / 8; i++) PNG.sync.read(buffers[i % buffers.length]);
      return IMAGES / 8 / (now() - start);
    },
  };
  for (const loader of Object.values(loaders)) for await (const b of loader.epoch(epoch++)) b.release(); // warm up
  const rates = Object.fromEntries(Object.keys(methods).map((k) => [k, []]));
  for (let r = 0; r < RUNS; r++) for (const [name, run] of Object.entries(methods)) rates[name].push(await run());
  const base = median(rates['carclass loader, PNG, 1 thread']);
  console.log(`| what (six sample cars, ${RUNS} rounds) | img/s | vs carclass PNG |`);
  console.log('| --- | ---: | ---: |');
  for (const [name, xs] of Object.entries(rates)) console.log(`| ${name} | ${Math.round(median(xs)).toLocaleString('en-US')} | ${(median(xs) / base).toFixed(2)}x |`);
  for (const loader of Object.values(loaders)) loader.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => { console.error(e); process.exit(1); });
