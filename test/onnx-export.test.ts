// ONNX export (issue 16): onnxruntime-node runs the exported graph and matches carclass predict within 1e-4
// on the cars sample; dynamic batch 1, 7, 32; metadata; initializers equal the model's weights bit for bit.
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { createModel, Model, Arch, Head } from '../lib/model';
import { decodeImage } from '../lib/image';
import { exportOnnx, oihwToHwio, ONNX_INPUT, ONNX_IMAGE_INPUT, ONNX_OUTPUT } from '../lib/onnx/export';
import { decodeModel } from '../lib/onnx/proto';
import { sharedData, tempDir } from './helpers';
import { exportCommand } from '../lib/cli/export';
import { parseCommandArgs } from '../lib/cli/command';

const carsDir = path.join(sharedData, 'cars-sample');
const cars = fs.readdirSync(carsDir).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(carsDir, f));
const TOLERANCE = 1e-4;
const maxDiffs: Record<string, number> = {};

async function carsBatch(n: number, size: [number, number], preprocess: 'tf' | 'caffe'): Promise<Float32Array> {
  const images = await Promise.all(cars.map((f) => decodeImage(f, { size, resize: 'bilinear', preprocess })));
  const per = size[0] * size[1] * 3;
  const x = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    const img = images[i % images.length].data as Float32Array;
    // Vary the repeats a little so each row of the batch differs.
    const k = Math.floor(i / images.length);
    for (let j = 0; j < per; j++) x[i * per + j] = img[(j + k * 3 * 17) % per];
  }
  return x;
}

async function check(arch: Arch, head: Head, inputShape: [number, number, number], batches: number[], numClasses = 5) {
  const model: Model = await createModel({ arch, head, numClasses, inputShape, seed: 7, threads: 2 });
  // Non-trivial BN statistics, so the graph's BatchNormalization is exercised (fresh models have mean 0, var 1).
  const weights = await model.getWeights();
  let s = 1;
  const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  const names = Object.keys(weights);
  const bumped: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const name of names) {
    if (!/\/(moving_mean|moving_variance|gamma|beta)$/.test(name)) continue;
    const w = weights[name];
    const data = new Float32Array(w.data.length);
    for (let i = 0; i < data.length; i++) {
      if (name.endsWith('moving_variance')) data[i] = 0.5 + rnd();
      else if (name.endsWith('gamma')) data[i] = 0.8 + 0.4 * rnd();
      else data[i] = 0.2 * (rnd() - 0.5);
    }
    bumped[name] = { shape: w.shape, data };
  }
  await model.setWeights(bumped, { allowPartial: true });
  model.classes = Array.from({ length: numClasses }, (_, i) => `car_${i}`);
  model.preprocess = arch === 'vgg16' ? 'caffe' : 'tf';
  model.extra = { resize: 'bilinear' };

  const dir = tempDir('onnx');
  const file = path.join(dir, `${arch}-${head}.onnx`);
  const r = await exportOnnx(model, file);
  expect(r.opset).toBe(17);

  // Metadata.
  const bytes = fs.readFileSync(file);
  const decoded = decodeModel(bytes);
  const meta = Object.fromEntries(decoded.metadataProps.map((p: any) => [p.key, p.value]));
  expect(JSON.parse(meta.classes)).toEqual(model.classes);
  expect(JSON.parse(meta.input_size)).toEqual([inputShape[0], inputShape[1]]);
  expect(meta.resize).toBe('bilinear');
  expect(meta.preprocess).toBe(model.preprocess);
  expect(decoded.opsetImport[0].version).toBe(17);
  expect(decoded.graph.node.some((n: any) => n.opType === 'Dropout')).toBe(false);

  // Weights bit for bit.
  const current = await model.getWeights();
  const inits = new Map<string, any>(decoded.graph.initializer.map((t: any) => [t.name, t]));
  for (const [name, w] of Object.entries(current)) {
    const t = inits.get(name);
    expect(t).toBeDefined();
    const raw: Uint8Array = t.rawData;
    let data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    if (w.shape.length === 4) data = oihwToHwio(data, t.dims);
    expect(Buffer.from(data.buffer).equals(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength))).toBe(true);
  }

  const key = `${arch}/${head} ${inputShape[0]}x${inputShape[1]}`;
  const runs: { input: string; dims: number[]; output: string }[] = [];
  const expectedByBatch: Float32Array[] = [];
  for (const n of batches) {
    const x = await carsBatch(n, [inputShape[0], inputShape[1]], model.preprocess as 'tf' | 'caffe');
    expectedByBatch.push(await model.predictOnBatch({ x, shape: [n, inputShape[0], inputShape[1], 3] }));
    const input = path.join(dir, `x${n}.bin`);
    fs.writeFileSync(input, Buffer.from(x.buffer));
    runs.push({ input, dims: [n, inputShape[0], inputShape[1], 3], output: path.join(dir, `y${n}.bin`) });
  }
  const job = path.join(dir, 'job.json');
  fs.writeFileSync(job, JSON.stringify({ model: file, runs }));
  const report = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'helpers', 'ort-run.js'), job], { encoding: 'utf8' }));
  expect(report.version).toBe('1.30.0');
  expect(report.inputNames).toEqual([ONNX_INPUT]);
  expect(report.outputNames).toEqual([ONNX_OUTPUT]);
  batches.forEach((n, b) => {
    expect(report.runs[b].dims).toEqual([n, numClasses]);
    const buf = fs.readFileSync(runs[b].output);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const expected = expectedByBatch[b];
    expect(data.length).toBe(expected.length);
    let max = 0;
    for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(data[i] - expected[i]));
    maxDiffs[`${key} batch ${n}`] = max;
    expect(max).toBeLessThan(TOLERANCE);
  });
  fs.rmSync(dir, { recursive: true, force: true });
}

afterAll(() => {
  console.log(`ONNX vs carclass max abs diff:\n${Object.entries(maxDiffs).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n')}`);
});

describe('exportOnnx', () => {
  test('resnet-tiny gap, batches 1, 7, 32', () => check('resnet-tiny', 'gap', [64, 96, 3], [1, 7, 32]));
  test('resnet-tiny vgg head', () => check('resnet-tiny', 'vgg', [64, 96, 3], [1, 7]));
  test('resnet-tiny imagenet head', () => check('resnet-tiny', 'imagenet', [64, 96, 3], [7]));
  test('resnet-small gap at an odd size (75x99), batches 1, 7, 32', () => check('resnet-small', 'gap', [75, 99, 3], [1, 7, 32]));
  test('resnet50v2 gap at 64x96', () => check('resnet50v2', 'gap', [64, 96, 3], [1, 7]));
  test('resnet50v2 imagenet head at 65x65', () => check('resnet50v2', 'imagenet', [65, 65, 3], [7]));
  test('resnet50v2 vgg head at 64x64', () => check('resnet50v2', 'vgg', [64, 64, 3], [1]));
  test('vgg16 gap at 64x96', () => check('vgg16', 'gap', [64, 96, 3], [1, 7]));
  test('vgg16 vgg head at 64x64 (2x2 flatten)', () => check('vgg16', 'vgg', [64, 64, 3], [7]));
  test('vgg16 imagenet head at 64x96', () => check('vgg16', 'imagenet', [64, 96, 3], [1, 7, 32]));
});

describe('carclass export --format onnx', () => {
  test('writes an ONNX file from a checkpoint that onnxruntime-node runs; the default stays Keras .h5', async () => {
    const model = await createModel({ arch: 'resnet-tiny', head: 'gap', numClasses: 3, inputShape: [48, 64, 3], seed: 3, threads: 2 });
    const dir = tempDir('onnx-cli');
    const ckpt = path.join(dir, 'best');
    await model.save(ckpt, { classes: ['audi', 'bmw', 'volvo'], preprocess: 'tf', extra: { resize: 'crop_or_pad' } });
    const file = path.join(dir, 'cars.onnx');
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const { values, positionals } = parseCommandArgs(exportCommand, [ckpt, '--format', 'onnx', '--out', file]);
      expect(await exportCommand.run(values, positionals)).toBe(0);
      const h5 = path.join(dir, 'model.h5');
      const keras = parseCommandArgs(exportCommand, [ckpt, '--out', h5]);
      expect(await exportCommand.run(keras.values, keras.positionals)).toBe(0);
      expect(fs.existsSync(h5)).toBe(true);
      await expect(exportCommand.run({ ...values, format: 'tflite' }, positionals)).rejects.toThrow(/--format/);
    } finally {
      log.mockRestore();
    }
    const decoded = decodeModel(fs.readFileSync(file));
    const meta = Object.fromEntries(decoded.metadataProps.map((p: any) => [p.key, p.value]));
    expect(JSON.parse(meta.classes)).toEqual(['audi', 'bmw', 'volvo']);
    expect(meta.resize).toBe('crop_or_pad');
    expect(meta.preprocess).toBe('tf');
    const x = await carsBatch(2, [48, 64], 'tf');
    const expected = await model.predictOnBatch({ x, shape: [2, 48, 64, 3] });
    fs.writeFileSync(path.join(dir, 'x.bin'), Buffer.from(x.buffer));
    const job = path.join(dir, 'job.json');
    fs.writeFileSync(job, JSON.stringify({ model: file, runs: [{ input: path.join(dir, 'x.bin'), dims: [2, 48, 64, 3], output: path.join(dir, 'y.bin') }] }));
    execFileSync(process.execPath, [path.join(__dirname, 'helpers', 'ort-run.js'), job]);
    const buf = fs.readFileSync(path.join(dir, 'y.bin'));
    const got = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    for (let i = 0; i < expected.length; i++) expect(Math.abs(got[i] - expected[i])).toBeLessThan(TOLERANCE);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('exportOnnx includePreprocessing', () => {
  test.each([
    ['resnet-tiny', 'tf'],
    ['vgg16', 'caffe'],
  ] as const)('%s: uint8 input with %s preprocessing in the graph equals carclass decode + predict', async (arch, preprocess) => {
    const size: [number, number] = [48, 64];
    const model = await createModel({ arch, head: 'gap', numClasses: 4, inputShape: [...size, 3], seed: 11, threads: 2 });
    model.preprocess = preprocess;
    const dir = tempDir('onnx-pre');
    const file = path.join(dir, 'pre.onnx');
    const r = await exportOnnx(model, file, { includePreprocessing: true });
    expect(r.ops).toEqual(expect.arrayContaining(['Cast', 'Sub', preprocess === 'tf' ? 'Div' : 'Gather']));
    const n = cars.length;
    const per = size[0] * size[1] * 3;
    const pixels = new Uint8Array(n * per);
    const x = new Float32Array(n * per);
    for (let i = 0; i < n; i++) {
      const raw = await decodeImage(cars[i], { size, resize: 'crop_or_pad', preprocess: 'none' });
      const pre = await decodeImage(cars[i], { size, resize: 'crop_or_pad', preprocess });
      expect(raw.data).toBeInstanceOf(Uint8Array);
      pixels.set(raw.data as Uint8Array, i * per);
      x.set(pre.data as Float32Array, i * per);
    }
    const expected = await model.predictOnBatch({ x, shape: [n, ...size, 3] });
    fs.writeFileSync(path.join(dir, 'x.bin'), Buffer.from(pixels.buffer));
    const job = path.join(dir, 'job.json');
    fs.writeFileSync(job, JSON.stringify({ model: file, runs: [{ input: path.join(dir, 'x.bin'), type: 'uint8', dims: [n, ...size, 3], output: path.join(dir, 'y.bin') }] }));
    const report = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'helpers', 'ort-run.js'), job], { encoding: 'utf8' }));
    expect(report.inputNames).toEqual([ONNX_IMAGE_INPUT]);
    const buf = fs.readFileSync(path.join(dir, 'y.bin'));
    const got = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    let max = 0;
    for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(got[i] - expected[i]));
    maxDiffs[`${arch}/gap uint8 + ${preprocess} in graph, batch ${n}`] = max;
    expect(max).toBeLessThan(TOLERANCE);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
