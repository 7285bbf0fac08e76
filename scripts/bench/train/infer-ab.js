#!/usr/bin/env node
// Inference-only probe for A/B runs of one build: ResNet50V2 212x320 batch 16, optional training steps
// first, then timed predictOnBatch steps with minor page faults and user/sys CPU per step (load-independent
// signals on a shared machine). Env: STEPS=5 TRAIN=0 CARCLASS_CPU_CACHE_MB=<n> CARCLASS_THREADS=2.
'use strict';
const path = require('path');
const { createModel, setThreads } = require(path.resolve(__dirname, '../../../dist'));

(async () => {
  setThreads(Number(process.env.CARCLASS_THREADS || 2));
  const n = 16, shape = [n, 212, 320, 3];
  const m = await createModel({ arch: 'resnet50v2', numClasses: 300, inputShape: shape.slice(1), unfreeze: 'all', seed: 1 });
  const x = new Float32Array(n * 212 * 320 * 3).map(() => Math.random() * 2 - 1);
  const train = [];
  if (Number(process.env.TRAIN || 0) > 0) {
    m.compile({ optimizer: { name: 'adam', learningRate: 1e-4 }, loss: 'categorical_crossentropy' });
    const labels = new Int32Array(n).map(() => Math.floor(Math.random() * 300));
    for (let i = 0; i < Number(process.env.TRAIN); i++) {
      const t0 = process.hrtime.bigint();
      await m.trainOnBatch({ x, shape, labels });
      train.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
  await m.predictOnBatch({ x, shape });
  const steps = Number(process.env.STEPS || 5);
  const faults0 = process.resourceUsage().minorPageFault;
  const cpu0 = process.cpuUsage();
  const times = [];
  for (let s = 0; s < steps; s++) {
    const t0 = process.hrtime.bigint();
    await m.predictOnBatch({ x, shape });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const cpu = process.cpuUsage(cpu0);
  const median = [...times].sort((a, b) => a - b)[Math.floor(steps / 2)];
  console.log(JSON.stringify({
    inferImgPerSec: +(n / median).toFixed(2),
    inferSteps: times.map((t) => +t.toFixed(3)),
    trainSteps: train.map((t) => +t.toFixed(3)),
    minorFaultsPerStep: Math.round((process.resourceUsage().minorPageFault - faults0) / steps),
    userSecPerStep: +(cpu.user / 1e6 / steps).toFixed(3),
    sysSecPerStep: +(cpu.system / 1e6 / steps).toFixed(3),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }));
})();
