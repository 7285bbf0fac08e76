// Geometry: TF resize_with_crop_or_pad, TF half-pixel bilinear and PIL nearest against references
// written here from the specification (and Pillow itself for nearest when Debian python has it).
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { decodeImage, encodeJpeg } from '../lib';
import { pattern, tempDir, hasPillow, writePpm } from './helpers/images';

const dir = tempDir('resize');
let source: { rgb: Uint8Array; height: number; width: number; file: string };
let tall: string;

beforeAll(async () => {
  const height = 37, width = 50;
  const file = path.join(dir, 'odd.jpg');
  fs.writeFileSync(file, await encodeJpeg(pattern(height, width, 3), width, height, { quality: 90 }));
  const decoded = await decodeImage(file);
  source = { rgb: decoded.data as Uint8Array, height, width, file };
  tall = path.join(dir, 'h213.jpg');
  fs.writeFileSync(tall, await encodeJpeg(pattern(213, 20, 4), 20, 213));
});

// tf.image.resize_with_crop_or_pad, per axis: crop (size-target)//2 first, then pad (target-size)//2.
function referenceCropOrPad(rgb: Uint8Array, h: number, w: number, th: number, tw: number): Uint8Array {
  const cropTop = Math.max(Math.floor((h - th) / 2), 0), cropLeft = Math.max(Math.floor((w - tw) / 2), 0);
  const padTop = Math.max(Math.floor((th - h) / 2), 0), padLeft = Math.max(Math.floor((tw - w) / 2), 0);
  const croppedH = Math.min(h, th), croppedW = Math.min(w, tw);
  const out = new Uint8Array(th * tw * 3);
  for (let y = 0; y < croppedH; y++) {
    for (let x = 0; x < croppedW; x++) {
      for (let c = 0; c < 3; c++) {
        out[((y + padTop) * tw + (x + padLeft)) * 3 + c] = rgb[((y + cropTop) * w + (x + cropLeft)) * 3 + c];
      }
    }
  }
  return out;
}

describe('crop_or_pad', () => {
  const cases: Array<[string, number, number]> = [
    ['crop height, odd difference', 30, 50],
    ['crop height, even difference', 31, 50],
    ['pad height, odd difference', 44, 50],
    ['pad height, even difference', 45, 50],
    ['crop width, odd difference', 37, 41],
    ['crop width, even difference', 37, 44],
    ['pad width, odd difference', 37, 59],
    ['pad width, even difference', 37, 60],
    ['crop height and pad width', 30, 61],
    ['pad height and crop width', 46, 41],
    ['crop both', 20, 21],
    ['pad both', 40, 53],
    ['same size', 37, 50],
  ];
  test.each(cases)('%s (%i x %i)', async (_name, th, tw) => {
    const out = await decodeImage(source.file, { size: [th, tw], resize: 'crop_or_pad', preprocess: 'none' });
    expect(out.shape).toEqual([th, tw, 3]);
    expect(Buffer.from(out.data as Uint8Array).equals(Buffer.from(referenceCropOrPad(source.rgb, 37, 50, th, tw)))).toBe(true);
  });

  test('213 -> 224 rows pads 5 on top and 6 at the bottom; padding becomes -1 after tf preprocessing', async () => {
    const out = await decodeImage(tall, { size: [224, 20], preprocess: 'tf' });
    const rowIsPad = (y: number) => Array.from(out.data.subarray(y * 60, (y + 1) * 60)).every((v) => v === -1);
    const padRows = Array.from({ length: 224 }, (_, y) => rowIsPad(y));
    expect(padRows.slice(0, 5).every(Boolean)).toBe(true);
    expect(padRows[5]).toBe(false);
    expect(padRows[217]).toBe(false);
    expect(padRows.slice(218).every(Boolean)).toBe(true);
  });
});

// tf.image.resize(method='bilinear', antialias=False): half-pixel centres, float32 arithmetic.
function referenceBilinear(rgb: Uint8Array, h: number, w: number, th: number, tw: number): Float32Array {
  const f = Math.fround;
  const axis = (inSize: number, outSize: number) => {
    const scale = f(inSize / outSize);
    return Array.from({ length: outSize }, (_, i) => {
      const src = f(f(f(i + 0.5) * scale) - 0.5);
      const lo = Math.floor(src);
      return { lo: Math.max(lo, 0), hi: Math.min(Math.ceil(src), inSize - 1), t: f(src - lo) };
    });
  };
  const ys = axis(h, th), xs = axis(w, tw);
  const out = new Float32Array(th * tw * 3);
  const px = (y: number, x: number, c: number) => rgb[(y * w + x) * 3 + c];
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      for (let c = 0; c < 3; c++) {
        const top = f(px(ys[y].lo, xs[x].lo, c) + f(f(px(ys[y].lo, xs[x].hi, c) - px(ys[y].lo, xs[x].lo, c)) * xs[x].t));
        const bottom = f(px(ys[y].hi, xs[x].lo, c) + f(f(px(ys[y].hi, xs[x].hi, c) - px(ys[y].hi, xs[x].lo, c)) * xs[x].t));
        out[(y * tw + x) * 3 + c] = f(top + f(f(bottom - top) * ys[y].t));
      }
    }
  }
  return out;
}

describe('bilinear', () => {
  test.each([[20, 31], [74, 100], [37, 50], [11, 97]])('to %i x %i matches the half-pixel rule', async (th, tw) => {
    const out = await decodeImage(source.file, { size: [th, tw], resize: 'bilinear', preprocess: 'tf' });
    const reference = referenceBilinear(source.rgb, 37, 50, th, tw);
    let worst = 0;
    reference.forEach((v, i) => { worst = Math.max(worst, Math.abs(v / 127.5 - 1 - out.data[i])); });
    expect(worst).toBeLessThan(1e-5);
  });

  test("rounds to uint8 for preprocess 'none'", async () => {
    const out = await decodeImage(source.file, { size: [20, 31], resize: 'bilinear', preprocess: 'none' });
    const reference = referenceBilinear(source.rgb, 37, 50, 20, 31);
    expect(out.data.constructor.name).toBe('Uint8Array');
    reference.forEach((v, i) => expect(Math.abs(out.data[i] - v)).toBeLessThanOrEqual(0.5 + 1e-4));
  });
});

describe('nearest (PIL)', () => {
  // Pillow NEAREST (ImagingScaleAffine) samples floor of a double accumulated from scale / 2 in
  // steps of scale = in / out: at exact ties (e.g. 50 -> 49) this differs from floor((i + 0.5) * scale).
  const sourceIndex = (inSize: number, outSize: number) => {
    const scale = inSize / outSize;
    const index: number[] = [];
    for (let i = 0, p = scale * 0.5; i < outSize; i++, p += scale) index.push(Math.min(Math.floor(p), inSize - 1));
    return index;
  };
  function referenceNearest(rgb: Uint8Array, h: number, w: number, th: number, tw: number): Uint8Array {
    const out = new Uint8Array(th * tw * 3);
    const ys = sourceIndex(h, th), xs = sourceIndex(w, tw);
    for (let y = 0; y < th; y++) {
      const sy = ys[y];
      for (let x = 0; x < tw; x++) {
        const sx = xs[x];
        for (let c = 0; c < 3; c++) out[(y * tw + x) * 3 + c] = rgb[(sy * w + sx) * 3 + c];
      }
    }
    return out;
  }

  test.each([[20, 31], [74, 100], [224, 224], [36, 49]])('to %i x %i', async (th, tw) => {
    const out = await decodeImage(source.file, { size: [th, tw], resize: 'nearest', preprocess: 'none' });
    expect(Buffer.from(out.data as Uint8Array).equals(Buffer.from(referenceNearest(source.rgb, 37, 50, th, tw)))).toBe(true);
  });

  const pillowTest = hasPillow() ? test : test.skip;
  pillowTest('equals Pillow resize(NEAREST)', async () => {
    const ppm = path.join(dir, 'source.ppm');
    writePpm(ppm, source.rgb, source.width, source.height);
    for (const [th, tw] of [[224, 224], [20, 31], [101, 77], [36, 49]]) {
      const script = `import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1]).resize((${tw}, ${th}), Image.NEAREST)\nsys.stdout.buffer.write(im.tobytes())`;
      const r = spawnSync('/usr/bin/python3', ['-c', script, ppm], { maxBuffer: 1 << 26 });
      expect(r.status).toBe(0);
      const out = await decodeImage(source.file, { size: [th, tw], resize: 'nearest', preprocess: 'none' });
      expect(Buffer.from(out.data as Uint8Array).equals(r.stdout)).toBe(true);
    }
  });
});
