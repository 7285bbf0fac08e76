// Steps run off the event loop, queue in call order and never corrupt state; loader batch handles;
// Grad-CAM contract.
import { createModel } from '../lib/model';
import { native } from '../lib/native';
import { colourTask, sliceInput } from './helpers-model';

test('a timer keeps firing during a long train step', async () => {
  const m = await createModel({ arch: 'resnet-small', numClasses: 3, inputShape: [96, 96, 3], unfreeze: 'all' });
  m.compile();
  const batch = colourTask(8, 96, 96, 1);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = Date.now();
  await m.trainOnBatch(batch);
  const elapsed = Date.now() - t0;
  clearInterval(timer);
  expect(elapsed).toBeGreaterThan(20);
  expect(ticks).toBeGreaterThanOrEqual(2);
});

test('concurrent calls queue in call order and match a sequential run', async () => {
  const opts = { arch: 'resnet-tiny' as const, numClasses: 3, inputShape: [32, 32, 3] as [number, number, number], unfreeze: 'all' as const, seed: 9 };
  const a = await createModel(opts);
  const b = await createModel(opts);
  a.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
  b.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
  const data = colourTask(24, 32, 32, 3);
  const x1 = sliceInput(data, 0, 8);
  const x2 = sliceInput(data, 8, 16);
  const probe = sliceInput(data, 16, 24);
  // fired without awaiting: train, predict, train, weights, predict
  const [t1, p1, t2, w, p2] = await Promise.all([a.trainOnBatch(x1), a.predictOnBatch(probe), a.trainOnBatch(x2), a.getWeights(), a.predictOnBatch(probe)]);
  const s1 = await b.trainOnBatch(x1);
  const q1 = await b.predictOnBatch(probe);
  const s2 = await b.trainOnBatch(x2);
  const wb = await b.getWeights();
  const q2 = await b.predictOnBatch(probe);
  expect([t1.loss, t2.loss]).toEqual([s1.loss, s2.loss]);
  expect(Array.from(p1)).toEqual(Array.from(q1));
  expect(Array.from(p2)).toEqual(Array.from(q2));
  expect(Array.from(w['head_pred/kernel'].data)).toEqual(Array.from(wb['head_pred/kernel'].data));
  // a failing call rejects alone and does not block the queue
  const bad = a.trainOnBatch({ ...x1, labels: new Int32Array(8).fill(1), sampleWeights: new Float32Array(7) }).catch((e) => e);
  expect(String((await bad).message)).toContain('sampleWeights');
  await expect(a.predictOnBatch(probe)).resolves.toHaveLength(24);
});

test('synchronous weight access fails fast while a step runs', async () => {
  const m = await createModel({ arch: 'resnet-small', numClasses: 3, inputShape: [96, 96, 3], unfreeze: 'all' });
  m.compile();
  const step = m.trainOnBatch(colourTask(8, 96, 96, 2));
  await new Promise((r) => setTimeout(r, 30));
  let busy = '';
  try {
    m.getWeightsSync();
  } catch (e) {
    busy = (e as Error).message;
  }
  await step;
  // the step may have finished within 30 ms on a fast machine; then the call simply succeeded
  if (busy) expect(busy).toContain('the model is busy');
  expect(Object.keys(m.getWeightsSync()).length).toBe(m.weightSpec().length);
});

test('loader batch handles are used without copying through JS', async () => {
  const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [32, 32, 3], seed: 2 });
  m.compile();
  const data = colourTask(6, 32, 32, 4);
  const batch = { handle: native().testBatch(data), size: 6 };
  expect(Array.from(await m.predictOnBatch(batch))).toEqual(Array.from(await m.predictOnBatch(data)));
  expect((await m.evaluateOnBatch(batch)).loss).toBe((await m.evaluateOnBatch(data)).loss);
  await expect(m.trainOnBatch(batch)).resolves.toMatchObject({ count: 6 });
  const unlabeled = { handle: native().testBatch({ x: data.x, shape: data.shape }), size: 6 };
  await expect(m.trainOnBatch(unlabeled)).rejects.toThrow('label -1 of sample 0 is outside [0, 3)');
  await expect(m.predictOnBatch({ handle: {}, size: 1 })).rejects.toThrow('Expected a carclass batch handle');
});

test('Grad-CAM: input-sized heatmap in [0, 1] for the predicted or given class', async () => {
  const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [64, 64, 3], seed: 5 });
  const img = colourTask(1, 64, 64, 8);
  const probs = await m.predictOnBatch(img);
  const cam = await m.gradCam(img);
  const best = [0, 1, 2].reduce((a, b) => (probs[b] > probs[a] ? b : a), 0);
  expect(cam).toMatchObject({ height: 64, width: 64, classIndex: best, layer: 'conv5_block1_3_conv' });
  expect(cam.probability).toBeCloseTo(probs[best], 5);
  expect(cam.heatmap).toHaveLength(64 * 64);
  const max = Math.max(...cam.heatmap);
  expect(Math.min(...cam.heatmap)).toBe(0);
  expect(max === 1 || max === 0).toBe(true);
  const other = await m.gradCam(img, { classIndex: (best + 1) % 3, layer: 'conv4_block1_3_conv' });
  expect(other.classIndex).toBe((best + 1) % 3);
  expect(other.probability).toBeCloseTo(probs[(best + 1) % 3], 5);
  await expect(m.gradCam(img, { layer: 'nope' })).rejects.toThrow("gradCam layer 'nope' does not exist");
  await expect(m.gradCam(colourTask(2, 64, 64, 8))).rejects.toThrow('exactly one image');
});

test('precision bf16 (autocast) runs every step and stays close to fp32', async () => {
  const opts = { arch: 'resnet-tiny' as const, numClasses: 3, inputShape: [32, 32, 3] as [number, number, number], seed: 1 };
  const fp32 = await createModel(opts);
  const bf16 = await createModel({ ...opts, precision: 'bf16' });
  const input = colourTask(4, 32, 32, 6);
  const a = await fp32.predictOnBatch(input);
  const b = await bf16.predictOnBatch(input);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(2e-2);
  bf16.compile();
  expect(Number.isFinite((await bf16.trainOnBatch(input)).loss)).toBe(true);
  expect((await bf16.gradCam(sliceInput(input, 0, 1))).heatmap).toHaveLength(32 * 32);
});
