// Frozen-base feature cache: training the head from cached features equals end-to-end training with
// the base frozen (no augmentation, flip-only, dropout head, two-stage); what invalidates a cache.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { generateDemoDataset } from '../lib/demo';
import { createModel, loadModel, Model, Weights } from '../lib/model';
import { train, TrainOptions } from '../lib/train/train';
import { openFeatureCache, FeatureCacheOptions, ensureFreeSpace, freeBytes } from '../lib/cache';
import { ProgressBar } from '../lib/train/callbacks';
import { createLoader } from '../lib/loader';
import { predictFiles } from '../lib/train/evaluate';
import { tempDir } from './helpers';

const cli = path.resolve(__dirname, '..', 'bin', 'carclass.js');
const SIZE: [number, number] = [48, 64];
let dataDir: string;
let files: string[];

beforeAll(async () => {
  dataDir = path.join(tempDir('cache-data'), 'data');
  await generateDemoDataset(dataDir, { classes: 8, perClass: 6, width: 64, height: 48, seed: 11 });
  files = fs.readdirSync(dataDir).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(dataDir, f));
}, 120000);

function sink() {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => { lines.push(...s.split('\n').filter(Boolean)); return true; } } as any };
}

const base = (outDir: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
  dir: dataDir, outDir, labelType: 'model', arch: 'resnet-tiny', inputSize: SIZE, unfreeze: 'none', batchSize: 8, learningRate: 1e-3,
  seed: 4, progress: 'quiet', epochs: 3, earlyStopping: false, skipReport: true, tensorboard: false, handleSignals: false, ...extra,
});

async function lastWeights(outDir: string): Promise<Weights> {
  return (await loadModel(path.join(outDir, 'checkpoints', 'last'))).getWeights();
}

function maxDiff(a: Weights, b: Weights, prefix = ''): number {
  let m = 0;
  for (const k of Object.keys(a)) {
    if (!k.startsWith(prefix)) continue;
    const x = a[k].data, y = b[k].data;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

/** Trains with the cache off and on; returns both runs' weights and the cached run's messages. */
async function offVsOn(name: string, extra: Partial<TrainOptions>) {
  const off = tempDir(`${name}-off`), on = tempDir(`${name}-on`);
  const a = await train(base(off, { ...extra, cacheFeatures: 'off' }));
  const out = sink();
  const b = await train(base(on, { ...extra, cacheFeatures: 'on', stream: out.stream, progress: 'plain' }));
  expect(a.status).toBe('completed');
  expect(b.status).toBe('completed');
  return { a, b, wa: await lastWeights(off), wb: await lastWeights(on), lines: out.lines, on };
}

test('no augmentation: head weights after 3 epochs from the cache equal end-to-end frozen-base training', async () => {
  const { a, b, wa, wb, lines, on } = await offVsOn('noaug', { augment: false });
  expect(lines.some((l) => l.startsWith('Frozen-base epochs train the head from cached features'))).toBe(true);
  expect(fs.existsSync(path.join(on, 'feature-cache', 'train.features'))).toBe(true);
  expect(maxDiff(wa, wb, 'head_')).toBeLessThan(1e-5);
  expect(maxDiff(wa, wb)).toBeLessThan(1e-5);
  // The head did learn (the comparison is not between two untouched initialisations).
  const fresh = await (await createModel({ arch: 'resnet-tiny', numClasses: 8, inputShape: [48, 64, 3], seed: 4 })).getWeights();
  expect(maxDiff(fresh, wb, 'head_')).toBeGreaterThan(1e-3);
  for (const k of ['loss', 'val_loss', 'accuracy']) b.history[k].forEach((v, i) => expect(v).toBeCloseTo(a.history[k][i], 5));
}, 300000);

test('flip-only augmentation: both orientations cached, picked per (seed, epoch, index) as the loader does', async () => {
  const flip = { p: 0.7, flip: true, brightness: false, contrast: false };
  const { wa, wb, on } = await offVsOn('flip', { augment: flip });
  expect(maxDiff(wa, wb)).toBeLessThan(1e-5);
  const side = JSON.parse(fs.readFileSync(path.join(on, 'feature-cache', 'train.features.json'), 'utf8'));
  expect(side.orientations).toBe(2);
  // Flips change the result: the equality above is not that of two runs without augmentation.
  const plain = tempDir('flip-plain');
  await train(base(plain, { augment: false, cacheFeatures: 'on' }));
  expect(maxDiff(await lastWeights(plain), wb, 'head_')).toBeGreaterThan(1e-4);
}, 300000);

test('dropout head (vgg) with class weights: same masks from the cache; dropout is active on cached features', async () => {
  const { wa, wb } = await offVsOn('vgg', { head: 'vgg', augment: false, classWeights: 'balanced' });
  expect(maxDiff(wa, wb, 'head_')).toBeLessThan(1e-5);

  // Two training steps at a negligible rate on one cached batch: dropout makes their losses differ,
  // while evaluation (no dropout) gives the same loss twice.
  const model = await createModel({ arch: 'resnet-tiny', head: 'vgg', numClasses: 4, inputShape: [48, 64, 3], seed: 2 });
  const cache = await openFeatureCache(cacheOptions(model, tempDir('vgg-cache'), files.slice(0, 8)));
  const batches = cache.batches({ files: files.slice(0, 8), labels: [0, 1, 2, 3, 0, 1, 2, 3], batchSize: 8, shuffle: false, seed: 1, flip: false, augmentP: 0 });
  const [batch] = await collect(batches.epoch(0));
  expect(batch.shape).toEqual([8, 2, 2, 512]);  // resnet-tiny's post_relu map at 48x64
  model.compile({ optimizer: { name: 'adam', learningRate: 1e-12 } });
  const e1 = await model.evaluateOnBatch(batch), e2 = await model.evaluateOnBatch(batch);
  const t1 = await model.trainOnBatch(batch), t2 = await model.trainOnBatch(batch);
  expect(e1.loss).toBe(e2.loss);
  expect(Math.abs(t1.loss - t2.loss)).toBeGreaterThan(1e-6);
  expect(Math.abs(t1.loss - e1.loss)).toBeGreaterThan(1e-6);
  cache.close();
}, 300000);

test('two-stage: stage 1 from the cache then end to end with augmentation equals the run without the cache', async () => {
  const extra: Partial<TrainOptions> = { headEpochs: 2, unfreeze: ['conv5'], epochs: 3, augment: { p: 0.7 } };
  const off = tempDir('two-off'), on = tempDir('two-on');
  await train(base(off, { ...extra, cacheFeatures: 'off' }));
  const out = sink();
  const r = await train(base(on, { ...extra, stream: out.stream, progress: 'plain' }));
  expect(r.status).toBe('completed');
  expect(out.lines.some((l) => l.startsWith('Frozen-base epochs train the head from cached features'))).toBe(true);
  expect(out.lines.some((l) => l.startsWith('Stage 2: unfreezing'))).toBe(true);
  expect(maxDiff(await lastWeights(off), await lastWeights(on))).toBeLessThan(1e-4);
}, 300000);

test('SIGINT while the cache is built stops after the batch; --resume completes it and trains as an uninterrupted run', async () => {
  const out = tempDir('sigint-build');
  let sent = false;
  const stream = { isTTY: false, write: (chunk: string) => {
    if (!sent && /Building feature cache \(train\)/.test(chunk)) { sent = true; setImmediate(() => process.emit('SIGINT' as any)); }
    return true;
  } } as any;
  const opts = base(out, { augment: false, handleSignals: true, batchSize: 4 });
  const first = await train({ ...opts, progress: 'plain', stream });
  expect(first.status).toBe('interrupted');
  expect(first.message).toMatch(/while building the feature cache.*carclass train --resume/);
  expect(process.listenerCount('SIGINT')).toBe(0);
  const out2 = sink();
  const second = await train({ ...opts, resume: true, progress: 'plain', stream: out2.stream });
  expect(second.status).toBe('completed');
  const reused = out2.lines.find((l) => l.startsWith('Frozen-base epochs'));
  expect(reused).toMatch(/computed, [1-9]\d* reused/);
  const ref = tempDir('sigint-ref');
  await train(base(ref, { augment: false, batchSize: 4, cacheFeatures: 'off' }));
  expect(maxDiff(await lastWeights(ref), await lastWeights(out))).toBeLessThan(1e-5);
}, 300000);

test("brightness/contrast: 'auto' trains end to end and says why in one line; 'on' is a usage error naming the conflict", async () => {
  const out = sink();
  const r = await train(base(tempDir('auto-fallback'), { epochs: 1, augment: { p: 0.7 }, stream: out.stream, progress: 'plain' }));
  expect(r.status).toBe('completed');
  const notes = out.lines.filter((l) => l.startsWith('Feature cache off:'));
  expect(notes).toHaveLength(1);
  expect(notes[0]).toMatch(/brightness and contrast augmentation.*--augment flip/);
  expect(out.lines.some((l) => l.startsWith('Frozen-base epochs'))).toBe(false);
  await expect(train(base(tempDir('on-conflict'), { augment: { p: 0.7, contrast: false }, cacheFeatures: 'on' })))
    .rejects.toThrow(/cacheFeatures 'on' \(--cache-features on\) conflicts with brightness augmentation/);
  await expect(train(base(tempDir('on-unfrozen'), { augment: false, unfreeze: ['conv5'], cacheFeatures: 'on' })))
    .rejects.toThrow(/needs every base layer frozen/);
  const cliOut = tempDir('cli-conflict');
  const p = spawnSync(process.execPath, [cli, 'train', dataDir, '--out', cliOut, '--arch', 'resnet-tiny', '--size', '48x64', '--unfreeze', 'none',
    '--cache-features', 'on'], { encoding: 'utf8' });
  expect(p.status).toBe(2);
  expect(p.stderr).toMatch(/--cache-features on\) conflicts with brightness and contrast augmentation/);
  const bad = spawnSync(process.execPath, [cli, 'train', dataDir, '--out', cliOut, '--augment', 'flip,sharpen'], { encoding: 'utf8' });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/flip, brightness, contrast for --augment but received "flip,sharpen"/);
  const dtype = spawnSync(process.execPath, [cli, 'train', dataDir, '--out', cliOut, '--cache-dtype', 'int8'], { encoding: 'utf8' });
  expect(dtype.status).toBe(2);
  expect(dtype.stderr).toMatch(/float32, float16 for --cache-dtype/);
}, 300000);

function cacheOptions(model: Model, dir: string, list: string[], extra: Partial<FeatureCacheOptions> = {}): FeatureCacheOptions {
  return { files: list, labels: list.map(() => 0), split: 'train', dir, shared: false, model, inputSize: SIZE, resize: 'crop_or_pad', preprocess: 'tf',
    orientations: 1, dtype: 'float32', batchSize: 4, onError: 'skip', progress: new ProgressBar({ mode: 'quiet' }), log: () => undefined, ...extra };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('a changed file, changed weights or input size invalidate; a truncated or damaged file is rebuilt; a build resumes', async () => {
  const dir = tempDir('invalidate');
  const own = path.join(tempDir('invalidate-files'), 'f');
  fs.mkdirSync(own, { recursive: true });
  const list = files.slice(0, 10).map((f, i) => { const t = path.join(own, `${i}.jpg`); fs.copyFileSync(f, t); return t; });
  const model = await createModel({ arch: 'resnet-tiny', numClasses: 4, inputShape: [48, 64, 3], seed: 1 });
  const open = async (m = model, extra: Partial<FeatureCacheOptions> = {}) => {
    const c = await openFeatureCache(cacheOptions(m, dir, list, extra));
    c.close();
    return c.report;
  };
  // Interrupted after the first batch, then resumed: only the rest is computed.
  let stops = 0;
  const first = await open(model, { stopRequested: () => ++stops >= 1 });
  expect(first).toMatchObject({ interrupted: true, built: 4 });
  const resumed = await open();
  expect(resumed).toMatchObject({ interrupted: false, built: 6, reused: 4, rebuilt: '' });
  expect(await open()).toMatchObject({ built: 0, reused: 10 });

  // A changed file (new bytes and mtime) is recomputed alone.
  fs.copyFileSync(files[20], list[3]);
  expect(await open()).toMatchObject({ built: 1, reused: 9 });

  // Changed base weights: the key differs, the whole file is rebuilt and the reason names the weights.
  const w = await model.getWeights();
  w['conv1_conv/kernel'].data[0] += 0.5;
  await model.setWeights({ 'conv1_conv/kernel': w['conv1_conv/kernel'] }, { allowPartial: true });
  const stale = await open();
  expect(stale.built).toBe(10);
  expect(stale.rebuilt).toMatch(/stale key.*the base weights/);
  // A head-only change keeps the cache.
  const hw = await model.getWeights();
  hw['head_pred/bias'].data[0] += 1;
  await model.setWeights({ 'head_pred/bias': hw['head_pred/bias'] }, { allowPartial: true });
  expect(await open()).toMatchObject({ built: 0, reused: 10 });

  // Another input size: a different model and key.
  const wide = await createModel({ arch: 'resnet-tiny', numClasses: 4, inputShape: [48, 72, 3], seed: 1 });
  const resized = await openFeatureCache(cacheOptions(wide, dir, list, { inputSize: [48, 72] }));
  resized.close();
  expect(resized.report.built).toBe(10);
  expect(resized.report.rebuilt).toMatch(/inputSize \[48,64\] -> \[48,72\]/);

  // Truncated: detected by size and rebuilt.
  const file = path.join(dir, 'train.features');
  const size = fs.statSync(file).size;
  fs.truncateSync(file, size - 100);
  const truncated = await openFeatureCache(cacheOptions(wide, dir, list, { inputSize: [48, 72] }));
  truncated.close();
  expect(truncated.report.rebuilt).toMatch(/truncated/);
  expect(truncated.report.built).toBe(10);
  expect(fs.statSync(file).size).toBe(size);

  // A damaged header: the whole file is rebuilt.
  const fdh = fs.openSync(file, 'r+');
  fs.writeSync(fdh, Buffer.from([0x7f]), 0, 1, 40);
  fs.closeSync(fdh);
  const header = await openFeatureCache(cacheOptions(wide, dir, list, { inputSize: [48, 72] }));
  header.close();
  expect(header.report).toMatchObject({ built: 10, reused: 0 });
  expect(header.report.rebuilt).toMatch(/header is corrupt/);

  // A flipped byte in one record's values: its checksum fails and only it is recomputed.
  const fd = fs.openSync(file, 'r+');
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, size - 10);
  byte[0] ^= 0xff;
  fs.writeSync(fd, byte, 0, 1, size - 10);
  fs.closeSync(fd);
  const damaged = await openFeatureCache(cacheOptions(wide, dir, list, { inputSize: [48, 72] }));
  damaged.close();
  expect(damaged.report).toMatchObject({ built: 1, reused: 9, rebuilt: '' });
}, 300000);

test('the disk use is printed before building and a cache larger than the free space is refused up front', async () => {
  const dir = tempDir('space');
  const logs: string[] = [];
  const model = await createModel({ arch: 'resnet-tiny', numClasses: 4, inputShape: [48, 64, 3], seed: 1 });
  const c = await openFeatureCache(cacheOptions(model, dir, files.slice(0, 3), { log: (l) => logs.push(l) }));
  // One open cache per file: a second opener (another run on a shared --cache-dir) is refused, not interleaved.
  await expect(openFeatureCache(cacheOptions(model, dir, files.slice(0, 3)))).rejects.toThrow(/train\.features is in use by another carclass process/);
  const batches = c.batches({ files: files.slice(0, 3), labels: [0, 0, 0], batchSize: 3, shuffle: false, seed: 0, flip: false, augmentP: 0 });
  c.close();
  await expect(collect(batches.epoch(0))).rejects.toThrow(/is closed/);
  const again = await openFeatureCache(cacheOptions(model, dir, files.slice(0, 3)));
  expect(again.report).toMatchObject({ built: 0, reused: 3 });
  again.close();
  expect(logs[0]).toMatch(/^Feature cache \(train\): 3 images x 1 orientation\(s\) x .* \(float32\) = .* in .*train\.features; .* free$/);
  const file = path.join(dir, 'x.features');
  expect(() => ensureFreeSpace(file, freeBytes(dir) + 2 ** 40)).toThrow(/Feature cache .*x\.features needs .* but only .* is free on that disk: .*--cache-dtype float16/);
  expect(() => ensureFreeSpace(file, 1)).not.toThrow();
  expect(() => ensureFreeSpace(file, 2048, 1024)).toThrow(/needs 2.0 KiB but only 1.0 KiB is free/);
}, 120000);

test('float16 storage: half the size, features within float16 rounding of float32', async () => {
  const model = await createModel({ arch: 'resnet-tiny', numClasses: 4, inputShape: [48, 64, 3], seed: 1 });
  const list = files.slice(0, 6);
  const read = async (dtype: 'float32' | 'float16') => {
    const c = await openFeatureCache(cacheOptions(model, tempDir(`dtype-${dtype}`), list, { dtype }));
    const [b] = await collect(c.batches({ files: list, labels: list.map(() => 0), batchSize: 6, shuffle: false, seed: 0, flip: false, augmentP: 0 }).epoch(0));
    const data = b.data() as Float32Array;
    const bytes = c.report.bytes;
    c.close();
    return { data, bytes };
  };
  const f32 = await read('float32'), f16 = await read('float16');
  expect(f16.data.length).toBe(f32.data.length);
  let worst = 0;
  for (let i = 0; i < f32.data.length; i++) worst = Math.max(worst, Math.abs(f16.data[i] - f32.data[i]) / Math.max(Math.abs(f32.data[i]), 6e-5));
  expect(worst).toBeLessThan(1e-3);  // float16 keeps 11 significant bits: relative error <= 2^-11
  expect(worst).toBeGreaterThan(0);
  // The float32 features equal the model's own pooled base output for the loader's pixels of the same files.
  const loader = createLoader({ files: list, batchSize: 6, size: SIZE, shuffle: false, augment: false });
  const [pixels] = await collect(loader.epoch(0));
  const fromModel = await model.features(pixels);
  loader.close();
  expect(fromModel.dim).toBe(512);
  expect(Array.from(f32.data)).toEqual(Array.from(fromModel.data));
  expect(f16.bytes - 8192).toBe((f32.bytes - 8192) / 2);  // a header page and a record-table page, then the values
}, 120000);

test('predict/evaluate with a cache folder: the same probabilities as end to end, read back on the next pass; bad files listed', async () => {
  const run = tempDir('predict-run');
  await train(base(run, { epochs: 1, augment: false }));
  const model = await loadModel(path.join(run, 'checkpoints', 'last'));
  const folder = tempDir('predict-files');
  const list = files.slice(0, 5).map((f, i) => { const t = path.join(folder, `${i}.jpg`); fs.copyFileSync(f, t); return t; });
  const bad = path.join(folder, 'bad.jpg');
  fs.writeFileSync(bad, Buffer.from('not a jpeg at all'));
  const all = [...list.slice(0, 2), bad, ...list.slice(2)];
  const opts = { size: SIZE, resize: 'crop_or_pad' as const, preprocess: 'tf' as const, batchSize: 4 };
  const cacheDir = tempDir('predict-cache');
  const plain = await predictFiles(model, all, opts);
  const first = await predictFiles(model, all, { ...opts, featureCache: cacheDir });
  const second = await predictFiles(model, all, { ...opts, featureCache: cacheDir });
  for (const p of [first, second]) {
    expect(p.files).toEqual(plain.files);
    expect(p.indices).toEqual([0, 1, 3, 4, 5]);
    expect(p.errors.map((e) => e.file)).toEqual([bad]);
    let worst = 0;
    for (let i = 0; i < plain.probabilities.length; i++) worst = Math.max(worst, Math.abs(p.probabilities[i] - plain.probabilities[i]));
    expect(worst).toBeLessThan(1e-6);
  }
  expect(first.errors[0].reason).toBe(plain.errors[0].reason);
  expect(second.errors[0].reason).toMatch(/could not be decoded when the feature cache was built/);
  // The second pass computed nothing: the cache holds every file.
  const check = await openFeatureCache({ ...cacheOptions(model, cacheDir, all), split: 'predict', shared: true, labels: all.map(() => -1) });
  check.close();
  expect(check.report).toMatchObject({ built: 0, reused: 5, failed: 1, rebuilt: '' });

  const cli1 = spawnSync(process.execPath, [cli, 'predict', folder, '--checkpoint', path.join(run, 'checkpoints', 'last'), '--cache-dir', cacheDir, '--json'], { encoding: 'utf8' });
  expect(cli1.status).toBe(1);  // the bad file is reported
  const out = JSON.parse(cli1.stdout);
  expect(out.predictions).toHaveLength(5);
  expect(out.errors.map((e: { file: string }) => e.file)).toEqual([bad]);
}, 300000);
