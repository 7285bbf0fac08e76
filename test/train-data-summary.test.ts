// Issue 14 sections 2-3 end to end through the CLI: a folder-per-class dataset with PNGs, a separate test
// folder, --val-split; rejected files, dropped classes and undecodable images are counted and named, listed
// in manifest.json; the test line's count agrees with the split or says why; config.json restores the source.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { generateDemoDataset, parseCarFilename } from '../lib';
import { tempDir } from './helpers';

const cli = path.resolve(__dirname, '..', 'bin', 'carclass.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const tiny = ['--arch', 'resnet-tiny', '--size', '32x48', '--batch-size', '4', '--lr', '1e-3', '--no-tensorboard', '--epochs', '1'];

let root: string;
let data: string;
let testDir: string;

beforeAll(async () => {
  root = tempDir('summary');
  const flat = path.join(root, 'flat');
  await generateDemoDataset(flat, { classes: 8, perClass: 8, width: 48, height: 32, seed: 3 });
  data = path.join(root, 'data');
  testDir = path.join(root, 'test');
  // Folder per class (model names); every third image as PNG; two images of each class to the test folder.
  const seen = new Map<string, number>();
  const names = fs.readdirSync(flat).filter((f) => f.endsWith('.jpg')).sort();
  for (const name of names) {
    const parsed = parseCarFilename(name);
    if (!parsed.ok) continue;
    const cls = parsed.record.model!.replace(/\s+/g, '-');
    const n = seen.get(cls) ?? 0;
    seen.set(cls, n + 1);
    const target = n < 2 ? path.join(testDir, cls) : path.join(data, cls);
    fs.mkdirSync(target, { recursive: true });
    const source = path.join(flat, name);
    if (n % 3 === 0) await sharp(source).png().toFile(path.join(target, `img${n}.png`));
    else fs.copyFileSync(source, path.join(target, `img${n}.jpg`));
  }
  const [first] = [...seen.keys()].sort();
  fs.writeFileSync(path.join(data, first, 'broken.jpg'), Buffer.from('this is no image at all'));
  const png = fs.readFileSync(path.join(data, first, 'img3.png'));
  fs.writeFileSync(path.join(testDir, first, 'cut.png'), png.subarray(0, 60)); // truncated inside the header
  fs.writeFileSync(path.join(data, first, 'anim.gif'), Buffer.from('GIF89a not read')); // not a format carclass reads
  fs.writeFileSync(path.join(data, first, 'notes.txt'), 'a note');
  fs.mkdirSync(path.join(data, 'lonely'));
  fs.copyFileSync(path.join(data, first, 'img4.jpg'), path.join(data, 'lonely', 'only.jpg')); // 1 image: too small to split
  fs.copyFileSync(path.join(data, first, 'img4.jpg'), path.join(data, 'loose.jpg')); // outside any class folder
}, 120000);

test('folders + PNG + --val-split + --test-dir: the summary names what was left out; manifest.json lists it all', () => {
  const out = path.join(root, 'run');
  const r = run('train', data, '--out', out, '--layout', 'folders', '--val-split', '0.25', '--test-dir', testDir, '--drop-small-classes', ...tiny);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('8 classes (folders layout)');
  expect(r.stdout).toMatch(/Rejected 1 file\(s\) without a usable label: loose\.jpg \(not inside a class folder/);
  expect(r.stdout).toContain('Data left out: 1 rejected file(s), 1 dropped class(es), 2 undecodable image(s) (all listed in manifest.json)');
  expect(r.stdout).toMatch(/dropped classes: "lonely" \(1 files, too small to split\)/);
  expect(r.stdout).toMatch(/undecodable: .*broken\.jpg \((train|val), NOT_JPEG: not a JPEG, PNG or BMP file/);
  expect(r.stdout).toMatch(/cut\.png \(test, PNG_TRUNCATED: truncated PNG data before the image data/);
  expect(r.stdout).toContain('Not read: 2 file(s) that are not .jpg/.jpeg/.png/.bmp by extension: 1 .gif, 1 .txt');
  expect(r.stdout).toContain('  not read: 2 file(s)');
  // 16 test images in the folder, one undecodable: the test line says so.
  expect(r.stdout).toMatch(/test: loss [\d.]+ - accuracy [\d.]+ - top-5 [\d.]+ on 16 of 17 test images \(1 undecodable: cut\.png; listed in manifest\.json\)/);
  expect(r.stdout).toMatch(/Test accuracy [\d.]+ % .* on 16 of 17 test images \(1 undecodable: cut\.png/);

  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  expect(manifest.labelType).toBe('folder');
  expect(manifest.options).toMatchObject({ layout: 'folders', valSplit: 0.25, testSplit: 0, testDir });
  expect(manifest.rejected).toEqual([{ file: path.join(data, 'loose.jpg'), reason: expect.stringMatching(/not inside a class folder/) }]);
  expect(manifest.dropped).toEqual([{ name: 'lonely', count: 1, reason: 'too small to split' }]);
  expect(manifest.ignored).toEqual({ count: 2, byExtension: { '.gif': 1, '.txt': 1 } });
  expect(manifest.undecodable.map((u: { file: string; split: string; code: string }) => [path.basename(u.file), u.code]).sort())
    .toEqual([['broken.jpg', 'NOT_JPEG'], ['cut.png', 'PNG_TRUNCATED']]);
  expect(manifest.entries.filter((e: { split: string }) => e.split === 'test')).toHaveLength(17);
  const pngs = manifest.entries.filter((e: { file: string }) => e.file.endsWith('.png')).length;
  expect(pngs).toBeGreaterThan(10); // PNGs took part in every split

  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  expect(config).toMatchObject({ dir: data, layout: 'folders', valSplit: 0.25, testDir });

  // evaluate <dir> of a folder-trained checkpoint labels by class folder; the undecodable file is said.
  const e = run('evaluate', testDir, '--checkpoint', path.join(out, 'checkpoints', 'best'), '--out', path.join(root, 'eval'));
  expect(e.status).toBe(0);
  expect(e.stdout).toMatch(/accuracy [\d.]+ - top-5 [\d.]+ on 16 images/);
  expect(e.stderr).toMatch(/skipped .*cut\.png: truncated PNG data/);
  // A run's manifest.json repeats its split: split flags cannot change it.
  const fixed = run('train', '--manifest', path.join(out, 'manifest.json'), '--out', path.join(root, 'again'), '--val-split', '0.2', ...tiny);
  expect(fixed.status).toBe(2);
  expect(fixed.stderr).toContain("repeats a run's split as it was; --val-split cannot change it");

  // Resume takes the source from config.json; a different split is a usage error in flag names.
  const clash = run('train', '--resume', '--out', out, '--val-split', '0.3');
  expect(clash.status).toBe(2);
  expect(clash.stderr).toContain('--val-split 0.3 conflicts with the run');
  expect(clash.stderr).toContain('trained with --val-split 0.25');
  const resumed = run('train', '--resume', '--out', out, '--epochs', '2');
  expect(resumed.stderr).toBe('');
  expect(resumed.status).toBe(0);
  expect(resumed.stdout).toContain('Data left out: 1 rejected file(s), 1 dropped class(es), 2 undecodable image(s)');
  // --quiet keeps the one line that says data was left out.
  const quiet = run('train', data, '--out', path.join(root, 'quiet-run'), '--layout', 'folders', '--test-dir', testDir, '--drop-small-classes', ...tiny, '--quiet');
  expect(quiet.status).toBe(0);
  expect(quiet.stdout).not.toContain('Data left out');
  expect(quiet.stdout).toContain(`Left out: 1 rejected file(s), 1 dropped class(es), 2 undecodable image(s); all listed in ${path.join(root, 'quiet-run', 'manifest.json')}`);
}, 300000);

test('CLI: split flags are checked before any data is read, in flag names', () => {
  const cases: [string[], string][] = [
    [['--val-split', '0'], 'Expected a number in (0, 1) for --val-split but received 0'],
    [['--val-split', '1.5'], 'Expected a number in [0, 1] for --val-split but received "1.5"'],
    [['--test-split', '1'], 'Expected a number in [0, 1) for --test-split but received 1'],
    [['--val-split', '0.6', '--test-split', '0.4'], '--val-split 0.6 + --test-split 0.4 must be below 1'],
    [['--val-split', '0.2', '--val-dir', testDir], 'give --val-split or --val-dir, not both'],
    [['--layout', 'columns'], 'Expected one of auto, filenames, folders, manifest for --layout but received "columns"'],
  ];
  for (const [flags, message] of cases) {
    const out = path.join(tempDir('split-flags'), 'run');
    const r = run('train', data, '--out', out, ...flags);
    expect([flags, r.stderr]).toEqual([flags, expect.stringContaining(message)]);
    expect(r.status).toBe(2);
    expect(fs.existsSync(out)).toBe(false);
  }
  const help = run('train', '--help').stdout;
  for (const text of ['--layout auto|filenames|folders|manifest', '--val-split', '--test-dir', 'Make_Model_Year_MSRP', 'folders: <dir>/<class>/**/<image>', 'labels.csv|labels.jsonl']) {
    expect(help).toContain(text);
  }
  // The documented examples are real: the help's and the README's example names parse.
  const readme = fs.readFileSync(path.resolve(__dirname, '..', 'README.md'), 'utf8');
  const examples = [/e\.g\. (\S+\.jpg)/.exec(help)?.[1], /for example `([^`]+\.jpg)`/.exec(readme)?.[1]];
  for (const name of examples) {
    expect(name).toBeDefined();
    expect([name, parseCarFilename(name!).ok]).toEqual([name, true]);
  }
});

test('a CSV manifest trains through the CLI; its bad lines stop the run before anything is made', () => {
  const csv = path.join(root, 'labels.csv');
  const rows = ['file,label'];
  for (const cls of fs.readdirSync(data).filter((c) => c !== 'lonely' && fs.statSync(path.join(data, c)).isDirectory())) {
    for (const f of fs.readdirSync(path.join(data, cls)).filter((x) => /\.(jpg|png)$/.test(x) && x !== 'broken.jpg')) rows.push(`data/${cls}/${f},${cls}`);
  }
  fs.writeFileSync(csv, rows.join('\n'));
  const out = path.join(root, 'csv-run');
  const r = run('train', '--manifest', csv, '--out', out, '--test-split', '0', ...tiny);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('8 classes (manifest layout)');
  expect(r.stdout).toContain('No test split');
  expect(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).labelType).toBe('manifest');

  fs.writeFileSync(csv, `${rows.join('\n')}\ndata/missing.png,x\n,y\n`);
  const badOut = path.join(root, 'bad-csv-run');
  const bad = run('train', '--manifest', csv, '--out', badOut, ...tiny);
  expect(bad.status).toBe(1);
  expect(bad.stderr).toContain(`line ${rows.length + 1}: file not found: ${path.join(root, 'data', 'missing.png')}`);
  expect(bad.stderr).toContain(`line ${rows.length + 2}: empty or missing file`);
  expect(fs.existsSync(badOut)).toBe(false);
}, 300000);
