// The whole dataset step in one call: scan -> label -> stratified split -> class weights (train split) -> manifest.
import * as path from 'path';
import { balancedClassWeights, buildDataset, checkBuildDatasetOptions, Dataset, Sample } from './dataset';
import { LabelType } from './filename';
import { createManifest, Manifest, manifestSplits, readManifest } from './manifest';
import { checkSeed } from './random';
import { scanImages } from './scan';
import { SEED_RATIOS, SplitName, stratifiedSplit } from './split';
import { booleanOption, firstAndMore, invalid, rejectUnknownKeys } from '../validate';

export interface PrepareOptions {
  labelType?: LabelType;
  topN?: number;
  minCount?: number;
  ratios?: number[];
  seed?: number;
  onTooSmall?: 'error' | 'drop';
  /** Compute balanced class weights on the train split. Default true. */
  classWeights?: boolean;
  /** Only scanned files for which this returns true take part (e.g. those a prefilter kept). */
  keep?: (file: string) => boolean;
  warn?: (message: string) => void;
}

export interface PreparedData {
  manifest: Manifest;
  classes: string[];
  splits: Record<SplitName, Sample[]>;
  /** Balanced weights from the train split, or null when disabled. */
  classWeights: number[] | null;
  /** Only when built from a folder (not from a manifest). */
  dataset?: Dataset;
}

/** Scans `dir` and builds a fresh, seeded split. A folder without usable images is an error naming the folder. */
export async function prepareData(dir: string, options: PrepareOptions = {}): Promise<PreparedData> {
  if (!options || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('prepareData', options, ['labelType', 'topN', 'minCount', 'ratios', 'seed', 'onTooSmall', 'classWeights', 'keep', 'warn']);
  const datasetOptions = checkBuildDatasetOptions({ labelType: options.labelType, topN: options.topN, minCount: options.minCount });
  const seed = checkSeed('seed', options.seed ?? 0);
  const withWeights = booleanOption('classWeights', options.classWeights ?? true);
  const root = path.resolve(dir);
  const scanned = await scanImages(root);
  if (scanned.length === 0) throw new Error(`No .jpg/.jpeg files found under ${root}`);
  if (options.keep !== undefined && typeof options.keep !== 'function') throw invalid('keep', 'function', options.keep);
  const files = options.keep ? scanned.filter(options.keep) : scanned;
  if (files.length === 0) throw new Error(`None of the ${scanned.length} images under ${root} passed the keep filter`);
  const dataset = buildDataset(files, datasetOptions);
  if (dataset.classes.length === 0 && dataset.dropped.length > 0) {
    const shown = firstAndMore(dataset.dropped, (d) => `${JSON.stringify(d.name)} (${d.count}: ${d.reason})`);
    throw new Error(`No classes left under ${root}: all ${dataset.dropped.length} classes were dropped: ${shown}`
      + (dataset.rejected.length ? `; besides, ${dataset.rejected.length} file name(s) did not parse` : '') + '. Lower --min-count (minCount) or raise --top-n (topN).');
  }
  if (dataset.classes.length === 0) {
    const example = dataset.rejected[0];
    throw new Error(`No labelled images under ${root}: ${dataset.rejected.length} file name(s) did not parse`
      + (example ? `, e.g. ${path.basename(example.file)}: ${example.reason}` : ''));
  }
  if (dataset.dropped.length && options.warn) {
    const shown = firstAndMore(dataset.dropped, (d) => `${JSON.stringify(d.name)} (${d.count} files, ${d.reason})`);
    options.warn(`Dropped ${dataset.dropped.length} class(es): ${shown} (all listed in manifest.json)`);
  }
  const ratios = options.ratios ?? [...SEED_RATIOS];
  const onTooSmall = options.onTooSmall ?? 'error';
  const split = stratifiedSplit(dataset.samples, { classes: dataset.classes, ratios, seed, onTooSmall, warn: options.warn });
  const classWeights = withWeights ? balancedClassWeights(split.train.map((s) => s.label), split.classes.length) : null;
  const manifest = createManifest({
    root,
    labelType: dataset.labelType,
    seed,
    options: { ...datasetOptions, ratios, seed, onTooSmall, classWeights: withWeights ? 'balanced' : 'none' },
    split,
    ...(classWeights ? { classWeights } : {}),
    rejected: dataset.rejected,
    dropped: dataset.dropped,
  });
  return { manifest, classes: split.classes, splits: { train: split.train, val: split.val, test: split.test }, classWeights, dataset };
}

/** Re-reads a manifest written by writeManifest: the same classes, files, splits and weights as the original run. */
export async function prepareFromManifest(manifestPath: string): Promise<PreparedData> {
  const manifest = await readManifest(manifestPath);
  const splits = manifestSplits(manifest);
  let classWeights = manifest.classWeights ?? null;
  if (classWeights === null && manifest.options.classWeights === 'balanced' && splits.train.length > 0) {
    classWeights = balancedClassWeights(splits.train.map((s) => s.label), manifest.classes.length);
  }
  return { manifest, classes: [...manifest.classes], splits, classWeights };
}
