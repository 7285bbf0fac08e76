import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { balancedClassWeights, createManifest, manifestSplits, readManifest, stratifiedSplit, writeManifest, Sample } from '../lib/data';

/** Minimal RFC 4180 reader, independent of the writer. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(field); field = ''; } else if (ch === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else field += ch;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

describe('manifest', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-manifest-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const root = '/data/cars';
  const classes = ['Audi', 'Mercedes-Benz_A Class', 'Odd, "quoted"'];
  const samples: Sample[] = [];
  classes.forEach((_, c) => { for (let i = 0; i < 8; i++) samples.push({ file: `${root}/sub dir/c${c}_${i}.jpg`, label: c }); });

  test('JSON round trip reproduces the split exactly; CSV parses with one row per file', async () => {
    const split = stratifiedSplit(samples, { classes, seed: 5 });
    const weights = balancedClassWeights(split.train.map((s) => s.label), classes.length);
    const manifest = createManifest({ root, labelType: 'model', seed: 5, options: { topN: 300, minCount: 1, ratios: [0.5625, 0.1875, 0.25] }, split, classWeights: weights });
    const written = await writeManifest(dir, manifest);
    const back = await readManifest(written.json);
    expect(back).toEqual(manifest);
    expect(await readManifest(dir)).toEqual(manifest); // a directory works too
    const splits = manifestSplits(back);
    expect(splits.train).toEqual(split.train);
    expect(splits.val).toEqual(split.val);
    expect(splits.test).toEqual(split.test);
    expect(back.entries[0].file.startsWith('sub dir/')).toBe(true);

    const rows = parseCsv(fs.readFileSync(written.csv, 'utf8'));
    expect(rows[0]).toEqual(['file', 'class', 'label', 'split']);
    expect(rows.length).toBe(1 + samples.length);
    for (const [file, cls, label, which] of rows.slice(1)) {
      expect(classes[Number(label)]).toBe(cls);
      expect(['train', 'val', 'test']).toContain(which);
      expect(file).toMatch(new RegExp(`^sub dir/c${label}_\\d\\.jpg$`));
    }
    expect(rows.some((r) => r[1] === 'Odd, "quoted"')).toBe(true);
  });

  test('bad manifests give errors naming the file and field', async () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{ not json');
    await expect(readManifest(bad)).rejects.toThrow(/bad.json: not valid JSON/);
    await expect(readManifest(path.join(dir, 'none.json'))).rejects.toThrow(/none.json: file not found/);
    const good = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    good.entries[2].label = 7;
    fs.writeFileSync(bad, JSON.stringify(good));
    await expect(readManifest(bad)).rejects.toThrow(/entries\[2\].label 7 is not a class index \(0..2\)/);
    good.entries[2].label = 0;
    good.entries[1].split = 'holdout';
    fs.writeFileSync(bad, JSON.stringify(good));
    await expect(readManifest(bad)).rejects.toThrow(/entries\[1\].split must be train, val or test, found "holdout"/);
  });
});
