// Dataset layouts beyond car file names: folder per class, CSV/JSONL label manifests, and how splits are chosen.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  detectLayout, labelSource, prepareData, planSplit, readLabelManifest, parseCsv, writeManifest, Sample,
} from '../lib/data';

function touch(file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'x');
  return file;
}

function carName(make: string, model: string, id: string, ext = 'jpg'): string {
  return `${make}_${model}_2015_30_17_200_20_4_70_55_180_25_FWD_5_4_SUV_${id}.${ext}`;
}

/** Files per class of a split, by class name. */
function perClass(samples: Sample[], classes: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) out[classes[s.label]] = (out[classes[s.label]] ?? 0) + 1;
  return out;
}

let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-sources-')); });
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('folder-per-class layout', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(tmp, 'folders');
    // Code-unit order puts upper case first, as Python's sorted() in Keras and torchvision does.
    for (let i = 0; i < 8; i++) touch(path.join(dir, 'cat', `c${i}.jpg`));
    for (let i = 0; i < 6; i++) touch(path.join(dir, 'Zebra', 'deeper', `z${i}.PNG`));
    for (let i = 0; i < 4; i++) touch(path.join(dir, 'dog', `d${i}.jpeg`));
    touch(path.join(dir, 'dog', 'notes.txt'));
    fs.mkdirSync(path.join(dir, 'empty'));
  });

  test('auto-detects folders; classes are the sorted sub-folder names, images found recursively', async () => {
    expect(await detectLayout(dir)).toBe('folders');
    const src = await labelSource(dir);
    expect(src.layout).toBe('folders');
    expect(src.labelType).toBe('folder');
    expect(src.knownClasses).toEqual(['Zebra', 'cat', 'dog', 'empty']);
    const byName = (n: string) => src.labelled.filter((f) => f.name === n).map((f) => path.relative(dir, f.file)).sort();
    expect(byName('Zebra')).toEqual([0, 1, 2, 3, 4, 5].map((i) => `Zebra/deeper/z${i}.PNG`));
    expect(byName('dog')).toEqual(['dog/d0.jpeg', 'dog/d1.jpeg', 'dog/d2.jpeg', 'dog/d3.jpeg']);
    expect(src.labelled).toHaveLength(18);
    expect(src.others.map((f) => path.relative(dir, f))).toEqual(['dog/notes.txt']); // not read, but not forgotten
  });

  test('prepareData: labels index the sorted classes, an empty class folder is a dropped class, stray files are rejected', async () => {
    const stray = touch(path.join(tmp, 'folders-stray', 'loose.jpg'));
    for (let i = 0; i < 3; i++) touch(path.join(tmp, 'folders-stray', 'a', `a${i}.jpg`));
    for (let i = 0; i < 3; i++) touch(path.join(tmp, 'folders-stray', 'b', `b${i}.jpg`));
    // A file at the top makes auto pick file names; the folder layout is then chosen with the option.
    expect(await detectLayout(path.dirname(stray))).toBe('filenames');
    const strayRun = await prepareData(path.dirname(stray), { layout: 'folders', seed: 3 });
    expect(strayRun.dataset?.rejected).toEqual([{ file: stray, reason: expect.stringMatching(/not inside a class folder/) }]);
    expect(strayRun.manifest.rejected).toHaveLength(1);

    const warnings: string[] = [];
    const p = await prepareData(dir, { seed: 5, warn: (m) => warnings.push(m) });
    expect(p.classes).toEqual(['Zebra', 'cat', 'dog']);
    expect(p.manifest.labelType).toBe('folder');
    expect(p.manifest.options).toMatchObject({ layout: 'folders', labelType: 'folder' });
    expect(p.manifest.dropped).toEqual([{ name: 'empty', count: 0, reason: 'its folder holds no images' }]);
    expect(warnings[0]).toMatch(/Dropped 1 class\(es\): "empty" \(0 files, its folder holds no images\)/);
    for (const split of [p.splits.train, p.splits.val, p.splits.test]) {
      for (const s of split) expect(path.relative(dir, s.file).split(path.sep)[0]).toBe(p.classes[s.label]);
    }
    expect(p.splits.train.length + p.splits.val.length + p.splits.test.length).toBe(18);
    expect(p.manifest.ignored).toEqual({ count: 1, byExtension: { '.txt': 1 } });
  });

  test('car file names sorted into sub-folders stay the file-name layout; label-type does not apply to folders', async () => {
    const cars = path.join(tmp, 'cars-in-folders');
    touch(path.join(cars, 'Audi', carName('Audi', 'A4', 'abc')));
    touch(path.join(cars, 'BMW', carName('BMW', 'X5', 'abd')));
    expect(await detectLayout(cars)).toBe('filenames');
    touch(path.join(cars, 'BMW', 'IMG_0001.jpg')); // a stray photo does not turn the car dataset into class folders
    expect(await detectLayout(cars)).toBe('filenames');
    expect((await labelSource(cars)).rejected.map((r) => path.basename(r.file))).toEqual(['IMG_0001.jpg']);
    expect((await labelSource(cars, { labelType: 'model' })).labelled.map((f) => f.name)).toEqual(['Audi_A4', 'BMW_X5']);
    await expect(labelSource(dir, { labelType: 'make' })).rejects.toThrow(/labelType \(--label-type\) applies to the file-name layout; in the folder layout the folder name is the class/);
    await expect(labelSource(dir, { layout: 'columns' as never })).rejects.toThrow(/Expected one of auto, filenames, folders, manifest for layout but received "columns"/);
    await expect(labelSource(path.join(tmp, 'nope'), { layout: 'folders' })).rejects.toThrow(/nope: no such directory/);
  });
});

describe('CSV and JSONL label manifests', () => {
  let root: string;
  beforeAll(() => {
    root = path.join(tmp, 'manifests');
    for (const f of ['img/a 1.jpg', 'img/b,2.jpg', 'img/c"3.jpg', 'img/d.png', 'e.jpg', 'f.jpg']) touch(path.join(root, f));
  });

  test('parseCsv: RFC 4180 quoting, CRLF, blank lines, the line each record starts on', () => {
    const problems: string[] = [];
    const records = parseCsv('file,label\r\n"multi\nline.jpg","a, ""b"""\r\n\r\nplain.jpg,c\n', { add: (l, m) => problems.push(`${l}: ${m}`) });
    expect(problems).toEqual([]);
    expect(records).toEqual([
      { line: 1, fields: ['file', 'label'] },
      { line: 2, fields: ['multi\nline.jpg', 'a, "b"'] },
      { line: 5, fields: ['plain.jpg', 'c'] },
    ]);
    const bad: string[] = [];
    parseCsv('a.jpg,x\nb"c.jpg,y\n"d.jpg"z,w\n"open,q', { add: (l, m) => bad.push(`${l}: ${m}`) });
    expect(bad).toEqual([
      expect.stringMatching(/^2: a quote inside an unquoted field/),
      expect.stringMatching(/^3: unexpected "z" after a closing quote/),
      expect.stringMatching(/^4: a quoted field is not closed/),
    ]);
  });

  test('CSV with header (any column order, BOM), quoted names, paths relative to the manifest folder or absolute', async () => {
    const abs = path.join(root, 'f.jpg');
    const file = path.join(root, 'labels.csv');
    fs.writeFileSync(file, `\ufeffLabel,File\r\ncat,img/a 1.jpg\r\n"dog, big","img/b,2.jpg"\r\ncat,"img/c""3.jpg"\r\n bird ,img/d.png\r\ncat,${abs}\r\n`);
    const m = await readLabelManifest(file);
    expect(m.root).toBe(root);
    expect(m.rows.map((r) => [path.relative(root, r.file), r.name, r.line])).toEqual([
      ['img/a 1.jpg', 'cat', 2], ['img/b,2.jpg', 'dog, big', 3], ['img/c"3.jpg', 'cat', 4], ['img/d.png', 'bird', 5], ['f.jpg', 'cat', 6],
    ]);
    // Without a header: exactly file,label per line.
    fs.writeFileSync(path.join(root, 'plain.csv'), 'e.jpg,x\nf.jpg,y\n');
    expect((await readLabelManifest(path.join(root, 'plain.csv'))).rows.map((r) => r.name)).toEqual(['x', 'y']);
  });

  test('every problem is reported at once, each with its line number', async () => {
    const file = path.join(root, 'bad.csv');
    fs.writeFileSync(file, ['file,label', 'e.jpg,cat', 'missing.jpg,cat', 'e.jpg,dog', 'f.jpg,', ',cat', 'f.jpg,cat,extra', 'img/d.png,"open'].join('\n'));
    const error = await readLabelManifest(file).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain(`Invalid label manifest ${file}: 6 problem(s)`);
    expect(message).toContain(`line 3: file not found: ${path.join(root, 'missing.jpg')}`);
    expect(message).toContain('line 4: e.jpg is listed again (first on line 2)');
    expect(message).toContain('line 5: empty label for f.jpg');
    expect(message).toContain('line 6: empty or missing file');
    expect(message).toContain('line 7: expected 2 fields as in the header (file,label) but found 3');
    expect(message).toContain('line 8: a quoted field is not closed before the end of the file');
    // Headerless rows with a third column, an empty manifest, a missing manifest.
    fs.writeFileSync(file, 'e.jpg,cat,train\n');
    await expect(readLabelManifest(file)).rejects.toThrow(/line 1: expected 2 fields \(file,label\) but found 3; with more columns, start the file with a header row/);
    fs.writeFileSync(file, '\n\n');
    await expect(readLabelManifest(file)).rejects.toThrow(/no rows/);
    await expect(readLabelManifest(path.join(root, 'none.csv'))).rejects.toThrow(/Cannot read label manifest .*none\.csv: file not found/);
  });

  test('JSONL: one object per line; numbers as labels; bad lines named', async () => {
    const file = path.join(root, 'labels.jsonl');
    fs.writeFileSync(file, '{"file": "e.jpg", "label": 3}\n\n{"path": "img/d.png", "class": "bird"}\n');
    const m = await readLabelManifest(file);
    expect(m.rows.map((r) => [path.basename(r.file), r.name, r.line])).toEqual([['e.jpg', '3', 1], ['d.png', 'bird', 3]]);
    fs.writeFileSync(file, '{"file": "e.jpg", "label": "a", "split": "train"}\n{"file": "f.jpg", "label": "b", "split": "validation"}\n{"file": "img/d.png", "label": "b"}\n');
    expect((await readLabelManifest(file).catch((e: Error) => e) as Error).message).toMatch(/line 3: no split, while 2 other row\(s\) have one \(lines 3\); give every row a split or none/);
    fs.writeFileSync(file, '{"file": "e.jpg", "label": "a", "split": "train"}\n{"file": "f.jpg", "label": "b", "split": "validation"}\n');
    expect((await readLabelManifest(file)).rows.map((r) => r.split)).toEqual(['train', 'val']);
    fs.writeFileSync(file, '{"file": "e.jpg", "label": "a"}\n{"file": "f.jpg" "label": 1}\n["f.jpg"]\n{"name": "f.jpg"}\n{"file": "f.jpg", "label": "b", "split": "dev"}\n');
    const message = (await readLabelManifest(file).catch((e: Error) => e) as Error).message;
    expect(message).toMatch(/line 2: not valid JSON/);
    expect(message).toMatch(/line 3: expected a JSON object/);
    expect(message).toMatch(/line 4: expected keys file and label, found \["name"\]/);
    expect(message).toMatch(/line 5: split must be train, val \(validation\) or test, found "dev"/);
  });

  test('prepareData on a manifest: classes from the label column; a split column gives the splits and excludes fractions', async () => {
    const dir = path.join(tmp, 'manifest-run');
    const rows: string[] = ['file,label,split'];
    for (const [name, n] of [['cat', 6], ['dog', 5]] as const) {
      for (let i = 0; i < n; i++) {
        touch(path.join(dir, 'pics', `${name}${i}.jpg`));
        rows.push(`pics/${name}${i}.jpg,${name},${i < n - 2 ? 'train' : i === n - 2 ? 'val' : 'test'}`);
      }
    }
    touch(path.join(dir, 'pics', 'fox0.jpg'));
    rows.push('pics/fox0.jpg,fox,val'); // a class only in val cannot be scored: rejected, named
    fs.writeFileSync(path.join(dir, 'split.csv'), rows.join('\n'));
    const p = await prepareData(path.join(dir, 'split.csv'));
    expect(p.classes).toEqual(['cat', 'dog']);
    expect(p.manifest.labelType).toBe('manifest');
    expect(perClass(p.splits.train, p.classes)).toEqual({ cat: 4, dog: 3 });
    expect(perClass(p.splits.val, p.classes)).toEqual({ cat: 1, dog: 1 });
    expect(perClass(p.splits.test, p.classes)).toEqual({ cat: 1, dog: 1 });
    expect(p.manifest.rejected).toEqual([{ file: path.join(dir, 'pics', 'fox0.jpg'), reason: 'split val: class "fox" is not among the trained classes' }]);
    await expect(prepareData(path.join(dir, 'split.csv'), { valSplit: 0.2 })).rejects.toThrow(/The manifest gives every row a split/);
    await expect(prepareData(path.join(dir, 'split.csv'), { labelType: 'model' })).rejects.toThrow(/applies to the file-name layout; a manifest gives each file its label/);
    await expect(prepareData(dir, { layout: 'manifest' })).rejects.toThrow(/layout 'manifest' reads a .csv or .jsonl file/);
    await expect(prepareData(path.join(dir, 'split.csv'), { layout: 'folders' })).rejects.toThrow(/layout 'folders' reads a folder, but .*split\.csv is a label manifest/);

    // Rows without a split are split like a folder; the run's own manifest.csv, placed in the data folder
    // its paths are relative to, reads back as the same split.
    fs.writeFileSync(path.join(dir, 'nosplit.csv'), rows.slice(1, -1).map((r) => r.split(',').slice(0, 2).join(',')).join('\n'));
    const q = await prepareData(path.join(dir, 'nosplit.csv'), { seed: 4, valSplit: 0.2, testSplit: 0.2 });
    expect(q.splits.train.length + q.splits.val.length + q.splits.test.length).toBe(11);
    const out = path.join(tmp, 'manifest-run-out');
    await writeManifest(out, q.manifest);
    fs.copyFileSync(path.join(out, 'manifest.csv'), path.join(dir, 'again.csv'));
    const again = await prepareData(path.join(dir, 'again.csv'));
    expect(again.classes).toEqual(q.classes);
    expect(again.splits).toEqual(q.splits);
  });
});

describe('val/test split: fractions or folders', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(tmp, 'split-src');
    for (let i = 0; i < 20; i++) touch(path.join(dir, 'a', `a${String(i).padStart(2, '0')}.jpg`));
    for (let i = 0; i < 10; i++) touch(path.join(dir, 'b', `b${i}.jpg`));
  });

  test('planSplit validates ranges and combinations, naming the option', () => {
    expect(planSplit({})).toEqual({ val: 0.1875, test: 0.25, ratios: [0.5625, 0.1875, 0.25] });
    expect(planSplit({ valSplit: 0.2, testSplit: 0 })).toEqual({ val: 0.2, test: 0, ratios: [0.8, 0.2] });
    expect(planSplit({ valDir: 'v', testDir: 't' })).toEqual({ val: 0, test: 0, ratios: null });
    expect(planSplit({ valDir: 'v', testSplit: 0.3 }).ratios).toEqual([0.7, 0.3]);
    expect(() => planSplit({ valSplit: 0 })).toThrow('Expected number in (0, 1) for valSplit but received 0 of type number');
    expect(() => planSplit({ valSplit: 1 })).toThrow(/for valSplit but received 1/);
    expect(() => planSplit({ testSplit: -0.1 })).toThrow('Expected number in [0, 1) for testSplit but received -0.1 of type number');
    expect(() => planSplit({ valSplit: Number.NaN })).toThrow(/valSplit but received NaN/);
    expect(() => planSplit({ valSplit: 0.5, testSplit: 0.5 })).toThrow('valSplit + testSplit must be below 1 (some images must be left to train on) but is 0.5 + 0.5');
    expect(() => planSplit({ valSplit: 0.2, valDir: 'v' })).toThrow(/Give valSplit \(--val-split\) or valDir \(--val-dir\), not both/);
    expect(() => planSplit({ testSplit: 0.2, testDir: 't' })).toThrow(/Give testSplit \(--test-split\) or testDir/);
    expect(() => planSplit({ ratios: [0.5, 0.5], valSplit: 0.2 })).toThrow(/Give ratios or valSplit/);
  });

  test('fractions cut every class; testSplit 0 leaves no test split', async () => {
    const p = await prepareData(dir, { valSplit: 0.2, testSplit: 0.1, seed: 2 });
    expect(perClass(p.splits.val, p.classes)).toEqual({ a: 4, b: 2 });
    expect(perClass(p.splits.test, p.classes)).toEqual({ a: 2, b: 1 });
    expect(p.manifest.options).toMatchObject({ valSplit: 0.2, testSplit: 0.1 });
    const noTest = await prepareData(dir, { valSplit: 0.25, testSplit: 0, seed: 2 });
    expect(noTest.splits.test).toEqual([]);
    const val = perClass(noTest.splits.val, noTest.classes);
    expect(val.a).toBe(5);
    expect([2, 3]).toContain(val.b); // 2.5 rounds either way; the running total keeps 7 or 8 of 30
    expect(noTest.splits.val.length + noTest.splits.train.length).toBe(30);
    await expect(prepareData(dir, { valSplit: 0.7, testSplit: 0.3 })).rejects.toThrow(/must be below 1/);
  });

  test('valDir / testDir: held-out folders in the same layout; unknown classes there are rejected, not guessed', async () => {
    const val = path.join(tmp, 'split-val');
    const test = path.join(tmp, 'split-test');
    for (const c of ['a', 'b']) touch(path.join(val, c, `${c}-v.jpg`));
    touch(path.join(val, 'zzz', 'z-v.jpg'));
    for (const c of ['a', 'b']) for (let i = 0; i < 2; i++) touch(path.join(test, c, `${c}-t${i}.jpg`));
    const both = await prepareData(dir, { valDir: val, testDir: test });
    expect(both.splits.train).toHaveLength(30);
    expect(perClass(both.splits.val, both.classes)).toEqual({ a: 1, b: 1 });
    expect(perClass(both.splits.test, both.classes)).toEqual({ a: 2, b: 2 });
    expect(both.manifest.rejected).toEqual([{ file: path.join(val, 'zzz', 'z-v.jpg'), reason: `valDir ${val}: class "zzz" is not among the trained classes` }]);
    expect(both.manifest.options).toMatchObject({ valDir: val, testDir: test, valSplit: 0, testSplit: 0 });
    // Only valDir: the source still gives the test split.
    const onlyVal = await prepareData(dir, { valDir: val, testSplit: 0.2, seed: 1 });
    expect(perClass(onlyVal.splits.test, onlyVal.classes)).toEqual({ a: 4, b: 2 });
    expect(onlyVal.splits.train).toHaveLength(24);
    expect(onlyVal.splits.val.every((s) => s.file.startsWith(val))).toBe(true);
    await expect(prepareData(dir, { valDir: path.join(tmp, 'nothing') })).rejects.toThrow(/nothing: no such directory/);
  });
});
