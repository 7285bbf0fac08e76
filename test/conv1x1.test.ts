// The oneDNN detour for 1x1 convolutions (native/model/conv1x1): PyTorch runs them through its slow
// im2col path with one thread and a batch under 16; carclass runs them through oneDNN instead.
// - the detour's forward and three gradients equal at::conv2d's (strided or not, with or without bias);
// - training steps with it equal steps without it (CARCLASS_CONV1X1_ONEDNN=0) within float tolerance,
//   and differ in the last bits, so the detour really ran.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { native } from '../lib/native';

test.each([
  [1, true], [1, false], [2, true], [2, false],
])('stride %i, bias %s: output and gradients agree with at::conv2d', async (stride, bias) => {
  const a = await native().conv1x1Check(3, 48, 24, 11, 9, stride, 5, bias);
  for (const key of ['output', 'inputGrad', 'weightGrad', 'biasGrad']) expect(a[key]).toBeLessThan(2e-6);
});

test('bad sizes are refused by name', () => {
  expect(() => native().conv1x1Check(0, 4, 4, 4, 4, 1, 1, true)).toThrow(/sizes and stride must be positive/);
});

// One process per setting (the switch is read once): 3 Adam steps of resnet-tiny, batch 4, one thread.
const STEPS = `
const lib = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist'))});
(async () => {
  const model = await lib.createModel({ arch: 'resnet-tiny', numClasses: 5, inputShape: [40, 56, 3], unfreeze: 'all', seed: 2, threads: 1 });
  model.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const x = Float32Array.from({ length: 4 * 40 * 56 * 3 }, rnd), labels = Int32Array.from([0, 3, 1, 4]);
  const losses = [];
  for (let i = 0; i < 3; i++) losses.push((await model.trainOnBatch({ x, shape: [4, 40, 56, 3], labels })).loss);
  const w = await model.getWeights();
  const out = {};
  for (const [k, v] of Object.entries(w)) if (/_conv\\/kernel$/.test(k)) out[k] = Array.from(v.data);
  process.stdout.write(JSON.stringify({ losses, weights: out }));
})().catch((e) => { console.error(e.message); process.exit(1); });`;

function steps(onednn: string) {
  const r = spawnSync(process.execPath, ['-e', STEPS], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, CARCLASS_THREADS: '1', CARCLASS_CONV1X1_ONEDNN: onednn } });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

test('training steps with the detour equal steps without it within float tolerance', () => {
  const a = steps('1'), b = steps('0');
  a.losses.forEach((l: number, i: number) => expect(l).toBeCloseTo(b.losses[i], 4));
  let maxDiff = 0, oneByOne = 0;
  for (const name of Object.keys(b.weights)) {
    if (/_(0|1|3)_conv\/kernel$/.test(name)) oneByOne++;
    b.weights[name].forEach((v: number, i: number) => { maxDiff = Math.max(maxDiff, Math.abs(v - a.weights[name][i])); });
  }
  expect(oneByOne).toBeGreaterThan(4); // the bottleneck's 1x1 convolutions, strided shortcuts included
  expect(maxDiff).toBeLessThan(1e-4);
  expect(maxDiff).toBeGreaterThan(0); // another summation order: the detour ran
}, 120000);
