// model.fit() / model.evaluate() as Keras users write them, predictFiles without options, and the README's fit() example run as printed.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { generateDemoDataset } from '../lib/demo';
import { prepareData, PreparedData } from '../lib/data';
import { createLoader, Loader } from '../lib/loader';
import { createModel, loadModel, Model } from '../lib/model';
import { EarlyStopping, ReduceLROnPlateau, CSVLogger } from '../lib/train/callbacks';
import { predictFiles, topK } from '../lib/train/evaluate';
import { tempDir } from './helpers';

const SIZE: [number, number] = [48, 64];
let data: PreparedData;
const loaders: Loader[] = [];

function loaderFor(split: 'train' | 'val' | 'test', extra: Record<string, unknown> = {}): Loader {
  const l = createLoader({
    files: data.splits[split].map((s) => s.file), labels: data.splits[split].map((s) => s.label), batchSize: 8, size: SIZE,
    shuffle: split === 'train', seed: 2, threads: 2, ...extra,
  });
  loaders.push(l);
  return l;
}

async function compiledModel(seed = 5): Promise<Model> {
  const m = await createModel({ arch: 'resnet-tiny', numClasses: data.classes.length, inputShape: [SIZE[0], SIZE[1], 3], unfreeze: 'all', seed, threads: 2 });
  m.compile({ optimizer: { name: 'adam', learningRate: 1e-3 }, loss: 'categorical_crossentropy' });
  return m;
}

async function maxWeightDiff(a: Model, b: Model): Promise<number> {
  const wa = await a.getWeights(), wb = await b.getWeights();
  let d = 0;
  for (const k of Object.keys(wa)) for (let i = 0; i < wa[k].data.length; i++) d = Math.max(d, Math.abs(wa[k].data[i] - wb[k].data[i]));
  return d;
}

beforeAll(async () => {
  const dir = path.join(tempDir('fit-data'), 'data');
  await generateDemoDataset(dir, { classes: 8, perClass: 7, width: 64, height: 48, seed: 3 });
  data = await prepareData(dir, { labelType: 'model', seed: 1 });
}, 120000);

afterAll(() => { for (const l of loaders) l.close(); });

test('fit() equals the hand-written trainOnBatch loop, and fires the Keras hooks in Keras order', async () => {
  const manual = await compiledModel();
  const manualLoader = loaderFor('train');
  const losses: number[][] = [];
  for (let epoch = 0; epoch < 2; epoch++) {
    losses.push([]);
    for await (const b of manualLoader.epoch(epoch)) { losses[epoch].push((await manual.trainOnBatch(b)).loss * b.size); b.release(); }
  }
  const fitted = await compiledModel();
  const calls: string[] = [];
  let seenModel: unknown = null;
  const recorder = {
    setModel: (m: unknown) => { seenModel = m; },
    onTrainBegin: () => { calls.push('trainBegin'); },
    onEpochBegin: (e: number) => { calls.push(`epochBegin ${e}`); },
    onTrainBatchBegin: (b: number) => { calls.push(`batchBegin ${b}`); },
    onTrainBatchEnd: (b: number, logs: any) => { calls.push(`batchEnd ${b}`); expect(Number.isFinite(logs.loss)).toBe(true); },
    onTestBegin: () => { calls.push('testBegin'); },
    onTestEnd: (logs: any) => { calls.push('testEnd'); expect(logs.loss).toBeGreaterThan(0); },
    onEpochEnd: async (e: number, logs: any) => { calls.push(`epochEnd ${e}`); expect(logs.val_loss).toBeGreaterThan(0); },
    onTrainEnd: () => { calls.push('trainEnd'); },
  };
  const val = loaderFor('val');
  const history = await fitted.fit(loaderFor('train'), { epochs: 2, validationData: val, verbose: 0, callbacks: [recorder] });
  expect(seenModel).toBe(fitted);
  expect(await maxWeightDiff(manual, fitted)).toBeLessThan(1e-6);
  expect(history.epoch).toEqual([0, 1]);
  expect(history.params).toEqual({ epochs: 2, steps: manualLoader.length, verbose: 0 });
  expect(history.stoppedEarly).toBe(false);
  const trainCount = data.splits.train.length;
  history.history.loss.forEach((v, e) => expect(v).toBeCloseTo(losses[e].reduce((a, b) => a + b, 0) / trainCount, 5));
  expect(history.history.learning_rate).toEqual([1e-3, 1e-3]);
  // val_loss is evaluate() over the validation loader after the epoch: the last one equals evaluate() now.
  const evaluated = await fitted.evaluate(val);
  expect(evaluated.count).toBe(data.splits.val.length);
  expect(history.history.val_loss[1]).toBeCloseTo(evaluated.loss, 5);
  expect(history.history.val_accuracy[1]).toBeCloseTo(evaluated.accuracy, 6);
  const steps = manualLoader.length;
  const epochCalls = (e: number) => [`epochBegin ${e}`, ...Array.from({ length: steps }, (_, b) => [`batchBegin ${b}`, `batchEnd ${b}`]).flat(), 'testBegin', 'testEnd', `epochEnd ${e}`];
  expect(calls).toEqual(['trainBegin', ...epochCalls(0), ...epochCalls(1), 'trainEnd']);
}, 120000);

test('evaluate() is the sample-weighted mean of evaluateOnBatch over the loader', async () => {
  const m = await compiledModel(7);
  const l = loaderFor('test', { batchSize: 5 });
  let n = 0, loss = 0, acc = 0;
  for await (const b of l.epoch(0)) { const r = await m.evaluateOnBatch(b); n += r.count; loss += r.loss * r.count; acc += r.accuracy * r.count; b.release(); }
  const e = await m.evaluate(l);
  expect(e.count).toBe(n);
  expect(e.loss).toBeCloseTo(loss / n, 6);
  expect(e.accuracy).toBeCloseTo(acc / n, 6);
}, 60000);

test('classWeights in fit() train exactly as the same weights given to the loader per sample', async () => {
  const weights = data.classes.map((_, c) => 0.25 + c * 0.3);
  const viaFit = await compiledModel();
  const h = await viaFit.fit(loaderFor('train'), { epochs: 1, verbose: 0, classWeights: weights });
  const viaLoader = await compiledModel();
  const weighted = loaderFor('train', { sampleWeights: data.splits.train.map((s) => weights[s.label]) });
  const h2 = await viaLoader.fit(weighted, { epochs: 1, verbose: 0 });
  expect(await maxWeightDiff(viaFit, viaLoader)).toBeLessThan(1e-6);
  expect(h.history.loss[0]).toBeCloseTo(h2.history.loss[0], 6);
  // And they matter: unweighted training ends elsewhere.
  const plain = await compiledModel();
  await plain.fit(loaderFor('train'), { epochs: 1, verbose: 0 });
  expect(await maxWeightDiff(viaFit, plain)).toBeGreaterThan(1e-4);
  // A { class: weight } object leaves the other classes at 1.
  const sparse = await compiledModel();
  await sparse.fit(loaderFor('train'), { epochs: 1, verbose: 0, classWeights: { 0: 1 } });
  expect(await maxWeightDiff(sparse, plain)).toBeLessThan(1e-6);
}, 120000);

test('stopTraining, EarlyStopping with best-weight restore, ReduceLROnPlateau and CSVLogger under fit()', async () => {
  const m = await compiledModel();
  let batches = 0;
  const h = await m.fit(loaderFor('train'), { epochs: 3, verbose: 0, callbacks: [{ onTrainBatchEnd: (b: number) => { batches++; if (b === 1) m.stopTraining = true; } }] });
  expect(batches).toBe(2);
  expect(h.epoch).toEqual([0]);
  expect(h.stoppedEarly).toBe(true);

  // val_loss must improve by 100 to count: epoch 1 is the best, training stops after epoch 2 (patience 1) and epoch 1's weights return.
  const m2 = await compiledModel();
  const messages: string[] = [];
  let afterEpoch1: Record<string, { data: Float32Array }> | null = null;
  const keep = { onEpochEnd: async (e: number) => { if (e === 0) afterEpoch1 = await m2.getWeights() as any; } };
  const csv = path.join(tempDir('fit-csv'), 'log.csv');
  const h2 = await m2.fit(loaderFor('train'), {
    epochs: 5, validationData: loaderFor('val'), verbose: 0,
    callbacks: [new EarlyStopping({ patience: 1, minDelta: 100, restoreBestWeights: true, log: (s) => messages.push(s) }),
      new ReduceLROnPlateau({ factor: 0.5, patience: 0, minDelta: 100 }), new CSVLogger(csv), keep],
  });
  expect(h2.epoch).toEqual([0, 1]);
  expect(h2.stoppedEarly).toBe(true);
  expect(messages).toEqual(['Epoch 2: early stopping', 'Restoring model weights from the end of the best epoch: 1.']);
  expect(h2.history.learning_rate).toEqual([1e-3, 1e-3]);
  expect(m2.learningRate).toBeCloseTo(5e-4, 12); // reduced after epoch 2
  const now = await m2.getWeights();
  let d = 0;
  for (const k of Object.keys(now)) for (let i = 0; i < now[k].data.length; i++) d = Math.max(d, Math.abs(now[k].data[i] - afterEpoch1![k].data[i]));
  expect(d).toBe(0);
  const rows = fs.readFileSync(csv, 'utf8').trim().split('\n');
  expect(rows[0]).toBe('epoch,accuracy,learning_rate,loss,val_accuracy,val_loss');
  expect(rows.slice(1).map((r) => r.split(',')[0])).toEqual(['0', '1']);

  // initialEpoch continues a fit: only the epochs after it run.
  const h3 = await m2.fit(loaderFor('train'), { epochs: 4, initialEpoch: 2, verbose: 0 });
  expect(h3.epoch).toEqual([2, 3]);
}, 120000);

test('fit() and evaluate() reject bad options by name', async () => {
  const m = await compiledModel();
  const l = loaderFor('train');
  await expect(m.fit(l, { epoch: 2 } as any)).rejects.toThrow(/epoch/);
  await expect(m.fit(l, { epochs: 2, initialEpoch: 2 })).rejects.toThrow(/initialEpoch/);
  await expect(m.fit(l, { classWeights: { 99: 1 } })).rejects.toThrow(/\[0, 7\] for classWeights key 99/);
  await expect(m.fit(l, { classWeights: [1, -1] })).rejects.toThrow(/non-negative number for classWeights\[1\]/);
  await expect(m.fit(l, { verbose: 3 as any })).rejects.toThrow(/verbose/);
  await expect(m.fit([] as any)).rejects.toThrow(/loader \(createLoader\) for trainData/);
  await expect(m.fit(l, { callbacks: [null as any] })).rejects.toThrow(/callbacks\[0\]/);
  await expect(m.evaluate(l, { batch: 1 } as any)).rejects.toThrow(/batch/);
  const uncompiled = await createModel({ arch: 'resnet-tiny', numClasses: 8, inputShape: [48, 64, 3] });
  await expect(uncompiled.fit(l)).rejects.toThrow(/compile/);
}, 60000);

test('predictFiles without options reads size, resize and preprocessing from a checkpoint and returns top-k labels', async () => {
  const m = await compiledModel();
  const dir = path.join(tempDir('fit-ckpt'), 'ckpt');
  await m.save(dir, { classes: data.classes, preprocess: 'tf', extra: { resize: 'crop_or_pad' } });
  const loaded = await loadModel(dir);
  const files = data.splits.test.map((s) => s.file);
  const bare = await predictFiles(loaded, files);
  const explicit = await predictFiles(loaded, files, { size: SIZE, resize: 'crop_or_pad', preprocess: 'tf', batchSize: 4 });
  expect(bare.files).toEqual(files);
  expect(Array.from(bare.probabilities)).toEqual(Array.from(explicit.probabilities).map((v) => expect.closeTo(v, 6)));
  // Another preprocessing gives other numbers: the options are really read, not ignored.
  const caffe = await predictFiles(loaded, files, { preprocess: 'caffe' });
  expect(Math.max(...Array.from(caffe.probabilities, (v, i) => Math.abs(v - bare.probabilities[i])))).toBeGreaterThan(1e-4);
  const k = bare.numClasses;
  bare.top.forEach((top, i) => {
    const row = Array.from(bare.probabilities.subarray(i * k, (i + 1) * k));
    expect(top).toHaveLength(5);
    const sorted = row.map((p, j) => [p, j]).sort((a, b) => b[0] - a[0]);
    top.forEach((t, r) => {
      expect(t.index).toBe(sorted[r][1]);
      expect(t.probability).toBe(row[t.index]);
      expect(t.label).toBe(data.classes[t.index]);
    });
  });
  const three = await predictFiles(loaded, files.slice(0, 2), { topK: 3, classes: data.classes.map((c) => c.toUpperCase()) });
  expect(three.top[0].map((t) => t.label)).toEqual(bare.top[0].slice(0, 3).map((t) => t.label.toUpperCase()));
  expect(topK([0.1, 0.5, 0.5, 0.2], 9).map((t) => t.index)).toEqual([1, 2, 3, 0]); // ties: lower index first; k capped
  await expect(predictFiles(loaded, files, { topK: 0 })).rejects.toThrow(/topK/);
  await expect(predictFiles(loaded, files, { sizes: SIZE } as any)).rejects.toThrow(/sizes/);
}, 60000);

test('the README fit() example runs as printed', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const block = /<!-- fit-example -->\n```js\n([\s\S]*?)```\n<!-- \/fit-example -->/.exec(readme);
  expect(block).not.toBeNull();
  const work = tempDir('fit-readme');
  fs.mkdirSync(path.join(work, 'node_modules'));
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(work, 'node_modules', 'carclass'), 'dir');
  fs.writeFileSync(path.join(work, 'example.js'), block![1]);
  const r = spawnSync(process.execPath, ['example.js'], { cwd: work, encoding: 'utf8', env: { ...process.env, CARCLASS_THREADS: '2' }, timeout: 240000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^Epoch 1\/4$/m);
  expect(r.stdout).toMatch(/^epoch 1: val_accuracy \d\.\d{3}$/m);
  expect(r.stdout).toMatch(/val_loss per epoch: \[/);
  expect(r.stdout).toMatch(/test accuracy \d\.\d{3} on \d+ images/);
  expect(r.stdout.trim().split('\n').filter((l) => l.includes('fit-demo/data/')).length).toBe(3);
  expect(fs.readFileSync(path.join(work, 'fit-demo', 'training.csv'), 'utf8').split('\n')[0]).toBe('epoch,accuracy,learning_rate,loss,val_accuracy,val_loss');
}, 300000);
