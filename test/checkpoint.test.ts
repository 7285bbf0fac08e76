// Checkpoints: bit-exact round trip incl. Adam state, atomic files, clear errors for corrupt or
// mismatched files; setWeights validation.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createModel, loadModel, Model, Weights } from '../lib/model';
import { colourTask } from './helpers-model';

const H = 32;
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-ckpt-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function expectSameWeights(a: Weights, b: Weights): void {
  expect(Object.keys(b)).toEqual(Object.keys(a));
  for (const k of Object.keys(a)) {
    expect(b[k].shape).toEqual(a[k].shape);
    expect(Buffer.from(b[k].data.buffer).equals(Buffer.from(a[k].data.buffer))).toBe(true);
  }
}

async function trained(): Promise<Model> {
  const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [H, H, 3], unfreeze: ['conv4', 'conv5', 'post'], seed: 4 });
  m.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
  await m.trainOnBatch(colourTask(8, H, H, 1));
  await m.trainOnBatch(colourTask(8, H, H, 2));
  return m;
}

test('save/load round trip is bit-exact, restores Adam state and metadata', async () => {
  const m = await trained();
  const target = path.join(dir, 'run1');
  const files = await m.save(target, { classes: ['red', 'green', 'blue'], epoch: 7, preprocess: 'tf', extra: { note: 'x' } });
  expect(files.weights).toBe(path.join(target, 'model.safetensors'));
  expect(fs.readdirSync(target).sort()).toEqual(['model.json', 'model.safetensors']); // no temp files left
  const meta = JSON.parse(fs.readFileSync(files.metadata, 'utf8'));
  expect(meta).toMatchObject({ format: 'carclass-model', arch: 'resnet-tiny', numClasses: 3, inputShape: [H, H, 3], epoch: 7, classes: ['red', 'green', 'blue'] });
  expect(meta.optimizer).toMatchObject({ name: 'adam', learningRate: 1e-3, iterations: 2 });

  // the safetensors header follows the spec and carries optimizer slots
  const buf = fs.readFileSync(files.weights);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  expect(header['conv1_conv/kernel']).toEqual({ dtype: 'F32', shape: [7, 7, 3, 16], data_offsets: [0, 7 * 7 * 3 * 16 * 4] });
  expect(header['optimizer/conv5_block1_3_conv/kernel/exp_avg'].shape).toEqual([1, 1, 128, 512]);
  expect(header['optimizer/conv1_conv/kernel/exp_avg']).toBeUndefined(); // frozen: no state
  expect(header.__metadata__.format).toBe('carclass-checkpoint-1');

  const again = await loadModel(target);
  expect(again.classes).toEqual(['red', 'green', 'blue']);
  expect(again.epoch).toBe(7);
  expect(again.unfreeze).toEqual(['conv4', 'conv5', 'post']);
  expectSameWeights(await m.getWeights(), await again.getWeights());
  // identical continuation: same optimizer state and iteration count
  const batch = colourTask(8, H, H, 3);
  const r1 = await m.trainOnBatch(batch);
  const r2 = await again.trainOnBatch(batch);
  expect(r2.loss).toBe(r1.loss);
  expectSameWeights(await m.getWeights(), await again.getWeights());
  // a .safetensors path works too
  const file = path.join(dir, 'best.safetensors');
  await again.save(file);
  expect(fs.existsSync(path.join(dir, 'best.json'))).toBe(true);
  expectSameWeights(await again.getWeights(), await (await loadModel(file)).getWeights());
});

test('corrupt and mismatched checkpoints give clear errors', async () => {
  const m = await trained();
  const target = path.join(dir, 'run2');
  const files = await m.save(target);
  const good = fs.readFileSync(files.weights);

  fs.writeFileSync(files.weights, good.subarray(0, good.length - 100));
  await expect(loadModel(target)).rejects.toThrow(/invalid safetensors file .*model\.safetensors: tensor '.*' data_offsets .* fall outside/);
  fs.writeFileSync(files.weights, good.subarray(0, 5));
  await expect(loadModel(target)).rejects.toThrow('shorter than the 8-byte header length');
  const badHeader = Buffer.from(good);
  badHeader.write('#', 12);
  fs.writeFileSync(files.weights, badHeader);
  await expect(loadModel(target)).rejects.toThrow(/invalid safetensors file/);
  fs.writeFileSync(files.weights, good);

  // metadata describing another model: every mismatch listed
  const meta = JSON.parse(fs.readFileSync(files.metadata, 'utf8'));
  fs.writeFileSync(files.metadata, JSON.stringify({ ...meta, numClasses: 5 }));
  const err = await loadModel(target).then(() => new Error("no error"), (e: Error) => e);
  expect(err.message).toContain('does not fit this model');
  expect(err.message).toContain("tensor 'head_pred/kernel' has shape [512,3] but the model expects [512,5]");
  expect(err.message).toContain("tensor 'head_pred/bias' has shape [3] but the model expects [5]");
  expect(err.message).toContain("tensor 'optimizer/head_pred/kernel/exp_avg' has shape");
  fs.writeFileSync(files.metadata, JSON.stringify({ ...meta, arch: 'resnet-small' }));
  const err2 = await loadModel(target).then(() => new Error("no error"), (e: Error) => e);
  expect(err2.message).toMatch(/missing tensor 'conv2_block2_preact_bn\/gamma'/);
  // Hundreds of mismatches: the names that tell the architecture apart come first, then the first shapes, then a count.
  expect(err2.message).toMatch(/\d+ mismatch\(es\):\n  missing tensor /);
  expect(err2.message).toMatch(/\n  and \d+ more$/);

  fs.writeFileSync(files.metadata, '{ not json');
  await expect(loadModel(target)).rejects.toThrow(/model\.json is not valid JSON/);
  fs.rmSync(files.metadata);
  await expect(loadModel(target)).rejects.toThrow(/Cannot read checkpoint metadata .*model\.json/);
});

test('getWeights/setWeights round trip, layout and validation', async () => {
  const a = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [H, H, 3], seed: 1 });
  const b = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [H, H, 3], seed: 2 });
  const wa = await a.getWeights();
  expect(Object.keys(wa)).toEqual(a.weightSpec().map((s) => s.name));
  expect(wa['conv1_conv/kernel'].shape).toEqual([7, 7, 3, 16]);
  expect(wa['conv2_block1_preact_bn/moving_variance'].data.every((v) => v === 1)).toBe(true);
  const input = colourTask(3, H, H, 5);
  expect(Buffer.from((await a.predictOnBatch(input)).buffer).equals(Buffer.from((await b.predictOnBatch(input)).buffer))).toBe(false);
  await b.setWeights(wa);
  expectSameWeights(wa, await b.getWeights());
  expect(Buffer.from((await a.predictOnBatch(input)).buffer).equals(Buffer.from((await b.predictOnBatch(input)).buffer))).toBe(true);
  // sync variants
  expectSameWeights(wa, b.getWeightsSync());

  const broken: Weights = { ...wa, 'extra/kernel': { shape: [1], data: new Float32Array(1) }, 'conv1_conv/bias': { shape: [3], data: new Float32Array(3) } };
  delete broken['post_bn/gamma'];
  const err = await b.setWeights(broken).then(() => new Error("no error"), (e: Error) => e);
  expect(err.message).toContain('3 problem(s)');
  expect(err.message).toContain("unexpected weight 'extra/kernel'");
  expect(err.message).toContain("weight 'conv1_conv/bias' has shape [3] (3 values) but the model expects [16]");
  expect(err.message).toContain("missing weight 'post_bn/gamma'");
  const partial = await b.setWeights(broken, { allowPartial: true });
  expect(partial.skipped.sort()).toEqual(['conv1_conv/bias', 'extra/kernel']);
  expect(partial.loaded).toBe(Object.keys(wa).length - 2);
});
