// The synthetic demo dataset: deterministic, named in the dataset's format, right counts and sizes,
// and varied (facing and position change between pictures of one class).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { DEMO_CLASSES, classLabel } from '../lib/demo/classes';
import { CarClassSpec, createRng, demoClassSpecs, demoFileName, drawCar, generateDemoDataset, JpegEncoder, renderCarScene } from '../lib/demo/synth';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-demo-'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

// Independent reading of REFERENCE section 1: 16 fields, then a 3-letter id; make/model may hold spaces and hyphens.
const NAME = /^([A-Za-z0-9 -]+)_([A-Za-z0-9 -]+)_(\d{4})_(\d+|nan)_(\d+|nan)_(\d+|nan)_(\d+|nan)_(\d+|nan)_(\d+|nan)_(\d+|nan)_(\d+|nan)_(\d+|nan)_([A-Z0-9]+|nan)_(\d+|nan)_(\d+|nan)_([A-Za-z0-9]+)_([A-Za-z]{3})\.jpg$/;

function parseName(file: string): { label: string; fields: string[]; id: string } {
  const base = path.basename(file);
  const m = NAME.exec(base);
  if (!m) throw new Error(`does not parse: ${base}`);
  const parts = base.slice(0, -4).split('_');
  expect(parts).toHaveLength(17);
  return { label: `${m[1]}_${m[2]}`, fields: parts.slice(0, 16), id: parts[16] };
}

describe('generateDemoDataset', () => {
  const opts = { classes: 8, perClass: 6, width: 64, height: 48, seed: 7 };
  let first: { files: string[]; classes: string[] };

  beforeAll(async () => {
    first = await generateDemoDataset(path.join(tmpRoot, 'a'), opts);
  });

  it('writes classes x perClass files with sorted make_model labels', () => {
    expect(first.files).toHaveLength(8 * 6);
    expect(first.classes).toHaveLength(8);
    expect([...first.classes].sort()).toEqual(first.classes);
    expect(new Set(first.classes).size).toBe(8);
    expect(fs.readdirSync(path.join(tmpRoot, 'a')).sort()).toEqual(first.files.map((f) => path.basename(f)).sort());
  });

  it('names every file in the dataset format and labels it with its class', () => {
    const perLabel = new Map<string, number>();
    for (const f of first.files) {
      const { label, fields } = parseName(f);
      expect(first.classes).toContain(label);
      const year = Number(fields[2]);
      expect(year).toBeGreaterThanOrEqual(2010);
      expect(year).toBeLessThanOrEqual(2021);
      perLabel.set(label, (perLabel.get(label) ?? 0) + 1);
    }
    expect([...perLabel.values()]).toEqual(new Array(8).fill(6));
    // Spaces and hyphens are exercised by the class names themselves.
    expect(first.classes.some((c) => c.includes(' '))).toBe(true);
    expect(first.classes.some((c) => c.includes('-'))).toBe(true);
  });

  it('writes JPEGs of the requested size', async () => {
    for (const f of first.files.slice(0, 10)) {
      const meta = await sharp(f).metadata();
      expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 64, 48, 3]);
    }
  });

  it('is deterministic: same seed gives the same names and bytes, another seed differs', async () => {
    const again = await generateDemoDataset(path.join(tmpRoot, 'b'), opts);
    expect(again.files.map((f) => path.basename(f))).toEqual(first.files.map((f) => path.basename(f)));
    for (let i = 0; i < first.files.length; i++) expect(fs.readFileSync(again.files[i]).equals(fs.readFileSync(first.files[i]))).toBe(true);
    const other = await generateDemoDataset(path.join(tmpRoot, 'c'), { ...opts, seed: 8, perClass: 2 });
    expect(fs.readFileSync(other.files[0]).equals(fs.readFileSync(first.files[0]))).toBe(false);
  });

  it('passes raw RGB of the right size to a custom encoder', async () => {
    const seen: number[] = [];
    const encoder: JpegEncoder = async (rgb, w, h, q) => {
      seen.push(rgb.length);
      expect([w, h, q]).toEqual([40, 32, 70]);
      return sharp(Buffer.from(rgb), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: q }).toBuffer();
    };
    const r = await generateDemoDataset(path.join(tmpRoot, 'd'), { classes: 12, perClass: 1, width: 40, height: 32, quality: 70, encodeJpeg: encoder });
    expect(r.files).toHaveLength(12);
    expect(seen).toEqual(new Array(12).fill(40 * 32 * 3));
  });

  it('rejects with the file name when encoding fails, after the pending writes settle', async () => {
    let calls = 0;
    const failing: JpegEncoder = async () => {
      if (++calls === 3) throw new Error('encoder exploded');
      return Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
    };
    await expect(generateDemoDataset(path.join(tmpRoot, 'e'), { perClass: 2, width: 32, height: 24, encodeJpeg: failing }))
      .rejects.toThrow(/could not write .*Demo Motors_Hatchback_.*\.jpg: encoder exploded/);
    expect(calls).toBeLessThan(20);
  });

  it('rejects bad options by name', async () => {
    const dir = path.join(tmpRoot, 'bad');
    await expect(generateDemoDataset(dir, { classes: 7 })).rejects.toThrow('Expected integer between 8 and 12 for classes but received 7 of type number');
    await expect(generateDemoDataset(dir, { classes: 13 })).rejects.toThrow(/classes/);
    await expect(generateDemoDataset(dir, { perClass: 0 })).rejects.toThrow('Expected positive integer for perClass but received 0 of type number');
    await expect(generateDemoDataset(dir, { width: 10 })).rejects.toThrow(/at least 32 x 24/);
    await expect(generateDemoDataset(dir, { quality: 101 })).rejects.toThrow(/quality/);
    await expect(generateDemoDataset(dir, { seed: 1.5 })).rejects.toThrow(/seed/);
    await expect(generateDemoDataset(dir, { size: 3 } as never)).rejects.toThrow(/Unknown option "size" for generateDemoDataset/);
    await expect(generateDemoDataset('', {})).rejects.toThrow(/dir/);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('drawCar', () => {
  const W = 96, H = 72;

  it('returns packed RGB of width x height and is deterministic per rng seed', () => {
    const a = drawCar(DEMO_CLASSES[0], createRng(3), W, H);
    const b = drawCar(DEMO_CLASSES[0], createRng(3), W, H);
    const c = drawCar(DEMO_CLASSES[0], createRng(4), W, H);
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(W * H * 3);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    expect(Buffer.from(renderCarScene(DEMO_CLASSES[0], createRng(3), W, H).rgb).equals(Buffer.from(a))).toBe(true);
  });

  // A red-only variant of the sedan, so the car's pixels can be found by colour in the picture.
  const redSedan: CarClassSpec = { ...DEMO_CLASSES[0], colors: ['red'] };
  const isRed = (rgb: Uint8Array, i: number) => rgb[i * 3] > 110 && rgb[i * 3] > 1.8 * rgb[i * 3 + 1] && rgb[i * 3] > 1.8 * rgb[i * 3 + 2];

  it('varies position, size and facing within a class, and draws the car where it says', () => {
    const centres: number[] = [], lengths: number[] = [], facings: boolean[] = [];
    let located = 0, lit = 0;
    const n = 24;
    for (let k = 0; k < n; k++) {
      const { rgb, car } = renderCarScene(redSedan, createRng(500 + k), W, H);
      let sum = 0, count = 0;
      for (let i = 0; i < W * H; i++) if (isRed(rgb, i)) { sum += i % W; count++; }
      const centreOfMass = sum / count;
      centres.push(centreOfMass);
      lengths.push(car.length);
      facings.push(car.mirror);
      if (Math.abs(centreOfMass - car.centreX) < 0.1 * W) located++;
      // The headlight is the brightest spot around where the placement puts it (the body around it is red).
      let brightest = 0;
      const [hx, hy] = car.headlight.map(Math.floor);
      for (let y = hy - 1; y <= hy + 1; y++) for (let x = hx - 1; x <= hx + 1; x++) {
        if (x < 0 || y < 0 || x >= W || y >= H) continue;
        const o = (y * W + x) * 3;
        brightest = Math.max(brightest, (rgb[o] + rgb[o + 1] + rgb[o + 2]) / 3);
      }
      if (brightest > 150) lit++;
    }
    // Pixels agree with the placement (clutter may add a few red pixels elsewhere).
    expect(located).toBeGreaterThanOrEqual(n - 3);
    expect(lit).toBeGreaterThanOrEqual(n - 3);
    // Horizontal centre of mass, size and facing all vary.
    expect(Math.max(...centres) - Math.min(...centres)).toBeGreaterThan(0.2 * W);
    expect(Math.max(...lengths) / Math.min(...lengths)).toBeGreaterThan(1.3);
    expect(facings.filter((m) => m).length).toBeGreaterThan(3);
    expect(facings.filter((m) => !m).length).toBeGreaterThan(3);
  });

  it('keeps the car on the picture', () => {
    for (const spec of DEMO_CLASSES) {
      for (let k = 0; k < 4; k++) {
        const { car } = renderCarScene(spec, createRng(900 + k), W, H);
        expect(car.ground).toBeLessThanOrEqual(H);
        expect(car.centreX).toBeGreaterThan(0);
        expect(car.centreX).toBeLessThan(W);
        expect(car.length).toBeLessThanOrEqual(0.9 * W);
      }
    }
  });
});

describe('demoFileName and class specs', () => {
  it('draws plausible per-class fields and a 3-letter id', () => {
    const rng = createRng(11);
    for (const spec of DEMO_CLASSES) {
      for (let i = 0; i < 20; i++) {
        const { label, fields, id } = parseName(demoFileName(spec, rng));
        expect(label).toBe(classLabel(spec));
        expect(id).toMatch(/^[A-Za-z]{3}$/);
        const year = Number(fields[2]);
        expect(year).toBeGreaterThanOrEqual(spec.meta.years[0]);
        expect(year).toBeLessThanOrEqual(spec.meta.years[1]);
        expect(fields[15]).toBe(spec.meta.bodyStyle);
      }
    }
  });

  it('uses the first n of 12 classes, n in 8..12', () => {
    expect(demoClassSpecs(8)).toHaveLength(8);
    expect(demoClassSpecs(12)).toHaveLength(12);
    expect(new Set(DEMO_CLASSES.map(classLabel)).size).toBe(12);
    expect(() => demoClassSpecs(12.5)).toThrow(/classes/);
  });
});
