// Training semantics: learning, freezing (weights and BN statistics), Keras loss with sample weights,
// label smoothing, Keras Adam's first step, float64 gradient check.
import { createModel, gradCheck64, Weights } from '../lib/model';
import { colourTask, randomInput, sliceInput } from './helpers-model';

const H = 32;

function ce(p: Float32Array, k: number, labels: Int32Array, smoothing = 0): number[] {
  const out: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) {
      const y = (j === labels[i] ? 1 - smoothing : 0) + smoothing / k;
      s -= y * Math.log(p[i * k + j]);
    }
    out.push(s);
  }
  return out;
}

function same(a: Weights, b: Weights, name: string): boolean {
  const x = a[name].data;
  const y = b[name].data;
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

test('resnet-tiny learns a generated 3-class task to >= 95% accuracy', async () => {
  const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [H, H, 3], unfreeze: 'all', seed: 3 });
  m.compile({ optimizer: { name: 'adam', learningRate: 3e-3 }, loss: 'categorical_crossentropy' });
  const train = colourTask(256, H, H, 11);
  const test = colourTask(96, H, H, 12);
  let last = { loss: Infinity, accuracy: 0 };
  for (let epoch = 0; epoch < 4; epoch++) {
    for (let b = 0; b < 256; b += 32) last = await m.trainOnBatch(sliceInput(train, b, b + 32));
  }
  expect(Number.isFinite(last.loss)).toBe(true);
  const r = await m.evaluateOnBatch(test);
  expect(r.count).toBe(96);
  expect(r.accuracy).toBeGreaterThanOrEqual(0.95);
  expect(r.top5Correct).toBe(96);
  // predictions line up with the input order
  const p = await m.predictOnBatch(test);
  const one = await m.predictOnBatch(sliceInput(test, 5, 6));
  for (let j = 0; j < 3; j++) expect(one[j]).toBeCloseTo(p[5 * 3 + j], 5);
});

test('frozen weights and frozen BN statistics stay unchanged; trainability changes between steps', async () => {
  const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [H, H, 3], unfreeze: ['conv5'] });
  m.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
  const before = await m.getWeights();
  const batch = colourTask(8, H, H, 2);
  await m.trainOnBatch(batch);
  await m.trainOnBatch(batch);
  const after = await m.getWeights();
  for (const w of m.weightSpec()) {
    const trains = /conv5|head/.test(w.layer);
    expect([w.name, same(before, after, w.name)]).toEqual([w.name, !trains]);
  }
  // two-stage: unfreeze everything, the stem now moves too
  await m.setTrainable('all');
  await m.trainOnBatch(batch);
  const later = await m.getWeights();
  expect(same(after, later, 'conv1_conv/kernel')).toBe(false);
  expect(same(after, later, 'conv2_block1_preact_bn/moving_mean')).toBe(false);
  await m.setTrainable('none');
  await m.trainOnBatch(batch);
  const frozen = await m.getWeights();
  expect(same(later, frozen, 'conv5_block1_3_conv/kernel')).toBe(true);
  expect(same(later, frozen, 'post_bn/moving_variance')).toBe(true);
  expect(same(later, frozen, 'head_pred/kernel')).toBe(false);
});

test('sample weights change the loss exactly as mean_i(w_i * CE_i); label smoothing as Keras', async () => {
  const m = await createModel({ arch: 'resnet-tiny', numClasses: 4, inputShape: [H, H, 3], seed: 5 });
  const input = randomInput(6, H, H, 9, 4);
  const p = await m.predictOnBatch(input);
  const per = ce(p, 4, input.labels);
  const plain = await m.evaluateOnBatch(input);
  expect(plain.loss).toBeCloseTo(per.reduce((a, b) => a + b, 0) / 6, 5);
  const w = new Float32Array([0.5, 2, 1, 3, 0.25, 1.5]);
  const weighted = await m.evaluateOnBatch({ ...input, sampleWeights: w });
  expect(weighted.loss).toBeCloseTo(per.reduce((a, b, i) => a + w[i] * b, 0) / 6, 5);
  expect(weighted.accuracy).toBe(plain.accuracy); // accuracy is not weighted, as Keras 'accuracy'
  m.compile({ labelSmoothing: 0.1 });
  const smooth = await m.evaluateOnBatch(input);
  expect(smooth.loss).toBeCloseTo(ce(p, 4, input.labels, 0.1).reduce((a, b) => a + b, 0) / 6, 5);
});

test('Keras Adam: the first step moves each weight by about lr; learning rate changes between steps', async () => {
  const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [H, H, 3] });
  const lr = 1e-3;
  m.compile({ optimizer: { name: 'adam', learningRate: lr } });
  const batch = colourTask(8, H, H, 4);
  const before = await m.getWeights();
  await m.trainOnBatch(batch);
  const after = await m.getWeights();
  const k0 = before['head_pred/kernel'].data;
  const k1 = after['head_pred/kernel'].data;
  // |update| = lr * |g| / (|g| + epsilon / sqrt(1 - beta2)): at most lr, close to lr for all but tiny gradients
  const moves: number[] = [];
  for (let i = 0; i < k0.length; i++) {
    const d = Math.abs(k1[i] - k0[i]);
    expect(d).toBeLessThanOrEqual(lr * 1.0001);
    moves.push(d);
  }
  moves.sort((a, b) => a - b);
  expect(moves[Math.floor(moves.length / 2)]).toBeGreaterThan(0.5 * lr);
  m.setLearningRate(1e-12);
  await m.trainOnBatch(batch);
  const still = await m.getWeights();
  const k2 = still['head_pred/kernel'].data;
  for (let i = 0; i < k1.length; i++) expect(Math.abs(k2[i] - k1[i])).toBeLessThan(1e-9);
});

test('float64 gradient check by central differences on resnet-tiny', async () => {
  const input = { ...randomInput(3, H, H, 21, 3), sampleWeights: new Float32Array([1, 0.5, 2]) };
  const r = await gradCheck64({ arch: 'resnet-tiny', numClasses: 3, inputShape: [H, H, 3], seed: 2 }, input, 1, 1e-6);
  expect(r.names.length).toBeGreaterThan(40); // one element of every trainable tensor
  expect(r.names.some((n) => n.startsWith('conv1_conv/kernel['))).toBe(true);
  expect(r.names.some((n) => n.startsWith('head_pred/bias['))).toBe(true);
  let checked = 0;
  for (let i = 0; i < r.names.length; i++) {
    const a = r.analytic[i];
    const n = r.numeric[i];
    const err = Math.abs(a - n) / Math.max(1e-6, Math.abs(a) + Math.abs(n));
    if (Math.abs(a) + Math.abs(n) > 1e-8) checked++;
    expect([r.names[i], err < 1e-4 || Math.abs(a - n) < 1e-8]).toEqual([r.names[i], true]);
  }
  expect(checked).toBeGreaterThan(r.names.length / 2);
});

test('weight decay is decoupled as in Keras AdamW: w -= lr * wd * w on top of the Adam update', async () => {
  const opts = { arch: 'resnet-tiny' as const, numClasses: 3, inputShape: [H, H, 3] as [number, number, number], seed: 6 };
  const plain = await createModel(opts);
  const decayed = await createModel(opts);
  const lr = 1e-3;
  const wd = 0.5;
  plain.compile({ optimizer: { name: 'adam', learningRate: lr } });
  decayed.compile({ optimizer: { name: 'adam', learningRate: lr, weightDecay: wd } });
  const w0 = (await plain.getWeights())['head_pred/kernel'].data;
  const batch = colourTask(8, H, H, 7);
  await plain.trainOnBatch(batch);
  await decayed.trainOnBatch(batch);
  const a = (await plain.getWeights())['head_pred/kernel'].data;
  const b = (await decayed.getWeights())['head_pred/kernel'].data;
  for (let i = 0; i < w0.length; i += 7) expect(b[i] - a[i]).toBeCloseTo(-lr * wd * w0[i], 7);
});
