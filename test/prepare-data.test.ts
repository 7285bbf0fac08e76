import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { prepareData, prepareFromManifest, writeManifest } from '../lib/data';

describe('prepareData / prepareFromManifest', () => {
  let dir: string;
  let out: string;
  const counts: Record<string, number> = { Audi: 12, BMW: 8, 'Mercedes-Benz': 5, Lada: 2 };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-prepare-'));
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-prepare-out-'));
    let id = 0;
    for (const [make, n] of Object.entries(counts)) {
      fs.mkdirSync(path.join(dir, make));
      for (let i = 0; i < n; i++) {
        const tag = String.fromCharCode(97 + Math.floor(id / 26), 97 + (id % 26), 122);
        id++;
        fs.writeFileSync(path.join(dir, make, `${make}_X ${i}_2015_30_17_200_20_4_70_55_180_25_FWD_5_4_SUV_${tag}.jpg`), 'x');
      }
    }
    fs.writeFileSync(path.join(dir, 'IMG_0001.JPG'), 'x');
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  });

  test('keep limits the run to the files it accepts (what a prefilter manifest kept)', async () => {
    const prepared = await prepareData(dir, { seed: 11, onTooSmall: 'drop', warn: () => undefined, keep: (f) => !f.includes(`${path.sep}BMW${path.sep}`) });
    expect(prepared.classes).toEqual(['Audi', 'Mercedes-Benz']);
    const all = [...prepared.splits.train, ...prepared.splits.val, ...prepared.splits.test];
    expect(all).toHaveLength(counts.Audi + counts['Mercedes-Benz']);
    expect(all.some((s) => s.file.includes('BMW'))).toBe(false);
    await expect(prepareData(dir, { keep: () => false })).rejects.toThrow(/None of the 28 images under .* passed the keep filter/);
    await expect(prepareData(dir, { keep: 'BMW' as any })).rejects.toThrow('Expected function for keep but received "BMW" of type string');
  });

  test('scan, label, split, weights on train, manifest; the manifest reproduces the run', async () => {
    const warnings: string[] = [];
    const prepared = await prepareData(dir, { seed: 11, onTooSmall: 'drop', warn: (m) => warnings.push(m) });
    expect(prepared.classes).toEqual(['Audi', 'BMW', 'Mercedes-Benz']);
    expect(warnings).toEqual([expect.stringMatching(/Dropping class "Lada": 2 file/)]);
    expect(prepared.dataset?.rejected.map((r) => path.basename(r.file))).toEqual(['IMG_0001.JPG']);
    const trainCounts = [0, 0, 0];
    for (const s of prepared.splits.train) trainCounts[s.label]++;
    const n = prepared.splits.train.length;
    prepared.classWeights?.forEach((w, c) => expect(w).toBeCloseTo(n / (3 * trainCounts[c]), 12));
    expect(prepared.manifest.options).toMatchObject({ labelType: 'make', topN: 300, minCount: 1, seed: 11, onTooSmall: 'drop' });

    await writeManifest(out, prepared.manifest);
    const again = await prepareFromManifest(path.join(out, 'manifest.json'));
    expect(again.classes).toEqual(prepared.classes);
    expect(again.splits).toEqual(prepared.splits);
    expect(again.classWeights).toEqual(prepared.classWeights);
    // Same folder and seed -> identical split.
    const twice = await prepareData(dir, { seed: 11, onTooSmall: 'drop', warn: () => undefined });
    expect(twice.splits).toEqual(prepared.splits);
  });

  test('errors: too-small class by default, empty folder, unknown option', async () => {
    await expect(prepareData(dir, { seed: 1 })).rejects.toThrow(/"Lada" has 2/);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-empty-'));
    await expect(prepareData(empty)).rejects.toThrow(/No images \(.jpg\/.jpeg\/.png\/.bmp\) found under/);
    fs.writeFileSync(path.join(empty, 'holiday.jpg'), 'x');
    await expect(prepareData(empty)).rejects.toThrow(/No labelled images .*holiday.jpg: expected 17/);
    fs.rmSync(empty, { recursive: true, force: true });
    await expect(prepareData(dir, { labeltype: 'make' } as object)).rejects.toThrow(/Unknown option "labeltype" for prepareData/);
  });
});
