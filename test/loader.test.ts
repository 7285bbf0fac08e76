// Loader: order, determinism across thread counts, labels/weights, early exit, close, errors,
// validation and an event loop that keeps ticking.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { createLoader, decodeImage, Batch, Loader } from '../lib';
import { carFiles, corpusDir, tempDir, writeJpegs } from './helpers/images';

const dir = tempDir('loader');
let files: string[] = [];
beforeAll(async () => {
  files = await writeJpegs(dir, 23, 40, 52);
});

async function collect(loader: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of loader) out.push(batch);
  return out;
}
const flatIndices = (batches: Batch[]) => batches.flatMap((b) => Array.from(b.indices));

describe('order', () => {
  test('unshuffled keeps the file order; last partial batch kept', async () => {
    const loader = createLoader({ files, batchSize: 5, size: [32, 32], shuffle: false, threads: 2 });
    expect(loader.length).toBe(5);
    const batches = await collect(loader);
    expect(batches.map((b) => b.size)).toEqual([5, 5, 5, 5, 3]);
    expect(flatIndices(batches)).toEqual(files.map((_, i) => i));
    expect(batches.flatMap((b) => b.files)).toEqual(files);
    expect(batches[0].shape).toEqual([5, 32, 32, 3]);
    expect(batches.map((b) => b.number)).toEqual([0, 1, 2, 3, 4]);
    loader.close();
  });

  test('pixels equal decodeImage of each file', async () => {
    const loader = createLoader({ files, batchSize: 4, size: [32, 60], shuffle: false, threads: 2, preprocess: 'caffe' });
    const [first] = await collect(loader.epoch(0));
    const data = first.data();
    for (let i = 0; i < first.size; i++) {
      const single = await decodeImage(files[i], { size: [32, 60], preprocess: 'caffe' });
      expect(Buffer.from(data.buffer, i * single.data.byteLength, single.data.byteLength).equals(Buffer.from(single.data.buffer))).toBe(true);
    }
    loader.close();
  });

  test('dropRemainder drops the partial batch', async () => {
    const loader = createLoader({ files, batchSize: 5, size: [16, 16], shuffle: false, dropRemainder: true });
    expect(loader.length).toBe(4);
    const batches = await collect(loader);
    expect(batches.map((b) => b.size)).toEqual([5, 5, 5, 5]);
    loader.close();
  });

  test('shuffle is a full permutation per epoch, fixed by seed and epoch', async () => {
    const loader = createLoader({ files, batchSize: 4, size: [16, 16], seed: 9, threads: 1 });
    const e0 = flatIndices(await collect(loader));
    const e1 = flatIndices(await collect(loader));
    expect([...e0].sort((a, b) => a - b)).toEqual(files.map((_, i) => i));
    expect([...e1].sort((a, b) => a - b)).toEqual(files.map((_, i) => i));
    expect(e0).not.toEqual(e1);
    expect(e0).not.toEqual(files.map((_, i) => i));
    expect(flatIndices(await collect(loader.epoch(0)))).toEqual(e0);
    const again = createLoader({ files, batchSize: 7, size: [16, 16], seed: 9, threads: 2 });
    expect(flatIndices(await collect(again.epoch(1)))).toEqual(e1);  // independent of batch size and threads
    const other = createLoader({ files, batchSize: 4, size: [16, 16], seed: 10 });
    expect(flatIndices(await collect(other.epoch(0)))).not.toEqual(e0);
    for (const l of [loader, again, other]) l.close();
  });
});

test('same seed gives the same batches with 1 and 2 threads (augmentation included)', async () => {
  const run = async (threads: number) => {
    const loader = createLoader({ files, batchSize: 6, size: [36, 48], seed: 3, threads, prefetch: 3, augment: { p: 0.7 } });
    const batches = [...(await collect(loader.epoch(0))), ...(await collect(loader.epoch(1)))];
    loader.close();
    return batches.map((b) => ({ indices: Array.from(b.indices), data: Buffer.from((b.data() as Float32Array).buffer) }));
  };
  const one = await run(1), two = await run(2);
  expect(one.map((b) => b.indices)).toEqual(two.map((b) => b.indices));
  one.forEach((b, i) => expect(b.data.equals(two[i].data)).toBe(true));
});

test('labels and sample weights travel with their samples', async () => {
  const labels = files.map((_, i) => i % 4);
  const sampleWeights = files.map((_, i) => i / 10);
  const loader = createLoader({ files, labels, sampleWeights, batchSize: 8, size: [16, 16], seed: 5 });
  for await (const batch of loader) {
    Array.from(batch.indices).forEach((fileIndex, j) => {
      expect(batch.labels[j]).toBe(labels[fileIndex]);
      expect(batch.sampleWeights![j]).toBeCloseTo(sampleWeights[fileIndex], 6);
      expect(batch.files[j]).toBe(files[fileIndex]);
    });
  }
  loader.close();
  const plain = createLoader({ files: files.slice(0, 3), batchSize: 3, size: [8, 8] });
  const unlabeled = await collect(plain);
  expect(Array.from(unlabeled[0].labels)).toEqual([-1, -1, -1]);
  expect(unlabeled[0].sampleWeights).toBeUndefined();
  plain.close();
});

test('breaking out early stops the epoch; the next epoch starts cleanly; close ends iteration', async () => {
  const loader = createLoader({ files, batchSize: 2, size: [16, 16], shuffle: false, prefetch: 2, threads: 2 });
  let seen = 0;
  for await (const batch of loader) {
    seen += batch.size;
    if (seen >= 4) break;
  }
  expect(seen).toBe(4);
  const next = await collect(loader);  // epoch 1, complete
  expect(next.reduce((s, b) => s + b.size, 0)).toBe(files.length);
  expect(next[0].epoch).toBe(1);
  const it = loader[Symbol.asyncIterator]();
  expect((await it.next()).done).toBe(false);
  loader.close();
  await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
  await expect(collect(loader)).rejects.toThrow(/closed/);
  expect(loader.stats().batches).toBeGreaterThan(0);
});

describe('bad files', () => {
  let mixed: string[] = [];
  beforeAll(() => {
    const empty = path.join(dir, 'empty.jpg');
    fs.writeFileSync(empty, '');
    const text = path.join(dir, 'text.jpg');
    fs.writeFileSync(text, 'not a jpeg at all');
    const whole = fs.readFileSync(files[0]);
    const cut = path.join(dir, 'cut.jpg');
    fs.writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    mixed = [files[0], path.join(dir, 'missing.jpg'), files[1], empty, text, cut, files[2]];
  });

  test("onError 'skip' compacts the batch and records file and reason", async () => {
    const loader = createLoader({ files: mixed, labels: [0, 1, 2, 3, 4, 5, 6], batchSize: 4, size: [16, 16], shuffle: false });
    const batches = await collect(loader);
    expect(batches.map((b) => b.size)).toEqual([2, 1]);
    expect(batches.flatMap((b) => b.files)).toEqual([files[0], files[1], files[2]]);
    expect(batches.flatMap((b) => Array.from(b.labels))).toEqual([0, 2, 6]);
    const solo = await decodeImage(files[1], { size: [16, 16], preprocess: 'tf' });
    expect(Buffer.from((batches[0].data() as Float32Array).buffer, 768 * 4, 768 * 4).equals(Buffer.from(solo.data.buffer))).toBe(true);
    const { errors, images, batches: count } = loader.stats();
    expect(images).toBe(3);
    expect(count).toBe(2);
    expect(errors.map((e) => [path.basename(e.file), e.code])).toEqual([
      ['missing.jpg', 'FILE_NOT_FOUND'], ['empty.jpg', 'FILE_EMPTY'], ['text.jpg', 'NOT_JPEG'], ['cut.jpg', 'JPEG_TRUNCATED'],
    ]);
    errors.forEach((e) => expect(e.reason.length).toBeGreaterThan(3));
    loader.close();
  });

  test("onError 'throw' rejects naming the file and the reason", async () => {
    const loader = createLoader({ files: mixed, batchSize: 4, size: [16, 16], shuffle: false, onError: 'throw' });
    const err = await collect(loader).then(() => null, (e) => e);
    expect(err).not.toBeNull();
    expect(err.message).toContain('missing.jpg');
    expect(err.message).toMatch(/No such file/);
    expect(err.code).toBe('FILE_NOT_FOUND');
    const truncatedOnly = createLoader({ files: [files[0], mixed[5]], batchSize: 2, size: [16, 16], shuffle: false, onError: 'throw' });
    await expect(collect(truncatedOnly)).rejects.toThrow(/cut\.jpg.*truncated/i);
    const lenient = createLoader({ files: [files[0], mixed[5]], batchSize: 2, size: [16, 16], onError: 'throw', lenient: true });
    expect((await collect(lenient))[0].size).toBe(2);
    for (const l of [loader, truncatedOnly, lenient]) l.close();
  });

  test('a batch made only of bad files is dropped', async () => {
    const loader = createLoader({ files: [mixed[1], mixed[3], files[0]], batchSize: 2, size: [8, 8], shuffle: false });
    const batches = await collect(loader);
    expect(batches.map((b) => b.size)).toEqual([1]);
    loader.close();
  });
});

test('the event loop keeps ticking while the loader works', async () => {
  const big = await writeJpegs(tempDir('loader-big'), 6, 480, 640, 90);
  const many = Array.from({ length: 120 }, (_, i) => big[i % big.length]);
  const loader = createLoader({ files: many, batchSize: 8, size: [480, 640], threads: 2, prefetch: 2 });
  let ticks = 0, maxGap = 0, last = Date.now();
  const timer = setInterval(() => { const now = Date.now(); maxGap = Math.max(maxGap, now - last); last = now; ticks++; }, 5);
  const started = Date.now();
  let images = 0;
  for await (const batch of loader) images += batch.size;
  const elapsed = Date.now() - started;
  clearInterval(timer);
  loader.close();
  expect(images).toBe(120);
  // Generous (the CPU is shared with the decode threads and other test workers): a blocking
  // next() would leave the timer silent for the whole run.
  expect(ticks).toBeGreaterThan(elapsed / 5 / 10);
  expect(maxGap).toBeLessThan(Math.max(400, elapsed / 3));
});

// A pending next() must not occupy a libuv pool thread: with a pool of one thread, a file read
// started while the loader decodes a slow batch finishes first.
test('a waiting next() leaves the libuv thread pool free', async () => {
  const big = await writeJpegs(tempDir('loader-pool'), 4, 480, 640, 95);
  const many = Array.from({ length: 48 }, (_, i) => big[i % big.length]);
  const script = `
    const fs = require('fs');
    const { createLoader } = require(${JSON.stringify(path.resolve(__dirname, '../dist'))});
    const files = JSON.parse(process.argv[1]);
    const loader = createLoader({ files, batchSize: files.length, size: [480, 640], threads: 1, prefetch: 1, shuffle: false });
    const order = [];
    const batch = loader.epoch(0)[Symbol.asyncIterator]().next().then(() => order.push('batch'));
    setTimeout(() => {
      fs.promises.readFile(files[0]).then(() => order.push('read')).then(() => batch).then(() => {
        loader.close();
        console.log(JSON.stringify(order));
      });
    }, 2);
  `;
  const run = spawnSync(process.execPath, ['-e', script, JSON.stringify(many)], {
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, encoding: 'utf8',
  });
  expect(run.stderr).toBe('');
  expect(JSON.parse(run.stdout.trim())).toEqual(['read', 'batch']);
});

test('stats report images per second', async () => {
  const loader = createLoader({ files: carFiles(), batchSize: 3, size: [212, 320], threads: 2 });
  await collect(loader);
  const stats = loader.stats();
  expect(stats.images).toBe(6);
  expect(stats.batches).toBe(2);
  expect(stats.imagesPerSecond).toBeGreaterThan(0);
  expect(stats.errors).toEqual([]);
  loader.close();
});

describe('validation', () => {
  const base = { files: ['a.jpg'], batchSize: 1, size: [8, 8] as [number, number] };
  test.each([
    [{ batchSize: -1 }, 'Expected positive integer for batchSize but received -1 of type number'],
    [{ size: [8] }, 'Expected [height, width] of positive integers for size but received [8] of type array'],
    [{ files: [] }, 'Expected non-empty array of file paths for files but received [] of type array'],
    [{ threads: 0 }, 'Expected positive integer for threads but received 0 of type number'],
    [{ prefetch: 1.5 }, 'Expected positive integer for prefetch but received 1.5 of type number'],
    [{ onError: 'ignore' }, 'Expected one of skip, throw for onError but received "ignore" of type string'],
    [{ resize: 'cubic' }, 'Expected one of crop_or_pad, bilinear, nearest for resize but received "cubic" of type string'],
    [{ labels: [1, 2] }, 'Expected 1 (one per file) for labels.length but received 2 of type number'],
    [{ sampleWeights: [-1] }, 'Expected non-negative number for sampleWeights[0] but received -1 of type number'],
    [{ seed: -3 }, 'Expected non-negative safe integer for seed but received -3 of type number'],
    [{ shuffle: 'yes' }, 'Expected boolean for shuffle but received "yes" of type string'],
    [{ batchsize: 3 }, 'Unknown option "batchsize" for createLoader'],
  ])('%j', (patch, message) => {
    expect(() => createLoader({ ...base, ...(patch as object) } as any)).toThrow(message);
  });
  test('epoch number', () => {
    const loader: Loader = createLoader(base);
    expect(() => loader.epoch(-1)).toThrow('Expected non-negative integer for epoch but received -1 of type number');
    loader.close();
  });
});

test('release() hands the buffer back at once; the batch is unusable afterwards', async () => {
  const loader = createLoader({ files, batchSize: 4, size: [16, 16], shuffle: false, prefetch: 1, threads: 1 });
  let count = 0;
  for await (const batch of loader) {
    expect(batch.data().length).toBe(batch.size * 16 * 16 * 3);
    batch.release();
    batch.release();  // idempotent
    expect(() => batch.data()).toThrow(/released/);
    count += batch.size;
  }
  expect(count).toBe(files.length);
  loader.close();
});

test('prefetch bounds the work done ahead of the consumer', async () => {
  const loader = createLoader({ files, batchSize: 3, size: [16, 16], shuffle: false, prefetch: 2, threads: 2 });
  const it = loader[Symbol.asyncIterator]();
  const first = await it.next();
  expect(first.done).toBe(false);
  await new Promise((resolve) => setTimeout(resolve, 300));
  // the delivered batch plus at most `prefetch` batches assembled ahead
  expect(loader.stats().images).toBeLessThanOrEqual((1 + 2) * 3);
  expect(loader.stats().images).toBeGreaterThanOrEqual(3);
  await it.return!();
  loader.close();
});

// crop_or_pad decodes only the rows it keeps (libjpeg row skipping): the samples must equal a full
// decode + crop, over odd files (progressive, arithmetic, grayscale, CMYK, warnings) and the cars.
test('crop_or_pad row-skipping decode equals decodeImage on the corpus and the cars', async () => {
  const inputs = [...fs.readdirSync(corpusDir).filter((f) => f.endsWith('.jpg')).map((f) => path.join(corpusDir, f)), ...carFiles()];
  for (const [height, dct] of [[1, 'fast'], [9, 'accurate'], [100, 'fast'], [212, 'fast'], [223, 'accurate']] as const) {
    const size: [number, number] = [height, 64];
    const loader = createLoader({ files: inputs, batchSize: inputs.length, size, shuffle: false, threads: 2, preprocess: 'none', dct, lenient: true });
    const [batch] = await collect(loader);
    loader.close();
    expect(batch.size).toBeGreaterThan(inputs.length - 2);  // only the 12-bit file may be skipped
    const data = batch.data() as Uint8Array, sample = height * 64 * 3;
    for (let i = 0; i < batch.size; i++) {
      const single = await decodeImage(batch.files[i], { size, preprocess: 'none', dct, lenient: true });
      expect([batch.files[i], Buffer.from(data.buffer, data.byteOffset + i * sample, sample).equals(Buffer.from(single.data))]).toEqual([batch.files[i], true]);
    }
  }
});
