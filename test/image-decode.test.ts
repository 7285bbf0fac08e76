// Decoding equals Debian's djpeg bit for bit (both DCT methods), colour conversions, bad input
// errors and JPEG encoding.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { decodeImage, encodeJpeg } from '../lib';
import { carFiles, corpusDir, djpeg, hasDjpeg, hasPillow, pattern, tempDir, writeJpegs } from './helpers/images';

const dir = tempDir('decode');
const djpegTest = hasDjpeg() ? test : test.skip;

describe('decode equals djpeg', () => {
  let generated: string[] = [];
  beforeAll(async () => {
    generated = [
      ...(await writeJpegs(dir, 2, 240, 320, 75)),
      ...(await writeJpegs(dir, 1, 33, 47, 95)),  // odd sizes: partial MCUs at the edges
    ];
  });
  const inputs = () => [
    ...carFiles(),
    ...generated,
    path.join(corpusDir, 'ljt-testimgari.jpg'),  // arithmetic coding
    path.join(corpusDir, 'ljt-testimgint.jpg'),  // progressive
    path.join(corpusDir, 'pil-hopper_gray.jpg'), // gray -> RGB replication
    path.join(corpusDir, 'pil-hopper_16bit_qtables.jpg'),
  ];
  for (const [dct, djpegDct] of [['fast', 'fast'], ['accurate', 'int']] as const) {
    djpegTest(`dct ${dct} (djpeg -dct ${djpegDct})`, async () => {
      for (const file of inputs()) {
        const expected = djpeg(file, djpegDct);
        const out = await decodeImage(file, { dct });
        expect([file, out.shape]).toEqual([file, [expected.height, expected.width, 3]]);
        expect([file, Buffer.from(out.data as Uint8Array).equals(Buffer.from(expected.rgb))]).toEqual([file, true]);
      }
    });
  }

  test('fast and accurate DCT differ slightly', async () => {
    const file = carFiles()[0];
    const fast = await decodeImage(file, { dct: 'fast' });
    const accurate = await decodeImage(file, { dct: 'accurate' });
    let differ = 0, worst = 0;
    fast.data.forEach((v, i) => { const d = Math.abs(v - accurate.data[i]); if (d) differ++; worst = Math.max(worst, d); });
    expect(differ).toBeGreaterThan(0);
    expect(worst).toBeLessThan(16);
  });

  test('a Buffer decodes like its file', async () => {
    const file = carFiles()[1];
    const a = await decodeImage(file);
    const b = await decodeImage(fs.readFileSync(file));
    expect(Buffer.from(a.data as Uint8Array).equals(Buffer.from(b.data as Uint8Array))).toBe(true);
  });

  test('EXIF orientation is ignored', async () => {
    const out = await decodeImage(path.join(corpusDir, 'pil-hopper_orientation_6.jpg'));
    const plain = djpeg(path.join(corpusDir, 'pil-hopper_orientation_6.jpg'), 'fast');
    expect(out.shape).toEqual([plain.height, plain.width, 3]);
  });
});

(hasPillow() ? test : test.skip)('Adobe CMYK converts to RGB like Pillow', async () => {
  const file = path.join(corpusDir, 'pil-pil_sample_cmyk.jpg');
  const script = 'import sys\nfrom PIL import Image\nsys.stdout.buffer.write(Image.open(sys.argv[1]).convert("RGB").tobytes())';
  const r = spawnSync('/usr/bin/python3', ['-c', script, file], { maxBuffer: 1 << 24 });
  expect(r.status).toBe(0);
  const out = await decodeImage(file, { dct: 'accurate' });
  // Pillow's libjpeg may use another IDCT build; allow a small per-value difference.
  let worst = 0;
  out.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - r.stdout[i])); });
  expect(worst).toBeLessThanOrEqual(2);
});

describe('bad input gives named errors', () => {
  const expectCode = async (input: string | Buffer, code: string, options = {}) => {
    const err = await decodeImage(input, options).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    if (typeof input === 'string') expect(err.message).toContain(input);
    return err;
  };

  test('missing file', () => expectCode(path.join(dir, 'nope.jpg'), 'FILE_NOT_FOUND'));
  test('directory', () => expectCode(dir, 'FILE_UNREADABLE'));
  test('empty file', async () => {
    const file = path.join(dir, 'empty.jpg');
    fs.writeFileSync(file, '');
    await expectCode(file, 'FILE_EMPTY');
    await expectCode(Buffer.alloc(0), 'FILE_EMPTY');
  });
  test('not a JPEG', async () => {
    const file = path.join(dir, 'text.jpg');
    fs.writeFileSync(file, 'hello, this is not a picture');
    const err = await expectCode(file, 'NOT_JPEG');
    expect(err.message).toMatch(/not a JPEG/);
  });
  test('truncated: error by default, accepted when lenient', async () => {
    const whole = fs.readFileSync(carFiles()[0]);
    const file = path.join(dir, 'cut.jpg');
    fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 2)));
    const err = await expectCode(file, 'JPEG_TRUNCATED');
    expect(err.message).toMatch(/truncated/i);
    const lenient = await decodeImage(file, { lenient: true });
    expect(lenient.shape[2]).toBe(3);
  });
  test('corrupt data', async () => {
    const whole = Buffer.from(fs.readFileSync(carFiles()[0]));
    whole.fill(0xff, 200, 260);  // wreck the tables
    const err = await decodeImage(whole).then(() => null, (e) => e);
    expect(err.code).toMatch(/JPEG_CORRUPT|JPEG_TRUNCATED/);
  });
  test('12-bit JPEG is unsupported, by name', async () => {
    const err = await expectCode(path.join(corpusDir, 'ljt-monkey12.jpg'), 'JPEG_UNSUPPORTED');
    expect(err.message).toMatch(/12/);
  });
  test('pixel cap rejects from the header (decompression bomb)', async () => {
    const jpeg = Buffer.from(await encodeJpeg(pattern(16, 16), 16, 16));
    await expectCode(jpeg, 'JPEG_TOO_LARGE', { maxPixels: 255 });
    // Claim 60000 x 60000 in the SOF0 header of a tiny file: must fail fast, not allocate 10 GB.
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    jpeg.writeUInt16BE(60000, sof + 5);
    jpeg.writeUInt16BE(60000, sof + 7);
    const err = await expectCode(jpeg, 'JPEG_TOO_LARGE');
    expect(err.message).toMatch(/60000x60000/);
  });
  test('options are validated by name', async () => {
    await expect(decodeImage(carFiles()[0], { dct: 'slow' as any })).rejects.toThrow('Expected one of fast, accurate for dct but received "slow" of type string');
    await expect(decodeImage(carFiles()[0], { size: [0, 3] as any })).rejects.toThrow(/for size/);
    await expect(decodeImage(carFiles()[0], { maxPixels: -1 })).rejects.toThrow('Expected positive integer for maxPixels but received -1 of type number');
    await expect(decodeImage(carFiles()[0], { colour: 1 } as any)).rejects.toThrow(/Unknown option "colour"/);
    await expect(decodeImage(42 as any)).rejects.toThrow(/for input/);
  });
});

describe('encodeJpeg', () => {
  test('round trip stays close and is 4:2:0 baseline', async () => {
    const rgb = new Uint8Array(48 * 64 * 3).map((_, i) => {
      const x = Math.floor(i / 3) % 64, y = Math.floor(i / 192), c = i % 3;
      return c === 0 ? x * 4 : c === 1 ? y * 5 : 128;
    });
    const jpeg = await encodeJpeg(rgb, 64, 48, { quality: 95 });
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(0);
    expect(jpeg[sof + 11]).toBe(0x22);  // luma sampling factors 2x2 = 4:2:0
    const back = await decodeImage(jpeg);
    expect(back.shape).toEqual([48, 64, 3]);
    let sum = 0;
    back.data.forEach((v, i) => { sum += Math.abs(v - rgb[i]); });
    expect(sum / rgb.length).toBeLessThan(3);
  });
  test('quality changes the size', async () => {
    const rgb = pattern(64, 64, 2);
    const low = await encodeJpeg(rgb, 64, 64, { quality: 20 });
    const high = await encodeJpeg(rgb, 64, 64, { quality: 95 });
    expect(low.length).toBeLessThan(high.length);
  });
  test('validation', async () => {
    await expect(encodeJpeg(new Uint8Array(10), 2, 2)).rejects.toThrow(/12 bytes/);
    await expect(encodeJpeg(new Uint8Array(12), 2, 2, { quality: 0 })).rejects.toThrow(/for quality/);
    await expect(encodeJpeg(new Uint8Array(12), 0, 2)).rejects.toThrow('Expected positive integer for width but received 0 of type number');
  });
});
