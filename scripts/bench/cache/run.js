#!/usr/bin/env node
// Frozen-base feature cache: per-epoch time of head training from the cache against end-to-end
// training with the base frozen, ResNet50V2 at 212x320 on the same files (random weights: speed does
// not depend on them), plus the cache's build time and size per image, and float16's effect on a
// trained head (resnet-tiny on the demo data: accuracy and weights, float32 vs float16 cache).
// Usage: npm run bench:cache   (env: BENCH_IMAGES=48, BENCH_ROUNDS=3, BENCH_CACHE_EPOCHS=20, CARCLASS_THREADS=n)
// Needs the addon and the compiled TS (npm run compile).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '../../..');
const H = 212, W = 320, BATCH = 16, CLASSES = 8;
const IMAGES = Number(process.env.BENCH_IMAGES || 48);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const CACHE_EPOCHS = Number(process.env.BENCH_CACHE_EPOCHS || 20);
const threads = Number(process.env.CARCLASS_THREADS || (os.availableParallelism ? os.availableParallelism() : os.cpus().length));

function lib() {
  try {
    return require(path.join(root, 'dist'));
  } catch (e) {
    console.error(`bench:cache needs the compiled library: run npm run compile first (${e.message})`);
    process.exit(1);
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function trainEpoch(model, source, epoch) {
  const t = process.hrtime.bigint();
  let n = 0;
  for await (const batch of source.epoch(epoch)) {
    await model.trainOnBatch(batch);
    n += batch.size;
    batch.release();
  }
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9, images: n };
}

async function speed(L, work) {
  const dataDir = path.join(work, 'data');
  const perClass = Math.ceil(IMAGES / CLASSES);
  await L.generateDemoDataset(dataDir, { classes: CLASSES, perClass, width: W, height: 240, seed: 3 });
  const files = fs.readdirSync(dataDir).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(dataDir, f)).slice(0, IMAGES);
  const labels = files.map((_, i) => i % CLASSES);
  const model = await L.createModel({ arch: 'resnet50v2', numClasses: CLASSES, inputShape: [H, W, 3], unfreeze: 'none', seed: 1 });
  model.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
  const loader = L.createLoader({ files, labels, batchSize: BATCH, size: [H, W], shuffle: true, seed: 1, augment: false });
  const quiet = new L.ProgressBar({ mode: 'quiet' });
  const build = {};
  for (const [dtype, orientations] of [['float32', 1], ['float32', 2], ['float16', 1]]) {
    const dir = path.join(work, `cache-${dtype}-${orientations}`);
    const t = process.hrtime.bigint();
    const cache = await L.openFeatureCache({ files, labels, split: 'train', dir, shared: false, model, inputSize: [H, W], resize: 'crop_or_pad',
      preprocess: 'tf', orientations, dtype, batchSize: BATCH, onError: 'skip', progress: quiet, log: () => undefined });
    build[`${dtype}x${orientations}`] = { seconds: Number(process.hrtime.bigint() - t) / 1e9, bytes: cache.report.bytes, cache };
  }
  const cached = build.float32x1.cache.batches({ files, labels, batchSize: BATCH, shuffle: true, seed: 1, flip: false, augmentP: 0 });
  const e2e = [], fromCache = [];
  for (let r = 0; r < ROUNDS; r++) {
    e2e.push((await trainEpoch(model, loader, r)).seconds);
    const times = [];
    for (let e = 0; e < CACHE_EPOCHS; e++) times.push((await trainEpoch(model, cached, r * CACHE_EPOCHS + e)).seconds);
    fromCache.push(median(times));
    console.error(`round ${r + 1}/${ROUNDS}: end to end ${e2e[r].toFixed(3)} s/epoch, from the cache ${fromCache[r].toFixed(5)} s/epoch`);
  }
  loader.close();
  for (const b of Object.values(build)) b.cache.close();
  return { files: files.length, e2e: median(e2e), cache: median(fromCache), build };
}

// float16 vs float32 cache for a head trained from scratch on a trained frozen base: resnet-tiny is
// first trained end to end on the demo data, then a fresh head trains from each cache.
async function float16Effect(L, work) {
  const dataDir = path.join(work, 'demo');
  await L.generateDemoDataset(dataDir, { classes: 10, perClass: 60, width: 128, height: 96, seed: 7 });
  const common = { dir: dataDir, labelType: 'model', arch: 'resnet-tiny', inputSize: [96, 128], batchSize: 32, seed: 2, progress: 'quiet',
    earlyStopping: false, tensorboard: false, handleSignals: false };
  const pre = await L.train({ ...common, outDir: path.join(work, 'f16-base'), unfreeze: 'all', epochs: 12, learningRate: 3e-3, schedule: 'cosine', skipReport: true });
  const trained = await (await L.loadModel(pre.checkpoints.last)).getWeights();
  const baseOnly = Object.fromEntries(Object.entries(trained).filter(([k]) => !k.startsWith('head_')));
  const run = async (cacheDtype) => {
    const model = await L.createModel({ arch: 'resnet-tiny', numClasses: 10, inputShape: [96, 128, 3], unfreeze: 'none', seed: 5 });
    await model.setWeights(baseOnly, { allowPartial: true });
    return L.train({ ...common, model, outDir: path.join(work, `f16-${cacheDtype}`), unfreeze: 'none', augment: false, epochs: 15, learningRate: 3e-3,
      cacheDtype, cacheFeatures: 'on' });
  };
  const a = await run('float32'), b = await run('float16');
  const wa = await (await L.loadModel(a.checkpoints.last)).getWeights();
  const wb = await (await L.loadModel(b.checkpoints.last)).getWeights();
  let worst = 0, scale = 0;
  for (const k of Object.keys(wa)) {
    if (!k.startsWith('head_')) continue;
    for (let i = 0; i < wa[k].data.length; i++) {
      worst = Math.max(worst, Math.abs(wa[k].data[i] - wb[k].data[i]));
      scale = Math.max(scale, Math.abs(wa[k].data[i]));
    }
  }
  return { f32: a.test, f16: b.test, worst, scale, testImages: a.test.count };
}

async function main() {
  const L = lib();
  L.setThreads(threads);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-bench-cache-'));
  try {
    const part = process.env.BENCH_PART || 'all';  // speed | float16 | all
    if (part !== 'float16') await printSpeed(L, work);
    if (part !== 'speed') await printFloat16(L, work);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function printSpeed(L, work) {
  const s = await speed(L, work);
  const per = (k) => s.build[k];
  console.log(`\nResNet50V2 ${H}x${W}, gap head, ${CLASSES} classes, batch ${BATCH}, base frozen, ${s.files} generated JPEGs, ${threads} threads; medians of ${ROUNDS} rounds`);
  console.log('\n| training epoch | s/epoch | img/s | speed-up |');
  console.log('|---|---:|---:|---:|');
  console.log(`| end to end, frozen base (decode + base + head) | ${s.e2e.toFixed(3)} | ${(s.files / s.e2e).toFixed(1)} | 1x |`);
  console.log(`| head from the cache (float32) | ${s.cache.toFixed(5)} | ${(s.files / s.cache).toFixed(0)} | ${(s.e2e / s.cache).toFixed(0)}x |`);
  console.log('\n| cache build | s | ms/image | bytes/image |');
  console.log('|---|---:|---:|---:|');
  for (const [k, label] of [['float32x1', 'float32, 1 orientation'], ['float32x2', 'float32, 2 orientations (flip)'], ['float16x1', 'float16, 1 orientation']]) {
    console.log(`| ${label} | ${per(k).seconds.toFixed(2)} | ${(1000 * per(k).seconds / s.files).toFixed(1)} | ${Math.round(per(k).bytes / s.files)} |`);
  }
}

async function printFloat16(L, work) {
  const f = await float16Effect(L, work);
  console.log(`\nfloat16 vs float32 cache (resnet-tiny 96x128, base trained 12 epochs end to end then frozen, a fresh head trained 15 epochs from each cache, ${f.testImages} test images):`);
  console.log(`  test accuracy ${(100 * f.f32.accuracy).toFixed(2)} % (float32) vs ${(100 * f.f16.accuracy).toFixed(2)} % (float16); `
    + `test loss ${f.f32.loss.toFixed(5)} vs ${f.f16.loss.toFixed(5)}; largest head weight difference ${f.worst.toExponential(2)} (weights up to ${f.scale.toFixed(3)})`);
}

main().catch((e) => { console.error(e); process.exit(1); });
