#!/usr/bin/env node
// The GPU training benchmark of scripts/gpu/check.sh: ResNet50V2 at 212x320 on CUDA, batch 64 and 128,
// fp32 and bf16, carclass (uint8 loader batches, tf on the GPU; one float32-batch row for comparison)
// side by side with the same network in Python PyTorch (scripts/gpu/torch_peer.py: channels_last, AMP).
// Each engine runs in its own process. Without CUDA it runs a tiny CPU configuration instead, which
// checks the script, not the speed.
//   node scripts/gpu/bench-train.js [out.md] [out.json]     (env BENCH_STEPS, BENCH_PYTHON=python3)
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '../..');
const { versions } = require(path.join(root, 'dist/runtime'));
const cuda = versions().cuda.available;
const python = process.env.BENCH_PYTHON || 'python3';
const steps = Number(process.env.BENCH_STEPS || (cuda ? 10 : 1));
const warmup = cuda ? 3 : 1;
const device = cuda ? 'cuda' : 'cpu';
const batches = cuda ? [64, 128] : [2];
const precisions = ['fp32', 'bf16'];

function runJson(cmd, args, env) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 22 });
  const seconds = (Date.now() - t0) / 1000;
  if (r.status !== 0) return { error: `${path.basename(cmd)} exited ${r.status}: ${(r.stderr || String(r.error || '')).trim().split('\n').slice(-3).join(' | ')}`, seconds };
  try {
    return { ...JSON.parse(r.stdout.trim().split('\n').pop()), seconds };
  } catch (e) {
    return { error: `no JSON from ${path.basename(cmd)}: ${r.stdout.slice(-200)}`, seconds };
  }
}

const carclass = (batch, precision, format) => runJson(process.execPath, [path.join(root, 'scripts/bench/train/run.js'), '--child'], {
  BENCH_BATCH: String(batch), BENCH_DEVICE: device, BENCH_PRECISION: precision, BENCH_FORMAT: format, BENCH_STEPS: String(steps), BENCH_WARMUP: String(warmup),
});
const peer = (batch, precision) => runJson(python, [path.join(__dirname, 'torch_peer.py'), '--batch', String(batch), '--precision', precision,
  '--device', device, '--steps', String(steps), '--warmup', String(warmup)], {});

const rows = [];
for (const batch of batches) {
  for (const precision of precisions) {
    const ours = carclass(batch, precision, 'uint8');
    const theirs = peer(batch, precision);
    rows.push({ batch, precision, format: 'uint8', ours, theirs });
    console.error(`bench-train: batch ${batch} ${precision}: carclass ${ours.error || ours.trainImgPerSec.toFixed(1) + ' img/s'}, PyTorch ${theirs.error || theirs.trainImgPerSec.toFixed(1) + ' img/s'}`);
  }
}
const last = batches[batches.length - 1];
const floatRow = carclass(last, 'bf16', 'float32');
console.error(`bench-train: batch ${last} bf16 float32 batches: ${floatRow.error || floatRow.trainImgPerSec.toFixed(1) + ' img/s'}`);

const f = (v) => (typeof v === 'number' ? v.toFixed(1) : 'n/a');
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' ? `${(a / b).toFixed(2)}x` : 'n/a');
const lines = [
  `ResNet50V2 212x320, 300 classes, everything trainable, Adam; ${device}${cuda ? ` (${versions().cuda.devices.map((d) => d.name).join(', ')})` : ' (no CUDA: a tiny check of the script, not a speed figure)'}; medians of ${steps} steps after ${warmup} warm-up`,
  '',
  '| batch | precision | carclass train img/s | PyTorch train img/s | train ratio | carclass infer img/s | PyTorch infer img/s | infer ratio |',
  '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.batch} | ${r.precision} | ${f(r.ours.trainImgPerSec)} | ${f(r.theirs.trainImgPerSec)} | ${ratio(r.ours.trainImgPerSec, r.theirs.trainImgPerSec)} | ` +
    `${f(r.ours.inferImgPerSec)} | ${f(r.theirs.inferImgPerSec)} | ${ratio(r.ours.inferImgPerSec, r.theirs.inferImgPerSec)} |`),
  '',
  `carclass batch ${last} bf16, float32 batches instead of uint8: train ${f(floatRow.trainImgPerSec)} img/s, infer ${f(floatRow.inferImgPerSec)} img/s ` +
    `(uint8 / float32: train ${ratio(rows[rows.length - 1].ours.trainImgPerSec, floatRow.trainImgPerSec)}, infer ${ratio(rows[rows.length - 1].ours.inferImgPerSec, floatRow.inferImgPerSec)})`,
  `PyTorch: ${rows[0].theirs.torch || 'n/a'}; carclass: LibTorch ${versions().torch} (${versions().torchBuild})`,
];
const errors = [...rows.flatMap((r) => [r.ours.error, r.theirs.error]), floatRow.error].filter(Boolean);
if (errors.length) lines.push('', 'errors:', ...errors.map((e) => `- ${e}`));
console.log(lines.join('\n'));
if (process.argv[2]) fs.writeFileSync(process.argv[2], lines.join('\n') + '\n');
if (process.argv[3]) fs.writeFileSync(process.argv[3], JSON.stringify({ rows, floatRow }, null, 2));
process.exit(rows.some((r) => r.ours.error) || floatRow.error ? 1 : 0);
