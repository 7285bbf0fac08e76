// BMP decoding: exact pixels against Pillow (files Pillow writes, decoded by Pillow) and against a BMP writer
// here for the variants Pillow does not write (top-down, 16-bit 5-5-5 / 5-6-5 bit fields, 32-bit bit fields with
// alpha, V5 and OS/2 core headers); the JPEG pipeline after decoding; clear errors for bad files.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { decodeImage, createLoader } from '../lib';
import { hasPillow, pattern, tempDir } from './helpers/images';

const dir = tempDir('bmp');
const pillowTest = hasPillow() ? test : test.skip;

type BmpSpec = {
  width: number; height: number; bpp: 4 | 8 | 16 | 24 | 32;
  pixel: (x: number, y: number) => number | [number, number, number];
  palette?: Array<[number, number, number]>; masks?: [number, number, number, number]; topDown?: boolean; header?: 12 | 40 | 124;
};
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { writeBmp } = require('./helpers/bmp-fixtures.js') as { writeBmp: (spec: BmpSpec) => Buffer };

const scale = (v: number, bits: number) => Math.floor((v * 255 + ((1 << bits) - 1) / 2) / ((1 << bits) - 1));

async function rgbOf(input: string | Buffer): Promise<Buffer> {
  return Buffer.from((await decodeImage(input)).data as Uint8Array);
}

pillowTest('files Pillow writes (24-bit, 8-bit palette, 1-bit, gray, odd widths) decode as Pillow decodes them', async () => {
  const script = `
import sys
from PIL import Image
out = sys.argv[1]
src = Image.frombytes('RGB', (37, 23), open(out + '/src.rgb', 'rb').read())
variants = {'rgb24': src, 'p8': src.convert('P', palette=Image.ADAPTIVE, colors=50), 'bw1': src.convert('1'), 'gray8': src.convert('L'),
            'p4': src.convert('P', palette=Image.ADAPTIVE, colors=16)}
for name, im in variants.items():
    im.save(out + '/' + name + '.bmp')
    open(out + '/' + name + '.expected', 'wb').write(Image.open(out + '/' + name + '.bmp').convert('RGB').tobytes())
`;
  fs.writeFileSync(path.join(dir, 'src.rgb'), pattern(23, 37, 5));
  const r = spawnSync('/usr/bin/python3', ['-c', script, dir], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  for (const name of ['rgb24', 'p8', 'bw1', 'gray8', 'p4']) {
    const file = path.join(dir, `${name}.bmp`);
    const out = await decodeImage(file);
    expect([name, out.shape]).toEqual([name, [23, 37, 3]]);
    expect([name, Buffer.from(out.data as Uint8Array).equals(fs.readFileSync(path.join(dir, `${name}.expected`)))]).toEqual([name, true]);
  }
});

test('top-down, 16-bit 5-5-5 and 5-6-5, 32-bit bit fields with alpha dropped, V5 and OS/2 headers', async () => {
  const w = 7, h = 5;
  const expected = (f: (x: number, y: number) => number[]) => Buffer.from(Array.from({ length: w * h }, (_, i) => f(i % w, Math.floor(i / w))).flat());
  const rgb = (x: number, y: number): [number, number, number] => [(x * 40 + y) & 255, (y * 50 + 3) & 255, (x * y * 9 + 7) & 255];
  const topDown = writeBmp({ width: w, height: h, bpp: 24, pixel: rgb, topDown: true });
  expect((await rgbOf(topDown)).equals(expected(rgb))).toBe(true);
  const core = writeBmp({ width: w, height: h, bpp: 24, pixel: rgb, header: 12 });
  expect((await rgbOf(core)).equals(expected(rgb))).toBe(true);

  const v555 = (x: number, y: number) => ((x * 4) & 31) << 10 | ((y * 6) & 31) << 5 | ((x + y * 3) & 31);
  const bmp555 = writeBmp({ width: w, height: h, bpp: 16, pixel: v555 });
  expect((await rgbOf(bmp555)).equals(expected((x, y) => [scale((v555(x, y) >> 10) & 31, 5), scale((v555(x, y) >> 5) & 31, 5), scale(v555(x, y) & 31, 5)]))).toBe(true);
  const v565 = (x: number, y: number) => ((x * 4) & 31) << 11 | ((y * 13) & 63) << 5 | ((x * y) & 31);
  const bmp565 = writeBmp({ width: w, height: h, bpp: 16, pixel: v565, masks: [0xf800, 0x07e0, 0x001f, 0], header: 40 });
  expect((await rgbOf(bmp565)).equals(expected((x, y) => [scale(v565(x, y) >> 11, 5), scale((v565(x, y) >> 5) & 63, 6), scale(v565(x, y) & 31, 5)]))).toBe(true);

  // 32-bit ARGB in a V5 header: the alpha channel is dropped, a fully transparent pixel keeps its colour.
  const argb = (x: number, y: number) => ((x * 30) & 255) << 24 | rgb(x, y)[0] << 16 | rgb(x, y)[1] << 8 | rgb(x, y)[2];
  const v5 = writeBmp({ width: w, height: h, bpp: 32, pixel: argb, masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000], header: 124 });
  expect((await rgbOf(v5)).equals(expected(rgb))).toBe(true);
  // Unusual masks (RGB at the top of the word): scaled per mask.
  const rgbx = (x: number, y: number) => (rgb(x, y)[0] << 24 | rgb(x, y)[1] << 16 | rgb(x, y)[2] << 8) >>> 0;
  const shifted = writeBmp({ width: w, height: h, bpp: 32, pixel: rgbx, masks: [0xff000000, 0x00ff0000, 0x0000ff00, 0], header: 40 });
  expect((await rgbOf(shifted)).equals(expected(rgb))).toBe(true);
});

test('same pipeline as JPEG/PNG after decoding, in decodeImage and the loader', async () => {
  const rgb = pattern(40, 60, 2);
  const bmp = writeBmp({ width: 60, height: 40, bpp: 24, pixel: (x, y) => [rgb[(y * 60 + x) * 3], rgb[(y * 60 + x) * 3 + 1], rgb[(y * 60 + x) * 3 + 2]] });
  const file = path.join(dir, 'pattern.bmp');
  fs.writeFileSync(file, bmp);
  expect((await rgbOf(file)).equals(Buffer.from(rgb))).toBe(true);
  const options = { size: [32, 48] as [number, number], resize: 'bilinear' as const, preprocess: 'tf' as const };
  const solo = await decodeImage(file, options);
  const loader = createLoader({ files: [file, file], batchSize: 2, ...options, shuffle: false });
  const batches = [];
  for await (const b of loader) batches.push(b);
  const data = batches[0].data() as Float32Array;
  expect(Buffer.from(data.buffer, 0, solo.data.byteLength).equals(Buffer.from(solo.data.buffer))).toBe(true);
  loader.close();
});

test('bad BMPs: truncated (lenient keeps the rows present), RLE unsupported, bad header, palette index, pixel cap', async () => {
  const rgb = (x: number, y: number): [number, number, number] => [x * 20, y * 20, 99];
  const whole = writeBmp({ width: 9, height: 8, bpp: 24, pixel: rgb });
  const cut = whole.subarray(0, whole.length - 3 * 28); // 3 of 8 rows (stride 28) missing: the top rows in a bottom-up file
  const strict = await decodeImage(cut).then(() => null, (e) => e);
  expect(strict.code).toBe('BMP_TRUNCATED');
  expect(strict.message).toMatch(/5 of 8 rows present/);
  const lenient = Buffer.from((await decodeImage(cut, { lenient: true })).data as Uint8Array);
  expect(lenient.subarray(0, 3 * 27).every((v) => v === 0)).toBe(true);
  expect(lenient.subarray(3 * 27).equals((await rgbOf(whole)).subarray(3 * 27))).toBe(true);

  const rle = Buffer.from(whole);
  rle.writeUInt32LE(1, 30);
  expect(await decodeImage(rle).catch((e) => [e.code, e.message])).toEqual(['BMP_UNSUPPORTED', 'RLE-compressed BMP is not supported']);
  const header = Buffer.from(whole);
  header.writeUInt32LE(77, 14);
  expect(await decodeImage(header).catch((e) => [e.code, e.message])).toEqual(['BMP_CORRUPT', 'unknown BMP header size 77']);
  const depth = Buffer.from(whole);
  depth.writeUInt16LE(7, 28);
  expect(await decodeImage(depth).catch((e) => e.code)).toBe('BMP_UNSUPPORTED');
  const indexed = writeBmp({ width: 4, height: 2, bpp: 8, pixel: (x) => x, palette: [[1, 2, 3], [4, 5, 6]] });
  expect(await decodeImage(indexed).catch((e) => [e.code, e.message])).toEqual(['BMP_CORRUPT', 'BMP pixel uses colour 2 of a 2-colour palette']);
  expect(await decodeImage(whole, { maxPixels: 50 }).catch((e) => [e.code, e.message])).toEqual(['BMP_TOO_LARGE', '9x8 = 72 pixels exceeds maxPixels 50']);
  const huge = Buffer.from(whole);
  huge.writeInt32LE(100000, 18);
  huge.writeInt32LE(100000, 22);
  expect(await decodeImage(huge).catch((e) => e.code)).toBe('BMP_TOO_LARGE');
  expect(await decodeImage(whole.subarray(0, 20)).catch((e) => e.code)).toBe('BMP_TRUNCATED');
});
