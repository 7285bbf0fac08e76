#!/usr/bin/env node
// npm run bench:decode — images/s for decode + crop_or_pad + tf preprocessing into batches with the
// carclass loader (1 thread, all cores), next to tjbench decode-only, sharp, jpeg-js and Pillow /
// torchvision, on the six sample cars and a generated set of 320x240 quality-75 JPEGs. The loader rows
// write float32 batches (batchFormat 'float32'); the uint8 rows hand tf to the engine instead.
// Medians of RUNS runs (env BENCH_RUNS, default 5). The machine may be shared: numbers are noisy.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '../../..');
const carclass = require(path.join(root, 'dist'));
const { carFiles } = require('./cars');
const RUNS = Number(process.env.BENCH_RUNS || 5);
const IMAGES_PER_RUN = Number(process.env.BENCH_IMAGES || 1536);
const SIZE = [212, 320];
const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;


const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const now = () => Number(process.hrtime.bigint()) / 1e9;

// 320x240 q75 set made from the cars (realistic content): bilinear to 240x320, shifted and flipped.
async function generatedSet() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-bench-'));
  const cars = carFiles();
  const files = [];
  for (let i = 0; i < 48; i++) {
    const img = await carclass.decodeImage(cars[i % cars.length], { size: [240, 320], resize: 'bilinear' });
    const src = img.data, out = new Uint8Array(src.length);
    const shift = (i * 37) % 320, flip = i % 2 === 1;
    for (let y = 0; y < 240; y++) for (let x = 0; x < 320; x++) {
      const sx = flip ? 319 - ((x + shift) % 320) : (x + shift) % 320;
      for (let c = 0; c < 3; c++) out[(y * 320 + x) * 3 + c] = src[(y * 320 + sx) * 3 + c];
    }
    const file = path.join(dir, `gen-${i}.jpg`);
    fs.writeFileSync(file, await carclass.encodeJpeg(out, 320, 240, { quality: 75 }));
    files.push(file);
  }
  return files;
}

const repeat = (files, n) => Array.from({ length: n }, (_, i) => files[i % files.length]);

const loaders = new Map();
let epochCounter = 0;
// One timed epoch of IMAGES_PER_RUN images (loaders stay open between rounds; first use warms up).
async function loaderRate(files, threads, images = IMAGES_PER_RUN, settings = {}) {
  const key = `${files[0]}|${files.length}|${threads}|${JSON.stringify(settings)}`;
  let loader = loaders.get(key);
  if (!loader) {
    loader = carclass.createLoader({ files: repeat(files, images), batchSize: 32, size: SIZE, resize: 'crop_or_pad',
      preprocess: 'tf', dct: 'fast', shuffle: false, threads, prefetch: 4, batchFormat: 'float32', ...settings });
    loaders.set(key, loader);
    for await (const batch of loader.epoch(epochCounter++)) batch.release();
  }
  const start = now();
  let n = 0;
  for await (const batch of loader.epoch(epochCounter++)) {
    n += batch.size;
    batch.release();  // as a training step does once the engine is done with it
  }
  return n / (now() - start);
}

// tjbench repeats one file, so the CPU's branch predictors learn that file's Huffman stream
// (worth ~30 % in libjpeg-turbo itself: compare the two tj_loop rows). The like-for-like loader
// figure does the same: each file alone, repeated, harmonic mean over the set's first six files.
async function loaderSameFileRate(files, threads) {
  const rates = [];
  for (const file of files.slice(0, 6)) rates.push(await loaderRate([file], threads));
  return rates.length / rates.reduce((s, r) => s + 1 / r, 0);
}

// tjbench's own calls in a loop we control (tj_loop.cc): each file repeated (checks that it
// matches tjbench) or the files in turn, the loader's access pattern. Built once per run.
let tjLoopBinary;
function tjLoop() {
  if (tjLoopBinary !== undefined) return tjLoopBinary;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-tjloop-')), 'tj_loop');
  const build = spawnSync(process.env.CXX || 'g++', ['-O2', '-std=c++17', '-o', out, path.join(__dirname, 'tj_loop.cc'), '-lturbojpeg'],
    { encoding: 'utf8' });
  tjLoopBinary = build.status === 0 ? out : null;
  if (!tjLoopBinary) process.stderr.write(`tj_loop not built (rows n/a): ${(build.stderr || build.error || '').toString().trim()}\n`);
  return tjLoopBinary;
}

function tjLoopRate(files, mode) {
  const binary = tjLoop();
  if (!binary) return null;
  const out = spawnSync(binary, [mode, '0.6', ...files.slice(0, mode === 'same' ? 6 : files.length)], { encoding: 'utf8' });
  return out.status === 0 ? Number(out.stdout.trim()) : null;
}

// tjbench decode-only (fast or accurate DCT, RGB out): median fps over the set's files
// (the set's rate is the harmonic mean of its files').
function tjbenchRate(files, fast) {
  const fps = [];
  for (const file of files) {
    const args = [file, '-rgb', '-benchtime', '0.3', '-warmup', '0.1'];
    if (fast) args.push('-fastdct');
    const out = spawnSync('tjbench', args, { encoding: 'utf8' });
    const m = /Decompress\s+-->\s+Frame rate:\s+([\d.]+) fps/.exec(out.stdout || '');
    if (!m) return null;
    fps.push(Number(m[1]));
  }
  return fps.length / fps.reduce((s, f) => s + 1 / f, 0);
}

async function sharpRate(files, inFlight) {
  let sharp;
  try { sharp = require('sharp'); } catch { return null; }
  sharp.concurrency(1);
  sharp.cache(false);
  const dims = await Promise.all(files.map((f) => sharp(f).metadata()));
  const one = async (i) => {
    const f = i % files.length, { width, height } = dims[f];
    const h = Math.min(height, SIZE[0]), w = Math.min(width, SIZE[1]);
    return sharp(files[f]).extract({ left: (width - w) >> 1, top: (height - h) >> 1, width: w, height: h })
      .extend({ top: (SIZE[0] - h) >> 1, bottom: SIZE[0] - h - ((SIZE[0] - h) >> 1), left: (SIZE[1] - w) >> 1, right: SIZE[1] - w - ((SIZE[1] - w) >> 1), background: '#000' })
      .removeAlpha().raw().toBuffer();
  };
  const total = Math.min(IMAGES_PER_RUN, 400);
  let next = 0;
  const start = now();
  const worker = async () => { while (next < total) await one(next++); };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return total / (now() - start);
}

function jpegJsRate(files) {
  let jpeg;
  try { jpeg = require('jpeg-js'); } catch { return null; }
  const blobs = files.map((f) => fs.readFileSync(f));
  const start = now();
  let n = 0;
  while (now() - start < 0.5) { jpeg.decode(blobs[n % blobs.length], { useTArray: true, formatAsRGBA: false }); n++; }
  return n / (now() - start);
}

const pythonCache = new Map();
function pythonRates(files) {
  const key = files[0];
  const cached = pythonCache.get(key);
  if (cached && !cached.used) { cached.used = true; return cached.value; }  // torchvision row reuses the Pillow run
  const value = runPython(files);
  pythonCache.set(key, { value, used: false });
  return value;
}

function runPython(files) {
  const out = spawnSync('/usr/bin/python3', [path.join(__dirname, 'pillow_bench.py'), '0.5', String(SIZE[0]), String(SIZE[1]), ...files], { encoding: 'utf8' });
  if (out.status !== 0) return { pillow: null, torchvision: null };
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

(async () => {
  const sets = { 'cars-sample (6)': carFiles(), '320x240 q75 (48)': await generatedSet() };
  const rows = [
    ['carclass loader, 1 thread', (f) => loaderRate(f, 1)],
    [`carclass loader, ${cores} threads`, (f) => loaderRate(f, cores)],
    ['carclass loader, 1 thread, uint8 batches (tf in the engine)', (f) => loaderRate(f, 1, IMAGES_PER_RUN, { batchFormat: 'uint8' })],
    [`carclass loader, ${cores} threads, uint8 batches (tf in the engine)`, (f) => loaderRate(f, cores, IMAGES_PER_RUN, { batchFormat: 'uint8' })],
    ['carclass loader, 1 thread, each file repeated (like tjbench)', (f) => loaderSameFileRate(f, 1)],
    ['tjbench decode-only, fast DCT, 1 core', (f) => tjbenchRate(f, true)],
    ['tjbench decode-only, accurate DCT, 1 core', (f) => tjbenchRate(f, false)],
    ["tjbench's decode loop, fast DCT, each file repeated (tj_loop same)", (f) => tjLoopRate(f, 'same')],
    ["tjbench's decode loop, fast DCT, files in turn (tj_loop turn)", (f) => tjLoopRate(f, 'turn')],
    ['sharp decode + crop to raw, 1 in flight', (f) => sharpRate(f, 1)],
    ['sharp decode + crop to raw, 2 in flight', (f) => sharpRate(f, 2)],
    ['jpeg-js decode only', (f) => jpegJsRate(f)],
    ['Pillow + numpy decode + crop + tf', (f) => pythonRates(f).pillow],
    ['torchvision decode + crop + tf', (f) => pythonRates(f).torchvision],
  ];
  // The loader's other settings, 1 thread, files in turn (second table).
  const settingRows = [
    ['crop_or_pad + tf (the row above)', {}],
    ['crop_or_pad + caffe', { preprocess: 'caffe' }],
    ["crop_or_pad + 'none' (uint8)", { preprocess: 'none', batchFormat: 'uint8' }],
    ['bilinear + tf', { resize: 'bilinear' }],
    ['nearest + tf', { resize: 'nearest' }],
    ['crop_or_pad + tf + augment (p 0.7)', { augment: { p: 0.7 }, seed: 1 }],
    ['crop_or_pad + tf + augment (p 0.7), uint8 batches', { augment: { p: 0.7 }, seed: 1, batchFormat: 'uint8' }],
    ['nearest + tf, uint8 batches', { resize: 'nearest', batchFormat: 'uint8' }],
    ['crop_or_pad + tf, accurate DCT', { dct: 'accurate' }],
  ];
  const mainRowCount = rows.length;
  for (const [name, settings] of settingRows) rows.push([name, (f) => loaderRate(f, 1, IMAGES_PER_RUN, settings)]);
  // Round-robin: every method runs once per round, so background load hits all of them alike.
  const samples = {};
  for (let r = 0; r < RUNS; r++) {
    for (const [name, fn] of rows) {
      samples[name] = samples[name] || {};
      for (const [set, files] of Object.entries(sets)) {
        const value = await fn(files);
        (samples[name][set] = samples[name][set] || []).push(value);
      }
    }
    process.stderr.write(`round ${r + 1}/${RUNS} done\n`);
  }
  for (const loader of loaders.values()) loader.close();
  const results = {};
  for (const [name] of rows) {
    results[name] = {};
    for (const set of Object.keys(sets)) {
      const values = samples[name][set].filter((v) => v != null);
      results[name][set] = values.length ? median(values) : null;
    }
  }
  const setNames = Object.keys(sets);
  const tj = results['tjbench decode-only, fast DCT, 1 core'];
  const fmt = (v) => (v == null ? 'n/a' : Math.round(v).toLocaleString('en-US'));
  const ratio = (v, set) => (v == null || !tj[set] ? 'n/a' : `${(v / tj[set]).toFixed(2)}x`);
  console.log(`\nimages/s, medians of ${RUNS} runs, ${cores} cores (${os.cpus()[0].model}); loader = decode + crop_or_pad ${SIZE.join('x')} + tf into batches of 32`);
  console.log(`| what | ${setNames.map((s) => `${s} img/s | vs tjbench fast`).join(' | ')} |`);
  console.log(`| --- | ${setNames.map(() => '---: | ---:').join(' | ')} |`);
  for (const [name] of rows.slice(0, mainRowCount)) {
    console.log(`| ${name} | ${setNames.map((s) => `${fmt(results[name][s])} | ${ratio(results[name][s], s)}`).join(' | ')} |`);
  }
  console.log(`\ncarclass loader, 1 thread, files in turn, other settings (same rounds):`);
  console.log(`| loader settings | ${setNames.map((s) => `${s} img/s`).join(' | ')} |`);
  console.log(`| --- | ${setNames.map(() => '---:').join(' | ')} |`);
  for (const [name] of rows.slice(mainRowCount)) {
    console.log(`| ${name} | ${setNames.map((s) => fmt(results[name][s])).join(' | ')} |`);
  }
  const one = results['carclass loader, 1 thread'], all = results[`carclass loader, ${cores} threads`];
  console.log(`\nspeed-up ${cores} threads vs 1: ${setNames.map((s) => `${s} ${(all[s] / one[s]).toFixed(2)}x`).join(', ')}`);
  const u1 = results['carclass loader, 1 thread, uint8 batches (tf in the engine)'];
  const uAll = results[`carclass loader, ${cores} threads, uint8 batches (tf in the engine)`];
  console.log(`uint8 / float32 batches: 1 thread ${setNames.map((s) => `${s} ${(u1[s] / one[s]).toFixed(2)}x`).join(', ')}; ` +
    `${cores} threads ${setNames.map((s) => `${s} ${(uAll[s] / all[s]).toFixed(2)}x`).join(', ')}`);
  // Per core, like for like: the loader against libjpeg-turbo's decode-only loop with the same access pattern.
  // (The repeated-file rows both use the set's first six files; tjbench's own row uses all of them.)
  const sameLoader = results['carclass loader, 1 thread, each file repeated (like tjbench)'];
  const sameLoop = results["tjbench's decode loop, fast DCT, each file repeated (tj_loop same)"];
  const turnLoop = results["tjbench's decode loop, fast DCT, files in turn (tj_loop turn)"];
  const per = (a, b, s) => (a[s] && b[s] ? `${(a[s] / b[s]).toFixed(2)}x` : 'n/a');
  console.log(`per core, each file repeated: loader / tjbench = ${setNames.map((s) => `${s} ${per(sameLoader, tj, s)}`).join(', ')}; ` +
    `loader / tjbench's loop on the same six files = ${setNames.map((s) => `${s} ${per(sameLoader, sameLoop, s)}`).join(', ')}`);
  console.log(`per core, files in turn: loader / tjbench's loop = ${setNames.map((s) => `${s} ${per(one, turnLoop, s)}`).join(', ')}`);
  console.log('targets: loader 1 thread >= 0.8x tjbench fast per core; >= 1.8x on 2 cores. Timings are noisy on a shared machine.');
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2));
})().catch((e) => { console.error(e); process.exit(1); });
