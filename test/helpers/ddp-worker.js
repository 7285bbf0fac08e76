// One data-parallel worker for test/distributed.test.ts, run as `node ddp-worker.js <job.json>` with the
// torchrun environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) or none (a single process).
//   steps: K optimizer steps on generated global batches; this rank takes its slice of each; writes the weights.
//   train: train() with { distributed: true } and this rank's overrides; writes the result.
'use strict';
const fs = require('fs');
const carclass = require('../../dist/index.js');
const { initDistributedFromEnv } = require('../../dist/distributed/index.js');
const { mulberry32 } = require('../../dist/data/random.js');

function globalBatch(step, n, h, w, classes, seed) {
  const r = mulberry32(seed * 1000 + step);
  const x = new Float32Array(n * h * w * 3).map(() => r() * 2 - 1);
  const labels = new Int32Array(n).map(() => Math.floor(r() * classes));
  const sampleWeights = new Float32Array(n).map(() => 0.5 + r());
  return { x, labels, sampleWeights };
}

async function steps(job) {
  const dist = await initDistributedFromEnv({ timeoutSeconds: job.timeout });
  const rank = dist ? dist.rank : 0;
  const world = dist ? dist.worldSize : 1;
  const [h, w] = job.size;
  // Rank 0's seed is the run's; the others start from other weights, which the broadcast must replace.
  const model = await carclass.createModel({ arch: 'resnet-tiny', numClasses: job.classes, inputShape: [h, w, 3], unfreeze: job.unfreeze, seed: job.seed + rank * 17, threads: 1 });
  model.compile({ optimizer: { name: 'adam', learningRate: job.lr } });
  if (dist) {
    await dist.broadcastModel(model);
    await dist.attach(model, { bucketMegabytes: job.bucketMegabytes, overlap: job.overlap !== false });
  }
  const per = (job.globalBatch / world) | 0;
  const losses = [];
  for (let s = 0; s < job.steps; s++) {
    const g = globalBatch(s, job.globalBatch, h, w, job.classes, job.seed);
    const lo = rank * per, hi = lo + per;
    const pixels = h * w * 3;
    const r = await model.trainOnBatch({ x: g.x.slice(lo * pixels, hi * pixels), shape: [per, h, w, 3], labels: g.labels.slice(lo, hi), sampleWeights: g.sampleWeights.slice(lo, hi) });
    losses.push(r.loss);
  }
  if (dist) await dist.checkReplicas(model, 'at the end of the test');
  const weights = await model.getWeights();
  const out = {};
  for (const [k, v] of Object.entries(weights)) out[k] = Array.from(v.data);
  const stats = dist ? await dist.syncStats(model) : null;
  fs.writeFileSync(job.out.replace('%r', String(rank)), JSON.stringify({ rank, world, losses, weights: out, stats, iterations: model.info().iterations }));
  if (dist) await dist.close();
}

async function trainJob(job) {
  const rank = Number(process.env.RANK ?? 0);
  const options = { ...job.options, ...(job.perRank?.[rank] ?? {}), distributed: true, progress: 'quiet', handleSignals: job.handleSignals ?? false };
  if (job.stepDelayMs) {
    // Slows each step so a test can act mid-epoch.
    const orig = carclass.Model.prototype.trainOnBatch;
    carclass.Model.prototype.trainOnBatch = async function (...args) {
      await new Promise((r) => setTimeout(r, job.stepDelayMs));
      if (job.readyFile) fs.writeFileSync(job.readyFile.replace('%r', String(rank)), 'stepping');
      return orig.apply(this, args);
    };
  }
  const result = await carclass.train(options);
  fs.writeFileSync(job.out.replace('%r', String(rank)), JSON.stringify(result));
}

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
(job.mode === 'steps' ? steps(job) : trainJob(job)).then(
  () => { process.exitCode = 0; },
  (e) => { console.error(`worker rank ${process.env.RANK ?? 0}: ${e && e.message ? e.message : e}`); process.exitCode = 1; },
);
