// CLI honesty (issue 14 section 4): usage errors exit 2 with messages in flag names, before data is scanned or folders made;
// runs are not silently overwritten; --resume restores the recorded run.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { generateDemoDataset } from '../lib/demo';
import { tempDir } from './helpers';
import { train } from '../lib/train/train';

const cli = path.resolve(__dirname, '..', 'bin', 'carclass.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
let dataDir: string;
const tiny = ['--label-type', 'model', '--arch', 'resnet-tiny', '--size', '32x48', '--batch-size', '4', '--lr', '1e-3', '--no-tensorboard'];

beforeAll(async () => {
  dataDir = path.join(tempDir('honesty-data'), 'data');
  await generateDemoDataset(dataDir, { classes: 8, perClass: 6, width: 48, height: 32, seed: 7 });
}, 120000);

describe('bad values exit 2, name the flag, and leave no run folder', () => {
  const cases: [string[], string][] = [
    [['--arch', 'resnet99'], 'Expected one of resnet50v2, resnet-small, resnet-tiny, vgg16 for --arch but received "resnet99"'],
    [['--label-type', 'year'], 'Expected one of make, model for --label-type but received "year"'],
    [['--schedule', 'linear'], 'Expected one of constant, cosine, plateau for --schedule but received "linear"'],
    [['--precision', 'fp16'], 'Expected one of fp32, bf16 for --precision but received "fp16"'],
    [['--monitor', 'val_acc'], 'Expected one of val_loss, val_accuracy, loss, accuracy for --monitor but received "val_acc"'],
    [['--lr', '-1'], 'Expected a number in [1e-12, 10] for --lr but received "-1"'],
    [['--lr=-1'], 'Expected a number in [1e-12, 10] for --lr but received "-1"'],
  ];
  test.each(cases)('%j', (flags, message) => {
    const out = path.join(tempDir('bad'), 'run');
    const r = run('train', dataDir, '--out', out, ...flags);
    expect(r.stderr).toContain(message);
    expect(r.status).toBe(2);
    expect(fs.existsSync(out)).toBe(false);
  });
  test('a data error leaves no half-made run folder either; --min-count says classes were dropped', () => {
    const out = path.join(tempDir('mincount'), 'run');
    const r = run('train', dataDir, '--out', out, '--min-count', '1000', '--label-type', 'model');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('classes were dropped');
    expect(r.stderr).toContain('fewer than minCount=1000');
    expect(r.stderr).not.toContain('did not parse');
    expect(fs.existsSync(out)).toBe(false);
  });
});

test('suggested fixes name options that exist', () => {
  const src = fs.readFileSync(path.resolve(__dirname, '..', 'lib', 'data', 'split.ts'), 'utf8');
  const help = run('train', '--help').stdout;
  for (const flag of src.match(/--[a-z][a-z-]+/g) ?? []) expect(help).toContain(flag);
});

test('evaluate <dir>: two folders, or a folder with --split, are usage errors', () => {
  const two = run('evaluate', dataDir, dataDir, '--checkpoint', 'nowhere');
  expect(two.status).toBe(2);
  expect(two.stderr).toContain('carclass evaluate takes one folder but received 2');
  const both = run('evaluate', dataDir, '--split', 'val', '--checkpoint', 'nowhere');
  expect(both.status).toBe(2);
  expect(both.stderr).toContain('give a folder or --manifest/--split, not both');
});

test('explain takes --out', () => {
  const img = path.join(dataDir, fs.readdirSync(dataDir).find((f) => f.endsWith('.jpg'))!);
  const r = run('explain', img, '--out', path.join(tempDir('explain'), 'x.png'));
  expect(r.status).toBe(2);
  expect(r.stderr).not.toContain('unknown option');
  expect(r.stderr).toContain('--checkpoint <path> is required');
});

test('help states defaults and ranges', () => {
  expect(run('demo', '--help').stdout).toMatch(/--classes 10 \[8, 12\]/);
  const t = run('train', '--help').stdout;
  expect(t).toContain('--lr 1e-4 [1e-12, 10]');
  expect(t).toContain('--arch resnet50v2|resnet-small|resnet-tiny|vgg16 (default resnet50v2)');
  expect(t).toContain('--monitor val_loss|val_accuracy|loss|accuracy (default val_loss)');
  expect(t).toContain('--overwrite');
});

test('an existing run folder is refused without --overwrite or --resume', () => {
  const out = tempDir('existing');
  fs.writeFileSync(path.join(out, 'manifest.json'), '{}');
  const r = run('train', dataDir, '--out', out, '--arch', 'resnet-tiny');
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('already holds a run');
  expect(r.stderr).toContain('--overwrite');
  expect(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).toBe('{}');
  expect(run('train', '--resume', '--overwrite', '--out', out).status).toBe(2);
  expect(run('train', '--resume', '--out', tempDir('empty')).status).toBe(2);
  const o = run('train', dataDir, '--out', out, ...tiny, '--epochs', '1', '--quiet', '--overwrite');
  expect(o.stderr).toBe('');
  expect(o.status).toBe(0);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).files ?? {}).toBeDefined();
  expect(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).not.toBe('{}');
}, 120000);

test('resume restores the recorded run; conflicting flags are usage errors; changes are said', async () => {
  const out = path.join(tempDir('resume'), 'run');
  const a = run('train', dataDir, '--out', out, ...tiny, '--epochs', '1', '--quiet');
  expect(a.stderr).toBe('');
  expect(a.status).toBe(0);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  expect(config).toMatchObject({ dir: path.resolve(dataDir), labelType: 'model', arch: 'resnet-tiny', inputSize: [32, 48], resize: 'crop_or_pad',
    preprocess: expect.any(String), epochs: 1, learningRate: 1e-3, schedule: 'constant', batchSize: 4, classWeights: 'balanced' });
  expect(config.augment).toBeDefined();
  expect(config.earlyStopping).toBeDefined();

  const conflict = run('train', '--resume', '--out', out, '--arch', 'resnet-small');
  expect(conflict.status).toBe(2);
  expect(conflict.stderr).toContain('--arch resnet-small conflicts with the run');
  expect(conflict.stderr).toContain('--arch resnet-tiny');
  const size = run('train', '--resume', '--out', out, '--size', '212x320');
  expect(size.status).toBe(2);
  expect(size.stderr).toContain('--size 212x320 conflicts');
  expect(run('train', '--resume', '--out', out, '--monitor', 'val_accuracy').status).toBe(2);

  const b = run('train', '--resume', '--out', out, '--epochs', '2', '--patience', '5');
  expect(b.status).toBe(0);
  expect(b.stdout).toContain('Resuming');
  expect(b.stdout).toContain('--epochs 2 (was 1)');
  expect(b.stdout).toContain('--patience 5 (was 12)');
  expect(b.stdout).toMatch(/after 2 epoch\(s\)/);
  const after = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  expect(after).toMatchObject({ epochs: 2, arch: 'resnet-tiny', inputSize: [32, 48] });
  const report = fs.readFileSync(path.join(out, 'report', 'report.md'), 'utf8');
  expect(report).toContain('resnet-tiny');
  expect(report).not.toContain('resnet50v2');
  // The library refuses too: train() resuming under another arch or size.
  await expect(train({ outDir: out, resume: true, arch: 'resnet-small', inputSize: [32, 48], labelType: 'model', progress: 'quiet' }))
    .rejects.toThrow(/arch "resnet-small" differs from the run's "resnet-tiny"/);
}, 300000);

test('SIGINT in epoch 1 prints no missing best checkpoint, and the printed resume command finishes the run', async () => {
  const out = path.join(tempDir('sigint1'), 'run');
  const child = spawn(process.execPath, [cli, 'train', dataDir, '--out', out, ...tiny, '--batch-size', '1', '--epochs', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '', sent = false;
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!sent && /Epoch 1\/2/.test(stdout)) { sent = true; child.kill('SIGINT'); }
  });
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(stderr).toBe('');
  expect(code).toBe(130);
  expect(stdout).toContain('during epoch 1');
  expect(stdout).not.toContain('Best checkpoint:');
  const m = /Resume with: (carclass train [^\n]+)/.exec(stdout);
  expect(m).not.toBeNull();
  const args = m![1].trim().split(/\s+/).slice(1);
  const r = run(...args);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/after 2 epoch\(s\)/);
  expect(r.stdout).toContain('Best checkpoint:');
  // evaluate <dir> evaluates that folder: all 48 images, not the run's test split.
  const report = path.join(tempDir('evaldir'), 'report');
  const e = run('evaluate', dataDir, '--checkpoint', path.join(out, 'checkpoints', 'best'), '--out', report);
  expect(e.stderr).toBe('');
  expect(e.status).toBe(0);
  expect(e.stdout).toMatch(/accuracy [\d.]+ - top-5 [\d.]+ on 48 images/);
  expect(JSON.parse(fs.readFileSync(path.join(report, 'report.json'), 'utf8')).metrics.count).toBe(48);
}, 300000);
