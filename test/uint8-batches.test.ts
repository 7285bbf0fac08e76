// uint8 batches: the loader hands decoded bytes (flipped when augmented) plus each sample's
// brightness/contrast to the engine, which preprocesses them. The reference is the float32 path
// (itself checked against Keras arithmetic elsewhere): equal bit for bit for crop_or_pad and nearest,
// within the uint8 rounding bound for bilinear. Also checked against an independent tf/caffe in JS.
import * as fs from 'fs';
import * as path from 'path';
import { createLoader, decodeImage } from '../lib';
import type { Batch, LoaderOptions } from '../lib/loader';
import { createModel } from '../lib/model';
import { tempDir, writeJpegs } from './helpers/images';

const H = 32, W = 37;  // 111 values a row: whole runs of 12 plus a tail in the native loops; the models' minimum height

type Collected = { data: Float32Array[]; files: string[]; formats: string[]; labels: number[] };
async function collect(options: LoaderOptions, epoch = 0): Promise<Collected> {
  const loader = createLoader(options);
  const out: Collected = { data: [], files: [], formats: [], labels: [] };
  for await (const batch of loader.epoch(epoch)) {
    out.data.push(batch.data() as Float32Array);
    out.files.push(...batch.files);
    out.formats.push(batch.format);
    out.labels.push(...batch.labels);
    batch.release();
  }
  loader.close();
  return out;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

let files: string[];
let dir: string;
beforeAll(async () => {
  dir = tempDir('uint8-batches');
  // Sources larger and smaller than the output: crop_or_pad both crops and pads.
  fs.mkdirSync(path.join(dir, 'small'));
  files = [...(await writeJpegs(dir, 7, 41, 53)), ...(await writeJpegs(path.join(dir, 'small'), 6, 19, 23))];
});

describe('uint8 and float32 batches give the same floats', () => {
  for (const resize of ['crop_or_pad', 'nearest'] as const) {
    for (const preprocess of ['tf', 'caffe'] as const) {
      test(`${resize} ${preprocess}, without, with whole and with partial augmentation, two epochs: bit for bit`, async () => {
        // Partial augmentations too: flip only and brightness only skip the contrast pass, in both paths.
        const augments = [false, { p: 0.8 }, { p: 0.8, brightness: false, contrast: false }, { p: 0.9, flip: false, contrast: false }] as const;
        for (const augment of augments) {
          for (const epoch of [0, 1]) {
            const common: LoaderOptions = { files, batchSize: 4, size: [H, W], resize, preprocess, seed: 5, augment, threads: 3 };
            const f = await collect({ ...common, batchFormat: 'float32' }, epoch);
            const u = await collect({ ...common, batchFormat: 'uint8' }, epoch);
            expect(f.formats.every((x) => x === 'float32')).toBe(true);
            expect(u.formats.every((x) => x === 'uint8')).toBe(true);
            expect(u.files).toEqual(f.files);
            f.data.forEach((d, i) => {
              if (!bits(d).equals(bits(u.data[i]))) throw new Error(`batch ${i} differs by up to ${maxAbsDiff(d, u.data[i])}`);
            });
          }
        }
      });
    }
  }

  test('bilinear: within the uint8 rounding bound, and not identical', async () => {
    for (const preprocess of ['tf', 'caffe'] as const) {
      for (const augment of [false, { p: 1 }] as const) {
        const common: LoaderOptions = { files, batchSize: 5, size: [H, W], resize: 'bilinear', preprocess, seed: 2, augment, threads: 2 };
        const f = await collect({ ...common, batchFormat: 'float32' });
        const u = await collect({ ...common, batchFormat: 'uint8' });
        // Rounding moves each resized value by at most 0.5 before preprocessing: 0.5 / 127.5 (tf) or
        // 0.5 (caffe). Brightness adds the same to both. Contrast k in [0.8, 1.2) around the channel
        // mean m: (v - m) k + m moves by k dv + (1 - k) dm with |dm| <= max |dv|, so at most
        // (k + |1 - k|) max |dv| <= 1.4 max |dv|. Slack: float rounding of values up to ~150.
        const step = preprocess === 'tf' ? 0.5 / 127.5 : 0.5;
        const bound = (augment ? 1.4 : 1) * step + (preprocess === 'tf' ? 1e-6 : 1e-4);
        const worst = Math.max(...f.data.map((d, i) => maxAbsDiff(d, u.data[i])));
        expect(worst).toBeLessThanOrEqual(bound);
        expect(worst).toBeGreaterThan(0);  // the rounding is real: bilinear defaults to float32
      }
    }
  });

  test('a bad file in the middle: adjustments stay with their samples', async () => {
    const bad = path.join(dir, 'broken.jpg');
    fs.writeFileSync(bad, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    const mixed = [...files.slice(0, 5), bad, ...files.slice(5)];
    const common: LoaderOptions = { files: mixed, labels: mixed.map((_, i) => i), batchSize: 4, size: [H, W], seed: 9, augment: { p: 1 }, threads: 2 };
    const f = await collect({ ...common, batchFormat: 'float32' });
    const u = await collect({ ...common, batchFormat: 'uint8' });
    expect(u.files).not.toContain(bad);
    expect(u.labels).toEqual(f.labels);
    f.data.forEach((d, i) => expect(bits(d).equals(bits(u.data[i]))).toBe(true));
  });
});

test('uint8 tf/caffe equal an independent float32 computation from the decoded bytes', async () => {
  const u = await collect({ files: files.slice(0, 3), batchSize: 3, size: [H, W], shuffle: false, preprocess: 'tf' });
  const c = await collect({ files: files.slice(0, 3), batchSize: 3, size: [H, W], shuffle: false, preprocess: 'caffe' });
  const mean = [103.939, 116.779, 123.68].map(Math.fround);
  for (let s = 0; s < 3; s++) {
    const img = await decodeImage(files[s], { size: [H, W], resize: 'crop_or_pad', preprocess: 'none' });
    const raw = img.data as Uint8Array;
    const per = H * W * 3;
    const tf = new Float32Array(per), caffe = new Float32Array(per);
    for (let i = 0; i < per; i++) {
      tf[i] = Math.fround(raw[i] / 127.5) - 1;
      const p = i % 3;
      caffe[i] = raw[i - p + (2 - p)] - mean[p];  // BGR minus the mean
    }
    expect(bits(u.data[0].subarray(s * per, (s + 1) * per)).equals(bits(tf))).toBe(true);
    expect(bits(c.data[0].subarray(s * per, (s + 1) * per)).equals(bits(caffe))).toBe(true);
  }
});

describe('the engine takes uint8 batches', () => {
  const opts = { arch: 'resnet-tiny' as const, numClasses: 4, inputShape: [H, W, 3] as [number, number, number], unfreeze: 'all' as const, seed: 3 };

  async function batches(format: 'float32' | 'uint8', preprocess: 'tf' | 'caffe'): Promise<{ all: Batch[]; close: () => void }> {
    const loader = createLoader({ files, labels: files.map((_, i) => i % 4), batchSize: 6, size: [H, W], preprocess, seed: 4, augment: { p: 0.7 },
      threads: 2, batchFormat: format });
    const all: Batch[] = [];
    for await (const b of loader) all.push(b);
    return { all, close: () => loader.close() };
  }

  test.each(['tf', 'caffe'] as const)('%s: train, evaluate, predict and features equal the float32 batches exactly', async (preprocess) => {
    const f = await batches('float32', preprocess), u = await batches('uint8', preprocess);
    expect(u.all[0].format).toBe('uint8');
    const a = await createModel(opts), b = await createModel(opts);
    a.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
    b.compile({ optimizer: { name: 'adam', learningRate: 1e-3 } });
    for (let i = 0; i < f.all.length; i++) {
      const [sf, su] = [await a.trainOnBatch(f.all[i]), await b.trainOnBatch(u.all[i])];
      expect(su).toEqual(sf);
    }
    expect(await b.evaluateOnBatch(u.all[0])).toEqual(await a.evaluateOnBatch(f.all[0]));
    expect(Array.from(await b.predictOnBatch(u.all[1]))).toEqual(Array.from(await a.predictOnBatch(f.all[1])));
    const [ff, fu] = [await a.features(f.all[0]), await b.features(u.all[0])];
    expect(fu.dim).toBe(ff.dim);
    expect(bits(fu.data).equals(bits(ff.data))).toBe(true);
    f.close();
    u.close();
  });
});

describe('options', () => {
  test('defaults: uint8 where exact (crop_or_pad, nearest), float32 for bilinear, none for preprocess none', async () => {
    const first = async (o: Partial<LoaderOptions>) => (await collect({ files: files.slice(0, 2), batchSize: 2, size: [8, 8], ...o })).formats[0];
    expect(await first({})).toBe('uint8');
    expect(await first({ resize: 'nearest' })).toBe('uint8');
    expect(await first({ resize: 'bilinear' })).toBe('float32');
    expect(await first({ resize: 'bilinear', batchFormat: 'uint8' })).toBe('uint8');
    expect(await first({ batchFormat: 'float32' })).toBe('float32');
    const loader = createLoader({ files: files.slice(0, 2), batchSize: 2, size: [8, 8], preprocess: 'none' });
    for await (const b of loader) {
      expect(b.format).toBe('none');
      expect(b.data()).toBeInstanceOf(Uint8Array);
    }
    loader.close();
  });

  test('bad batchFormat values name the option', () => {
    const base = { files: ['a.jpg'], batchSize: 1, size: [8, 8] as [number, number] };
    expect(() => createLoader({ ...base, batchFormat: 'int8' as any })).toThrow(/batchFormat/);
    expect(() => createLoader({ ...base, preprocess: 'none', batchFormat: 'float32' })).toThrow(/preprocess 'none'.*for batchFormat/);
  });
});
