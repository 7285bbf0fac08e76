import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { sharedDataDir } from './shared-data';
import { buildDataset, scanImages } from '../lib/data';

function carName(make: string, model: string, id: string, ext = 'jpg'): string {
  return `${make}_${model}_2015_30_17_200_20_4_70_55_180_25_FWD_5_4_SUV_${id}.${ext}`;
}

describe('scanImages', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-scan-'));
    fs.mkdirSync(path.join(dir, 'b/deeper'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'a'));
    for (const f of ['z.JPG', 'a/one.jpeg', 'b/two.Jpeg', 'b/deeper/three.jpg', 'notes.txt', 'b/img.png', 'jpg']) {
      fs.writeFileSync(path.join(dir, f), 'x');
    }
    fs.symlinkSync(dir, path.join(dir, 'b/loop')); // a loop back to the root
    fs.symlinkSync(path.join(dir, 'missing'), path.join(dir, 'dangling.jpg'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('finds jpg/jpeg/png in any case, recursively, sorted, once each despite a symlink loop', async () => {
    const files = await scanImages(dir);
    const rel = files.map((f) => path.relative(dir, f));
    expect(rel).toEqual(['a/one.jpeg', 'b/deeper/three.jpg', 'b/img.png', 'b/two.Jpeg', 'z.JPG']);
    expect(files.every((f) => path.isAbsolute(f))).toBe(true);
  });

  test('errors name the directory', async () => {
    await expect(scanImages(path.join(dir, 'nope'))).rejects.toThrow(/nope: no such directory/);
    await expect(scanImages(path.join(dir, 'notes.txt'))).rejects.toThrow(/not a directory/);
    await expect(scanImages('' as string)).rejects.toThrow(/Expected non-empty string for dir/);
  });

  test('scans the real sample folder', async () => {
    const files = await scanImages(path.join(sharedDataDir(), 'cars-sample'));
    expect(files.length).toBe(6);
  });
});

describe('buildDataset', () => {
  // Counts: Audi 5, BMW 3, Kia 3, Fiat 1, plus 2 bad names.
  const files = [
    ...['aaa', 'aab', 'aac', 'aad', 'aae'].map((id) => `/d/${carName('Audi', 'A4', id)}`),
    ...['baa', 'bab'].map((id) => `/d/${carName('BMW', 'X5', id)}`),
    `/d/${carName('BMW', '3-Series', 'bac')}`,
    ...['kaa', 'kab', 'kac'].map((id) => `/d/${carName('Kia', 'Rio', id)}`),
    `/d/${carName('Fiat', '500', 'faa')}`,
    '/d/IMG_0001.jpg',
    `/d/${carName('Ford', 'nan', 'fab')}`,
  ];

  test('make labels: top N by frequency with ties broken by name, sorted class list, rejects reported', () => {
    const ds = buildDataset(files, { labelType: 'make', topN: 2 });
    // BMW and Kia tie at 3: BMW wins by name. Then the kept list is sorted.
    expect(ds.classes).toEqual(['Audi', 'BMW']);
    expect(ds.samples.length).toBe(8);
    expect(ds.samples.filter((s) => s.label === 1).length).toBe(3);
    // Dropped in rank order: count descending, then name.
    expect(ds.dropped.map((d) => [d.name, d.count])).toEqual([['Kia', 3], ['Fiat', 1], ['Ford', 1]]);
    expect(ds.rejected).toEqual([{ file: '/d/IMG_0001.jpg', reason: expect.stringMatching(/found 2/) }]);
  });

  test('model labels and minCount', () => {
    const ds = buildDataset(files, { labelType: 'model', minCount: 2 });
    expect(ds.classes).toEqual(['Audi_A4', 'BMW_X5', 'Kia_Rio']);
    expect(ds.dropped.map((d) => d.name).sort()).toEqual(['BMW_3-Series', 'Fiat_500']);
    expect(ds.dropped[0].reason).toMatch(/minCount=2/);
    // Ford with model nan cannot be labelled by model.
    expect(ds.rejected.map((r) => r.file)).toContain(`/d/${carName('Ford', 'nan', 'fab')}`);
    expect(ds.rejected.find((r) => r.file.includes('Ford'))?.reason).toMatch(/model is missing/);
  });

  test('default topN is 300 and options are validated', () => {
    expect(buildDataset(files).classes).toEqual(['Audi', 'BMW', 'Fiat', 'Ford', 'Kia']);
    expect(() => buildDataset(files, { labelType: 'trim' as 'make' })).toThrow(/Expected one of make, model for labelType but received "trim"/);
    expect(() => buildDataset(files, { topN: 0 })).toThrow(/Expected positive integer for topN but received 0/);
    expect(() => buildDataset(files, { topn: 3 } as object)).toThrow(/Unknown option "topn"/);
  });
});
