#!/usr/bin/env node
// Data-parallel scaling on CPU: ResNet50V2 at 212x320, everything trainable, the same global batch in
//   single   1 process  x 2 threads, batch B
//   ddp      2 processes x 1 thread, batch B/2 each, all-reduce overlapped with backward (Gloo, 25 MB buckets)
//   ddp-seq  2 processes x 1 thread, all-reduce only after backward (what the overlap buys)
//   local    2 processes x 1 thread, batch B/2 each, no all-reduce at all: the compute ceiling of ddp on
//            this machine (where the time goes: ddp vs local is the cost of synchronising, local vs single
//            is the cost of two processes instead of two threads)
// in alternating rounds (a shared machine's load changes hit all alike); medians over rounds.
// Reports img/s, scaling efficiency (ddp img/s / single img/s), and per step: backward time, all-reduce
// time exposed after backward, and all-reduce time overlapped with backward.
// Usage: npm run bench:ddp   (env: BENCH_BATCH=8, BENCH_STEPS=3, BENCH_ROUNDS=2, BENCH_WORLD=2,
//        BENCH_MODES=single,ddp,ddp-seq,local)
// Needs the addon and the compiled TS (npm run compile).
'use strict';
const { spawn } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '../../..');
const H = 212, W = 320, CLASSES = 300;
const WORLD = Number(process.env.BENCH_WORLD || 2);
const BATCH = Number(process.env.BENCH_BATCH || 8);
const STEPS = Number(process.env.BENCH_STEPS || 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function child(mode) {
  const lib = require(path.join(root, 'dist'));
  const { initDistributedFromEnv } = require(path.join(root, 'dist', 'distributed'));
  const dist = await initDistributedFromEnv({ timeoutSeconds: 600 });
  const world = mode === 'single' ? 1 : WORLD;
  const per = BATCH / world;
  lib.setThreads(Number(process.env.CARCLASS_THREADS));
  const model = await lib.createModel({ arch: 'resnet50v2', numClasses: CLASSES, inputShape: [H, W, 3], unfreeze: 'all', seed: 1 });
  model.compile({ optimizer: { name: 'adam', learningRate: 1e-4 } });
  if (dist) {
    await dist.broadcastModel(model);
    await dist.attach(model, { overlap: mode !== 'ddp-seq' });
  }
  const x = new Float32Array(per * H * W * 3).map(() => Math.random() * 2 - 1);
  const labels = new Int32Array(per).map(() => Math.floor(Math.random() * CLASSES));
  const input = { x, shape: [per, H, W, 3], labels };
  await model.trainOnBatch(input); // warm-up: allocator, oneDNN primitives, Gloo buffers
  if (dist) {
    await dist.resetSyncStats(model);
    await dist.barrier();
  }
  const t0 = process.hrtime.bigint();
  for (let s = 0; s < STEPS; s++) await model.trainOnBatch(input);
  if (dist) await dist.barrier();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const stats = dist ? await dist.syncStats(model) : null;
  if (!dist || dist.isMain) process.stdout.write(JSON.stringify({ mode, seconds, imagesPerSecond: (per * world * STEPS) / seconds, stats }) + '\n');
  if (dist) await dist.close();
}

function runChild(mode, env) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [__filename, '--child', mode], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(out.trim() ? JSON.parse(out.trim()) : null) : reject(new Error(`${mode} child exited with ${code}`))));
  });
}

async function runMode(mode) {
  if (mode === 'single') return runChild(mode, { CARCLASS_THREADS: String(WORLD) });
  if (mode === 'local') {
    // Independent processes started together: each reports its own rate for its share of the batch.
    const each = await Promise.all(Array.from({ length: WORLD }, () => runChild(mode, { CARCLASS_THREADS: '1' })));
    return { mode, imagesPerSecond: each.reduce((a, r) => a + r.imagesPerSecond / WORLD, 0), stats: null };
  }
  const { freePort } = require(path.join(root, 'dist', 'distributed', 'launcher'));
  const port = await freePort();
  const ranks = Array.from({ length: WORLD }, (_, r) => runChild(mode, {
    CARCLASS_THREADS: '1', RANK: String(r), WORLD_SIZE: String(WORLD), LOCAL_RANK: String(r), LOCAL_WORLD_SIZE: String(WORLD),
    MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port),
  }));
  return (await Promise.all(ranks))[0];
}

async function main() {
  if (BATCH % WORLD) throw new Error(`BENCH_BATCH ${BATCH} must be a multiple of BENCH_WORLD ${WORLD}`);
  const modes = (process.env.BENCH_MODES || 'single,ddp,ddp-seq,local').split(',');
  const results = Object.fromEntries(modes.map((m) => [m, []]));
  console.log(`ResNet50V2 ${H}x${W}, all trainable, global batch ${BATCH}, ${STEPS} timed steps per run, ${ROUNDS} rounds; ` +
    `single = 1 process x ${WORLD} threads, ddp = ${WORLD} processes x 1 thread (Gloo)`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of modes) {
      const r = await runMode(mode);
      results[mode].push(r);
      const s = r.stats;
      console.log(`round ${round + 1} ${mode.padEnd(8)} ${r.imagesPerSecond.toFixed(3)} img/s` + (s ? ` - backward ${(1000 * s.backwardSeconds / s.steps).toFixed(0)} ms/step,` +
        ` all-reduce ${(1000 * s.commSeconds / s.steps).toFixed(0)} ms/step (${(1000 * s.exposedSeconds / s.steps).toFixed(0)} exposed), ${s.buckets / s.steps} buckets, ${(s.bytesPerStep / 2 ** 20).toFixed(1)} MiB` : ''));
    }
  }
  const ips = (m) => median(results[m].map((r) => r.imagesPerSecond));
  const perStep = (m, key) => median(results[m].map((r) => (1000 * r.stats[key]) / r.stats.steps));
  const rows = [['mode', 'img/s', 'efficiency', 'backward ms/step', 'all-reduce ms/step', 'exposed ms/step', 'overlapped ms/step']];
  for (const m of modes) {
    const synced = results[m][0].stats !== null;
    const comm = synced ? perStep(m, 'commSeconds') : null;
    const exposed = synced ? perStep(m, 'exposedSeconds') : null;
    rows.push([m, ips(m).toFixed(3), results.single ? (ips(m) / ips('single')).toFixed(3) : '-', synced ? perStep(m, 'backwardSeconds').toFixed(0) : '-',
      comm === null ? '-' : comm.toFixed(0), exposed === null ? '-' : exposed.toFixed(0), comm === null ? '-' : Math.max(0, comm - exposed).toFixed(0)]);
  }
  console.log('\nmedians:');
  for (const r of rows) console.log('| ' + r.join(' | ') + ' |');
}

if (process.argv[2] === '--child') child(process.argv[3]).catch((e) => { console.error(e.message); process.exit(1); });
else main().catch((e) => { console.error(e.message); process.exit(1); });
