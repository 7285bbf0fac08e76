// Augmentation: per-image draws keyed by (seed, epoch, index), their statistics, and the pixel
// operations (flip, brightness, per-channel contrast) checked on loader output.
import { createLoader } from '../lib';
import { native } from '../lib/native';
import { tempDir, writeJpegs } from './helpers/images';

interface Draw { applied: boolean; flip: boolean; brightness: number; contrast: number }
function draws(seed: number, epoch: number, start: number, count: number, p: number): Draw[] {
  const raw: Float64Array = native().augmentDraws(seed, epoch, start, count, p);
  return Array.from({ length: count }, (_, i) => ({
    applied: raw[4 * i] === 1, flip: raw[4 * i + 1] === 1, brightness: raw[4 * i + 2], contrast: raw[4 * i + 3],
  }));
}

describe('draw statistics', () => {
  const n = 40000;
  const all = draws(11, 3, 0, n, 0.7);
  const applied = all.filter((d) => d.applied);

  test('applied with probability p', () => {
    expect(Math.abs(applied.length / n - 0.7)).toBeLessThan(0.01);  // sigma ~ 0.0023
    expect(draws(11, 3, 0, 2000, 0).filter((d) => d.applied).length).toBe(0);
    expect(draws(11, 3, 0, 2000, 1).filter((d) => d.applied).length).toBe(2000);
    expect(Math.abs(draws(11, 3, 0, n, 0.25).filter((d) => d.applied).length / n - 0.25)).toBeLessThan(0.01);
  });

  test('flip rate 0.5 among augmented images', () => {
    expect(Math.abs(applied.filter((d) => d.flip).length / applied.length - 0.5)).toBeLessThan(0.012);
  });

  const uniform = (values: number[], lo: number, hi: number) => {
    const min = Math.min(...values), max = Math.max(...values);
    expect(min).toBeGreaterThanOrEqual(Math.fround(lo));
    expect(max).toBeLessThan(Math.fround(hi));
    expect(min - lo).toBeLessThan((hi - lo) * 0.001);
    expect(hi - max).toBeLessThan((hi - lo) * 0.001);
    const bins = new Array(10).fill(0);
    values.forEach((v) => bins[Math.min(9, Math.floor((v - lo) / (hi - lo) * 10))]++);
    bins.forEach((b) => expect(Math.abs(b / values.length - 0.1)).toBeLessThan(0.012));
  };
  test('brightness uniform in [-0.1, 0.1)', () => uniform(applied.map((d) => d.brightness), -0.1, 0.1));
  test('contrast uniform in [0.8, 1.2)', () => uniform(applied.map((d) => d.contrast), 0.8, 1.2));

  test('not applied means identity', () => {
    expect(all.filter((d) => !d.applied && (d.flip || d.brightness !== 0 || d.contrast !== 1)).length).toBe(0);
  });

  test('draws are a function of (seed, epoch, index) only', () => {
    expect(draws(11, 3, 500, 10, 0.7)).toEqual(all.slice(500, 510));
    const otherEpoch = draws(11, 4, 0, 200, 0.7), otherSeed = draws(12, 3, 0, 200, 0.7);
    expect(otherEpoch).not.toEqual(all.slice(0, 200));
    expect(otherSeed).not.toEqual(all.slice(0, 200));
  });
});

// 40 columns = 120 values a row (whole runs of 12 in the native loops); 37 leaves a tail.
test.each([[30, 40], [23, 37]])('loader applies flip, brightness and contrast around each channel mean (%i x %i)', async (h, w) => {
  const dir = tempDir('augment');
  const files = await writeJpegs(dir, 12, h, w);
  const values = h * w * 3;
  const common = { files, batchSize: 5, size: [h, w] as [number, number], shuffle: false, threads: 2 };
  const plain = createLoader(common);
  const augmented = createLoader({ ...common, seed: 77, augment: { p: 0.6 } });
  const collect = async (loader: typeof plain) => {
    const out: Float32Array[] = [];
    for await (const batch of loader) {
      const data = batch.data() as Float32Array;
      for (let i = 0; i < batch.size; i++) out.push(data.slice(i * values, (i + 1) * values));
    }
    return out;
  };
  const x = await collect(plain), y = await collect(augmented);
  plain.close();
  augmented.close();
  const expectedDraws = draws(77, 0, 0, files.length, 0.6);
  let appliedCount = 0;
  expectedDraws.forEach((d, i) => {
    if (!d.applied) {
      expect(Array.from(y[i])).toEqual(Array.from(x[i]));
      return;
    }
    appliedCount++;
    const src = new Float32Array(values);
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) for (let k = 0; k < 3; k++) {
      src[(r * w + c) * 3 + k] = x[i][(r * w + (d.flip ? w - 1 - c : c)) * 3 + k] + d.brightness;
    }
    const mean = [0, 1, 2].map((k) => { let s = 0; for (let p = k; p < values; p += 3) s += src[p]; return s / (h * w); });
    let worst = 0;
    for (let p = 0; p < values; p++) worst = Math.max(worst, Math.abs((src[p] - mean[p % 3]) * d.contrast + mean[p % 3] - y[i][p]));
    expect(worst).toBeLessThan(1e-4);
  });
  expect(appliedCount).toBeGreaterThan(0);
});

test("augment needs float preprocessing and validates p", () => {
  expect(() => createLoader({ files: ['a.jpg'], batchSize: 1, size: [8, 8], preprocess: 'none', augment: true })).toThrow(/preprocess/);
  expect(() => createLoader({ files: ['a.jpg'], batchSize: 1, size: [8, 8], augment: { p: 1.5 } })).toThrow(
    'Expected number between 0 and 1 for augment.p but received 1.5 of type number');
  expect(() => createLoader({ files: ['a.jpg'], batchSize: 1, size: [8, 8], augment: { q: 1 } as any })).toThrow(/Unknown option "q"/);
});
