// Decode hardening (issue 15): a fatal error after a warning fails in lenient mode too and never
// leaks a previous image's pixels; FIFOs are refused at once; maxFileBytes; unusual luma sampling
// decodes the same in every path and as djpeg does.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { createLoader, decodeImage, Batch } from '../lib';
import { corpusDir, djpeg, hasDjpeg, tempDir } from './helpers/images';

const dir = tempDir('decode-hardening');
const original = path.join(corpusDir, 'ljt-testorig.jpg');  // 227x149 baseline 4:2:0

interface Segment { at: number; marker: number; length: number }

// Marker segments up to and including the first SOS.
function segments(data: Buffer): Segment[] {
  const out: Segment[] = [];
  let at = 2;
  while (at + 4 <= data.length) {
    const marker = data[at + 1];
    const length = data.readUInt16BE(at + 2);
    out.push({ at, marker, length });
    if (marker === 0xda) break;
    at += 2 + length;
  }
  return out;
}

// libjpeg warns "3 extraneous bytes before marker 0xc4", then fails "Bogus Huffman table definition".
function warnThenFatalInHeader(data: Buffer): Buffer {
  const dht = segments(data).find((s) => s.marker === 0xc4)!;
  const table = Buffer.from(data.subarray(dht.at, dht.at + 2 + dht.length));
  for (let k = 1; k <= 16; k++) table[4 + k] = 0xff;  // code counts summing far over 256
  return Buffer.concat([data.subarray(0, dht.at), Buffer.from([1, 2, 3]), table, data.subarray(dht.at + 2 + dht.length)]);
}

// libjpeg warns "premature end of data segment" halfway through the scan, then fails
// "Invalid JPEG file structure: two SOF markers" after the scan.
function warnThenFatalInScan(data: Buffer): Buffer {
  const all = segments(data);
  const sos = all.find((s) => s.marker === 0xda)!;
  const sof = all.find((s) => s.marker === 0xc0)!;
  const start = sos.at + 2 + sos.length;
  const middle = start + Math.floor((data.length - start) / 2);
  return Buffer.concat([data.subarray(0, middle), data.subarray(sof.at, sof.at + 2 + sof.length), Buffer.from([0xff, 0xd9])]);
}

const good = fs.readFileSync(original);
const badHeader = path.join(dir, 'warn-fatal-header.jpg');
const badScan = path.join(dir, 'warn-fatal-scan.jpg');
const goodCopy = path.join(dir, 'good.jpg');
fs.writeFileSync(badHeader, warnThenFatalInHeader(good));
fs.writeFileSync(badScan, warnThenFatalInScan(good));
fs.writeFileSync(goodCopy, good);

async function collect(loader: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of loader) out.push(batch);
  return out;
}

describe('fatal error after a warning', () => {
  const djpegRun = (file: string) => spawnSync('djpeg', ['-ppm', '-outfile', '/dev/null', file], { encoding: 'utf8' });

  test('the generated files warn and then fail in djpeg', () => {
    if (!hasDjpeg()) return;
    const header = djpegRun(badHeader);
    expect(header.status).not.toBe(0);
    expect(header.stderr).toMatch(/extraneous bytes[\s\S]*Bogus Huffman table/);
    const scan = djpegRun(badScan);
    expect(scan.status).not.toBe(0);
    expect(scan.stderr).toMatch(/premature end of data segment[\s\S]*two SOF markers/);
  });

  test.each([
    ['header', badHeader, /Bogus Huffman table definition/],
    ['scan', badScan, /two SOF markers/],
  ])('decodeImage rejects it in lenient and strict mode (%s)', async (_, file, fatal) => {
    for (const dct of ['fast', 'accurate'] as const) {
      for (const size of [undefined, [64, 64] as [number, number]]) {
        await expect(decodeImage(file, { lenient: true, dct, size })).rejects.toMatchObject({ code: 'JPEG_CORRUPT', message: expect.stringMatching(fatal) });
        await expect(decodeImage(file, { dct, size })).rejects.toMatchObject({ file });
        await expect(decodeImage(fs.readFileSync(file), { lenient: true, dct, size })).rejects.toThrow(fatal);
      }
    }
  });

  test.each([
    ['crop path', 'crop_or_pad', [64, 100]],  // fewer rows than the image: row-skipping libjpeg path
    ['full path', 'bilinear', [64, 100]],
    ['full path, no resize', 'crop_or_pad', [149, 227]],
  ] as const)("loader with onError 'skip' skips it and never yields another image's pixels (%s)", async (_, resize, size) => {
    const files = [goodCopy, badHeader, goodCopy, badScan, badHeader, goodCopy, badScan];
    for (const threads of [1, 2]) {
      const loader = createLoader({ files, batchSize: 3, size: [size[0], size[1]], resize, shuffle: false, threads, lenient: true, onError: 'skip', preprocess: 'none' });
      const batches = await collect(loader);
      const expected = await decodeImage(goodCopy, { size: [size[0], size[1]], resize, lenient: true });
      expect(batches.flatMap((b) => b.files)).toEqual([goodCopy, goodCopy, goodCopy]);
      for (const batch of batches) {
        const data = batch.data();
        const sample = size[0] * size[1] * 3;
        for (let i = 0; i < batch.size; i++) {
          expect(Buffer.from(data.subarray(i * sample, (i + 1) * sample)).equals(Buffer.from(expected.data))).toBe(true);
        }
      }
      const errors = loader.stats().errors;
      expect(errors.map((e) => e.file)).toEqual([badHeader, badScan, badHeader, badScan]);
      expect(errors.every((e) => e.code === 'JPEG_CORRUPT')).toBe(true);
      loader.close();
    }
  });
});

describe('special files', () => {
  const fifo = path.join(dir, 'fifo.jpg');
  beforeAll(() => {
    if (!fs.existsSync(fifo)) spawnSync('mkfifo', [fifo]);
  });

  test('decodeImage refuses a FIFO at once', async () => {
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    const started = Date.now();
    await expect(decodeImage(fifo)).rejects.toMatchObject({ code: 'FILE_UNREADABLE', file: fifo, message: expect.stringContaining('not a regular file') });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('decodeImage refuses a character device and a directory', async () => {
    await expect(decodeImage('/dev/zero')).rejects.toThrow(/not a regular file \(character device\)/);
    await expect(decodeImage(dir)).rejects.toThrow(/not a regular file|directory/);
  });

  test('the loader skips a FIFO and closes', async () => {
    const started = Date.now();
    const loader = createLoader({ files: [goodCopy, fifo, goodCopy], batchSize: 2, size: [32, 32], shuffle: false, threads: 2 });
    const batches = await collect(loader);
    expect(batches.flatMap((b) => b.files)).toEqual([goodCopy, goodCopy]);
    expect(loader.stats().errors).toEqual([{ file: fifo, code: 'FILE_UNREADABLE', reason: 'not a regular file (FIFO)' }]);
    loader.close();
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('maxFileBytes', () => {
  const sparse = path.join(dir, 'sparse.jpg');
  beforeAll(() => {
    fs.closeSync(fs.openSync(sparse, 'w'));
    fs.truncateSync(sparse, 1 << 30);
  });
  afterAll(() => fs.rmSync(sparse, { force: true }));

  test('a 1 GiB sparse file is refused by the default cap without reading it', async () => {
    const started = Date.now();
    await expect(decodeImage(sparse)).rejects.toMatchObject({
      code: 'FILE_TOO_LARGE', file: sparse, message: expect.stringContaining('file is 1073741824 bytes, over maxFileBytes 67108864'),
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('a small cap refuses a real JPEG, in decodeImage and the loader', async () => {
    const bytes = good.length;
    await expect(decodeImage(goodCopy, { maxFileBytes: bytes - 1 })).rejects.toThrow(`file is ${bytes} bytes, over maxFileBytes ${bytes - 1}`);
    await expect(decodeImage(goodCopy, { maxFileBytes: bytes })).resolves.toMatchObject({ shape: [149, 227, 3] });
    const loader = createLoader({ files: [goodCopy, sparse], batchSize: 2, size: [32, 32], shuffle: false, maxFileBytes: bytes });
    const batches = await collect(loader);
    expect(batches.flatMap((b) => b.files)).toEqual([goodCopy]);
    expect(loader.stats().errors).toEqual([{ file: sparse, code: 'FILE_TOO_LARGE', reason: `file is ${1 << 30} bytes, over maxFileBytes ${bytes}` }]);
    loader.close();
  });

  test('maxFileBytes is validated', async () => {
    for (const bad of [0, -1, 1.5, '10', Number.MAX_VALUE]) {
      await expect(decodeImage(goodCopy, { maxFileBytes: bad as number })).rejects.toThrow(TypeError);
      expect(() => createLoader({ files: [goodCopy], batchSize: 1, size: [8, 8], maxFileBytes: bad as number })).toThrow(TypeError);
    }
  });
});

describe('unusual luma sampling', () => {
  const hasCjpeg = spawnSync("cjpeg", ["-version"]).error === undefined;
  const made: Record<string, string> = {};
  beforeAll(() => {
    if (!hasCjpeg || !hasDjpeg()) return;
    const ppm = path.join(dir, 'orig.ppm');
    fs.writeFileSync(ppm, spawnSync('djpeg', ['-ppm', original]).stdout);
    for (const sampling of ['4x2', '3x1', '1x3']) {
      for (const progressive of [false, true]) {
        const name = `${sampling}${progressive ? '-progressive' : ''}`;
        const file = path.join(dir, `sample-${name}.jpg`);
        const args = ['-sample', sampling, '-quality', '90', ...(progressive ? ['-progressive'] : []), '-outfile', file, ppm];
        expect(spawnSync('cjpeg', args).status).toBe(0);
        made[name] = file;
      }
    }
  });

  test('decodeImage, the loader full path and the crop path agree, and match djpeg', async () => {
    if (!hasCjpeg || !hasDjpeg()) return;
    expect(Object.keys(made)).toHaveLength(6);
    for (const file of Object.values(made)) {
      const whole = await decodeImage(file, { dct: 'accurate' });
      expect(whole.shape).toEqual([149, 227, 3]);
      const reference = djpeg(file, 'int');
      expect(Buffer.from(whole.data).equals(Buffer.from(reference.rgb))).toBe(true);
      // Crop path: central 100 rows (row-skipping libjpeg decode for single-scan files).
      const rows = 100, first = Math.floor((149 - rows) / 2), rowBytes = 227 * 3;
      const crop = Buffer.from(whole.data).subarray(first * rowBytes, (first + rows) * rowBytes);
      const cropped = await decodeImage(file, { dct: 'accurate', size: [rows, 227] });
      expect(Buffer.from(cropped.data).equals(crop)).toBe(true);
      const resized = await decodeImage(file, { dct: 'accurate', size: [64, 96], resize: 'bilinear' });
      for (const [resize, size, expected] of [
        ['crop_or_pad', [rows, 227], crop],
        ['crop_or_pad', [149, 227], Buffer.from(whole.data)],
        ['bilinear', [64, 96], Buffer.from(resized.data)],
      ] as const) {
        const loader = createLoader({ files: [file], batchSize: 1, size: [size[0], size[1]], resize, dct: 'accurate', shuffle: false, onError: 'throw', preprocess: 'none' });
        const [batch] = await collect(loader);
        expect(Buffer.from(batch.data()).equals(expected)).toBe(true);
        loader.close();
      }
    }
  });
});
