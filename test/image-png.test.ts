// PNG decoding (libpng in the native image core): exact pixels against an independent PNG writer and
// against sharp, tf.io.decode_png(channels=3) semantics (alpha dropped, 16-bit high byte), the same
// resize/preprocess/augment as JPEG in decodeImage and the loader, and clear errors for bad files.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { decodeImage, createLoader, Batch } from '../lib';
import { carFiles, tempDir } from './helpers/images';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { pngFixtures, encodePng, chunk, crc32 } = require('./helpers/png-fixtures.js');

interface Fixture { name: string; png: Buffer; rgb: Buffer; width: number; height: number }
const fixtures: Fixture[] = pngFixtures();
const dir = tempDir('png');

async function collect(loader: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

async function code(input: string | Buffer, options = {}): Promise<{ code: string; message: string }> {
  const err = await decodeImage(input, options).then(() => null, (e) => e);
  expect(err).not.toBeNull();
  return { code: err.code, message: err.message };
}

/** Replaces a chunk's data (CRC recomputed unless `keepCrc`). */
function withChunk(png: Buffer, type: string, edit: (data: Buffer) => Buffer, keepCrc = false): Buffer {
  let at = 8;
  while (at < png.length) {
    const length = png.readUInt32BE(at);
    if (png.toString('ascii', at + 4, at + 8) === type) {
      const data = edit(Buffer.from(png.subarray(at + 8, at + 8 + length)));
      const replaced = keepCrc ? Buffer.concat([png.subarray(at, at + 8), data, png.subarray(at + 8 + length, at + 12 + length)]) : chunk(type, data);
      return Buffer.concat([png.subarray(0, at), replaced, png.subarray(at + 12 + length)]);
    }
    at += 12 + length;
  }
  throw new Error(`no ${type} chunk`);
}

describe('pixels equal the samples written (tf.io.decode_png channels=3)', () => {
  test(`${fixtures.length} fixtures: every colour type, 1-16 bit, palettes, tRNS, alpha, Adam7, from buffer and file`, async () => {
    for (const f of fixtures) {
      const out = await decodeImage(f.png);
      expect([f.name, out.shape]).toEqual([f.name, [f.height, f.width, 3]]);
      expect([f.name, Buffer.from(out.data as Uint8Array).equals(f.rgb)]).toEqual([f.name, true]);
    }
    const file = path.join(dir, 'rgba16-adam7.png');
    fs.writeFileSync(file, fixtures.find((f) => f.name === 'rgba16-adam7')!.png);
    const fromFile = await decodeImage(file);
    expect(Buffer.from(fromFile.data as Uint8Array).equals(fixtures.find((f) => f.name === 'rgba16-adam7')!.rgb)).toBe(true);
  });

  test('alpha is dropped, not composited: a fully transparent pixel keeps its colour', async () => {
    const samples = [200, 10, 30, 0, 5, 250, 90, 128, 1, 2, 3, 255];
    const png = encodePng({ width: 3, height: 1, bitDepth: 8, colorType: 6, samples });
    const out = await decodeImage(png);
    expect(Array.from(out.data)).toEqual([200, 10, 30, 5, 250, 90, 1, 2, 3]);
    // 16-bit: the high byte (png_set_strip_16), as TF; 0x80FF -> 0x80, not round(0x80FF / 257) = 0x81.
    const deep = encodePng({ width: 1, height: 1, bitDepth: 16, colorType: 2, samples: [0x80ff, 0x00ff, 0xffff] });
    expect(Array.from((await decodeImage(deep)).data)).toEqual([0x80, 0x00, 0xff]);
  });

  test('agrees with sharp (libvips + libspng) on PNGs sharp writes: RGB, RGBA, palette, interlaced, gray', async () => {
    const source = sharp(carFiles()[0]).resize(97, 61);
    const variants: Array<[string, sharp.Sharp]> = [
      ['rgb', source.clone().png()],
      ['rgb-interlaced', source.clone().png({ progressive: true })],
      ['rgba', source.clone().ensureAlpha(0.5).png()],
      ['palette', source.clone().png({ palette: true, colours: 40 })],
      ['palette-alpha', source.clone().ensureAlpha(0.3).png({ palette: true, colours: 16 })],
      ['gray', source.clone().grayscale().png()],
    ];
    for (const [name, pipeline] of variants) {
      const png = await pipeline.toBuffer();
      const reference = await sharp(png).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      const out = await decodeImage(png);
      expect([name, out.shape]).toEqual([name, [reference.info.height, reference.info.width, 3]]);
      expect([name, Buffer.from(out.data as Uint8Array).equals(reference.data)]).toEqual([name, true]);
    }
  });
});

describe('same pipeline as JPEG after decoding', () => {
  // A JPEG and a PNG holding exactly the JPEG's decoded pixels must give identical outputs everywhere.
  let jpegFiles: string[] = [];
  let pngFiles: string[] = [];
  beforeAll(async () => {
    jpegFiles = carFiles().slice(0, 3);
    pngFiles = [];
    for (const file of jpegFiles) {
      const rgb = await decodeImage(file);
      const [height, width] = rgb.shape;
      const png = encodePng({ width, height, bitDepth: 8, colorType: 2, samples: Array.from(rgb.data as Uint8Array), idatSize: 8192, firstFilter: 4 });
      const target = path.join(dir, `${path.basename(file, '.jpg')}.png`);
      fs.writeFileSync(target, png);
      pngFiles.push(target);
    }
  });

  test('decodeImage: every resize x preprocess gives the same values', async () => {
    for (const resize of ['crop_or_pad', 'bilinear', 'nearest'] as const) {
      for (const preprocess of ['tf', 'caffe', 'none'] as const) {
        for (let i = 0; i < jpegFiles.length; i++) {
          const options = { size: [150, 201] as [number, number], resize, preprocess };
          const a = await decodeImage(jpegFiles[i], options);
          const b = await decodeImage(pngFiles[i], options);
          expect([resize, preprocess, Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))]).toEqual([resize, preprocess, true]);
        }
      }
    }
  });

  test('loader: shuffled, augmented batches of PNGs equal those of the JPEGs (crop_or_pad row path and bilinear)', async () => {
    for (const resize of ['crop_or_pad', 'bilinear'] as const) {
      const make = (files: string[]) => createLoader({ files, labels: [0, 1, 2], batchSize: 2, size: [120, 160], resize, shuffle: true, seed: 9, augment: { p: 1 }, threads: 2 });
      const [jl, pl] = [make(jpegFiles), make(pngFiles)];
      const [jb, pb] = [await collect(jl.epoch(1)), await collect(pl.epoch(1))];
      expect(pb.map((b) => Array.from(b.labels))).toEqual(jb.map((b) => Array.from(b.labels)));
      jb.forEach((b, i) => expect([resize, i, Buffer.from(b.data().buffer).equals(Buffer.from(pb[i].data().buffer))]).toEqual([resize, i, true]));
      jl.close();
      pl.close();
    }
  });
});

describe('bad PNGs: clear errors, lenient where it makes sense, limits respected', () => {
  const base = fixtures.find((f) => f.name === 'rgb8')!;
  const big = encodePng({ width: 40, height: 30, bitDepth: 8, colorType: 2, samples: Array.from({ length: 3600 }, (_, i) => (i * 37) & 255), idatSize: 40 });

  test('truncated: PNG_TRUNCATED by default; lenient keeps the rows decoded and leaves the rest black', async () => {
    const cut = big.subarray(0, Math.floor(big.length * 0.6));
    const strict = await code(cut);
    expect(strict.code).toBe('PNG_TRUNCATED');
    expect(strict.message).toMatch(/truncated PNG data in the image data/);
    const lenient = await decodeImage(cut, { lenient: true });
    expect(lenient.shape).toEqual([30, 40, 3]);
    const pixels = Buffer.from(lenient.data as Uint8Array);
    const full = Buffer.from((await decodeImage(big)).data as Uint8Array);
    expect(pixels.subarray(0, 120).equals(full.subarray(0, 120))).toBe(true); // first row intact
    expect(pixels.subarray(pixels.length - 120).every((v) => v === 0)).toBe(true); // last row never reached
    // Cut inside the header: no rows at all, an error in both modes.
    for (const lenientMode of [false, true]) expect((await code(big.subarray(0, 20), { lenient: lenientMode })).code).toBe('PNG_TRUNCATED');
    const noEnd = big.subarray(0, big.length - 12); // IEND missing: strict says so, lenient has every row
    expect((await code(noEnd)).code).toBe('PNG_TRUNCATED');
    expect(Buffer.from((await decodeImage(noEnd, { lenient: true })).data as Uint8Array).equals(full)).toBe(true);
  });

  test('a chunk that declares more bytes than the file has is a truncation, not a 2 GB allocation (fuzz finding)', async () => {
    // The libFuzzer input: IHDR, then a tEXt chunk header declaring 2,045,188,405 bytes in a 185-byte file.
    const finding = Buffer.from('iVBORw0KGgoAAAANSUhEUgAABAkAAAAJCAQAAAABAH/neecZNXRFWHRDb21tZW50AGNhcmNsYXNzIGZpT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT094dHVyZe8yAjgAAABASURBVFNTU1NTU1NTU0lE/9k=', 'base64');
    expect(finding.length).toBe(185);
    const ihdrEnd = 8 + 12 + 13;
    const valid = Buffer.concat([big.subarray(0, ihdrEnd), chunk('tEXt', Buffer.from('Comment\0ok')), big.subarray(ihdrEnd)]);
    expect((await decodeImage(valid)).shape).toEqual([30, 40, 3]); // the same chunk with an honest length decodes
    const header = Buffer.alloc(8);
    header.writeUInt32BE(0x79e71935, 0);
    header.write('tEXt', 4);
    // The lying header before the image data, and after it (read by libpng only at the end).
    const before = Buffer.concat([big.subarray(0, ihdrEnd), header, Buffer.from('short')]);
    const after = Buffer.concat([big.subarray(0, big.length - 12), header, Buffer.from('short')]);
    const rss = process.memoryUsage().rss;
    // The finding's IHDR CRC is mutated too: strict stops there; lenient reads past it to the truncation.
    expect((await code(finding)).code).toBe('PNG_CORRUPT');
    expect((await code(finding, { lenient: true })).code).toBe('PNG_TRUNCATED');
    for (const lenient of [false, true]) expect([lenient, (await code(before, { lenient })).code]).toEqual([lenient, 'PNG_TRUNCATED']);
    expect((await code(after)).code).toBe('PNG_TRUNCATED');
    const full = Buffer.from((await decodeImage(big)).data as Uint8Array);
    expect(Buffer.from((await decodeImage(after, { lenient: true })).data as Uint8Array).equals(full)).toBe(true); // every row was read
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 2 ** 20); // was 2 GB per decode
  });

  test('corrupt: a bad IDAT CRC fails strict and decodes exactly when lenient; broken zlib data and a bad IHDR fail', async () => {
    const badCrc = Buffer.from(base.png);
    const idat = badCrc.indexOf(Buffer.from('IDAT'));
    badCrc[idat + 4 + badCrc.readUInt32BE(idat - 4)] ^= 0xff; // first byte of the CRC
    const strict = await code(badCrc);
    expect(strict.code).toBe('PNG_CORRUPT');
    expect(strict.message).toMatch(/CRC/i);
    expect(Buffer.from((await decodeImage(badCrc, { lenient: true })).data as Uint8Array).equals(base.rgb)).toBe(true);

    const wrecked = withChunk(big, 'IDAT', (d) => { d.fill(0x5a, 2); return d; });
    expect(await code(wrecked)).toEqual({ code: 'PNG_CORRUPT', message: expect.stringMatching(/corrupt PNG data/) });
    const badDepth = withChunk(base.png, 'IHDR', (d) => { d[8] = 7; return d; });
    expect(await code(badDepth)).toEqual({ code: 'PNG_CORRUPT', message: expect.stringMatching(/bit depth/i) });
    const badFilter = withChunk(base.png, 'IDAT', () => Buffer.from(require('zlib').deflateSync(Buffer.alloc(40 * 11, 9)))); // filter type 9
    expect((await code(badFilter)).code).toBe('PNG_CORRUPT');
  });

  test('limits: maxPixels from IHDR before allocating (a 60000x60000 claim), maxFileBytes for PNG paths; not an image', async () => {
    expect(await code(base.png, { maxPixels: 100 })).toEqual({ code: 'PNG_TOO_LARGE', message: '13x11 = 143 pixels exceeds maxPixels 100' });
    const claim = withChunk(base.png, 'IHDR', (d) => { d.writeUInt32BE(60000, 0); d.writeUInt32BE(60000, 4); return d; });
    expect((await code(claim)).message).toMatch(/60000x60000 = 3600000000 pixels exceeds maxPixels 50000000/);
    const wide = withChunk(base.png, 'IHDR', (d) => { d.writeUInt32BE(2_000_000, 0); d.writeUInt32BE(1, 4); return d; });
    expect(await code(wide, { maxPixels: 1_000_000 })).toEqual({ code: 'PNG_TOO_LARGE', message: '2000000x1 = 2000000 pixels exceeds maxPixels 1000000' });
    const file = path.join(dir, 'big.png');
    fs.writeFileSync(file, big);
    const tooBig = await code(file, { maxFileBytes: 100 });
    expect(tooBig.code).toBe('FILE_TOO_LARGE');
    expect(tooBig.message).toContain('big.png');
    const junk = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e]), Buffer.alloc(30, 1)]);
    expect(await code(junk)).toEqual({ code: 'NOT_JPEG', message: expect.stringMatching(/not a JPEG, PNG or BMP file/) });
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082); // the fixture writer's CRC is the standard one
  });

  test('loader: bad PNGs are skipped and named (skip) or stop the epoch naming the file (throw)', async () => {
    const good = path.join(dir, 'good.png');
    const cut = path.join(dir, 'cut.png');
    const crc = path.join(dir, 'crc.png');
    fs.writeFileSync(good, big);
    fs.writeFileSync(cut, big.subarray(0, 300));
    const badCrc = Buffer.from(big);
    badCrc[badCrc.indexOf(Buffer.from('IDAT')) + 10] ^= 0x01;
    fs.writeFileSync(crc, badCrc);
    const loader = createLoader({ files: [good, cut, crc, good], labels: [0, 1, 2, 3], batchSize: 4, size: [30, 40], shuffle: false });
    const batches = await collect(loader);
    expect(batches.flatMap((b) => Array.from(b.labels))).toEqual([0, 3]);
    expect(loader.stats().errors.map((e) => [path.basename(e.file), e.code])).toEqual([['cut.png', 'PNG_TRUNCATED'], ['crc.png', 'PNG_CORRUPT']]);
    loader.close();
    const strict = createLoader({ files: [good, cut], batchSize: 2, size: [30, 40], shuffle: false, onError: 'throw' });
    await expect(collect(strict)).rejects.toThrow(/cut\.png.*truncated PNG/);
    strict.close();
  });
});
