import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { prefilter, decideCar, topKIndices, readPrefilterManifest, keptFiles, batchShard, CAR_IDX, PrefilterBatch, PrefilterLoaderFactory } from '../lib/data/prefilter';
import { carsDir } from './helpers/images';

const K = 1000;
const NON_CAR = [5, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950];

/** Softmax rows with known car mass: `spec` sets some classes, the rest of the mass is spread over classes 10..99. */
function row(spec: [number, number][]): Float32Array {
  const probs = new Float32Array(K);
  let used = 0;
  for (const [i, p] of spec) {
    probs[i] = p;
    used += p;
  }
  const fill = Array.from({ length: 90 }, (_, j) => 10 + j).filter((i) => !spec.some(([s]) => s === i));
  for (const i of fill) probs[i] += (1 - used) / fill.length;
  return probs;
}

// Expected car probabilities (sum over CAR_IDX) and decisions, computed here from the rows.
const ROWS: Record<string, Float32Array> = {
  // car mass 0.3 spread over three car classes, but the top class is not a car.
  'a.jpg': row([[5, 0.6], [656, 0.1], [627, 0.1], [817, 0.1]]),
  // car mass 0.05: below the threshold, yet the car class is second best.
  'b.jpg': row([[100, 0.9], [817, 0.05]]),
  // car mass 0.09, outranked by ten non-car classes.
  'c.jpg': row([[656, 0.09], ...NON_CAR.slice(0, 10).map((i): [number, number] => [i, 0.091])]),
  // clearly a car.
  'd.jpg': row([[751, 0.95]]),
  // an interior shot: no car mass at all.
  'sub/e.jpg': row([[200, 0.99]]),
};

const carSum = (probs: Float32Array) => CAR_IDX.reduce((s, i) => s + probs[i], 0);

interface FakeWorld {
  dir: string;
  loaderCalls: { files: string[]; options: any }[];
  createLoader: PrefilterLoaderFactory;
  model: { predictOnBatch(batch: PrefilterBatch): Promise<Float32Array>; batches: number };
}

function makeWorld(): FakeWorld {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-prefilter-'));
  for (const name of [...Object.keys(ROWS), 'corrupt.jpg']) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), `pixels of ${name}`);
  }
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image');
  const loaderCalls: FakeWorld['loaderCalls'] = [];
  // Fake loader: batches in order, a file named corrupt* is skipped and reported as the native loader does.
  const createLoader: PrefilterLoaderFactory = (options) => {
    loaderCalls.push({ files: options.files.slice(), options });
    const errors: { file: string; reason: string }[] = [];
    return {
      stats: () => ({ errors }),
      async *[Symbol.asyncIterator]() {
        let pending: string[] = [];
        const flush = () => {
          const files = pending;
          pending = [];
          return { size: files.length, files, indices: [], handle: { files } };
        };
        for (const file of options.files) {
          if (path.basename(file).startsWith('corrupt')) errors.push({ file, reason: 'Not a JPEG file: starts with 0x70 0x69' });
          else pending.push(file);
          if (pending.length === options.batchSize) yield flush();
        }
        if (pending.length) yield flush();
      },
    };
  };
  const model = {
    batches: 0,
    async predictOnBatch(batch: PrefilterBatch) {
      this.batches++;
      const out = new Float32Array(batch.size * K);
      batch.files.forEach((file, i) => out.set(ROWS[path.relative(dir, file)], i * K));
      return out;
    },
  };
  return { dir, loaderCalls, createLoader, model };
}

const worlds: FakeWorld[] = [];
function world(): FakeWorld {
  const w = makeWorld();
  worlds.push(w);
  return w;
}
afterAll(() => worlds.forEach((w) => fs.rmSync(w.dir, { recursive: true, force: true })));

const statusByName = async (w: FakeWorld, manifest: string) =>
  Object.fromEntries((await readPrefilterManifest(manifest)).map((e) => [path.relative(w.dir, e.file), e.status]));

describe('decisions', () => {
  test('topKIndices orders by probability, ties by index', () => {
    expect(topKIndices([0.1, 0.5, 0.2, 0.5, 0], 3)).toEqual([1, 3, 2]);
    expect(topKIndices([1], 5)).toEqual([0]);
  });

  test('acc-prob and top-k on rows with known probabilities', () => {
    const opts = { threshold: 0.1, topK: 5, carIndices: CAR_IDX };
    const acc = Object.fromEntries(Object.entries(ROWS).map(([n, r]) => [n, decideCar(r, { ...opts, method: 'acc-prob' }).keep]));
    expect(acc).toEqual({ 'a.jpg': true, 'b.jpg': false, 'c.jpg': false, 'd.jpg': true, 'sub/e.jpg': false });
    const top5 = Object.fromEntries(Object.entries(ROWS).map(([n, r]) => [n, decideCar(r, { ...opts, method: 'top-k' }).keep]));
    expect(top5).toEqual({ 'a.jpg': true, 'b.jpg': true, 'c.jpg': false, 'd.jpg': true, 'sub/e.jpg': false });
    const top1 = Object.fromEntries(Object.entries(ROWS).map(([n, r]) => [n, decideCar(r, { ...opts, topK: 1, method: 'top-k' }).keep]));
    expect(top1).toEqual({ 'a.jpg': false, 'b.jpg': false, 'c.jpg': false, 'd.jpg': true, 'sub/e.jpg': false });
    const a = decideCar(ROWS['a.jpg'], { ...opts, method: 'acc-prob' });
    expect(a.carProb).toBeCloseTo(0.3, 6);
    expect(a.topClass).toBe(5);
    expect(a.topProb).toBeCloseTo(0.6, 6);
  });
});

describe('prefilter over a folder', () => {
  test('acc-prob: manifest, counts, summary and CSV; loader gets the seed settings', async () => {
    const w = world();
    const progress: any[] = [];
    const summary = await prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, batchSize: 2, threads: 2, onProgress: (p) => progress.push(p) });
    expect(summary).toMatchObject({ method: 'acc-prob', threshold: 0.1, total: 6, kept: 2, dropped: 3, errors: 1, resumed: 0, actionErrors: 0 });
    expect(summary.manifestPath).toBe(path.join(w.dir, 'prefilter-manifest.jsonl'));
    expect(w.loaderCalls).toHaveLength(1);
    expect(w.loaderCalls[0].files.map((f) => path.relative(w.dir, f))).toEqual(['a.jpg', 'b.jpg', 'c.jpg', 'corrupt.jpg', 'd.jpg', 'sub/e.jpg']);
    expect(w.loaderCalls[0].options).toMatchObject({ batchSize: 2, size: [224, 224], resize: 'nearest', preprocess: 'tf', shuffle: false, threads: 2, onError: 'skip' });
    expect(w.model.batches).toBe(3);
    expect(progress[progress.length - 1]).toEqual({ done: 6, total: 6, kept: 2, dropped: 3, errors: 1, actionErrors: 0 });

    const entries = await readPrefilterManifest(summary.manifestPath);
    const byName = Object.fromEntries(entries.map((e) => [path.relative(w.dir, e.file), e]));
    expect(byName['corrupt.jpg']).toEqual({ file: path.join(w.dir, 'corrupt.jpg'), status: 'error', reason: expect.stringMatching(/Not a JPEG/) });
    for (const [name, probs] of Object.entries(ROWS)) {
      expect(byName[name].carProb).toBeCloseTo(carSum(probs), 6);
      expect(byName[name].status).toBe(carSum(probs) > 0.1 ? 'kept' : 'dropped');
    }
    expect(await keptFiles(summary.manifestPath)).toEqual([path.join(w.dir, 'a.jpg'), path.join(w.dir, 'd.jpg')]);
    expect(JSON.parse(fs.readFileSync(summary.summaryPath, 'utf8'))).toEqual(summary);
    const csv = fs.readFileSync(summary.csvPath, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('file,status,car_prob,top_class,top_prob,reason,moved_to,copied_to');
    expect(csv).toHaveLength(7);
    expect(csv.find((l) => l.includes('d.jpg'))).toMatch(/,kept,0\.9499999/);
    // Nothing moved, nothing deleted.
    expect(fs.existsSync(path.join(w.dir, 'sub/e.jpg'))).toBe(true);
  });

  test('top-k decisions, custom size and resize reach the loader', async () => {
    const w = world();
    const manifestPath = path.join(w.dir, 'out', 'm.jsonl');
    const summary = await prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, method: 'top-k', topK: 5, size: [212, 320], resize: 'bilinear', manifestPath });
    expect(summary).toMatchObject({ method: 'top-k', kept: 3, dropped: 2, errors: 1, csvPath: path.join(w.dir, 'out', 'm.csv'), summaryPath: path.join(w.dir, 'out', 'm.summary.json') });
    expect(await statusByName(w, manifestPath)).toEqual({ 'a.jpg': 'kept', 'b.jpg': 'kept', 'c.jpg': 'dropped', 'corrupt.jpg': 'error', 'd.jpg': 'kept', 'sub/e.jpg': 'dropped' });
    expect(w.loaderCalls[0].options).toMatchObject({ size: [212, 320], resize: 'bilinear' });
  });

  test('moveTo moves dropped files keeping relative paths, never overwrites, deletes nothing', async () => {
    const w = world();
    const moveTo = path.join(w.dir, 'dropped');
    fs.mkdirSync(moveTo);
    fs.writeFileSync(path.join(moveTo, 'b.jpg'), 'already here');
    const summary = await prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, moveTo });
    expect(summary.dropped).toBe(3);
    expect(summary.actionErrors).toBe(1);
    expect(fs.readFileSync(path.join(moveTo, 'sub/e.jpg'), 'utf8')).toBe('pixels of sub/e.jpg');
    expect(fs.existsSync(path.join(w.dir, 'sub/e.jpg'))).toBe(false);
    expect(fs.readFileSync(path.join(moveTo, 'c.jpg'), 'utf8')).toBe('pixels of c.jpg');
    // The existing b.jpg in moveTo is untouched and the source stays where it was.
    expect(fs.readFileSync(path.join(moveTo, 'b.jpg'), 'utf8')).toBe('already here');
    expect(fs.readFileSync(path.join(w.dir, 'b.jpg'), 'utf8')).toBe('pixels of b.jpg');
    const entries = await readPrefilterManifest(summary.manifestPath);
    expect(entries.find((e) => e.file.endsWith('b.jpg'))!.actionError).toMatch(/destination exists/);
    expect(entries.find((e) => e.file.endsWith('e.jpg'))!.movedTo).toBe(path.join(moveTo, 'sub/e.jpg'));
    // Kept files and the corrupt one stay in place; the moveTo folder (inside dir) is not scanned as input.
    for (const name of ['a.jpg', 'd.jpg', 'corrupt.jpg']) expect(fs.existsSync(path.join(w.dir, name))).toBe(true);
    expect(w.loaderCalls[0].files.some((f) => f.startsWith(moveTo))).toBe(false);
  });

  test('copyTo copies dropped files and leaves the sources', async () => {
    const w = world();
    const copyTo = path.join(os.tmpdir(), `carclass-prefilter-copy-${process.pid}`);
    try {
      const summary = await prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, copyTo });
      expect(summary.actionErrors).toBe(0);
      for (const name of ['b.jpg', 'c.jpg', 'sub/e.jpg']) {
        expect(fs.readFileSync(path.join(copyTo, name), 'utf8')).toBe(`pixels of ${name}`);
        expect(fs.existsSync(path.join(w.dir, name))).toBe(true);
      }
      expect(fs.existsSync(path.join(copyTo, 'a.jpg'))).toBe(false);
    } finally {
      fs.rmSync(copyTo, { recursive: true, force: true });
    }
  });

  test('resume skips files in an existing manifest, even one cut mid-line', async () => {
    const w = world();
    const manifestPath = path.join(w.dir, 'prefilter-manifest.jsonl');
    const first = JSON.stringify({ file: path.join(w.dir, 'a.jpg'), status: 'kept', carProb: 0.3, topClass: 5, topProb: 0.6 });
    const second = JSON.stringify({ file: path.join(w.dir, 'b.jpg'), status: 'dropped', carProb: 0.05, topClass: 100, topProb: 0.9 });
    fs.writeFileSync(manifestPath, `${first}\n${second}\n{"file": "${path.join(w.dir, 'c.jp')}`);
    const summary = await prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, resume: true });
    expect(w.loaderCalls[0].files.map((f) => path.relative(w.dir, f))).toEqual(['c.jpg', 'corrupt.jpg', 'd.jpg', 'sub/e.jpg']);
    expect(summary).toMatchObject({ total: 6, kept: 2, dropped: 3, errors: 1, resumed: 2 });
    const lines = fs.readFileSync(manifestPath, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines.slice(0, 2)).toEqual([first, second]);
    // A second resume has nothing left to do and does not start the loader.
    const again = await prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, resume: true });
    expect(again).toMatchObject({ total: 6, resumed: 6 });
    expect(w.loaderCalls).toHaveLength(1);
  });

  test('without resume an existing manifest is replaced', async () => {
    const w = world();
    const manifestPath = path.join(w.dir, 'prefilter-manifest.jsonl');
    fs.writeFileSync(manifestPath, `${JSON.stringify({ file: path.join(w.dir, 'a.jpg'), status: 'dropped' })}\n`);
    const summary = await prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader });
    expect(summary).toMatchObject({ total: 6, resumed: 0, kept: 2 });
  });

  test('a list of files works with an explicit manifest path', async () => {
    const w = world();
    const manifestPath = path.join(w.dir, 'list.jsonl');
    const summary = await prefilter({ files: [path.join(w.dir, 'd.jpg'), path.join(w.dir, 'sub/e.jpg')], model: w.model, createLoader: w.createLoader, manifestPath });
    expect(summary).toMatchObject({ total: 2, kept: 1, dropped: 1, errors: 0 });
  });
});

/** In-process process groups of `world` ranks: allgather resolves once every rank has called it the same number of times. */
function fakeGroups(world: number) {
  const rounds: { values: unknown[]; arrived: number; waiters: ((v: unknown[]) => void)[] }[] = [];
  const calls = new Array(world).fill(0);
  const whats: string[][] = Array.from({ length: world }, () => []);
  return Array.from({ length: world }, (_, rank) => ({
    rank, worldSize: world, whats: whats[rank],
    allgather<T>(value: T, what = ''): Promise<T[]> {
      whats[rank].push(what);
      const n = calls[rank]++;
      const r = (rounds[n] ??= { values: new Array(world), arrived: 0, waiters: [] });
      r.values[rank] = JSON.parse(JSON.stringify(value ?? null)); // what crosses processes is JSON
      r.arrived++;
      return new Promise<T[]>((resolve) => {
        r.waiters.push(resolve as (v: unknown[]) => void);
        if (r.arrived === world) r.waiters.forEach((w) => w(r.values.slice()));
      });
    },
  }));
}

describe('prefilter under data parallel (in-process groups)', () => {
  const names = (w: FakeWorld, files: string[]) => files.map((f) => path.relative(w.dir, f));

  test.each([2, 3])('%i ranks: every-world-th batch each, one manifest in the 1-process order, the same summary everywhere', async (worldSize) => {
    const single = world();
    const one = await prefilter({ dir: single.dir, model: single.model, createLoader: single.createLoader, batchSize: 2 });
    const oneEntries = await readPrefilterManifest(one.manifestPath);

    const w = world();
    const progress: any[] = [];
    const groups = fakeGroups(worldSize);
    const summaries = await Promise.all(groups.map((g) => prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, batchSize: 2, distributed: g,
      ...(g.rank === 0 ? { onProgress: (p: any) => progress.push(p) } : {}) })));
    // Files in scan order: a b | c corrupt | d sub/e, in batches of 2 dealt round-robin over the ranks.
    const all = ['a.jpg', 'b.jpg', 'c.jpg', 'corrupt.jpg', 'd.jpg', 'sub/e.jpg'];
    const expected = Array.from({ length: worldSize }, (_, r) => all.filter((_, i) => Math.floor(i / 2) % worldSize === r));
    const calls = w.loaderCalls.map((c) => names(w, c.files)).sort((x, y) => all.indexOf(x[0]) - all.indexOf(y[0]));
    expect(calls).toEqual(expected.filter((e) => e.length));
    const entries = await readPrefilterManifest(summaries[0].manifestPath);
    expect(entries.filter((e) => e.status !== 'error').map((e) => path.relative(w.dir, e.file)))
      .toEqual(oneEntries.filter((e) => e.status !== 'error').map((e) => path.relative(single.dir, e.file)));
    expect(entries.length).toBe(oneEntries.length);
    for (const e of entries) {
      const ref = oneEntries.find((o) => path.relative(single.dir, o.file) === path.relative(w.dir, e.file))!;
      expect({ ...e, file: '' }).toEqual({ ...ref, file: '' });
    }
    for (const s of summaries) expect(s).toEqual({ ...one, manifestPath: s.manifestPath, summaryPath: s.summaryPath, csvPath: s.csvPath });
    expect(summaries.every((s) => s.manifestPath === summaries[0].manifestPath)).toBe(true);
    // Progress counts every rank's images.
    expect(progress[progress.length - 1]).toEqual({ done: 6, total: 6, kept: 2, dropped: 3, errors: 1, actionErrors: 0 });
    // Every rank made the same collectives in the same order.
    for (const g of groups) expect(g.whats).toEqual(groups[0].whats);
  });

  test('a rank with no batch at all still takes part, and moves of dropped files happen once', async () => {
    const w = world();
    const moveTo = path.join(w.dir, '..', `${path.basename(w.dir)}-dropped`);
    const groups = fakeGroups(4); // 3 batches of 2: rank 3 has none
    const summaries = await Promise.all(groups.map((g) => prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, batchSize: 2, distributed: g, moveTo })));
    expect(w.loaderCalls).toHaveLength(3);
    expect(summaries[3]).toEqual(summaries[0]);
    expect(summaries[0]).toMatchObject({ total: 6, kept: 2, dropped: 3, errors: 1, actionErrors: 0 });
    expect(fs.readdirSync(moveTo).sort()).toEqual(['b.jpg', 'c.jpg', 'sub']); // the dropped ones: b, c, sub/e
    expect(fs.existsSync(path.join(moveTo, 'sub', 'e.jpg'))).toBe(true);
    fs.rmSync(moveTo, { recursive: true, force: true });
  });

  test('resume with another world size goes on from the manifest', async () => {
    const w = world();
    const manifestPath = path.join(w.dir, 'prefilter-manifest.jsonl');
    const first = JSON.stringify({ file: path.join(w.dir, 'a.jpg'), status: 'kept', carProb: 0.3, topClass: 5, topProb: 0.6 });
    fs.writeFileSync(manifestPath, `${first}\n`);
    const summaries = await Promise.all(fakeGroups(2).map((g) => prefilter({ dir: w.dir, model: w.model, createLoader: w.createLoader, batchSize: 2, distributed: g, resume: true })));
    // Left: b c | corrupt d | sub/e; rank 0 takes batches 0 and 2.
    expect(w.loaderCalls.map((c) => names(w, c.files)).sort()).toEqual([['b.jpg', 'c.jpg', 'sub/e.jpg'], ['corrupt.jpg', 'd.jpg']]);
    expect(summaries[0]).toMatchObject({ total: 6, kept: 2, dropped: 3, errors: 1, resumed: 1 });
    const lines = fs.readFileSync(manifestPath, 'utf8').trim().split('\n');
    expect(lines[0]).toBe(first);
    expect(lines).toHaveLength(6);
  });

  test('ranks that see different files fail alike, before the manifest is touched', async () => {
    const w = world();
    const manifestPath = path.join(w.dir, 'prefilter-manifest.jsonl');
    fs.writeFileSync(manifestPath, 'untouched\n');
    const groups = fakeGroups(2);
    const results = await Promise.all(groups.map((g) => prefilter({ ...(g.rank === 0 ? { dir: w.dir } : { files: [path.join(w.dir, 'a.jpg')] }), manifestPath,
      model: w.model, createLoader: w.createLoader, distributed: g }).then(() => null, (e: Error) => e.message)));
    for (const m of results) expect(m).toMatch(/ranks see different files to classify \(rank 0: 6, rank 1: 1\)/);
    expect(fs.readFileSync(manifestPath, 'utf8')).toBe('untouched\n');
    expect(w.loaderCalls).toHaveLength(0);
  });

  test('batchShard deals whole batches round-robin', () => {
    const items = Array.from({ length: 11 }, (_, i) => i);
    expect([0, 1, 2].map((r) => batchShard(items, 2, r, 3))).toEqual([[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10]]);
    expect(batchShard(items, 4, 0, 1)).toEqual(items);
  });
});

describe('bad input', () => {
  test('options are validated by name', async () => {
    const w = world();
    const base = { dir: w.dir, model: w.model, createLoader: w.createLoader };
    await expect(prefilter({ ...base, treshold: 0.2 } as any)).rejects.toThrow(/Unknown option "treshold"/);
    await expect(prefilter({ ...base, threshold: 2 })).rejects.toThrow(/Expected number between 0 and 1 for threshold but received 2/);
    await expect(prefilter({ ...base, method: 'top5' as any })).rejects.toThrow(/Expected one of acc-prob, top-k for method/);
    await expect(prefilter({ ...base, resize: 'area' as any })).rejects.toThrow(/for resize/);
    await expect(prefilter({ ...base, batchSize: 0 })).rejects.toThrow(/Expected positive integer for batchSize/);
    await expect(prefilter({ ...base, moveTo: '/tmp/a', copyTo: '/tmp/b' })).rejects.toThrow(/moveTo or copyTo, not both/);
    await expect(prefilter({ ...base, dir: path.join(w.dir, 'missing') })).rejects.toThrow(/missing is not a folder/);
    await expect(prefilter({ files: ['x.jpg'], model: w.model, createLoader: w.createLoader })).rejects.toThrow(/needs manifestPath/);
    expect(w.loaderCalls).toEqual([]);
  });

  test('a model without the 1000 ImageNet classes is refused with the reason', async () => {
    const w = world();
    const small = { predictOnBatch: async (b: PrefilterBatch) => new Float32Array(b.size * 10).fill(0.1) };
    await expect(prefilter({ dir: w.dir, model: small, createLoader: w.createLoader })).rejects.toThrow(/car class 864 is outside the model's 10 classes/);
  });
});

// With the real engine: head weights set so that the softmax is known (kernel zeros, bias = log p).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const lib = require('../lib');
const haveEngine = typeof lib.createModel === 'function' && typeof lib.createLoader === 'function';
(haveEngine ? describe : describe.skip)('prefilter with the real model and loader', () => {
  test('car probability equals the one put into the head bias', async () => {
    const files = fs.readdirSync(carsDir).filter((n) => /\.jpe?g$/i.test(n)).map((n) => path.join(carsDir, n)).slice(0, 3);
    // A small base with the 1000-class ImageNet top: only the head decides the probabilities here.
    const model = await lib.createModel({ arch: 'resnet-tiny', head: 'imagenet', inputShape: [224, 224, 3] });
    const head = model.weightSpec().filter((e: any) => e.layer === 'predictions');
    const kernel = head.find((e: any) => e.name.endsWith('/kernel'));
    const bias = head.find((e: any) => e.name.endsWith('/bias'));
    const target = new Float64Array(1000).fill(0.5 / 985);
    CAR_IDX.forEach((i) => (target[i] = 0.5 / 15)); // car mass 0.5
    await model.setWeights({
      [kernel.name]: { shape: kernel.shape, data: new Float32Array(kernel.shape.reduce((a: number, b: number) => a * b, 1)) },
      [bias.name]: { shape: bias.shape, data: Float32Array.from(target, Math.log) },
    }, { allowPartial: true });
    const manifestPath = path.join(os.tmpdir(), `carclass-prefilter-real-${process.pid}.jsonl`);
    const both = [] as any[];
    for (const threshold of [0.4, 0.6]) {
      both.push(await prefilter({ files, model, createLoader: lib.createLoader, threshold, manifestPath, batchSize: 2 }));
      for (const e of await readPrefilterManifest(manifestPath)) expect(e.carProb).toBeCloseTo(0.5, 4);
    }
    expect(both.map((s) => s.kept)).toEqual([files.length, 0]);
    const topk = await prefilter({ files, model, createLoader: lib.createLoader, method: 'top-k', topK: 1, manifestPath });
    expect(topk.kept).toBe(files.length); // each car class (1/30) beats each other class (1/1970)
    fs.rmSync(manifestPath, { force: true });
  }, 300000);
});
