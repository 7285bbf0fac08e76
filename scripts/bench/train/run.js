#!/usr/bin/env node
// ResNet50V2 at 212x320, batch 16: carclass train/inference steps vs the same model in Python PyTorch
// (Debian python3-torch, same LibTorch) with the same threads, and the machine's GEMM rate. carclass
// steps take loader batches of generated JPEGs, as training does: float32 batches and uint8 batches
// (tf preprocessing in the engine, the default), both augmented.
// Usage: npm run bench:train   (env: BENCH_STEPS=2, BENCH_ROUNDS=2, CARCLASS_THREADS=n, BENCH_PYTHON=/usr/bin/python3)
// One carclass configuration alone (scripts/gpu/bench-train.js): node run.js --child, with env
// BENCH_BATCH, BENCH_DEVICE (cpu | cuda), BENCH_PRECISION (fp32 | bf16), BENCH_FORMAT (float32 | uint8),
// BENCH_WARMUP (untimed steps first, default 1).
// The engines run in alternating rounds so that a shared machine's load changes hit all of them alike.
// Needs the addon and the compiled TS (npm run compile). Each engine runs in its own process so that
// peak RSS is comparable.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const fs = require('fs');
const os = require('os');

const root = path.resolve(__dirname, '../../..');
const { RESNET_BENCH, median, benchThreads } = require('../common');

const { height: H, width: W, classes: CLASSES } = RESNET_BENCH;
const BATCH = Number(process.env.BENCH_BATCH || RESNET_BENCH.batch);
const STEPS = Number(process.env.BENCH_STEPS || 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);
const threads = benchThreads();

// The library's parts that need no npm package beyond node-gyp-build (all the GPU machine carries).
function loadLib() {
  try {
    const part = (name) => require(path.join(root, 'dist', name));
    return { ...part('runtime'), ...part('model'), ...part('loader'), ...part('image') };
  } catch (e) {
    console.error(`bench:train needs the compiled library: run npm run compile first (${e.message})`);
    process.exit(1);
  }
}

// Multiply-adds x 2 of one forward pass, from the Keras layer table and kernel shapes.
function forwardFlops(layers, spec) {
  const kernels = new Map(spec.filter((w) => w.name.endsWith('/kernel')).map((w) => [w.layer, w.shape]));
  let flops = 0;
  for (const l of layers) {
    const k = kernels.get(l.name);
    if (!k) continue;
    if (l.type === 'Conv2D') {
      const [h, w] = l.outputShape;
      flops += 2 * h * w * k.reduce((a, b) => a * b, 1); // kh * kw * cin * cout per output pixel
    } else if (l.type === 'Dense') {
      flops += 2 * k[0] * k[1];
    }
  }
  return flops;
}

// BATCH generated 240x320 JPEGs (smooth colour fields plus noise, so the DCT has work), labelled at random.
async function jpegFiles(lib) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-bench-train-'));
  const files = [];
  for (let i = 0; i < BATCH; i++) {
    const h = 240, w = 320, rgb = new Uint8Array(h * w * 3);
    for (let p = 0; p < h * w; p++) {
      const y = Math.floor(p / w), x = p % w;
      for (let c = 0; c < 3; c++) rgb[p * 3 + c] = (((x * (c + 1) + y * (3 - c) + i * 37) % 256) + Math.floor(Math.random() * 32)) & 255;
    }
    const file = path.join(dir, `img-${i}.jpg`);
    fs.writeFileSync(file, await lib.encodeJpeg(rgb, w, h, { quality: 90 }));
    files.push(file);
  }
  return files;
}

// One loader batch (crop_or_pad to HxW, tf, augmented), kept and fed to every step.
async function loaderBatch(lib, format) {
  const files = await jpegFiles(lib);
  const loader = lib.createLoader({ files, labels: files.map(() => Math.floor(Math.random() * CLASSES)), batchSize: BATCH, size: [H, W],
    preprocess: 'tf', augment: { p: 1 }, seed: 1, threads, batchFormat: format });
  let batch;
  for await (const b of loader) batch = b;
  loader.close();
  if (!batch || batch.size !== BATCH) throw new Error(`bench:train: the loader made a batch of ${batch ? batch.size : 0}, expected ${BATCH}`);
  return batch;
}

async function child() {
  const lib = loadLib();
  lib.setThreads(threads);
  const device = process.env.BENCH_DEVICE || 'cpu';
  const precision = process.env.BENCH_PRECISION || 'fp32';
  const format = process.env.BENCH_FORMAT || 'uint8';
  const model = await lib.createModel({ arch: 'resnet50v2', numClasses: CLASSES, inputShape: [H, W, 3], unfreeze: 'all', seed: 1, device, precision });
  model.compile({ optimizer: { name: 'adam', learningRate: 1e-4 }, loss: 'categorical_crossentropy' });
  const input = await loaderBatch(lib, format);
  const train = [];
  const infer = [];
  const warmup = Number(process.env.BENCH_WARMUP || 1);
  for (let i = 0; i < warmup; i++) await model.trainOnBatch(input); // warm-up (cuDNN picks its algorithms)
  for (let i = 0; i < STEPS; i++) {
    const t0 = process.hrtime.bigint();
    await model.trainOnBatch(input);
    train.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  for (let i = 0; i < warmup; i++) await model.predictOnBatch(input);
  for (let i = 0; i < STEPS; i++) {
    const t0 = process.hrtime.bigint();
    await model.predictOnBatch(input);
    infer.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const out = {
    trainSteps: train,
    inferSteps: infer,
    trainStepSec: median(train),
    inferStepSec: median(infer),
    trainImgPerSec: BATCH / median(train),
    inferImgPerSec: BATCH / median(infer),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    forwardFlops: forwardFlops(model.layers(), model.weightSpec()),
    threads: lib.versions().threads,
    device: model.device,
    precision,
    format: input.format,
    batch: BATCH,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runJson(cmd, args, env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop();
  return JSON.parse(line);
}

async function main() {
  if (process.argv[2] === '--child') return child();
  const lib = loadLib();
  lib.setThreads(threads);
  const gemmStart = await lib.measureGemm(1024, 9);
  const python = process.env.BENCH_PYTHON || '/usr/bin/python3';
  const peer = path.join(__dirname, 'peer.py');
  const pyArgs = ['--threads', String(threads), '--batch', String(BATCH), '--height', String(H), '--width', String(W), '--classes', String(CLASSES), '--steps', String(STEPS)];
  console.error(`bench:train: ResNet50V2 ${H}x${W} batch ${BATCH}, ${threads} threads, ${ROUNDS} rounds x ${STEPS} timed steps each (machine may be shared: figures are medians)`);
  const engines = [
    { name: 'carclass (Node, LibTorch), uint8 batches', run: () => runJson(process.execPath, [__filename, '--child'], { CARCLASS_THREADS: String(threads), BENCH_FORMAT: 'uint8' }) },
    { name: 'carclass, float32 batches', run: () => runJson(process.execPath, [__filename, '--child'], { CARCLASS_THREADS: String(threads), BENCH_FORMAT: 'float32' }) },
    { name: 'Python PyTorch, NCHW', run: () => runJson(python, [peer, ...pyArgs], { OMP_NUM_THREADS: String(threads) }) },
    { name: 'Python PyTorch, channels_last', run: () => runJson(python, [peer, ...pyArgs, '--channels-last'], { OMP_NUM_THREADS: String(threads) }) },
  ];
  const results = engines.map(() => ({ trainSteps: [], inferSteps: [], peakRssMiB: 0 }));
  let forward = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    engines.forEach((e, i) => {
      console.error(`  round ${round}/${ROUNDS}: ${e.name} ...`);
      const r = e.run();
      results[i].trainSteps.push(...r.trainSteps);
      results[i].inferSteps.push(...r.inferSteps);
      results[i].peakRssMiB = Math.max(results[i].peakRssMiB, r.peakRssMiB);
      if (r.forwardFlops) forward = r.forwardFlops;
    });
  }
  const rows = engines.map((e, i) => {
    const trainStepSec = median(results[i].trainSteps);
    const inferStepSec = median(results[i].inferSteps);
    return { name: e.name, trainStepSec, inferStepSec, trainImgPerSec: BATCH / trainStepSec, inferImgPerSec: BATCH / inferStepSec, peakRssMiB: results[i].peakRssMiB };
  });
  const ours = { ...rows[0], forwardFlops: forward };
  const gemm = Math.max(gemmStart, await lib.measureGemm(1024, 9)); // before and after: the machine's capability
  const trainFlops = 3 * ours.forwardFlops * BATCH; // forward + backward (data and weight gradients)
  const inferFlops = ours.forwardFlops * BATCH;
  const header = ['engine', 'train img/s', 'infer img/s', 'train step s', 'peak RSS MiB', 'train GFLOP/s', 'of GEMM', 'infer GFLOP/s', 'of GEMM'];
  const table = rows.map((r) => {
    const tg = trainFlops / r.trainStepSec / 1e9;
    const ig = inferFlops / r.inferStepSec / 1e9;
    return [r.name, r.trainImgPerSec.toFixed(2), r.inferImgPerSec.toFixed(2), r.trainStepSec.toFixed(2), r.peakRssMiB.toFixed(0), tg.toFixed(1), `${((100 * tg) / gemm).toFixed(0)}%`, ig.toFixed(1), `${((100 * ig) / gemm).toFixed(0)}%`];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const fmt = (cells) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const lines = [fmt(header), '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...table.map(fmt)];
  const bestPy = (k) => Math.max(rows[2][k], rows[3][k]);
  console.log(`ResNet50V2 ${H}x${W}, batch ${BATCH}, ${threads} threads, medians of ${STEPS * ROUNDS} steps (${ROUNDS} alternating rounds); GEMM (1024^3 float32): ${gemm.toFixed(1)} GFLOP/s; forward ${(ours.forwardFlops / 1e9).toFixed(2)} GFLOP/image`);
  console.log(lines.join('\n'));
  console.log(`carclass uint8 / float32 batches: train ${(rows[0].trainImgPerSec / rows[1].trainImgPerSec).toFixed(3)}x, inference ${(rows[0].inferImgPerSec / rows[1].inferImgPerSec).toFixed(3)}x`);
  console.log(`carclass / best Python: train ${(ours.trainImgPerSec / bestPy('trainImgPerSec')).toFixed(2)}x, inference ${(ours.inferImgPerSec / bestPy('inferImgPerSec')).toFixed(2)}x (target >= 0.95x)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
