// A run interrupted inside an epoch resumes at the step it reached: the finished run equals an uninterrupted one.
import * as fs from 'fs';
import * as path from 'path';
import { generateDemoDataset } from '../lib/demo';
import { createLoader } from '../lib/loader';
import { createModel, loadModel, Model } from '../lib/model';
import { train, TrainOptions } from '../lib/train/train';
import { tempDir } from './helpers';

let dataDir: string;
const CLASSES = 8;

const base = (outDir: string, model: Model): TrainOptions => ({
  dir: dataDir, outDir, model, labelType: 'model', arch: 'resnet-tiny', inputSize: [48, 64], unfreeze: 'all', batchSize: 8,
  learningRate: 1e-3, seed: 4, progress: 'quiet', epochs: 2, earlyStopping: false, skipReport: true, tensorboard: false, threads: 2, loaderThreads: 2,
});

const freshModel = () => createModel({ arch: 'resnet-tiny', numClasses: CLASSES, inputShape: [48, 64, 3], unfreeze: 'all', seed: 9, threads: 2 });

/** Sends SIGINT to this process right after the model's `n`-th training step (the loop checks for it after the step). */
function interruptAfter(model: Model, n: number): void {
  const step = model.trainOnBatch.bind(model);
  let calls = 0;
  model.trainOnBatch = async (input) => {
    const r = await step(input);
    if (++calls === n) process.emit('SIGINT' as any);
    return r;
  };
}

beforeAll(async () => {
  dataDir = path.join(tempDir('mid-epoch-data'), 'data');
  await generateDemoDataset(dataDir, { classes: CLASSES, perClass: 9, width: 64, height: 48, seed: 2 });
}, 120000);

test('loader.epoch(n, { fromBatch }) yields the same batches as the whole epoch from that batch on', async () => {
  const files = fs.readdirSync(dataDir).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(dataDir, f)).slice(0, 30);
  const loader = createLoader({ files, batchSize: 4, size: [48, 64], shuffle: true, seed: 7, augment: { p: 0.9 }, threads: 2 });
  const whole: { number: number; files: string[]; data: Float32Array }[] = [];
  for await (const b of loader.epoch(3)) whole.push({ number: b.number, files: b.files, data: b.data() as Float32Array });
  const tail: typeof whole = [];
  for await (const b of loader.epoch(3, { fromBatch: 5 })) tail.push({ number: b.number, files: b.files, data: b.data() as Float32Array });
  expect(tail.map((b) => b.number)).toEqual([5, 6, 7]);
  tail.forEach((b, i) => {
    expect(b.files).toEqual(whole[5 + i].files);
    expect(Buffer.from(b.data.buffer).equals(Buffer.from(whole[5 + i].data.buffer))).toBe(true); // same augmentation, bit for bit
  });
  let none = 0;
  for await (const b of loader.epoch(3, { fromBatch: loader.length })) { none += 1; b.release(); }
  expect(none).toBe(0);
  expect(() => loader.epoch(3, { fromBatch: loader.length + 1 })).toThrow(/\[0, 8\].*fromBatch/);
  expect(() => loader.epoch(3, { fromBatch: -1 })).toThrow(/fromBatch/);
  expect(() => loader.epoch(3, { start: 1 } as any)).toThrow(/start/);
  loader.close();
}, 60000);

test('interrupt in the middle of epoch 2, resume: weights and history equal an uninterrupted run', async () => {
  const straightDir = tempDir('mid-straight');
  const straight = await train(base(straightDir, await freshModel()));
  expect(straight.status).toBe('completed');

  const runDir = tempDir('mid-interrupted');
  const model = await freshModel();
  // Stop after the 3rd step of epoch 2.
  const trainFiles = JSON.parse(fs.readFileSync(path.join(straightDir, 'manifest.json'), 'utf8')).entries.filter((e: any) => e.split === 'train').length;
  const stepsPerEpoch = Math.ceil(trainFiles / 8);
  expect(stepsPerEpoch).toBeGreaterThan(4);
  interruptAfter(model, stepsPerEpoch + 3);
  const first = await train(base(runDir, model));
  expect(first.status).toBe('interrupted');
  expect(first.message).toContain(`during epoch 2 after step 3/${stepsPerEpoch}`);
  const state = JSON.parse(fs.readFileSync(path.join(runDir, 'train-state.json'), 'utf8'));
  expect(state.epoch).toBe(1);
  expect(state.inEpoch.step).toBe(3);
  expect(state.inEpoch.seen).toBe(24);
  const interruptedCopy = path.join(tempDir('mid-copy'), 'run');
  fs.cpSync(runDir, interruptedCopy, { recursive: true });

  const lines: string[] = [];
  const stream = Object.assign(new (require('stream').Writable)({ write(c: Buffer, _e: string, cb: () => void) { lines.push(c.toString()); cb(); } }), { isTTY: false });
  const { model: _unused, ...rest } = base(runDir, model);
  const second = await train({ ...rest, resume: true, progress: 'plain', stream });
  expect(second.status).toBe('completed');
  expect(second.epochsRun).toBe(2);
  expect(lines.join('')).toContain(`Resuming epoch 2 at step 4/${stepsPerEpoch}`);

  // The epoch's logged loss is over all its steps, as if never interrupted.
  for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) {
    expect(second.history[key]).toHaveLength(2);
    second.history[key].forEach((v, i) => expect(v).toBeCloseTo(straight.history[key][i], 5));
  }
  const wa = await (await loadModel(path.join(straightDir, 'checkpoints', 'last'))).getWeights();
  const wb = await (await loadModel(path.join(runDir, 'checkpoints', 'last'))).getWeights();
  let maxDiff = 0, maxAbs = 0;
  for (const k of Object.keys(wa)) {
    const x = wa[k].data, y = wb[k].data;
    for (let i = 0; i < x.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i])); maxAbs = Math.max(maxAbs, Math.abs(x[i])); }
  }
  expect(maxAbs).toBeGreaterThan(0.01);
  expect(maxDiff).toBeLessThan(1e-4);

  // Control: replaying epoch 2 from its start over weights that already hold its first 3 steps (the old behaviour)
  // ends measurably elsewhere, so the comparison above can tell the two apart.
  const replayDir = path.join(tempDir('mid-replay'), 'run');
  fs.cpSync(interruptedCopy, replayDir, { recursive: true });
  const replayState = JSON.parse(fs.readFileSync(path.join(replayDir, 'train-state.json'), 'utf8'));
  delete replayState.inEpoch;
  fs.writeFileSync(path.join(replayDir, 'train-state.json'), JSON.stringify(replayState));
  await train({ ...rest, outDir: replayDir, resume: true });
  const wc = await (await loadModel(path.join(replayDir, 'checkpoints', 'last'))).getWeights();
  let replayDiff = 0;
  for (const k of Object.keys(wa)) {
    const x = wa[k].data, y = wc[k].data;
    for (let i = 0; i < x.length; i++) replayDiff = Math.max(replayDiff, Math.abs(x[i] - y[i]));
  }
  expect(replayDiff).toBeGreaterThan(100 * Math.max(maxDiff, 1e-6));
}, 600000);
