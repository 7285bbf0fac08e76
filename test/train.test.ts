// The fit() loop end to end on a tiny generated dataset: resume equivalence, interruption, reports, CLI errors.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { generateDemoDataset } from '../lib/demo';
import { loadModel } from '../lib/model';
import { train, TrainOptions } from '../lib/train/train';
import { tempDir } from './helpers';

const cli = path.resolve(__dirname, '..', 'bin', 'carclass.js');
let dataDir: string;

const base = (outDir: string): TrainOptions => ({
  dir: dataDir, outDir, labelType: 'model', arch: 'resnet-tiny', inputSize: [48, 64], unfreeze: 'all', batchSize: 16,
  learningRate: 1e-3, seed: 3, progress: 'quiet', epochs: 4, earlyStopping: { patience: 10 }, handleSignals: true,
});

beforeAll(async () => {
  dataDir = path.join(tempDir('train-data'), 'data');
  await generateDemoDataset(dataDir, { classes: 8, perClass: 10, width: 64, height: 48, seed: 5 });
}, 120000);

async function lastWeights(outDir: string) {
  return (await loadModel(path.join(outDir, 'checkpoints', 'last'))).getWeights();
}

test('4 epochs straight equal 2 epochs + resume + 2 epochs', async () => {
  const a = tempDir('straight');
  const straight = await train({ ...base(a), skipReport: true });
  expect(straight.status).toBe('completed');
  expect(straight.epochsRun).toBe(4);

  const b = tempDir('resumed');
  const first = await train({ ...base(b), epochs: 2, skipReport: true });
  expect(first.epochsRun).toBe(2);
  const second = await train({ ...base(b), resume: true, skipReport: true });
  expect(second.epochsRun).toBe(4);

  for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) {
    expect(second.history[key]).toHaveLength(4);
    second.history[key].forEach((v, i) => expect(v).toBeCloseTo(straight.history[key][i], 4));
  }
  const wa = await lastWeights(a);
  const wb = await lastWeights(b);
  expect(Object.keys(wb)).toEqual(Object.keys(wa));
  let maxDiff = 0;
  for (const k of Object.keys(wa)) {
    const x = wa[k].data, y = wb[k].data;
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
  }
  expect(maxDiff).toBeLessThan(1e-4);
  // The CSV log continues across the resume: header + 4 epochs counted from 0.
  const csv = fs.readFileSync(path.join(b, 'training.csv'), 'utf8').trim().split('\n');
  expect(csv[0].split(',')[0]).toBe('epoch');
  expect(csv.slice(1).map((l) => l.split(',')[0])).toEqual(['0', '1', '2', '3']);
}, 600000);

test('SIGINT finishes the step, saves a checkpoint and says how to resume', async () => {
  const out = tempDir('sigint');
  let sent = false;
  const stream = Object.assign(new (require('stream').Writable)({
    write(chunk: Buffer, _enc: string, cb: () => void) {
      if (!sent && /Epoch 2\/4/.test(chunk.toString())) { sent = true; setImmediate(() => process.emit('SIGINT' as any)); }
      cb();
    },
  }), { isTTY: false });
  const r = await train({ ...base(out), progress: 'plain', stream });
  expect(r.status).toBe('interrupted');
  expect(r.epochsRun).toBe(1);
  expect(r.message).toContain('carclass train --resume');
  const state = JSON.parse(fs.readFileSync(path.join(out, 'train-state.json'), 'utf8'));
  expect(state.epoch).toBe(1);
  expect(fs.existsSync(path.join(out, 'checkpoints', 'last', 'model.safetensors'))).toBe(true);
  expect(process.listenerCount('SIGINT')).toBe(0);
}, 300000);

test('a full run writes the manifest, logs, TensorBoard files and the report', async () => {
  const out = tempDir('full');
  const r = await train({ ...base(out), epochs: 2 });
  expect(r.test).toBeDefined();
  expect(r.test!.count).toBeGreaterThan(0);
  for (const f of ['manifest.json', 'manifest.csv', 'training.csv', 'report/report.md', 'report/report.json', 'report/confusion_matrix.png', 'report/history.png', 'report/predictions.png']) {
    expect(fs.existsSync(path.join(out, f))).toBe(true);
  }
  expect(fs.readdirSync(path.join(out, 'logs', 'train')).some((f) => f.startsWith('events.out.tfevents.'))).toBe(true);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report', 'report.json'), 'utf8'));
  expect(report.metrics.accuracy).toBeCloseTo(r.test!.accuracy, 10);
  // The manifest repeats the split exactly.
  const again = await train({ ...base(tempDir('manifest')), dir: undefined, manifest: path.join(out, 'manifest.json'), epochs: 1, skipReport: true });
  expect(again.classes).toEqual(r.classes);

  // The CLI over the checkpoint: predict (ordered), evaluate (report) and export (Keras .h5).
  const best = path.join(out, 'checkpoints', 'best');
  const cliRun = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const files = fs.readdirSync(dataDir).filter((f) => f.endsWith('.jpg')).sort().slice(0, 5).map((f) => path.join(dataDir, f));
  const p = cliRun('predict', ...files, '--checkpoint', best, '--json', '--top', '3');
  expect(p.status).toBe(0);
  const predictions = JSON.parse(p.stdout).predictions;
  expect(predictions.map((x: any) => x.file)).toEqual(files);
  for (const x of predictions) {
    expect(x.top).toHaveLength(3);
    expect(r.classes).toContain(x.top[0].label);
    expect(x.top[0].probability).toBeGreaterThanOrEqual(x.top[1].probability);
  }
  const e = cliRun('evaluate', '--checkpoint', best, '--out', path.join(out, 'eval'));
  expect(e.status).toBe(0);
  expect(e.stdout).toMatch(/test: loss [\d.]+ - accuracy [\d.]+ - top-5 [\d.]+ on \d+ images/);
  const evaluated = JSON.parse(fs.readFileSync(path.join(out, 'eval', 'report.json'), 'utf8'));
  expect(evaluated.metrics.accuracy).toBeCloseTo(r.test!.accuracy, 6);
  const x = cliRun('export', best, '--out', path.join(out, 'cars.h5'));
  expect(x.status).toBe(0);
  const { readKerasWeights } = await import('../lib/keras/h5');
  const h5 = await readKerasWeights(path.join(out, 'cars.h5'));
  expect(h5.layerNames).toContain('head_pred');
  expect(JSON.parse(fs.readFileSync(path.join(out, 'cars.classes.json'), 'utf8')).classes).toEqual(r.classes);
  expect(cliRun('predict', files[0]).status).toBe(2);
}, 600000);

describe('carclass train: errors name the key, the expected and the received value', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'train', ...args], { encoding: 'utf8' });
  test('no folder', () => {
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('give a folder of images');
  });
  test('bad flag values', () => {
    expect(run(dataDir, '--epochs', 'many').stderr).toContain('Expected an integer in [1, inf] for --epochs but received "many"');
    expect(run(dataDir, '--size', '212by320').stderr).toContain('Expected HEIGHTxWIDTH (e.g. 212x320) for --size but received "212by320"');
    expect(run(dataDir, '--schedule', 'zigzag', '--out', tempDir('x')).stderr).toContain('Expected one of constant, cosine, plateau for --schedule but received "zigzag"');
  });
  test('config file: unknown key and bad JSON', () => {
    const dir = tempDir('cfg');
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"epochz": 3}');
    fs.writeFileSync(path.join(dir, 'broken.json'), '{"epochs": ');
    const a = run(dataDir, '--config', path.join(dir, 'bad.json'));
    expect(a.status).toBe(1);
    expect(a.stderr).toContain('Unknown option "epochz" for train');
    const b = run(dataDir, '--config', path.join(dir, 'broken.json'));
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('not valid JSON');
  });
  test('a folder without images', () => {
    const r = run(tempDir('empty'), '--out', tempDir('o'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('No images (.jpg/.jpeg/.png/.bmp) found under');
  });
});

test('a NaN loss stops training with a clear message and keeps the last good checkpoint', async () => {
  const { createModel } = await import('../lib/model');
  const out = tempDir('nan');
  const model = await createModel({ arch: 'resnet-tiny', numClasses: 8, inputShape: [48, 64, 3], seed: 3 });
  let steps = 0;
  const real = model.trainOnBatch.bind(model);
  // Epoch 1 trains normally; the engine then reports a non-finite loss, as a diverging run would.
  (model as any).trainOnBatch = async (b: any) => (++steps > 4 ? { loss: NaN, accuracy: 0 } : real(b));
  const r = await train({ ...base(out), model, epochs: 3 });
  expect(r.status).toBe('nan');
  expect(r.message).toMatch(/Invalid loss \(NaN\), terminating training\. The last good checkpoint is kept/);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'train-state.json'), 'utf8')).epoch).toBe(1);
  const last = await loadModel(path.join(out, 'checkpoints', 'last'));
  expect(last.epoch).toBe(1);
  expect(r.report).toBeUndefined();
}, 300000);
