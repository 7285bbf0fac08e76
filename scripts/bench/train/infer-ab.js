const { createModel } = require(process.env.DIST || '/work/wt/perfinfer/dist');
(async () => {
  const m = await createModel({ arch: 'resnet50v2', numClasses: 300, inputShape: [212, 320, 3], unfreeze: 'all', seed: 1 });
  const n = 16, x = new Float32Array(n * 212 * 320 * 3).map(() => Math.random() * 2 - 1);
  if (process.env.TRAIN) {
    m.compile({ optimizer: { name: 'adam', learningRate: 1e-4 }, loss: 'categorical_crossentropy' });
    const labels = new Int32Array(n).map(() => Math.floor(Math.random() * 300));
    for (let i = 0; i < +process.env.TRAIN; i++) { const t0 = Date.now(); await m.trainOnBatch({ x, shape: [n, 212, 320, 3], labels }); console.log('train s', (Date.now() - t0) / 1e3); }
  }
  await m.predictOnBatch({ x, shape: [n, 212, 320, 3] });
  const t = [];
  const steps = +(process.env.STEPS || 5);
  const f0 = process.resourceUsage().minorPageFault; const c0 = process.cpuUsage();
  for (let s = 0; s < steps; s++) { const t0 = process.hrtime.bigint(); await m.predictOnBatch({ x, shape: [n, 212, 320, 3] }); t.push(Number(process.hrtime.bigint() - t0) / 1e9); }
  const faults = (process.resourceUsage().minorPageFault - f0) / steps; const cu = process.cpuUsage(c0);
  const med = [...t].sort((a, b) => a - b)[Math.floor(steps / 2)];
  console.log('js infer img/s median', (n / med).toFixed(2), 'faults/step', faults.toFixed(0), 'cpu user/sys per step', (cu.user/1e6/steps).toFixed(2), (cu.system/1e6/steps).toFixed(2), t.map(v=>v.toFixed(2)).join(' '), 'maxRSS MiB', (process.resourceUsage().maxRSS/1024).toFixed(0));
})();
