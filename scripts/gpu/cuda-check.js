#!/usr/bin/env node
// CUDA checks for scripts/gpu/check.sh, in plain Node (the GPU machine has no jest): each check prints
// one line and lands in a JSON report; the exit status is 1 when any check fails.
//   node scripts/gpu/cuda-check.js [report.json]
// Without CUDA (a CPU build, or no GPU) each CUDA check runs with the CPU standing in for the GPU and
// says so ('cpu-only'), so the script and its tolerances are exercised anywhere.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '../..');
const { createModel, loadModel } = require(path.join(root, 'dist/model'));
const { createLoader } = require(path.join(root, 'dist/loader'));
const { encodeJpeg } = require(path.join(root, 'dist/image'));
const { versions } = require(path.join(root, 'dist/runtime'));

const H = 64, W = 96, CLASSES = 5, N = 8;
const report = { versions: versions(), checks: [] };
const cuda = report.versions.cuda.available;

function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

// The device a CUDA check runs on: the GPU, or the CPU standing in for it.
const GPU = cuda ? 'cuda' : 'cpu';

async function check(name, needsCuda, fn) {
  const entry = { name };
  const t0 = Date.now();
  try {
    const detail = await fn();
    entry.status = needsCuda && !cuda ? 'cpu-only' : 'ok';
    entry.detail = detail;
  } catch (e) {
    entry.status = 'FAILED';
    entry.detail = e && e.stack ? e.stack.split('\n').slice(0, 4).join(' | ') : String(e);
  }
  entry.seconds = (Date.now() - t0) / 1000;
  report.checks.push(entry);
  console.log(`${entry.status.padEnd(7)} ${name}${entry.detail ? `: ${typeof entry.detail === 'string' ? entry.detail : JSON.stringify(entry.detail)}` : ''}`);
}

function expectBelow(what, value, bound) {
  if (!(value <= bound)) throw new Error(`${what} = ${value} exceeds ${bound}`);
  return value;
}

async function jpegs(count) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-cuda-check-'));
  const files = [];
  for (let i = 0; i < count; i++) {
    const h = 80, w = 112, rgb = new Uint8Array(h * w * 3);
    for (let p = 0; p < h * w; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = ((p % w) * (c + 2) + Math.floor(p / w) * (4 - c) + i * 29) & 255;
    const file = path.join(dir, `img-${i}.jpg`);
    fs.writeFileSync(file, await encodeJpeg(rgb, w, h, { quality: 90 }));
    files.push(file);
  }
  return { dir, files };
}

async function batchOf(files, format) {
  const loader = createLoader({ files, labels: files.map((_, i) => i % CLASSES), batchSize: files.length, size: [H, W], seed: 3, augment: { p: 0.8 },
    threads: 2, batchFormat: format });
  let batch;
  for await (const b of loader) batch = b;
  loader.close();
  return batch;
}

const modelOptions = (device, precision = 'fp32') => ({ arch: 'resnet-small', numClasses: CLASSES, inputShape: [H, W, 3], unfreeze: 'all', seed: 7, device, precision });

(async () => {
  console.log(`torch ${report.versions.torch} (${report.versions.torchBuild}), CUDA ${cuda ? 'available' : 'not available'}`);
  const { dir, files } = await jpegs(N);
  const floatBatch = await batchOf(files, 'float32');
  const uint8Batch = await batchOf(files, 'uint8');

  // TF32 convolutions (cuDNN's default) keep about 3 significant digits: probabilities agree to ~1e-3.
  await check('same outputs as the CPU (fp32 predict, one train step, predict after it)', true, async () => {
    const cpu = await createModel(modelOptions('cpu')), gpu = await createModel(modelOptions(GPU));
    cpu.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
    gpu.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
    const before = expectBelow('max |p_cpu - p_cuda| before training', maxAbsDiff(await cpu.predictOnBatch(floatBatch), await gpu.predictOnBatch(floatBatch)), 5e-3);
    const [lc, lg] = [(await cpu.trainOnBatch(floatBatch)).loss, (await gpu.trainOnBatch(floatBatch)).loss];
    const lossRel = expectBelow('relative loss difference', Math.abs(lc - lg) / Math.abs(lc), 5e-3);
    const after = expectBelow('max |p_cpu - p_cuda| after a step', maxAbsDiff(await cpu.predictOnBatch(floatBatch), await gpu.predictOnBatch(floatBatch)), 2e-2);
    return { before, lossCpu: lc, lossCuda: lg, lossRel, after, device: gpu.device };
  });

  await check('bf16 autocast: predictions near fp32, training lowers the loss', true, async () => {
    const fp32 = await createModel(modelOptions(GPU)), bf16 = await createModel(modelOptions(GPU, 'bf16'));
    const diff = expectBelow('max |p_fp32 - p_bf16|', maxAbsDiff(await fp32.predictOnBatch(floatBatch), await bf16.predictOnBatch(floatBatch)), 5e-2);
    bf16.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
    const losses = [];
    for (let i = 0; i < 6; i++) losses.push((await bf16.trainOnBatch(floatBatch)).loss);
    if (!losses.every(Number.isFinite) || !(losses[losses.length - 1] < losses[0])) throw new Error(`losses ${losses.join(', ')}`);
    return { diff, losses };
  });

  // The device does tf + brightness/contrast with the loader's means in the CPU's float order: the
  // same inputs, so the same predictions (up to cuDNN's run-to-run algorithm choice).
  for (const device of cuda ? ['cpu', 'cuda'] : ['cpu']) {
    await check(`uint8 batches on ${device}: same predictions and train step as float32 batches`, device === 'cuda', async () => {
      const a = await createModel(modelOptions(device)), b = await createModel(modelOptions(device));
      const predict = maxAbsDiff(await a.predictOnBatch(uint8Batch), await a.predictOnBatch(floatBatch));
      a.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
      b.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
      const [la, lb] = [(await a.trainOnBatch(uint8Batch)).loss, (await b.trainOnBatch(floatBatch)).loss];
      const bound = device === 'cpu' ? 0 : 1e-5;
      expectBelow('max |p_uint8 - p_float32|', predict, bound);
      expectBelow('|loss_uint8 - loss_float32|', Math.abs(la - lb), device === 'cpu' ? 0 : 1e-5 * Math.abs(lb));
      return { predict, lossUint8: la, lossFloat32: lb, format: uint8Batch.format };
    });
  }

  await check('checkpoint saved on the GPU loads on the CPU', true, async () => {
    const gpu = await createModel(modelOptions(GPU));
    gpu.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
    for (let i = 0; i < 2; i++) await gpu.trainOnBatch(uint8Batch);
    const target = path.join(dir, 'ckpt');
    await gpu.save(target, { classes: Array.from({ length: CLASSES }, (_, i) => `class${i}`) });
    const cpu = await loadModel(target, { device: 'cpu' });
    const diff = expectBelow('max |p_cuda - p_cpu| after reload', maxAbsDiff(await gpu.predictOnBatch(floatBatch), await cpu.predictOnBatch(floatBatch)), 2e-2);
    const [wg, wc] = [await gpu.getWeights(), await cpu.getWeights()];
    let weights = 0;
    for (const name of Object.keys(wg)) weights = Math.max(weights, maxAbsDiff(wg[name].data, wc[name].data));
    if (weights !== 0) throw new Error(`weights differ after reload by ${weights}`);
    return { predictDiff: diff, weightsDiff: weights, devices: [gpu.device, cpu.device] };
  });

  await check('checkpoint saved on the CPU loads on the GPU', true, async () => {
    const cpu = await createModel(modelOptions('cpu'));
    const target = path.join(dir, 'ckpt-cpu');
    await cpu.save(target);
    const gpu = await loadModel(target, { device: GPU });
    return { predictDiff: expectBelow('max |p_cpu - p_cuda|', maxAbsDiff(await cpu.predictOnBatch(floatBatch), await gpu.predictOnBatch(floatBatch)), 5e-3) };
  });

  const failed = report.checks.filter((c) => c.status === 'FAILED').length;
  report.summary = { ok: report.checks.filter((c) => c.status === 'ok').length, cpuOnly: report.checks.filter((c) => c.status === 'cpu-only').length, failed };
  console.log(`cuda-check: ${report.summary.ok} ok, ${report.summary.cpuOnly} on the CPU only (no CUDA), ${failed} failed`);
  if (process.argv[2]) fs.writeFileSync(process.argv[2], JSON.stringify(report, null, 2));
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
