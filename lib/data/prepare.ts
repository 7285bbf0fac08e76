// The whole dataset step in one call: label (file names, class folders or a manifest) -> classes -> split
// (stratified and seeded, or given by folders / a split column) -> class weights (train split) -> manifest.
import * as path from 'path';
import { balancedClassWeights, checkBuildDatasetOptions, Dataset, datasetFromLabels, RejectedFile, Sample } from './dataset';
import { LabelType } from './filename';
import { createManifest, Manifest, manifestSplits, readManifest } from './manifest';
import { checkSeed } from './random';
import { IMAGE_EXTENSIONS_TEXT } from './scan';
import { labelSource, Layout, LabelledSource, ResolvedLayout, SourceFile } from './sources';
import { SEED_RATIOS, SplitName, SplitResult, stratifiedSplit } from './split';
import { booleanOption, firstAndMore, invalid, oneOf, rejectUnknownKeys } from '../validate';

export interface PrepareOptions {
  /** How labels are read: 'auto' (default: detected), 'filenames', 'folders', or 'manifest' (source is a .csv/.jsonl). */
  layout?: Layout;
  /** File-name layout only: label by make (default) or make_model. */
  labelType?: LabelType;
  topN?: number;
  minCount?: number;
  /** train, val[, test] fractions summing to 1 (default [0.5625, 0.1875, 0.25]); or give valSplit/testSplit. */
  ratios?: number[];
  /** Fraction of each class held out for validation, in (0, 1). Default 0.1875 (with testSplit, or alone). */
  valSplit?: number;
  /** Fraction of each class held out for the test, in [0, 1) (0: no test split). Default 0.25. valSplit + testSplit < 1. */
  testSplit?: number;
  /** A separate validation folder (same layout as the source); the source then gives no validation images. */
  valDir?: string;
  /** A separate test folder (same layout as the source); the source then gives no test images. */
  testDir?: string;
  seed?: number;
  onTooSmall?: 'error' | 'drop';
  /** Compute balanced class weights on the train split. Default true. */
  classWeights?: boolean;
  /** Only files for which this returns true take part (e.g. those a prefilter kept). */
  keep?: (file: string) => boolean;
  warn?: (message: string) => void;
}

export interface PreparedData {
  manifest: Manifest;
  classes: string[];
  splits: Record<SplitName, Sample[]>;
  /** Balanced weights from the train split, or null when disabled. */
  classWeights: number[] | null;
  /** Only when built from a folder or label manifest (not from a run's manifest.json). */
  dataset?: Dataset;
}

const PREPARE_KEYS = ['layout', 'labelType', 'topN', 'minCount', 'ratios', 'valSplit', 'testSplit', 'valDir', 'testDir', 'seed', 'onTooSmall',
  'classWeights', 'keep', 'warn'];

/** How much of the source each held-out split takes; 0 where a folder or a split column gives it instead. */
export interface SplitPlan {
  val: number;
  test: number;
  /** The ratios handed to stratifiedSplit, or null when nothing is cut from the source. */
  ratios: number[] | null;
}

function fraction(name: string, value: unknown, allowZero: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1 || (!allowZero && value === 0)) {
    throw invalid(name, allowZero ? 'number in [0, 1)' : 'number in (0, 1)', value);
  }
  return value;
}

/** Checks ratios / valSplit / testSplit / valDir / testDir together and says what is cut from the source. */
export function planSplit(o: Pick<PrepareOptions, 'ratios' | 'valSplit' | 'testSplit' | 'valDir' | 'testDir'>, givenBySource = false): SplitPlan {
  const fractions = o.valSplit !== undefined || o.testSplit !== undefined;
  if (givenBySource && (fractions || o.ratios || o.valDir || o.testDir)) {
    throw new Error('The manifest gives every row a split; drop ratios/valSplit/testSplit/valDir/testDir (--val-split, --test-split, --val-dir, --test-dir)');
  }
  if (givenBySource) return { val: 0, test: 0, ratios: null };
  if (o.ratios !== undefined && (fractions || o.valDir || o.testDir)) throw new Error('Give ratios or valSplit/testSplit/valDir/testDir, not both');
  if (o.valSplit !== undefined && o.valDir) throw new Error('Give valSplit (--val-split) or valDir (--val-dir), not both');
  if (o.testSplit !== undefined && o.testDir) throw new Error('Give testSplit (--test-split) or testDir (--test-dir), not both');
  if (o.ratios !== undefined) {
    // stratifiedSplit checks them (2 or 3 fractions summing to 1).
    const r = o.ratios;
    return { val: Array.isArray(r) ? r[1] : NaN, test: Array.isArray(r) ? r[2] ?? 0 : NaN, ratios: r };
  }
  const val = o.valDir ? 0 : fraction('valSplit', o.valSplit ?? SEED_RATIOS[1], false);
  const test = o.testDir ? 0 : fraction('testSplit', o.testSplit ?? SEED_RATIOS[2], true);
  if (val + test >= 1 - 1e-9) throw new RangeError(`valSplit + testSplit must be below 1 (some images must be left to train on) but is ${val} + ${test}`);
  const ratios = [1 - val - test, ...(val > 0 ? [val] : []), ...(test > 0 ? [test] : [])];
  return { val, test, ratios: ratios.length > 1 ? ratios : null };
}

function noClassesError(where: string, dataset: Dataset): Error {
  if (dataset.dropped.length > 0) {
    const shown = firstAndMore(dataset.dropped, (d) => `${JSON.stringify(d.name)} (${d.count}: ${d.reason})`);
    return new Error(`No classes left under ${where}: all ${dataset.dropped.length} classes were dropped: ${shown}`
      + (dataset.rejected.length ? `; besides, ${dataset.rejected.length} file(s) were rejected` : '') + '. Lower --min-count (minCount) or raise --top-n (topN).');
  }
  const example = dataset.rejected[0];
  return new Error(`No labelled images under ${where}: ${dataset.rejected.length} file(s) were rejected`
    + (example ? `, e.g. ${path.basename(example.file)}: ${example.reason}` : ''));
}

/** Val/test images given apart from the split: kept when their class is one of the trained classes, else rejected. */
function assignGiven(files: readonly SourceFile[], classes: readonly string[], rejected: RejectedFile[], where: string): Sample[] {
  const index = new Map(classes.map((c, i) => [c, i]));
  const out: Sample[] = [];
  for (const f of files) {
    const label = index.get(f.name);
    if (label === undefined) rejected.push({ file: f.file, reason: `${where}: class ${JSON.stringify(f.name)} is not among the trained classes` });
    else out.push({ file: f.file, label });
  }
  return out;
}

/** Labels `source` (a folder, or a .csv/.jsonl label manifest) and builds a fresh, seeded split. */
export async function prepareData(source: string, options: PrepareOptions = {}): Promise<PreparedData> {
  if (!options || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('prepareData', options, PREPARE_KEYS);
  if (typeof source !== 'string' || !source) throw invalid('source', 'folder or manifest path', source);
  const labelType = options.labelType === undefined ? undefined : oneOf('labelType', options.labelType, ['make', 'model'] as const);
  const { topN, minCount } = checkBuildDatasetOptions({ topN: options.topN, minCount: options.minCount });
  const seed = checkSeed('seed', options.seed ?? 0);
  const withWeights = booleanOption('classWeights', options.classWeights ?? true);
  if (options.keep !== undefined && typeof options.keep !== 'function') throw invalid('keep', 'function', options.keep);
  for (const key of ['valDir', 'testDir'] as const) if (options[key] !== undefined && (typeof options[key] !== 'string' || !options[key])) throw invalid(key, 'folder path', options[key]);
  const onTooSmall = oneOf('onTooSmall', options.onTooSmall ?? 'error', ['error', 'drop'] as const);

  const src = await labelSource(source, { layout: options.layout, labelType });
  const givenBySource = src.labelled.some((f) => f.split !== undefined);
  const plan = planSplit(options, givenBySource);
  // Held-out folders are read with the source's layout, so one rule labels every image.
  const extraLayout: ResolvedLayout = src.layout === 'manifest' ? 'manifest' : src.layout;
  if (extraLayout === 'manifest' && (options.valDir || options.testDir)) throw new Error('valDir/testDir (--val-dir/--test-dir) go with a folder source; a manifest gives splits with a split column');
  const readExtra = async (dir: string | undefined) => dir ? labelSource(dir, { layout: extraLayout, labelType }) : null;
  const [valSource, testSource] = [await readExtra(options.valDir), await readExtra(options.testDir)];

  const total = src.labelled.length + src.rejected.length;
  if (total === 0) throw new Error(src.layout === 'manifest' ? `No rows in ${source}` : `No images (${IMAGE_EXTENSIONS_TEXT}) found under ${src.root}`);
  const keep = options.keep ?? (() => true);
  const labelled = src.labelled.filter((f) => keep(f.file));
  const rejected = src.rejected.filter((r) => keep(r.file));
  if (labelled.length + rejected.length === 0) throw new Error(`None of the ${total} images under ${src.root} passed the keep filter`);

  const trainFiles = labelled.filter((f) => f.split === undefined || f.split === 'train');
  const dataset = datasetFromLabels(trainFiles, rejected, { labelType: src.labelType, topN, minCount, knownClasses: src.knownClasses });
  if (dataset.classes.length === 0) throw noClassesError(path.resolve(source), dataset);
  if (dataset.dropped.length && options.warn) {
    const shown = firstAndMore(dataset.dropped, (d) => `${JSON.stringify(d.name)} (${d.count} files, ${d.reason})`);
    options.warn(`Dropped ${dataset.dropped.length} class(es): ${shown} (all listed in manifest.json)`);
  }

  let split: SplitResult;
  if (plan.ratios) {
    const cut = stratifiedSplit(dataset.samples, { classes: dataset.classes, ratios: plan.ratios, seed, onTooSmall, warn: options.warn });
    // Two ratios: the second part is the validation split, or the test split when validation comes from valDir.
    const secondIsTest = plan.ratios.length === 2 && plan.val === 0;
    split = secondIsTest ? { ...cut, val: [], test: cut.val } : cut;
  } else {
    split = { classes: dataset.classes, train: dataset.samples, val: [], test: [], dropped: [], warnings: [] };
  }
  const given = (part: SplitName, extra: LabelledSource | null, where: string) => {
    const files = [...labelled.filter((f) => f.split === part), ...(extra ? extra.labelled.filter((f) => keep(f.file)) : [])];
    if (extra) dataset.rejected.push(...extra.rejected.filter((r) => keep(r.file)));
    return assignGiven(files, split.classes, dataset.rejected, where);
  };
  if (givenBySource || valSource) split.val = given('val', valSource, valSource ? `valDir ${valSource.root}` : 'split val');
  if (givenBySource || testSource) split.test = given('test', testSource, testSource ? `testDir ${testSource.root}` : 'split test');

  const classWeights = withWeights ? balancedClassWeights(split.train.map((s) => s.label), split.classes.length) : null;
  const recordedOptions: Record<string, unknown> = {
    layout: src.layout, labelType: src.labelType, topN, minCount, seed, onTooSmall, classWeights: withWeights ? 'balanced' : 'none',
    ...(plan.ratios ? { ratios: plan.ratios } : {}), valSplit: plan.val, testSplit: plan.test,
    ...(src.layout === 'manifest' ? { labelManifest: path.resolve(source) } : {}),
    ...(valSource ? { valDir: valSource.root } : {}), ...(testSource ? { testDir: testSource.root } : {}),
    ...(givenBySource ? { splitsFrom: 'manifest split column' } : {}),
  };
  const manifest = createManifest({
    root: src.root,
    labelType: dataset.labelType,
    seed,
    options: recordedOptions,
    split,
    ...(classWeights ? { classWeights } : {}),
    rejected: dataset.rejected,
    dropped: dataset.dropped,
    ignored: [...src.others, ...(valSource?.others ?? []), ...(testSource?.others ?? [])],
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
