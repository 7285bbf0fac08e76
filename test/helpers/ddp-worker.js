// One data-parallel worker for test/distributed.test.ts, run as `node ddp-worker.js <job.json>` with the
// torchrun environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) or none (a single process).
//   steps: K optimizer steps on generated global batches; this rank takes its slice of each (or none: emptyAt); writes the weights.
//   train: train() with { distributed: true } and this rank's overrides; writes the result (and, with
//          recordIndices, the loader indices of each batch it trained on).
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
  // emptyAt: [step, rank] pairs of the `splitWorld`-rank run whose slice is missing (a batch of unreadable
  // files only): that rank joins the step without a batch; one process trains on what the others had.
  const splitWorld = job.splitWorld ?? world;
  const per = (job.globalBatch / splitWorld) | 0;
  const empty = (s, r) => (job.emptyAt ?? []).some(([es, er]) => es === s && er === r);
  const losses = [];
  const pixels = h * w * 3;
  for (let s = 0; s < job.steps; s++) {
    const g = globalBatch(s, job.globalBatch, h, w, job.classes, job.seed);
    const mine = world === 1 ? Array.from({ length: splitWorld }, (_, r) => r).filter((r) => !empty(s, r)) : empty(s, rank) ? [] : [rank];
    if (!mine.length) {
      if (dist) await model.trainWithoutBatch();
      continue;
    }
    const rows = mine.flatMap((r) => Array.from({ length: per }, (_, i) => r * per + i));
    const x = new Float32Array(rows.length * pixels);
    rows.forEach((row, i) => x.set(g.x.subarray(row * pixels, (row + 1) * pixels), i * pixels));
    const r = await model.trainOnBatch({ x, shape: [rows.length, h, w, 3], labels: Int32Array.from(rows, (i) => g.labels[i]), sampleWeights: Float32Array.from(rows, (i) => g.sampleWeights[i]) });
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
  const trained = [];
  if (job.recordIndices) {
    // The loader indices of every batch this rank trains on, in order.
    const orig = carclass.Model.prototype.trainOnBatch;
    carclass.Model.prototype.trainOnBatch = function (batch, ...rest) {
      trained.push(Array.from(batch.indices));
      return orig.call(this, batch, ...rest);
    };
  }
  const result = await carclass.train(options);
  fs.writeFileSync(job.out.replace('%r', String(rank)), JSON.stringify({ ...result, trained }));
}

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
(job.mode === 'steps' ? steps(job) : trainJob(job)).then(
  () => { process.exitCode = 0; },
  (e) => { console.error(`worker rank ${process.env.RANK ?? 0}: ${e && e.message ? e.message : e}`); process.exitCode = 1; },
);
