// Out of memory during training (a GPU's, or the CPU's RAM) stops `carclass train` with one line that
// suggests a smaller --batch-size, never a C++ backtrace. CARCLASS_TEST_FAIL_ALLOC_MB makes the engine's
// CPU allocator refuse large blocks as a full memory would, so the real path runs without exhausting RAM.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { generateDemoDataset } from '../lib/demo';
import { tempDir } from './helpers';

const cli = path.resolve(__dirname, '..', 'bin', 'carclass.js');
let dataDir: string;

beforeAll(async () => {
  dataDir = path.join(tempDir('oom-data'), 'data');
  await generateDemoDataset(dataDir, { classes: 8, perClass: 4, width: 64, height: 64, seed: 3 });
}, 120000);

const trainArgs = (out: string, batch: string) => [cli, 'train', dataDir, '--out', out, '--label-type', 'model', '--arch', 'resnet-tiny',
  '--size', '64x64', '--batch-size', batch, '--epochs', '1', '--lr', '1e-3', '--no-tensorboard', '--min-count', '1'];

test('an allocation failure in a train step exits 1 with one line naming --batch-size', () => {
  const out = path.join(tempDir('oom'), 'run');
  // Batch 16 at 64x64: the float input alone is 16 * 64 * 64 * 3 * 4 bytes = 768 KiB, activations more.
  const r = spawnSync(process.execPath, trainArgs(out, '16'), { encoding: 'utf8', env: { ...process.env, CARCLASS_TEST_FAIL_ALLOC_MB: '1' } });
  expect(r.status).toBe(1);
  const line = r.stderr.split('\n').find((l) => l.includes('out of memory'));
  expect(line).toMatch(/^carclass train: .*Out of memory: CPU out of memory: tried to allocate \d+ bytes.*Try a smaller --batch-size/);
  expect(r.stderr).not.toMatch(/Exception raised from|frame #\d|terminate called/);
  expect(r.stderr.trim().split('\n').filter((l) => /out of memory/i.test(l))).toHaveLength(1);
  // The same run with the limit lifted trains (the data and flags are fine).
  const ok = spawnSync(process.execPath, trainArgs(path.join(tempDir('oom-ok'), 'run'), '4'), { encoding: 'utf8' });
  expect(ok.status).toBe(0);
  expect(fs.existsSync(out) && fs.existsSync(path.join(out, 'checkpoints', 'last'))).toBe(false);
}, 240000);
