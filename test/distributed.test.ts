// Data-parallel training on c10d Gloo (issue 11): 2 local processes on free ports with short timeouts.
// - K steps on 2 ranks equal K steps of 1 process on the same global batches (frozen BN: exact maths).
// - both ranks log the same metrics and stop early at the same epoch; rank 1 writes nothing.
// - a killed rank makes the other stop within the timeout, naming the rank.
// - mismatched settings fail at start on every rank, naming the field.
// - loader shards follow DistributedSampler; sharded predict and prefilter equal 1 process (CLI launcher).
import { spawn, spawnSync, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './helpers';
import { generateDemoDataset } from '../lib/demo';
import { createLoader } from '../lib/loader';
import { createModel } from '../lib/model';
import { freePort, takeLaunchFlags, LaunchFlagError } from '../lib/distributed/launcher';
import { distributedEnv, blockOf, distributedBackends } from '../lib/distributed';
import { scanImages } from '../lib/data';
import { resumePlan } from '../lib/train/train';
import { readPrefilterManifest } from '../lib/data/prefilter';
import { exportKerasWeights } from '../lib/keras/export';

const worker = path.resolve(__dirname, 'helpers', 'ddp-worker.js');
const cli = path.resolve(__dirname, '..', 'bin', 'carclass.js');
// Seconds: rendezvous / collective timeout in these tests (a slow start, e.g. a CUDA LibTorch's libraries
// loading cold in the build matrix, may need more: CARCLASS_TEST_DIST_TIMEOUT).
const TIMEOUT = Number(process.env.CARCLASS_TEST_DIST_TIMEOUT || 8);

interface Exit { code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string; seconds: number }

function runNode(args: string[], env: NodeJS.ProcessEnv, limitMs = 90000): { child: ChildProcess; done: Promise<Exit> } {
  const started = Date.now();
  const child = spawn(process.execPath, args, { env: { ...process.env, CARCLASS_THREADS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs); // a hang fails the test instead of blocking CI
  const done = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr, seconds: (Date.now() - started) / 1000 });
  }));
  return { child, done };
}

/** Every run exits 0 with nothing on stderr. */
async function expectCleanExits(runs: { done: Promise<Exit> }[]): Promise<void> {
  for (const r of runs) {
    const e = await r.done;
    expect({ code: e.code, stderr: e.stderr }).toEqual({ code: 0, stderr: '' });
  }
}

function writeJob(dir: string, job: object): string {
  const file = path.join(dir, `job-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(job));
  return file;
}

async function launchRanks(jobFile: string, world: number, extraEnv: (rank: number) => NodeJS.ProcessEnv = () => ({})) {
  const port = await freePort();
  return Array.from({ length: world }, (_, rank) => runNode([worker, jobFile], {
    RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(world),
    MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), CARCLASS_DIST_TIMEOUT: String(TIMEOUT), ...extraEnv(rank),
  }));
}

const haveGloo = distributedBackends().gloo;
const describeGloo = haveGloo ? describe : describe.skip;

test('this build has the Gloo backend (CPU data parallel)', () => {
  expect(distributedBackends().gloo).toBe(true);
});

describe('environment contract and launch flags', () => {
  test('torchrun variables are read and checked by name', () => {
    expect(distributedEnv({})).toBeNull();
    expect(distributedEnv({ RANK: '1', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'node0', MASTER_PORT: '29500' }))
      .toEqual({ rank: 1, worldSize: 4, localRank: 1, localWorldSize: 2, masterAddr: 'node0', masterPort: 29500, agentStore: false });
    expect(() => distributedEnv({ RANK: '4', WORLD_SIZE: '4', MASTER_ADDR: 'h', MASTER_PORT: '1' })).toThrow(/RANK="4" is not an integer in \[0, 3\]/);
    expect(() => distributedEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '1' })).toThrow(/MASTER_ADDR is not set/);
    expect(() => distributedEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '70000' })).toThrow(/MASTER_PORT="70000"/);
    expect(() => distributedEnv({ RANK: 'x', WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' })).toThrow(/RANK="x"/);
  });

  test('launch flags are taken out of the command line and checked', () => {
    const { flags, rest } = takeLaunchFlags(['data', '--nproc-per-node', '2', '--dist-timeout=30', '--epochs', '3']);
    expect(flags).toMatchObject({ nprocPerNode: 2, nnodes: 1, nodeRank: 0, timeoutSeconds: 30 });
    expect(rest).toEqual(['data', '--epochs', '3']);
    expect(() => takeLaunchFlags(['--nproc-per-node', '0'])).toThrow(LaunchFlagError);
    expect(() => takeLaunchFlags(['--nproc-per-node', '2', '--nnodes', '2'])).toThrow(/--master-addr/);
    expect(() => takeLaunchFlags(['--nnodes', '2'])).toThrow(/go with --nproc-per-node/);
    expect(() => takeLaunchFlags(['--nproc-per-node', '2', '--dist-timeout', '-1'])).toThrow(/--dist-timeout/);
  });

  test('contiguous blocks cover every item once, in order', () => {
    for (const [n, w] of [[10, 3], [2, 4], [0, 2], [7, 7]]) {
      const covered: number[] = [];
      for (let r = 0; r < w; r++) { const b = blockOf(n, r, w); for (let i = b.start; i < b.end; i++) covered.push(i); }
      expect(covered).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });
});

let dataDir: string;
beforeAll(async () => {
  dataDir = path.join(tempDir('ddp-data'), 'data');
  await generateDemoDataset(dataDir, { classes: 8, perClass: 4, width: 48, height: 32, seed: 11 });
}, 120000);

test('loader shards follow DistributedSampler: the padded permutation, every count-th item', async () => {
  const files = (await scanImages(dataDir)).slice(0, 11);
  const base = { files, batchSize: 2, size: [32, 48] as [number, number], shuffle: true, seed: 5, threads: 1 };
  const order = async (extra: object) => {
    const l = createLoader({ ...base, ...extra });
    const out: number[] = [];
    for await (const b of l.epoch(3)) { out.push(...Array.from(b.indices)); b.release(); }
    l.close();
    return { out, length: l.length };
  };
  const full = (await order({})).out;
  expect([...full].sort((a, b) => a - b)).toEqual(files.map((_, i) => i));
  const padded = [...full, ...full.slice(0, 1)]; // 11 -> 12 for 3 ranks
  for (let r = 0; r < 3; r++) {
    const s = await order({ shard: { index: r, count: 3 } });
    expect(s.out).toEqual(padded.filter((_, i) => i % 3 === r));
    expect(s.length).toBe(2);
  }
  expect(() => createLoader({ ...base, shard: { index: 3, count: 3 } })).toThrow(/shard.index/);
});

test('fromItem: the rest of an epoch after a prefix of its order, sharded anew, each item with the pixels it has in the whole epoch', async () => {
  const files = (await scanImages(dataDir)).slice(0, 11);
  const base = { files, batchSize: 2, size: [32, 48] as [number, number], shuffle: true, seed: 5, threads: 1, augment: { p: 0.7 } };
  const run = async (extra: object, epochOptions: { fromItem?: number; fromBatch?: number }) => {
    const l = createLoader({ ...base, ...extra });
    const items: number[] = [];
    const pixels = new Map<number, number[]>();
    let batches = 0;
    for await (const b of l.epoch(3, epochOptions)) {
      const data = b.data() as Float32Array, per = data.length / b.size;
      Array.from(b.indices).forEach((idx, i) => { items.push(idx); pixels.set(idx, Array.from(data.subarray(i * per, (i + 1) * per))); });
      b.release();
      batches++;
    }
    const expectedBatches = l.batchesFrom(epochOptions.fromItem ?? 0);
    l.close();
    return { items, pixels, batches, expectedBatches };
  };
  const full = await run({}, {});
  for (const fromItem of [4, 7]) {
    const rest = full.items.slice(fromItem);
    for (const count of [1, 3]) {
      const padded = [...rest, ...rest].slice(0, Math.ceil(rest.length / count) * count);
      for (let index = 0; index < count; index++) {
        const s = await run(count > 1 ? { shard: { index, count } } : {}, { fromItem });
        expect(s.items).toEqual(padded.filter((_, i) => i % count === index));
        expect(s.batches).toBe(s.expectedBatches);
        for (const idx of s.items) expect(s.pixels.get(idx)).toEqual(full.pixels.get(idx)); // augmentation keyed by (seed, epoch, index)
      }
    }
  }
  const l = createLoader(base);
  expect(l.batchesFrom(11)).toBe(0);
  expect(() => l.epoch(3, { fromItem: 2, fromBatch: 1 })).toThrow(/fromBatch or fromItem, not both/);
  l.close();
});

test('resumePlan: same world size goes on at its step, 1 process at the untrained batch, another world size from the untrained items', () => {
  const progress = { seen: 8, lossSum: 1, accSum: 1 };
  expect(resumePlan({ ...progress, step: 3, worldSize: 2, items: 24 }, 2, 4)).toEqual({ fromBatch: 3, fromItem: 0, segmentStart: 0, segmented: false });
  expect(resumePlan({ ...progress, step: 3, worldSize: 2, items: 24 }, 1, 4)).toEqual({ fromBatch: 6, fromItem: 0, segmentStart: 0, segmented: false });
  expect(resumePlan({ ...progress, step: 3, worldSize: 2 }, 3, 4)).toEqual({ fromBatch: 0, fromItem: 24, segmentStart: 24, segmented: true }); // a state without items
  expect(resumePlan({ ...progress, step: 1, worldSize: 3, items: 36, segmented: true }, 3, 4)).toEqual({ fromBatch: 0, fromItem: 36, segmentStart: 36, segmented: true });
  expect(resumePlan({ ...progress, step: 5 }, 1, 4)).toEqual({ fromBatch: 5, fromItem: 0, segmentStart: 0, segmented: false });
});

describeGloo('2 Gloo processes', () => {
  let work: string;
  beforeAll(() => { work = tempDir('ddp'); });

  test('K steps on 2 ranks equal K steps of 1 process on the same global batches (within 1e-5)', async () => {
    // Conv kernels, biases and the head train; every BN layer is frozen (inference mode), so the split is exact.
    const job = { mode: 'steps', size: [32, 32], classes: 3, unfreeze: ['_conv$'], seed: 3, lr: 3e-3, steps: 4, globalBatch: 8, timeout: TIMEOUT,
      bucketMegabytes: 0.05, out: path.join(work, 'steps-%r.json') };
    const one = writeJob(work, { ...job, out: path.join(work, 'single-%r.json') });
    const single = runNode([worker, one], {});
    const ranks = await launchRanks(writeJob(work, job), 2);
    await expectCleanExits([single, ...ranks]);
    const ref = JSON.parse(fs.readFileSync(path.join(work, 'single-0.json'), 'utf8'));
    const r0 = JSON.parse(fs.readFileSync(path.join(work, 'steps-0.json'), 'utf8'));
    const r1 = JSON.parse(fs.readFileSync(path.join(work, 'steps-1.json'), 'utf8'));
    expect(r0.world).toBe(2);
    expect(r0.iterations).toBe(4);
    expect(r0.stats.steps).toBe(4);
    expect(r0.stats.buckets / 4).toBeGreaterThan(1); // small buckets: several all-reduces per step
    let maxDiff = 0, moved = 0;
    for (const name of Object.keys(ref.weights)) {
      const a: number[] = ref.weights[name], b: number[] = r0.weights[name], c: number[] = r1.weights[name];
      expect(c).toEqual(b); // replicas are bit-identical
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      if (/conv\/kernel$/.test(name)) moved++;
    }
    expect(moved).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(1e-5);
    // Against the untrained start: training moved the weights far more than the tolerance.
    const fresh = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [32, 32, 3], unfreeze: ['_conv$'], seed: 3 });
    const w0 = await fresh.getWeights();
    const k = Object.keys(ref.weights).find((n) => n.startsWith('head_pred/kernel'))!;
    const change = Math.max(...ref.weights[k].map((v: number, i: number) => Math.abs(v - w0[k].data[i])));
    expect(change).toBeGreaterThan(1e-3);
  }, 120000);

  test('a rank whose batch was all unreadable files joins the step without one: the same update as 1 process on what the others had', async () => {
    // Step 1: rank 1 has no batch; step 2: neither rank has one (no update anywhere, Adam's step count stays).
    const job = { mode: 'steps', size: [32, 32], classes: 3, unfreeze: ['_conv$'], seed: 5, lr: 3e-3, steps: 4, globalBatch: 8, splitWorld: 2,
      emptyAt: [[1, 1], [2, 0], [2, 1]], timeout: TIMEOUT, bucketMegabytes: 0.05, out: path.join(work, 'empty-%r.json') };
    const single = runNode([worker, writeJob(work, { ...job, out: path.join(work, 'empty-single-%r.json') })], {});
    const ranks = await launchRanks(writeJob(work, job), 2);
    await expectCleanExits([single, ...ranks]);
    const ref = JSON.parse(fs.readFileSync(path.join(work, 'empty-single-0.json'), 'utf8'));
    const r0 = JSON.parse(fs.readFileSync(path.join(work, 'empty-0.json'), 'utf8'));
    const r1 = JSON.parse(fs.readFileSync(path.join(work, 'empty-1.json'), 'utf8'));
    expect([ref.iterations, r0.iterations, r1.iterations]).toEqual([3, 3, 3]);
    expect(r0.stats.steps).toBe(4); // every rank joined all 4 all-reduce rounds
    let maxDiff = 0;
    for (const name of Object.keys(ref.weights)) {
      expect(r1.weights[name]).toEqual(r0.weights[name]);
      ref.weights[name].forEach((v: number, i: number) => { maxDiff = Math.max(maxDiff, Math.abs(v - r0.weights[name][i])); });
    }
    expect(maxDiff).toBeLessThan(1e-5);
  }, 120000);

  test('train: batches of unreadable files only leave the ranks in step (batch size 1, bad files in the data)', async () => {
    const bad = path.join(work, 'bad-data');
    fs.cpSync(dataDir, bad, { recursive: true });
    const names = fs.readdirSync(bad).filter((n) => n.endsWith('.jpg')).sort();
    // Cut a third of the images to 100 bytes: valid names, undecodable pixels, in every split.
    const cut = names.filter((_, i) => i % 3 === 0);
    for (const n of cut) fs.truncateSync(path.join(bad, n), 100);
    const job = { mode: 'train', options: { ...trainOptions(), dir: bad, batchSize: 1, epochs: 2, earlyStopping: false, outDir: path.join(work, 'bad-run') },
      out: path.join(work, 'bad-%r.json') };
    const ranks = await launchRanks(writeJob(work, job), 2, () => ({ CARCLASS_DDP_CHECK_WEIGHTS: '1' }));
    for (const r of ranks) {
      const e = await r.done;
      expect({ code: e.code, stderr: e.stderr.split('\n').filter((l) => /Error|failed|differ/.test(l)) }).toEqual({ code: 0, stderr: [] });
    }
    const [a, b] = [0, 1].map((r) => JSON.parse(fs.readFileSync(path.join(work, `bad-${r}.json`), 'utf8')));
    expect(a.status).toBe('completed');
    expect(b.history).toEqual(a.history);
    const undecodable: { file: string; split: string }[] = a.data.undecodable;
    // Batches of 1: each unreadable training file is a step one rank joined without a batch.
    expect(undecodable.filter((u) => u.split === 'train').length).toBeGreaterThan(1);
    expect(cut).toEqual(expect.arrayContaining(undecodable.map((u) => path.basename(u.file))));
  }, 120000);

  const trainOptions = () => ({ dir: dataDir, labelType: 'model', arch: 'resnet-tiny', inputSize: [32, 48], batchSize: 4, epochs: 4, learningRate: 3e-2,
    unfreeze: 'all', tensorboard: false, threads: 1, loaderThreads: 1 });

  test('both ranks log the same metrics and stop early at the same epoch; rank 1 writes nothing', async () => {
    const out0 = path.join(work, 'early-run'), out1 = path.join(work, 'early-run-rank1');
    const job = { mode: 'train', options: { ...trainOptions(), outDir: out0, earlyStopping: { patience: 0, minDelta: 0.5 } },
      perRank: { 1: { outDir: out1 } }, out: path.join(work, 'early-%r.json') };
    const ranks = await launchRanks(writeJob(work, job), 2);
    for (const r of ranks) expect((await r.done).code).toBe(0);
    const [a, b] = [0, 1].map((r) => JSON.parse(fs.readFileSync(path.join(work, `early-${r}.json`), 'utf8')));
    expect(a.status).toBe('early_stopped');
    expect(a.epochsRun).toBeLessThan(4);
    expect(b.status).toBe(a.status);
    expect(b.epochsRun).toBe(a.epochsRun);
    expect(b.bestEpoch).toBe(a.bestEpoch);
    expect(b.history).toEqual(a.history); // val_loss, loss, accuracy summed over both ranks
    expect(b.test.accuracy).toBe(a.test.accuracy); // the sharded test pass, merged
    expect(fs.existsSync(path.join(out0, 'checkpoints', 'last', 'model.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(out0, 'training.csv'))).toBe(true);
    expect(fs.existsSync(out1)).toBe(false);
  }, 150000);

  test('a checkpoint of the 2-process run resumes in 1 process', async () => {
    const out0 = path.join(work, 'early-run');
    const job = { mode: 'train', options: { ...trainOptions(), outDir: out0, resume: true, epochs: 5, earlyStopping: false, skipReport: true }, out: path.join(work, 'resumed-%r.json') };
    const [single] = [runNode([worker, writeJob(work, job)], {})];
    const e = await single.done;
    expect({ code: e.code, stderr: e.stderr }).toEqual({ code: 0, stderr: '' });
    const r = JSON.parse(fs.readFileSync(path.join(work, 'resumed-0.json'), 'utf8'));
    expect(r.epochsRun).toBe(5);
    expect(r.history.loss.length).toBe(5);
  }, 120000);

  test('resume across world sizes: 1 -> 2 ranks at an epoch boundary and mid-epoch, 2 -> 1 mid-epoch; nothing replayed, nothing left out', async () => {
    const out = path.join(work, 'grow-run');
    const base = { ...trainOptions(), outDir: out, earlyStopping: false, skipReport: true };
    const job = (options: object, name: string) => writeJob(work, { mode: 'train', options: { ...base, ...options }, recordIndices: true, out: path.join(work, `${name}-%r.json`) });
    const read = (name: string, rank = 0) => JSON.parse(fs.readFileSync(path.join(work, `${name}-${rank}.json`), 'utf8'));
    await expectCleanExits([runNode([worker, job({ epochs: 2 }, 'grow-1')], {})]);
    const one = read('grow-1');
    // Three copies of the 2-epoch run: the boundary as it is, and two as if interrupted inside epoch 3.
    const copy = (name: string, inEpoch?: object) => {
      const dir = path.join(work, name);
      fs.cpSync(out, dir, { recursive: true });
      if (inEpoch) {
        const statePath = path.join(dir, 'train-state.json');
        fs.writeFileSync(statePath, JSON.stringify({ ...JSON.parse(fs.readFileSync(statePath, 'utf8')), inEpoch }));
      }
      return dir;
    };
    const reference = copy('grow-ref');
    const oneStepIn = copy('grow-mid-1', { step: 1, items: 4, worldSize: 1, seen: 4, lossSum: 8, accSum: 1 }); // batch 0 of 4 trained by 1 process
    const twoStepsIn = copy('grow-mid-2', { step: 1, items: 8, worldSize: 2, seen: 8, lossSum: 16, accSum: 2 }); // step 0 of 2 ranks: 8 images

    // Epoch 3 in full by 1 process: its 4 batches of 4 in order.
    await expectCleanExits([runNode([worker, job({ outDir: reference, resume: true, epochs: 3 }, 'grow-ref')], {})]);
    const epoch3: number[][] = read('grow-ref').trained;
    expect(epoch3).toHaveLength(4);

    // 1 -> 2 at the epoch boundary: epoch 3 on 2 ranks.
    await expectCleanExits(await launchRanks(job({ resume: true, epochs: 3 }, 'grow-2'), 2));
    const [a, b] = [read('grow-2', 0), read('grow-2', 1)];
    expect(a.epochsRun).toBe(3);
    expect(b.history).toEqual(a.history);
    expect(a.history.loss.slice(0, 2)).toEqual(one.history.loss);
    expect([...a.trained.flat(), ...b.trained.flat()].sort((x: number, y: number) => x - y)).toEqual(epoch3.flat().sort((x, y) => x - y));

    // 1 -> 2 after batch 0 of epoch 3: the ranks share out the 12 images it had not trained on, 6 each.
    await expectCleanExits(await launchRanks(job({ outDir: oneStepIn, resume: true, epochs: 3 }, 'grow-3'), 2));
    const [c, d] = [read('grow-3', 0), read('grow-3', 1)];
    expect(c.trained.flat()).toHaveLength(6);
    expect(d.trained.flat()).toHaveLength(6);
    expect([...c.trained.flat(), ...d.trained.flat()].sort((x: number, y: number) => x - y)).toEqual(epoch3.slice(1).flat().sort((x, y) => x - y));
    expect(d.history).toEqual(c.history);
    expect(c.history.loss).toHaveLength(3);

    // 2 -> 1 after the first step of 2 ranks (8 images): 1 process goes on at batch 2, as an uninterrupted 1-process epoch has it.
    await expectCleanExits([runNode([worker, job({ outDir: twoStepsIn, resume: true, epochs: 3 }, 'grow-4')], {})]);
    expect(read('grow-4').trained).toEqual(epoch3.slice(2));
  }, 180000);

  test('mismatched settings fail at start on every rank, naming the field and the ranks', async () => {
    const job = { mode: 'train', options: { ...trainOptions(), outDir: path.join(work, 'mismatch') }, perRank: { 1: { inputSize: [32, 40] } }, out: path.join(work, 'mismatch-%r.json') };
    const ranks = await launchRanks(writeJob(work, job), 2);
    for (const r of ranks) {
      const e = await r.done;
      expect(e.code).toBe(1);
      expect(e.stderr).toContain('differs across ranks');
      expect(e.stderr).toContain('inputSize: rank 0 has [32,48] but rank 1 has [32,40]');
    }
    expect(fs.existsSync(path.join(work, 'mismatch'))).toBe(false);
  }, 90000);

  test('a rank killed mid-epoch makes the other stop within the timeout, naming the rank', async () => {
    const ready = path.join(work, 'kill-ready-%r');
    const job = { mode: 'train', options: { ...trainOptions(), outDir: path.join(work, 'kill'), epochs: 50, earlyStopping: false }, stepDelayMs: 50,
      readyFile: ready, out: path.join(work, 'kill-%r.json') };
    const ranks = await launchRanks(writeJob(work, job), 2);
    const readyFile = ready.replace('%r', '1');
    const waitUntil = Date.now() + 60000;
    while (!fs.existsSync(readyFile) && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(readyFile)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    ranks[1].child.kill('SIGKILL');
    const e0 = await ranks[0].done;
    const e1 = await ranks[1].done;
    expect(e1.signal).toBe('SIGKILL');
    expect(e0.code).toBe(1);
    expect(e0.stderr).toMatch(/distributed .* failed on rank 0: rank 1 stopped responding/);
    expect((Date.now() - killedAt) / 1000).toBeLessThan(TIMEOUT + 10);
  }, 120000);

  test('SIGINT on carclass train --nproc-per-node 2 stops both ranks at one step and leaves a resumable checkpoints/last', async () => {
    const out = path.join(work, 'sigint-run');
    const port = await freePort();
    const run = runNode([cli, 'train', dataDir, '--out', out, '--label-type', 'model', '--arch', 'resnet-tiny', '--size', '32x48', '--batch-size', '2',
      '--epochs', '500', '--no-tensorboard', '--no-early-stopping', '--nproc-per-node', '2', '--master-port', String(port), '--dist-timeout', String(TIMEOUT)], {});
    let seen = '';
    run.child.stdout!.on('data', (d) => { seen += d; });
    const until = Date.now() + 60000;
    while (!/val_loss/.test(seen) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(seen).toMatch(/val_loss/); // rank 0 finished an epoch
    run.child.kill('SIGINT');
    const e = await run.done;
    expect(e.code).toBe(130);
    // Inside an epoch, or at its end when the signal came during its last step.
    expect(e.stdout).toMatch(/Interrupted by SIGINT (during epoch \d+ after step \d+\/\d+|at the end of epoch \d+)\. Saved .*checkpoints\/last/);
    expect(e.stderr).not.toMatch(/\[rank 1\].*(Error|failed)/);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'train-state.json'), 'utf8'));
    expect(state.epoch).toBeGreaterThanOrEqual(1);
    // A step inside an epoch is a step of 2 shards: recorded, so a resume in another world size is refused.
    if (state.inEpoch) expect(state.inEpoch.worldSize).toBe(2);
    expect(fs.existsSync(path.join(out, 'checkpoints', 'last', 'model.safetensors'))).toBe(true);
  }, 120000);

  test('carclass prefilter --nproc-per-node 2 writes the manifest 1-process prefilter writes', async () => {
    // A small base with the 1000-class ImageNet top, as Keras weights: the same file the ResNet50V2 run takes.
    const weights = path.join(work, 'prefilter-tiny.h5');
    await exportKerasWeights(await createModel({ arch: 'resnet-tiny', head: 'imagenet', inputShape: [32, 32, 3], seed: 4 }), weights);
    const args = (manifest: string) => [cli, 'prefilter', dataDir, '--weights', weights, '--arch', 'resnet-tiny', '--size', '32', '--batch-size', '3',
      '--threshold', '0.01503', '--manifest', path.join(work, manifest), '--quiet'];
    const single = spawnSync(process.execPath, args('prefilter-1.jsonl'), { encoding: 'utf8', env: { ...process.env, CARCLASS_THREADS: '1' } });
    expect(single.stderr).toBe('');
    expect(single.status).toBe(0);
    const port = await freePort();
    const multi = await runNode([...args('prefilter-2.jsonl'), '--nproc-per-node', '2', '--master-port', String(port), '--dist-timeout', String(TIMEOUT)], {}).done;
    expect({ code: multi.code, stderr: multi.stderr }).toEqual({ code: 0, stderr: '' });
    expect(multi.stdout.trim().split('\n')).toHaveLength(1); // rank 0 prints the summary line, rank 1 nothing
    expect(multi.stdout.replace(/prefilter-2/, 'prefilter-1')).toBe(single.stdout);
    const a = await readPrefilterManifest(path.join(work, 'prefilter-1.jsonl'));
    const b = await readPrefilterManifest(path.join(work, 'prefilter-2.jsonl'));
    expect(a).toHaveLength(32); // 11 batches of 3: rank 0 takes 6, rank 1 takes 5
    expect(b.map((e) => [e.file, e.status, e.topClass])).toEqual(a.map((e) => [e.file, e.status, e.topClass]));
    b.forEach((e, i) => expect(e.carProb).toBeCloseTo(a[i].carProb!, 6));
    expect(new Set(a.map((e) => e.status)).size).toBe(2); // the threshold splits this model's outputs
  }, 120000);

  test('carclass predict --nproc-per-node 2 equals 1-process predict, in input order', async () => {
    const model = await createModel({ arch: 'resnet-tiny', numClasses: 4, inputShape: [32, 48, 3], seed: 9 });
    const ckpt = path.join(work, 'predict-ckpt');
    await model.save(ckpt, { classes: ['a', 'b', 'c', 'd'] });
    const files = (await scanImages(dataDir)).slice(0, 13); // 13: unequal blocks
    const args = [cli, 'predict', ...files, '--checkpoint', ckpt, '--json', '--top', '4', '--batch-size', '3'];
    const single = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, CARCLASS_THREADS: '1' } });
    expect(single.status).toBe(0);
    const port = await freePort();
    const multi = await runNode([...args, '--nproc-per-node', '2', '--master-port', String(port), '--dist-timeout', String(TIMEOUT)], {}).done;
    expect({ code: multi.code, stderr: multi.stderr }).toEqual({ code: 0, stderr: '' });
    const a = JSON.parse(single.stdout), b = JSON.parse(multi.stdout);
    expect(b.predictions.map((p: { file: string }) => p.file)).toEqual(files);
    expect(b.predictions.length).toBe(a.predictions.length);
    for (let i = 0; i < a.predictions.length; i++) {
      expect(b.predictions[i].top.map((t: { label: string }) => t.label)).toEqual(a.predictions[i].top.map((t: { label: string }) => t.label));
      a.predictions[i].top.forEach((t: { probability: number }, j: number) => expect(b.predictions[i].top[j].probability).toBeCloseTo(t.probability, 6));
    }
  }, 120000);
});
