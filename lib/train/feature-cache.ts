// Stage 1 of training (every base layer frozen) from the feature cache: which augmentation it
// uses, whether the cache applies ('auto' | 'on' | 'off'), and the batch sources that replace the
// loaders while it lasts. Results equal end-to-end training; only the time differs.
import * as path from 'path';
import { augmentParts, AugmentOptions, createLoader, Loader } from '../loader';
import type { Model } from '../model';
import { openFeatureCache, baseFrozen, FeatureBatches, FeatureCache, CacheDtype } from '../cache';
import { ProgressBar } from './callbacks';
import { predictBatches, type PassOptions, type Predictions } from './evaluate';

export type CacheFeaturesMode = 'auto' | 'on' | 'off';
export const CACHE_FEATURES_MODES = ['auto', 'on', 'off'] as const;
/** Stage 1 augmentation of a two-stage run: flip only (default, cacheable), none, or the same as `augment`. */
export type HeadAugment = 'flip' | 'none' | 'same';
export const HEAD_AUGMENTS = ['flip', 'none', 'same'] as const;

type Augment = false | Required<AugmentOptions>;

interface PlanInput {
  augment: false | AugmentOptions;
  headEpochs: number;
  headAugment: HeadAugment;
  cacheFeatures: CacheFeaturesMode;
  unfreeze: 'all' | 'none' | string[];
}

export interface Stage1Plan {
  /** Epochs [0, end) train with the base frozen (0: none). */
  end: number;
  augment: Augment;
  /** The cache is used for those epochs. */
  cache: boolean;
  /** One line for the user when 'auto' falls back to end to end (else ''). */
  note: string;
}

/** Whether stage 1's augmentation is what the run's training loader already does. */
export function sameAugment(plan: Stage1Plan, augment: false | AugmentOptions): boolean {
  return JSON.stringify(plan.augment) === JSON.stringify(normalise(augment));
}

function normalise(a: false | AugmentOptions): Augment {
  return a === false ? false : augmentParts('augment', a);
}

/**
 * The frozen-base stage and its augmentation, decided from options alone. `on` with brightness or
 * contrast is a usage error naming both; `auto` then trains end to end and says why in `note`.
 */
export function planStage1(o: PlanInput, epochs: number): Stage1Plan {
  const full = normalise(o.augment);
  const twoStage = o.headEpochs > 0;
  const end = twoStage ? Math.min(o.headEpochs, epochs) : o.unfreeze === 'all' ? 0 : epochs;
  let augment: Augment = full;
  if (twoStage && o.headAugment === 'none') augment = false;
  if (twoStage && o.headAugment === 'flip') augment = full && full.flip ? { ...full, brightness: false, contrast: false } : false;
  if (end === 0 || o.cacheFeatures === 'off') return { end, augment, cache: false, note: '' };
  const photometric = augment !== false && augment.p > 0 && (augment.brightness || augment.contrast);
  if (photometric && augment !== false) {
    const parts = [augment.brightness && 'brightness', augment.contrast && 'contrast'].filter(Boolean).join(' and ');
    const fix = twoStage ? '--head-augment flip (headAugment) or none' : '--augment flip (augment: { flip: true, brightness: false, contrast: false }) or --no-augment';
    if (o.cacheFeatures === 'on') {
      throw new TypeError(`cacheFeatures 'on' (--cache-features on) conflicts with ${parts} augmentation${twoStage ? ' in stage 1 (--head-augment same)' : ''}: `
        + `the frozen base would see new pixels every epoch, so its features cannot be cached; use ${fix}, or --cache-features auto|off`);
    }
    return { end, augment, cache: false,
      note: `Feature cache off: ${parts} augmentation changes the frozen base's input every epoch, so its features cannot be reused; ${fix} trains the frozen-base epochs from cached features (flips are cached exactly)` };
  }
  return { end, augment, cache: true, note: '' };
}

export interface Stage1Sources {
  train: FeatureBatches | Loader;
  val: FeatureBatches | null;
  interrupted: boolean;
  close(): void;
}

interface SplitLists {
  train: { file: string; label: number }[];
  val: { file: string; label: number }[];
}

/** The resolved train() options stage 1 reads. */
export interface Stage1Options {
  stage1: Stage1Plan;
  augment: false | AugmentOptions;
  cacheFeatures: CacheFeaturesMode;
  cacheDir?: string;
  cacheDtype: CacheDtype;
  inputSize: [number, number];
  resize: string;
  preprocess: string;
  batchSize: number;
  seed: number;
  onError: 'skip' | 'throw';
  loaderThreads?: number;
  prefetch?: number;
}

export interface Stage1Context {
  model: Model;
  splits: SplitLists;
  classWeights: number[] | null;
  outDir: string;
  progress: ProgressBar;
  log: (line: string) => void;
  stopRequested: () => boolean;
  /** Data parallel: this replica's share of the training files (see LoaderOptions.shard). */
  shard?: { index: number; count: number };
}

/**
 * The batch sources of the frozen-base epochs: from the cache (built or completed here) when the plan
 * allows it and the base really is frozen, else a loader with stage 1's augmentation (the run's own
 * `trainLoader` when that is the same).
 */
export async function stage1Sources(o: Stage1Options, c: Stage1Context, trainLoader: Loader): Promise<Stage1Sources> {
  const plan = o.stage1;
  const frozen = baseFrozen(c.model);
  if (o.cacheFeatures === 'on' && !frozen) {
    throw new RangeError("cacheFeatures 'on' needs every base layer frozen, but the unfreeze patterns train some: use --unfreeze none, or --head-epochs N for a frozen first stage");
  }
  if (plan.note && frozen) c.log(plan.note);
  if (!plan.cache || !frozen) {
    if (sameAugment(plan, o.augment)) return { train: trainLoader, val: null, interrupted: false, close: () => undefined };
    const loader = makeLoader(o, c, plan.augment);
    return { train: loader, val: null, interrupted: false, close: () => loader.close() };
  }
  const common = { model: c.model, inputSize: o.inputSize, resize: o.resize, preprocess: o.preprocess, dtype: o.cacheDtype, batchSize: o.batchSize,
    onError: o.onError, loaderThreads: o.loaderThreads, progress: c.progress, log: c.log, stopRequested: c.stopRequested,
    dir: o.cacheDir ? path.resolve(o.cacheDir) : path.join(c.outDir, 'feature-cache'), shared: o.cacheDir !== undefined };
  const weightsOf = (s: { label: number }[]) => (c.classWeights ? s.map((x) => c.classWeights![x.label]) : undefined);
  const flip = plan.augment !== false && plan.augment.flip && plan.augment.p > 0;
  const caches: FeatureCache[] = [];
  const closeAll = () => { for (const x of caches) x.close(); };
  try {
    const open = async (split: 'train' | 'val', list: { file: string; label: number }[], orientations: 1 | 2) => {
      const cache = await openFeatureCache({ ...common, split, files: list.map((s) => s.file), labels: list.map((s) => s.label), orientations });
      caches.push(cache);
      return cache;
    };
    const trainCache = await open('train', c.splits.train, flip ? 2 : 1);
    if (trainCache.report.interrupted) return { train: trainLoader, val: null, interrupted: true, close: closeAll };
    const valCache = c.splits.val.length ? await open('val', c.splits.val, 1) : null;
    const interrupted = valCache?.report.interrupted ?? false;
    const r = trainCache.report;
    c.log(`Frozen-base epochs train the head from cached features (${r.built} computed, ${r.reused} reused${flip ? ', both orientations' : ''}; ${o.cacheDtype}; ${r.path})`);
    return {
      train: trainCache.batches({ ...batchOptions(o, c.splits.train, weightsOf, true), flip, augmentP: flip ? (plan.augment as Required<AugmentOptions>).p : 0 }),
      val: valCache ? valCache.batches(batchOptions(o, c.splits.val, () => undefined, false)) : null,  // validation is unweighted, as its loader
      interrupted,
      close: closeAll,
    };
  } catch (e) {
    closeAll();
    throw e;
  }
}

function batchOptions(c: Stage1Options, list: { file: string; label: number }[], weightsOf: (s: { label: number }[]) => number[] | undefined, training: boolean) {
  const sampleWeights = weightsOf(list);
  return { files: list.map((s) => s.file), labels: list.map((s) => s.label), ...(sampleWeights ? { sampleWeights } : {}), batchSize: c.batchSize,
    shuffle: training, seed: c.seed, flip: false, augmentP: 0 };
}

function makeLoader(o: Stage1Options, c: Stage1Context, augment: Augment): Loader {
  const sampleWeights = c.classWeights ? c.splits.train.map((s) => c.classWeights![s.label]) : undefined;
  return createLoader({ batchSize: o.batchSize, size: o.inputSize, resize: o.resize as any, preprocess: o.preprocess as any, onError: o.onError,
    ...(o.loaderThreads ? { threads: o.loaderThreads } : {}), ...(o.prefetch ? { prefetch: o.prefetch } : {}),
    files: c.splits.train.map((s) => s.file), labels: c.splits.train.map((s) => s.label), ...(sampleWeights ? { sampleWeights } : {}),
    shuffle: true, seed: o.seed, augment, ...(c.shard ? { shard: c.shard } : {}) });
}

/**
 * Predictions for `files` from the model's cached base features in `options.featureCache` (a shared cache
 * folder): computed once when missing or stale, then every later pass over the same files and base reads them.
 */
export async function predictFromFeatureCache(model: Model, files: string[], options: PassOptions, onBatch?: (done: number, total: number) => void): Promise<Omit<Predictions, 'top'>> {
  if (typeof (model as { nativeHandle?: unknown }).nativeHandle !== 'function') throw new TypeError('featureCache needs a carclass Model (createModel / loadModel)');
  const cache = await openFeatureCache({ files, labels: files.map(() => -1), split: 'predict', dir: path.resolve(options.featureCache!), shared: true, model,
    inputSize: options.size, resize: options.resize, preprocess: options.preprocess, orientations: 1, dtype: 'float32', batchSize: options.batchSize,
    onError: options.onError ?? 'skip', loaderThreads: options.threads, progress: new ProgressBar({ mode: 'quiet' }), log: () => undefined });
  try {
    const batches = cache.batches({ files, labels: files.map(() => -1), batchSize: options.batchSize, shuffle: false, seed: 0, flip: false, augmentP: 0 });
    const p = await predictBatches(model, batches.epoch(0), batches.length, onBatch);
    const reasons = new Map(cache.report.errors.map((e) => [e.file, e.reason]));
    const seen = new Set(p.indices);
    const errors = files.filter((_, i) => !seen.has(i)).map((file) => ({ file, reason: reasons.get(file) ?? 'could not be decoded when the feature cache was built' }));
    return { ...p, errors };
  } finally {
    cache.close();
  }
}
