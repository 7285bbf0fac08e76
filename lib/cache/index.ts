// Frozen-base feature cache: the base runs once per image (both orientations when flips are on) and
// its output at the head's input is kept in a memory-mapped file; head epochs then read from there.
// Keyed by everything that changes the features; a stale, changed or damaged record is rebuilt.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { native } from '../native';
import { createLoader, Batch } from '../loader';
import type { Model } from '../model';
import type { ProgressBar } from '../train/callbacks';
import { writeFileAtomic } from '../atomic-file';
import { invalid, nonNegativeInt } from '../validate';

export type CacheDtype = 'float32' | 'float16';
export const CACHE_DTYPES = ['float32', 'float16'] as const;
/** Bumped whenever what a record means changes. */
const CACHE_FORMAT = 'carclass-features-1';

/** What the frozen base saw and how: every field changes the cached values. */
export interface FeatureKeyParts {
  format: string;
  baseWeights: string;  // sha256 of the base's weights (names, shapes, values)
  arch: string;
  head: string;
  headInput: string;    // the layer whose output is cached
  featureShape: number[];
  inputSize: [number, number];
  resize: string;
  preprocess: string;
  dct: string;
  device: string;
  precision: string;
  orientations: number;
  dtype: CacheDtype;
}

export interface FeatureCacheOptions {
  /** Files in training order (their position is the record number) and their labels. */
  files: string[];
  labels: number[];
  sampleWeights?: number[];
  /** 'train', 'val': names the file in the run folder and the progress line. */
  split: string;
  /** The file: `<dir>/<split>.features` in a run folder, or a name keyed by the settings in a shared folder. */
  dir: string;
  shared: boolean;
  model: Model;
  inputSize: [number, number];
  resize: string;
  preprocess: string;
  dct?: string;
  orientations: 1 | 2;
  dtype: CacheDtype;
  batchSize: number;
  onError: 'skip' | 'throw';
  loaderThreads?: number;
  progress: ProgressBar;
  log: (line: string) => void;
  /** Polled between batches; true stops the build (what is built is kept for the next run). */
  stopRequested?: () => boolean;
}

export interface FeatureCacheReport {
  path: string;
  bytes: number;
  built: number;   // records computed in this call
  reused: number;
  failed: number;
  interrupted: boolean;
  /** Why the file was (re)made, '' when an existing one was reused. */
  rebuilt: string;
  /** Files this build could not decode, with the loader's reasons. */
  errors: { file: string; reason: string }[];
  seconds: number;
}

/** sha256 of the base's weights in Keras order: any changed value, shape or name changes the key. */
export async function baseWeightsHash(model: Model): Promise<string> {
  const head = new Set(model.layers().filter((l) => l.head).map((l) => l.name));
  const weights = await model.getWeights();
  const h = createHash('sha256');
  for (const [name, w] of Object.entries(weights)) {
    if (head.has(name.slice(0, name.indexOf('/')))) continue;
    h.update(`${name}:${w.shape.join('x')};`);
    h.update(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength));
  }
  return h.digest('hex');
}

/** The head's input layer and its shape for this model (what the cache stores per image). */
export function headInput(model: Model): { layer: string; shape: number[] } {
  const layers = model.layers();
  const base = model.info().baseOutput;
  const i = layers.findIndex((l) => l.name === base);
  const next = layers[i + 1];
  const chosen = next && next.head && next.type === 'GlobalAveragePooling2D' ? next : layers[i];
  return { layer: chosen.name, shape: chosen.outputShape };
}

/** Whether every weight of the base is frozen now (only then are its outputs fixed per image). */
export function baseFrozen(model: Model): boolean {
  const head = new Set(model.layers().filter((l) => l.head).map((l) => l.name));
  return model.weightSpec().every((w) => !w.trainable || head.has(w.layer));
}

/** One 64-bit identity per file from its resolved path, size and mtime (a missing file gets its own). */
export function fileIdentities(files: string[]): BigUint64Array {
  const out = new BigUint64Array(files.length);
  files.forEach((f, i) => {
    const abs = path.resolve(f);
    let stat = 'missing';
    try {
      const s = fs.statSync(abs);
      stat = `${s.size}:${s.mtimeMs}`;
    } catch { /* an unreadable file is recorded as failed by the build, with the loader's reason */ }
    out[i] = createHash('sha256').update(`${abs}\0${stat}`).digest().readBigUInt64LE(0);
  });
  return out;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Free bytes for an unprivileged writer on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** Throws, naming the file, the sizes and the ways out, when `bytes` do not fit in the free space of `dir`. */
export function ensureFreeSpace(file: string, bytes: number, free = freeBytes(path.dirname(file))): void {
  if (bytes <= free) return;
  throw new Error(`Feature cache ${file} needs ${formatBytes(bytes)} but only ${formatBytes(free)} is free on that disk: free space, `
    + `point --cache-dir (cacheDir) at a larger disk, use --cache-dtype float16 (half the size), or --cache-features off`);
}

function describeChange(before: Partial<FeatureKeyParts> | null, now: FeatureKeyParts): string {
  if (!before) return '';
  const changed = (Object.keys(now) as (keyof FeatureKeyParts)[])
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(now[k]))
    .map((k) => (k === 'baseWeights' ? 'the base weights' : `${k} ${JSON.stringify(before[k])} -> ${JSON.stringify(now[k])}`));
  return changed.length ? ` (changed: ${changed.join(', ')})` : '';
}

/** An open cache: ready records feed `batches()`. */
export class FeatureCache {
  /** @internal */
  constructor(private readonly store: any, readonly report: FeatureCacheReport, readonly featureShape: number[]) {}

  /** Training/validation batches in the loader's order for (seed, epoch), flips picked as the loader would. */
  batches(options: { files: string[]; labels: number[]; sampleWeights?: number[]; batchSize: number; shuffle: boolean; seed: number;
    flip: boolean; augmentP: number }): FeatureBatches {
    return new FeatureBatches(new (native().NativeFeatureBatcher)(this.store, options));
  }

  close(): void {
    this.store.close();
  }
}

/** A loader look-alike over cached head inputs: `length`, `epoch(n)`, `close()`. */
export class FeatureBatches {
  readonly length: number;
  /** @internal */
  constructor(private readonly batcher: any) {
    this.length = batcher.length;
  }

  /** Batches of epoch `n`; `fromBatch` starts inside it (a resumed epoch), as `Loader.epoch` does. */
  epoch(n: number, options: { fromBatch?: number } = {}): AsyncIterable<Batch> {
    const batcher = this.batcher;
    const length = this.length;
    const fromBatch = nonNegativeInt('fromBatch', options.fromBatch ?? 0);
    if (fromBatch > length) throw invalid('fromBatch', `integer in [0, ${length}] (batches per epoch)`, fromBatch);
    return {
      async *[Symbol.asyncIterator]() {
        for (let b = fromBatch; b < length; b++) {
          const batch = new Batch(batcher.batch(n, b));
          if (batch.size === 0) { batch.release(); continue; }  // a batch of bad files only: the loader skips it too
          yield batch;
        }
      },
    };
  }

  close(): void { /* nothing held beyond the store, which the cache closes */ }
}

/** The key parts of a cache for `model` (hashes the base weights: about 0.3 s for ResNet50V2). */
export async function featureKey(options: Pick<FeatureCacheOptions, 'model' | 'inputSize' | 'resize' | 'preprocess' | 'dct' | 'orientations' | 'dtype'>): Promise<FeatureKeyParts> {
  const m = options.model;
  const input = headInput(m);
  return {
    format: CACHE_FORMAT, baseWeights: await baseWeightsHash(m), arch: m.arch, head: m.head, headInput: input.layer, featureShape: input.shape,
    inputSize: options.inputSize, resize: options.resize, preprocess: options.preprocess, dct: options.dct ?? 'fast',
    device: m.device.replace(/:.*/, ''), precision: m.precision, orientations: options.orientations, dtype: options.dtype,
  };
}

/**
 * Opens (or creates) the cache for `files`, checks it, and builds what is missing: prints the disk use
 * first, refuses to start when the disk is too small, shows a progress bar, and can be stopped and resumed.
 */
export async function openFeatureCache(o: FeatureCacheOptions): Promise<FeatureCache> {
  const started = Date.now();
  const parts = await featureKey(o);
  const keyText = JSON.stringify(parts);
  const key = createHash('sha256').update(keyText).digest('hex');
  fs.mkdirSync(o.dir, { recursive: true });
  const listHash = createHash('sha256').update(o.files.map((f) => path.resolve(f)).join('\0')).digest('hex');
  const file = o.shared
    ? path.join(o.dir, `${o.split}-${createHash('sha256').update(key + listHash).digest('hex').slice(0, 20)}.features`)
    : path.join(o.dir, `${o.split}.features`);
  const sidecar = `${file}.json`;
  const layout = { key, records: o.files.length, orientations: o.orientations, shape: parts.featureShape, dtype: o.dtype };
  const bytes: number = native().featureStoreBytes(layout);
  const perImage = (bytes / o.files.length);
  let existing = 0;
  try { existing = fs.statSync(file).size; } catch { /* none yet */ }
  let before: Partial<FeatureKeyParts> | null = null;
  try { before = JSON.parse(fs.readFileSync(sidecar, 'utf8')); } catch { /* no sidecar: nothing to compare with */ }
  const reusable = existing === bytes && before !== null && JSON.stringify(before) === keyText;
  if (!reusable) {
    const free = freeBytes(o.dir);  // a stale file is replaced only once its successor is complete
    o.log(`Feature cache (${o.split}): ${o.files.length} images x ${o.orientations} orientation(s) x ${formatBytes(perImage / o.orientations)} (${o.dtype}) = ${formatBytes(bytes)} in ${file}; ${formatBytes(free)} free`);
    ensureFreeSpace(file, bytes, free);
  }
  const identities = fileIdentities(o.files);
  const { store, report } = await native().openFeatureStore({ path: file, ...layout, identities });
  const rebuilt = report.created ? `${report.created}${report.created.includes('stale') ? describeChange(before, parts) : ''}` : '';
  if (rebuilt && existing > 0) o.log(`Feature cache ${file} is rebuilt: ${rebuilt}`);
  if (report.changed || report.corrupt) {
    o.log(`Feature cache (${o.split}): ${report.changed} changed file(s) and ${report.corrupt} damaged record(s) are recomputed`);
  }
  await writeFileAtomic(sidecar, JSON.stringify(parts, null, 1) + '\n');

  const pending: Int32Array = store.pending();
  const result: FeatureCacheReport = { path: file, bytes, built: 0, reused: o.files.length - pending.length - report.failed, failed: report.failed,
    interrupted: false, rebuilt, errors: [], seconds: 0 };
  if (pending.length) await build(o, store, pending, result);
  result.seconds = (Date.now() - started) / 1000;
  return new FeatureCache(store, result, parts.featureShape);
}

async function build(o: FeatureCacheOptions, store: any, pending: Int32Array, result: FeatureCacheReport): Promise<void> {
  const files = Array.from(pending, (r) => o.files[r]);
  const loader = createLoader({ files, batchSize: o.batchSize, size: o.inputSize, resize: o.resize as any, preprocess: o.preprocess as any,
    dct: (o.dct ?? 'fast') as any, shuffle: false, augment: false, onError: o.onError, ...(o.loaderThreads ? { threads: o.loaderThreads } : {}) });
  const nativeModel = o.model.nativeHandle();
  o.progress.begin(`Building feature cache (${o.split}): ${files.length} images${result.reused ? `, ${result.reused} already cached` : ''}`, loader.length);
  let step = 0;
  try {
    for await (const batch of loader.epoch(0)) {
      await store.build(nativeModel, batch.handle, Int32Array.from(batch.indices, (i) => pending[i]));
      result.built += batch.size;
      batch.release();
      o.progress.update(++step, { images: result.built });
      if (o.stopRequested?.()) { result.interrupted = true; break; }
    }
    if (!result.interrupted) {
      const index = new Map(files.map((f, i) => [f, pending[i]]));
      for (const e of loader.stats().errors) {
        const r = index.get(e.file);
        if (r !== undefined) { store.markFailed(r); result.failed++; result.errors.push({ file: e.file, reason: e.reason }); }
      }
      o.progress.epochEnd({ images: result.built });
      if (result.failed) o.log(`Feature cache (${o.split}): ${result.failed} file(s) could not be decoded and are left out, as the loader leaves them out`);
    }
  } finally {
    loader.close();
    store.flush();
  }
}
