#!/usr/bin/env node
// ResNet50V2 at 212x320, batch 16: carclass train/inference steps vs the same model in Python PyTorch
// (Debian python3-torch, same LibTorch) with the same threads, and the machine's GEMM rate.
// Usage: npm run bench:train   (env: BENCH_STEPS=2, BENCH_ROUNDS=2, CARCLASS_THREADS=n, BENCH_PYTHON=/usr/bin/python3)
// The engines run in alternating rounds so that a shared machine's load changes hit all of them alike.
// Needs the addon and the compiled TS (npm run compile). Each engine runs in its own process so that
// peak RSS is comparable.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '../../..');
const { RESNET_BENCH, median, benchThreads } = require('../common');

const { batch: BATCH, height: H, width: W, classes: CLASSES } = RESNET_BENCH;
const STEPS = Number(process.env.BENCH_STEPS || 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);
const threads = benchThreads();

function loadLib() {
  try {
    return require(path.join(root, 'dist'));
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

async function child() {
  const lib = loadLib();
  lib.setThreads(threads);
  const model = await lib.createModel({ arch: 'resnet50v2', numClasses: CLASSES, inputShape: [H, W, 3], unfreeze: 'all', seed: 1 });
  model.compile({ optimizer: { name: 'adam', learningRate: 1e-4 }, loss: 'categorical_crossentropy' });
  const x = new Float32Array(BATCH * H * W * 3);
  for (let i = 0; i < x.length; i++) x[i] = Math.random() * 2 - 1;
  const labels = new Int32Array(BATCH).map(() => Math.floor(Math.random() * CLASSES));
  const input = { x, shape: [BATCH, H, W, 3], labels };
  const train = [];
  const infer = [];
  await model.trainOnBatch(input); // warm-up
  for (let i = 0; i < STEPS; i++) {
    const t0 = process.hrtime.bigint();
    await model.trainOnBatch(input);
    train.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  await model.predictOnBatch(input);
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
    { name: 'carclass (Node, LibTorch)', run: () => runJson(process.execPath, [__filename, '--child'], { CARCLASS_THREADS: String(threads) }) },
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
  const bestPy = (k) => Math.max(rows[1][k], rows[2][k]);
  console.log(`ResNet50V2 ${H}x${W}, batch ${BATCH}, ${threads} threads, medians of ${STEPS * ROUNDS} steps (${ROUNDS} alternating rounds); GEMM (1024^3 float32): ${gemm.toFixed(1)} GFLOP/s; forward ${(ours.forwardFlops / 1e9).toFixed(2)} GFLOP/image`);
  console.log(lines.join('\n'));
  console.log(`carclass / best Python: train ${(ours.trainImgPerSec / bestPy('trainImgPerSec')).toFixed(2)}x, inference ${(ours.inferImgPerSec / bestPy('inferImgPerSec')).toFixed(2)}x (target >= 0.95x)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
