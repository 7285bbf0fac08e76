#!/usr/bin/env node
// Inference peer anchor: carclass predict against onnxruntime-node (CPU) on the same exported ResNet50V2,
// 212x320, batch 16, same input, same thread count.
// Usage: npm run bench:onnx   (env: BENCH_STEPS=3, BENCH_ROUNDS=3, CARCLASS_THREADS=n)
// Each engine runs in its own process, in alternating rounds, so a shared machine's load hits both alike.
// Needs the addon and the compiled TS (npm run compile) and the onnxruntime-node dev dependency.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '../../..');
const { RESNET_BENCH, median, benchThreads } = require('../common');

const { batch: BATCH, height: H, width: W, classes: CLASSES } = RESNET_BENCH;
const STEPS = Number(process.env.BENCH_STEPS || 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const threads = benchThreads();

function seconds(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function readFloats(file) {
  const buf = fs.readFileSync(file);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function writeFloats(file, a) {
  fs.writeFileSync(file, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}

// A preprocessed-looking batch in [-1, 1], the same bytes for both engines.
function makeInput(file) {
  const x = new Float32Array(BATCH * H * W * 3);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = (s / 2 ** 31) - 1;
  }
  writeFloats(file, x);
}

// Child 1: carclass. Creates the seeded model, exports it once (so both engines run the same weights), times predictOnBatch.
async function carclassChild(dir) {
  const lib = require(path.join(root, 'dist'));
  lib.setThreads(threads);
  const model = await lib.createModel({ arch: 'resnet50v2', numClasses: CLASSES, inputShape: [H, W, 3], seed: 1 });
  const onnx = path.join(dir, 'resnet50v2.onnx');
  if (!fs.existsSync(onnx)) await lib.exportOnnx(model, onnx);
  const input = { x: readFloats(path.join(dir, 'input.bin')), shape: [BATCH, H, W, 3] };
  writeFloats(path.join(dir, 'carclass-out.bin'), await model.predictOnBatch(input)); // also the warm-up
  const steps = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = process.hrtime.bigint();
    await model.predictOnBatch(input);
    steps.push(seconds(t0));
  }
  return { steps, peakRssMiB: process.resourceUsage().maxRSS / 1024, threads: lib.versions().threads };
}

// Child 2: onnxruntime-node on the exported file, intra-op threads = the same count, all graph optimisations.
async function ortChild(dir) {
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(path.join(dir, 'resnet50v2.onnx'), { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', readFloats(path.join(dir, 'input.bin')), [BATCH, H, W, 3]) };
  const first = (await session.run(feeds))[session.outputNames[0]];
  writeFloats(path.join(dir, 'ort-out.bin'), first.data);
  const steps = [];
  for (let i = 0; i < STEPS; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    steps.push(seconds(t0));
  }
  await session.release();
  return { steps, peakRssMiB: process.resourceUsage().maxRSS / 1024, version: ort.env.versions.node };
}

function runChild(kind, dir) {
  const r = spawnSync(process.execPath, [__filename, '--child', kind, dir], { encoding: 'utf8', env: { ...process.env, CARCLASS_THREADS: String(threads) }, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench:onnx ${kind} child failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-bench-onnx-'));
  try {
    makeInput(path.join(dir, 'input.bin'));
    console.error(`bench:onnx: ResNet50V2 ${H}x${W} batch ${BATCH}, ${CLASSES} classes, ${threads} threads, ${ROUNDS} rounds x ${STEPS} timed steps (machine may be shared: figures are medians)`);
    const engines = [
      { name: 'carclass predictOnBatch (LibTorch)', kind: 'carclass', steps: [], rss: 0 },
      { name: 'onnxruntime-node CPU', kind: 'ort', steps: [], rss: 0 },
    ];
    let ortVersion = '';
    for (let round = 1; round <= ROUNDS; round++) {
      for (const e of engines) {
        console.error(`  round ${round}/${ROUNDS}: ${e.name} ...`);
        const r = runChild(e.kind, dir);
        e.steps.push(...r.steps);
        e.rss = Math.max(e.rss, r.peakRssMiB);
        if (r.version) ortVersion = r.version;
      }
    }
    const a = readFloats(path.join(dir, 'carclass-out.bin'));
    const b = readFloats(path.join(dir, 'ort-out.bin'));
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    const rows = engines.map((e) => ({ name: e.name, step: median(e.steps), rss: e.rss }));
    console.log(`ResNet50V2 ${H}x${W}, batch ${BATCH}, ${threads} threads, medians of ${ROUNDS * STEPS} steps (${ROUNDS} alternating rounds); onnxruntime-node ${ortVersion}`);
    console.log('| engine | infer img/s | step s | peak RSS MiB |');
    console.log('|---|---:|---:|---:|');
    for (const r of rows) console.log(`| ${r.name} | ${(BATCH / r.step).toFixed(2)} | ${r.step.toFixed(3)} | ${r.rss.toFixed(0)} |`);
    console.log(`carclass / onnxruntime: ${(rows[1].step / rows[0].step).toFixed(2)}x; max |probability difference| ${maxDiff.toExponential(2)}`);
    if (!(maxDiff < 1e-4)) {
      console.error('bench:onnx: the two engines disagree by more than 1e-4: the timing compares different work');
      process.exitCode = 1;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const run = process.argv[3] === 'ort' ? ortChild : carclassChild;
  run(process.argv[4]).then((r) => process.stdout.write(JSON.stringify(r) + '\n'), (e) => { console.error(e); process.exit(1); });
} else {
  main();
}
