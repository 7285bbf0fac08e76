// What a new user reads: --device errors before any data is read, the model's totals and a from-scratch note
// before training, a summary() whose columns line up, mismatch lists cut at 20, and a README that agrees with --help.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { generateDemoDataset, DEMO_DEFAULTS } from '../lib/demo';
import { createModel, loadModel } from '../lib/model';
import { exportKerasWeights } from '../lib/keras/export';
import { loadKerasWeights } from '../lib/keras/import';
import { versions } from '../lib/runtime';
import { prepareData } from '../lib/data';
import { train } from '../lib/train/train';
import { demoCommand } from '../lib/cli/demo';
import { tempDir } from './helpers';

const cli = path.resolve(__dirname, '..', 'bin', 'carclass.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, CARCLASS_THREADS: '2' } });

test('--device: a bad value exits 2 before any data is read; a CUDA device this LibTorch lacks is a clear error', () => {
  const out = path.join(tempDir('device'), 'run');
  const bad = run('train', '/no/such/folder', '--device', 'gpu', '--out', out);
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('Expected auto, cpu, cuda or cuda:N for --device but received "gpu"');
  expect(fs.existsSync(out)).toBe(false);
  const v = versions();
  const missing = v.cuda.available ? `cuda:${v.cuda.devices.length}` : 'cuda';
  const r = run('train', '/no/such/folder', '--device', missing, '--out', out);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(v.cuda.available ? /there are \d+ CUDA device\(s\)/ : /sees no CUDA device; use --device cpu or auto/);
  expect(r.stderr).not.toMatch(/no such folder|ENOENT/i); // refused before the folder was looked at
  expect(fs.existsSync(out)).toBe(false);
}, 60000);

test('train() rejects a bad device before reading any data', async () => {
  const out = path.join(tempDir('device-lib'), 'run');
  await expect(train({ dir: '/no/such/folder', outDir: out, device: 'gpu' })).rejects.toThrow("Expected 'auto', 'cpu', 'cuda' or 'cuda:N' for device but received \"gpu\"");
  expect(fs.existsSync(out)).toBe(false);
});

test('train prints the model totals and, for resnet50v2 without --weights, that it trains from scratch', async () => {
  const data = path.join(tempDir('scratch-data'), 'data');
  await generateDemoDataset(data, { classes: 8, perClass: 5, width: 40, height: 32, seed: 2 });
  const out = path.join(tempDir('scratch'), 'run');
  const r = run('train', data, '--arch', 'resnet50v2', '--size', '32x32', '--epochs', '1', '--batch-size', '16', '--no-tensorboard', '--out', out);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const lines = r.stdout.split('\n');
  const scratch = lines.findIndex((l) => l.startsWith('Training resnet50v2 from scratch (random weights, no --weights)'));
  const totals = lines.findIndex((l) => /^Model resnet50v2: 23,570,947 params \(23,525,507 trainable, 45,440 non-trainable\), input 32x32, 3 classes$/.test(l));
  const epoch = lines.indexOf('Epoch 1/1');
  // Keras ResNet50V2 without top: 23,564,800 params (45,440 non-trainable); the head for the 3 makes adds 2048 * 3 + 3.
  expect(scratch).toBeGreaterThanOrEqual(0);
  expect(totals).toBeGreaterThan(scratch);
  expect(epoch).toBeGreaterThan(totals);
  // 3 classes: every label is in the top 5, so no top-5 figure is printed.
  expect(r.stdout).toMatch(/^Test accuracy [\d.]+ %, loss [\d.]+ on \d+ test images\.$/m);
  expect(r.stdout).toMatch(/^test: loss [\d.]+ - accuracy [\d.]+ on \d+ test images; report in /m);
  expect(r.stdout).not.toContain('top-5');
  const md = fs.readFileSync(path.join(out, 'report', 'report.md'), 'utf8');
  expect(md).toContain('| labelType | make |');
  expect(md).toContain('| inputSize | [32,32] |');
}, 300000);

test('summary(): columns line up for long layer names, totals with their size as Keras 3 shows them', async () => {
  const m = await createModel({ arch: 'resnet50v2', numClasses: 8, inputShape: [32, 32, 3], unfreeze: 'all' });
  const lines = m.summary().split('\n');
  const first = lines.findIndex((l) => l.startsWith('='));
  const last = lines.findIndex((l, i) => i > first && l.startsWith('='));
  const rows = lines.slice(first + 1, last);
  expect(rows.length).toBe(m.layers().length);
  expect(rows.some((r) => r.includes('conv5_block3_preact_bn (BatchNormalization)'))).toBe(true); // longer than the old 40-column field
  const shapeAt = new Set(rows.map((r) => r.indexOf('(None')));
  expect(shapeAt.size).toBe(1);
  expect(new Set(rows.map((r) => r.length)).size).toBe(1); // Param # right-aligned in one column
  const header = lines[first - 1];
  expect(header.indexOf('Output Shape')).toBe([...shapeAt][0]);
  expect(header.length).toBe(rows[0].length);
  expect(lines[0]).toBe('Model: "resnet50v2"');
  expect(lines).toContain('Total params: 23,581,192 (89.96 MB)'); // 4 bytes each
  expect(lines).toContain('Non-trainable params: 45,440 (177.50 KB)');
}, 60000);

test('a Keras file that does not fit lists the first 20 mismatches and "and N more"', async () => {
  const small = await createModel({ arch: 'resnet-small', numClasses: 8, inputShape: [32, 32, 3] });
  const file = path.join(tempDir('h5-mismatch'), 'small.h5');
  await exportKerasWeights(small, file);
  const tiny = await createModel({ arch: 'resnet50v2', numClasses: 8, inputShape: [32, 32, 3] });
  const err = await loadKerasWeights(tiny, file).then(() => null, (e: Error) => e);
  expect(err).not.toBeNull();
  for (const line of err!.message.split('\n').filter((l) => /^  (in the|shape mismatch)/.test(l))) {
    const m = /\((\d+)\): (.*)$/.exec(line)!;
    const count = Number(m[1]);
    const listed = m[2].replace(/ and \d+ more$/, '').split(/, (?=[a-z])/); // items are layer names; shapes hold ", " too
    expect(listed.length).toBe(Math.min(count, 20));
    if (count > 20) expect(m[2].endsWith(` and ${count - 20} more`)).toBe(true);
  }
  expect(err!.message).toMatch(/ and \d+ more/);
}, 60000);

test('setWeights and checkpoints that do not fit list the first 20 problems and "and N more"', async () => {
  const big = await createModel({ arch: 'resnet50v2', numClasses: 8, inputShape: [32, 32, 3] });
  const tiny = await createModel({ arch: 'resnet-tiny', numClasses: 8, inputShape: [32, 32, 3] });
  const err = await big.setWeights(await tiny.getWeights()).then(() => null, (e: Error) => e);
  const lines = err!.message.split('\n');
  const total = Number(/setWeights: (\d+) problem\(s\)/.exec(lines[0])![1]);
  expect(total).toBeGreaterThan(100);
  expect(lines).toHaveLength(1 + 20 + 1);
  expect(lines[21]).toBe(`  and ${total - 20} more`);

  // A checkpoint folder whose weights file belongs to another architecture.
  const root = tempDir('ckpt-mismatch');
  await tiny.save(path.join(root, 'tiny'));
  await big.save(path.join(root, 'big'));
  fs.copyFileSync(path.join(root, 'big', 'model.safetensors'), path.join(root, 'tiny', 'model.safetensors'));
  const bad = await loadModel(path.join(root, 'tiny')).then(() => null, (e: Error) => e);
  const ck = bad!.message.split('\n');
  const n = Number(/(\d+) mismatch\(es\):$/.exec(ck[0])![1]);
  expect(n).toBeGreaterThan(100);
  expect(ck).toHaveLength(1 + 20 + 1);
  expect(ck[21]).toBe(`  and ${n - 20} more`);
}, 60000);

test('README and --help agree on the demo (command, image count, height x width) and on the LibTorch version', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  expect(readme).toContain(demoCommand.usage);
  const count = (DEMO_DEFAULTS.classes * DEMO_DEFAULTS.perClass).toLocaleString('en-US');
  expect(readme).toContain(`${DEMO_DEFAULTS.classes} classes of procedurally drawn cars, ${count} JPEGs of ${DEMO_DEFAULTS.height}x${DEMO_DEFAULTS.width}\n(height x width)`);
  expect(readme).not.toContain(`${DEMO_DEFAULTS.width}x${DEMO_DEFAULTS.height}`); // never width first
  const help = run('demo', '--help').stdout;
  expect(help).toContain(`images are ${DEMO_DEFAULTS.height}x${DEMO_DEFAULTS.width} (height x width)`);
  // Every LibTorch 1.x version the README names is the default build's, the one the addon reports
  // (or its major.minor); a build of the LibTorch matrix (2.x) is named in the README's matrix.
  const torch = versions().torch;
  const named = [...readme.matchAll(/LibTorch (1\.\d+(?:\.\d+)?)/g)].map((m) => m[1]);
  expect(named.length).toBeGreaterThan(1);
  if (torch.startsWith('1.')) {
    for (const v of named) expect(torch.startsWith(v)).toBe(true);
    expect(readme).toContain(`LibTorch ${torch}`);
  } else {
    expect(new Set(named.map((v) => v.split('.').slice(0, 2).join('.'))).size).toBe(1);
    expect(readme).toContain(`LibTorch ${torch.split('.').slice(0, 2).join('.')}`);
  }
  expect(run('--help').stdout).toContain('--version   print versions (carclass, LibTorch, libjpeg-turbo, Node-API, CUDA, threads)');
});

test('the test line says how many test images were evaluated and why some were not', async () => {
  const data = path.join(tempDir('undecodable-data'), 'data');
  await generateDemoDataset(data, { classes: 8, perClass: 6, width: 64, height: 48, seed: 4 });
  // The split is made from file names (nothing is decoded), so the same seed gives the same test files.
  const split = await prepareData(data, { labelType: 'model', seed: 1 });
  const broken = split.splits.test.slice(0, 2).map((s) => s.file);
  for (const f of broken) fs.writeFileSync(f, Buffer.from('not a jpeg at all'));
  const out = path.join(tempDir('undecodable'), 'run');
  const r = run('train', data, '--label-type', 'model', '--arch', 'resnet-tiny', '--size', '48x64', '--epochs', '1', '--no-tensorboard', '--out', out);
  expect(r.status).toBe(0);
  const n = split.splits.test.length;
  expect(r.stdout).toContain(`test: 2 of ${n} test images could not be decoded and are not counted: ${path.basename(broken[0])} (`);
  expect(r.stdout).toMatch(new RegExp(`on ${n - 2} of ${n} test images \\(2 undecodable: [^;]+; listed in manifest\\.json\\)\\.`));
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report', 'report.json'), 'utf8'));
  expect(report.info.testImages).toBe(n);
  expect(report.metrics.count).toBe(n - 2);
  expect(report.info.testNotDecoded.map((e: { file: string }) => e.file).sort()).toEqual([...broken].sort());
}, 120000);
