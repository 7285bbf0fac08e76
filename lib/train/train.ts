// The fit() loop: data -> loader -> engine steps -> callbacks -> checkpoints -> test report.
import * as fs from 'fs';
import * as path from 'path';
import { prepareData, prepareFromManifest, writeManifest, PreparedData, isLabelManifestPath, Layout } from '../data';
import { keptFiles } from '../data/prefilter';
import { createLoader, Loader } from '../loader';
import { createModel, loadModel, checkpointFiles, defaultPreprocess, validateDevice, Arch, ARCHS, Model } from '../model';
import { loadKerasWeights } from '../keras/import';
import { writeReport, metricsLine, ReportFiles, ClassificationMetrics } from '../report';
import {
  EarlyStopping, ModelCheckpoint, CSVLogger, TensorBoardWriter, ProgressBar, ReduceLROnPlateau, cosineSchedule,
  Logs, ProgressMode, EarlyStoppingState,
} from './callbacks';
import { evaluateFiles, gridImages, PreprocessMode, ResizeMode } from './evaluate';
import { invalid, rejectUnknownKeys, positiveInt, nonNegativeInt, oneOf, numberIn, booleanOption, firstAndMore } from '../validate';
import { writeFileAtomic } from '../atomic-file';
import { DataSummary, DataReport, testCountText } from './data-summary';
import { planStage1, stage1Sources, Stage1Sources, CacheFeaturesMode, CACHE_FEATURES_MODES, HeadAugment, HEAD_AUGMENTS } from './feature-cache';
import { CacheDtype, CACHE_DTYPES } from '../cache';
import { AUGMENT_KEYS, AugmentOptions } from '../loader';
import { Distributed, initDistributedFromEnv } from '../distributed';

export interface EarlyStoppingConfig {
  monitor?: string;
  mode?: 'auto' | 'min' | 'max';
  minDelta?: number;
  patience?: number;
  restoreBestWeights?: boolean;
  startFromEpoch?: number;
}

export interface TrainOptions {
  /** Folder of images: car file names (flat), or one sub-folder per class (or give `manifest`). */
  dir?: string;
  /** A run's manifest.json (repeats its split exactly), or a .csv/.jsonl label manifest of file,label[,split]. */
  manifest?: string;
  /** How `dir` is labelled: 'auto' (default), 'filenames', 'folders'; 'manifest' for a .csv/.jsonl `manifest`. */
  layout?: Layout;
  /** Fraction of each class held out for validation, in (0, 1); default 0.1875. */
  valSplit?: number;
  /** Fraction of each class held out for the test, in [0, 1); default 0.25. */
  testSplit?: number;
  /** Separate validation folder (same layout as `dir`). */
  valDir?: string;
  /** Separate test folder (same layout as `dir`). */
  testDir?: string;
  /** Restricts `dir` to the files a prefilter manifest kept. */
  prefilterManifest?: string;
  /** Run folder: manifest, checkpoints, logs and the report go here. */
  outDir: string;
  labelType?: 'make' | 'model';
  topN?: number;
  minCount?: number;
  ratios?: number[];
  onTooSmall?: 'error' | 'drop';
  seed?: number;
  arch?: string;
  head?: 'gap' | 'vgg';
  inputSize?: [number, number];
  resize?: ResizeMode;
  preprocess?: PreprocessMode;
  /** A model built by the caller (createModel/loadModel) instead of one from arch/head; its size must fit the data. */
  model?: Model;
  /** Keras .h5 ImageNet weights for the base. */
  weights?: string;
  allowPartial?: boolean;
  unfreeze?: 'all' | 'none' | string[];
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  schedule?: 'constant' | 'cosine' | 'plateau';
  /** Two-stage training: this many head-only epochs first (base frozen), at headLearningRate. */
  headEpochs?: number;
  headLearningRate?: number;
  classWeights?: 'balanced' | 'none';
  augment?: false | AugmentOptions;
  /** Stage 1 of a two-stage run: 'flip' (default: the flip part of augment, so features can be cached), 'none', or 'same'. */
  headAugment?: HeadAugment;
  /** Frozen-base epochs from cached base features: 'auto' (default: when exact), 'on' (an error when it cannot be), 'off'. */
  cacheFeatures?: CacheFeaturesMode;
  /** A folder shared between runs for the feature cache (default: <outDir>/feature-cache). */
  cacheDir?: string;
  /** How cached features are stored: 'float32' (default, exact) or 'float16' (half the disk). */
  cacheDtype?: CacheDtype;
  earlyStopping?: false | EarlyStoppingConfig;
  threads?: number;
  loaderThreads?: number;
  prefetch?: number;
  device?: string;
  precision?: 'fp32' | 'bf16';
  /** Continue from outDir's last checkpoint. */
  resume?: boolean;
  progress?: ProgressMode;
  tensorboard?: boolean;
  /** Decode failures: skip and report (default) or stop. */
  onError?: 'skip' | 'throw';
  /** Skips the final test-set evaluation and report. */
  skipReport?: boolean;
  /** Where messages go (default stdout). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Handle SIGINT/SIGTERM by checkpointing after the current step (default true). */
  handleSignals?: boolean;
  /**
   * Data parallel: a group from initDistributed(), or true to join the one the environment describes
   * (torchrun / --nproc-per-node; a single process when there is none). batchSize is per rank.
   */
  distributed?: boolean | Distributed;
}

export interface TrainResult {
  status: 'completed' | 'early_stopped' | 'interrupted' | 'nan';
  epochsRun: number;
  bestEpoch: number | null;
  history: Record<string, number[]>;
  classes: string[];
  outDir: string;
  checkpoints: { best: string; last: string };
  test?: ClassificationMetrics;
  /** Images in the test split; `test.count` is fewer when some could not be decoded (`testErrors`). */
  testImages?: number;
  testErrors?: { file: string; reason: string }[];
  report?: ReportFiles;
  seconds: number;
  message?: string;
  /** What the run left out: rejected files, dropped classes, undecodable images (all in manifest.json). */
  data?: DataReport;
}

const TRAIN_KEYS = ['dir', 'manifest', 'layout', 'valSplit', 'testSplit', 'valDir', 'testDir', 'prefilterManifest', 'outDir', 'labelType', 'topN', 'minCount', 'ratios', 'onTooSmall', 'seed',
  'model', 'arch', 'head', 'inputSize', 'resize', 'preprocess', 'weights', 'allowPartial', 'unfreeze', 'epochs', 'batchSize', 'learningRate',
  'weightDecay', 'labelSmoothing', 'schedule', 'headEpochs', 'headLearningRate', 'classWeights', 'augment', 'headAugment', 'cacheFeatures', 'cacheDir',
  'cacheDtype', 'earlyStopping', 'threads',
  'loaderThreads', 'prefetch', 'device', 'precision', 'resume', 'progress', 'tensorboard', 'onError', 'skipReport', 'stream', 'handleSignals', 'distributed'];
/** What the loop logs each epoch, so what early stopping and checkpoints can watch. */
export const MONITORS = ['val_loss', 'val_accuracy', 'loss', 'accuracy'] as const;
const EARLY_KEYS = ['monitor', 'mode', 'minDelta', 'patience', 'restoreBestWeights', 'startFromEpoch'];

/** Options with defaults applied, validated before any work starts. */
export function resolveTrainOptions(options: TrainOptions) {
  if (!options || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('train', options, TRAIN_KEYS);
  if (!options.dir && !options.manifest && !options.resume) throw new TypeError('train needs dir (a folder of images), manifest (a split from an earlier run) or resume');
  if (typeof options.outDir !== 'string' || !options.outDir) throw invalid('outDir', 'folder path', options.outDir);
  const inputSize = options.inputSize ?? [212, 320];
  if (!Array.isArray(inputSize) || inputSize.length !== 2) throw invalid('inputSize', '[height, width]', inputSize);
  inputSize.forEach((v, i) => positiveInt(`inputSize[${i}]`, v));
  const early = options.earlyStopping === undefined ? {} : options.earlyStopping;
  if (early !== false) {
    if (typeof early !== 'object' || early === null) throw invalid('earlyStopping', 'object or false', early);
    rejectUnknownKeys('earlyStopping', early, EARLY_KEYS);
    if (early.monitor !== undefined) oneOf('earlyStopping.monitor', early.monitor, MONITORS);
  }
  const augment = options.augment === undefined ? { p: 0.7 } : options.augment;
  if (augment !== false) {
    if (typeof augment !== 'object' || augment === null) throw invalid('augment', 'object or false', augment);
    rejectUnknownKeys('augment', augment, AUGMENT_KEYS);
    numberIn('augment.p', augment.p ?? 0.7, 0, 1);
    for (const k of ['flip', 'brightness', 'contrast'] as const) if (augment[k] !== undefined) booleanOption(`augment.${k}`, augment[k]);
  }
  const unfreeze = options.unfreeze ?? 'all';
  if (!(unfreeze === 'all' || unfreeze === 'none' || (Array.isArray(unfreeze) && unfreeze.every((s) => typeof s === 'string')))) {
    throw invalid('unfreeze', "'all', 'none' or an array of regular expressions", unfreeze);
  }
  if (options.cacheDir !== undefined && (typeof options.cacheDir !== 'string' || !options.cacheDir)) throw invalid('cacheDir', 'folder path', options.cacheDir);
  const resolved = {
    ...options,
    inputSize: inputSize as [number, number],
    arch: options.model ? options.arch ?? 'resnet50v2' : oneOf('arch', options.arch ?? 'resnet50v2', ARCHS),
    ...(options.labelType !== undefined ? { labelType: oneOf('labelType', options.labelType, ['make', 'model'] as const) } : {}),
    ...(options.precision !== undefined ? { precision: oneOf('precision', options.precision, ['fp32', 'bf16'] as const) } : {}),
    ...(options.device !== undefined ? { device: validateDevice(options.device) } : {}),
    head: options.head ?? 'gap',
    resize: oneOf('resize', options.resize ?? 'crop_or_pad', ['crop_or_pad', 'bilinear', 'nearest'] as const),
    preprocess: oneOf('preprocess', options.preprocess ?? defaultPreprocess(options.arch), ['tf', 'caffe', 'none'] as const),
    unfreeze,
    epochs: positiveInt('epochs', options.epochs ?? 20),
    batchSize: positiveInt('batchSize', options.batchSize ?? 32),
    learningRate: numberIn('learningRate', options.learningRate ?? 1e-4, 1e-12, 10),
    schedule: oneOf('schedule', options.schedule ?? 'constant', ['constant', 'cosine', 'plateau'] as const),
    headEpochs: nonNegativeInt('headEpochs', options.headEpochs ?? 0),
    headLearningRate: numberIn('headLearningRate', options.headLearningRate ?? 1e-3, 1e-12, 10),
    classWeights: oneOf('classWeights', options.classWeights ?? 'balanced', ['balanced', 'none'] as const),
    augment,
    earlyStopping: early,
    seed: nonNegativeInt('seed', options.seed ?? 1),
    resume: booleanOption('resume', options.resume ?? false),
    tensorboard: booleanOption('tensorboard', options.tensorboard ?? true),
    onError: oneOf('onError', options.onError ?? 'skip', ['skip', 'throw'] as const),
    progress: oneOf('progress', options.progress ?? 'auto', ['auto', 'tty', 'plain', 'quiet'] as const),
    handleSignals: booleanOption('handleSignals', options.handleSignals ?? true),
    headAugment: oneOf('headAugment', options.headAugment ?? 'flip', HEAD_AUGMENTS),
    cacheFeatures: oneOf('cacheFeatures', options.cacheFeatures ?? 'auto', CACHE_FEATURES_MODES),
    cacheDtype: oneOf('cacheDtype', options.cacheDtype ?? 'float32', CACHE_DTYPES),
  };
  // 'on' with brightness/contrast in the frozen-base epochs is refused here, before any work.
  return { ...resolved, stage1: planStage1(resolved, resolved.epochs) };
}

/** Where an interrupted epoch stopped: the batches it trained and their running sums, so a resume goes on from there. */
interface EpochProgress {
  /** Steps of this epoch (or of its last resumed segment, when `segmented`) in the checkpoint's weights. */
  step: number;
  /** Processes that ran those steps: a step of a shard is world-size dependent. */
  worldSize?: number;
  /**
   * Items of the epoch's whole order trained so far: steps of any world size consume a prefix of it
   * (batchSize x worldSize per step), so another world size goes on with the rest.
   */
  items?: number;
  /** The epoch was resumed with another world size: `step` counts from that resume, use `items`. */
  segmented?: boolean;
  /** Sums over every rank. */
  seen: number;
  lossSum: number;
  accSum: number;
}

/**
 * How a resumed epoch goes on: the same world size continues at its step (same batches as an
 * uninterrupted run); 1 process continues at the batch that starts the untrained rest; another
 * number of shards shards the untrained rest of the epoch's order anew (batch composition differs).
 */
export function resumePlan(from: EpochProgress | null, worldSize: number, batchSize: number): { fromBatch: number; fromItem: number; segmentStart: number; segmented: boolean } {
  if (!from) return { fromBatch: 0, fromItem: 0, segmentStart: 0, segmented: false };  // a fresh epoch
  const items = from.items ?? from.step * batchSize * (from.worldSize ?? 1);
  if ((from.worldSize ?? 1) === worldSize && !from.segmented) return { fromBatch: from.step, fromItem: 0, segmentStart: 0, segmented: false };
  if (worldSize === 1) return { fromBatch: Math.floor(items / batchSize), fromItem: 0, segmentStart: 0, segmented: false };
  return { fromBatch: 0, fromItem: items, segmentStart: items, segmented: true };
}

interface TrainState {
  epoch: number; // epochs completed
  /** Set when interrupted inside epoch `epoch`: the checkpoint's weights already contain these steps. */
  inEpoch?: EpochProgress;
  history: Record<string, number[]>;
  learningRate: number;
  earlyStopping?: EarlyStoppingState;
  bestValue?: number | null;
}

/** The run's resolved configuration, recorded in <outDir>/config.json so `--resume` can restore it. */
export function configPath(outDir: string): string {
  return path.join(outDir, 'config.json');
}

/** Keys of config.json: every resolved option that shapes the run (no stream, model object or callbacks). */
export const RUN_CONFIG_KEYS = ['dir', 'manifest', 'layout', 'valSplit', 'testSplit', 'valDir', 'testDir', 'prefilterManifest', 'labelType', 'topN', 'minCount', 'ratios', 'onTooSmall', 'seed', 'arch', 'head',
  'inputSize', 'resize', 'preprocess', 'weights', 'allowPartial', 'unfreeze', 'epochs', 'batchSize', 'learningRate', 'weightDecay', 'labelSmoothing',
  'schedule', 'headEpochs', 'headLearningRate', 'classWeights', 'augment', 'headAugment', 'earlyStopping', 'device', 'precision', 'tensorboard', 'onError',
  'cacheFeatures', 'cacheDir', 'cacheDtype'] as const;

/** Options that hold paths: recorded absolute, compared resolved. */
export const PATH_KEYS: readonly string[] = ['dir', 'manifest', 'valDir', 'testDir', 'prefilterManifest', 'weights'];

function runConfig(o: ReturnType<typeof resolveTrainOptions>): Record<string, unknown> {
  const c: Record<string, unknown> = {};
  for (const k of RUN_CONFIG_KEYS) {
    let v = (o as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (PATH_KEYS.includes(k) && typeof v === 'string') v = path.resolve(v);
    c[k] = v;
  }
  if (o.model) c.arch = o.model.arch;
  return c;
}

function statePath(outDir: string): string {
  return path.join(outDir, 'train-state.json');
}

async function loadData(o: ReturnType<typeof resolveTrainOptions>, log: (s: string) => void): Promise<PreparedData> {
  const labelManifest = o.manifest !== undefined && isLabelManifestPath(o.manifest);
  if (o.manifest && o.dir) throw new TypeError(`Give dir (a folder) or manifest (${o.manifest}), not both`);
  if (o.manifest && !labelManifest) {
    const extra = (['layout', 'valSplit', 'testSplit', 'valDir', 'testDir', 'ratios'] as const).filter((k) => o[k] !== undefined);
    if (extra.length) throw new TypeError(`manifest ${o.manifest} is a run's split, repeated as it was; ${extra.join(', ')} cannot change it`);
    return prepareFromManifest(o.manifest);
  }
  const options = { labelType: o.labelType, topN: o.topN, minCount: o.minCount, ratios: o.ratios, seed: o.seed, onTooSmall: o.onTooSmall,
    classWeights: o.classWeights === 'balanced', warn: log, layout: o.layout, valSplit: o.valSplit, testSplit: o.testSplit, valDir: o.valDir, testDir: o.testDir };
  for (const k of Object.keys(options) as Array<keyof typeof options>) if (options[k] === undefined) delete options[k];
  if (labelManifest && o.prefilterManifest) throw new TypeError('prefilterManifest restricts a folder (dir); a label manifest lists its files itself');
  if (!o.prefilterManifest) return prepareData(labelManifest ? o.manifest! : o.dir!, options);
  // Only the files the prefilter kept: labels, split and weights then see exactly what training sees.
  const root = path.resolve(o.dir!);
  const kept = new Set((await keptFiles(o.prefilterManifest)).map((f) => path.resolve(root, f)));
  let scanned = 0, passed = 0;
  const keep = (f: string) => { scanned++; const k = kept.has(path.resolve(f)); if (k) passed++; return k; };
  const data = await prepareData(root, { ...options, keep });
  data.manifest.options.prefilterManifest = path.resolve(o.prefilterManifest);
  log(`prefilter manifest ${o.prefilterManifest}: ${passed} of ${scanned} files kept`);
  return data;
}

/** Trains a classifier end to end; see TrainOptions. Resolves when training stops for any reason. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const o = resolveTrainOptions(options);
  const given = o.distributed;
  if (given !== undefined && typeof given !== 'boolean' && !(typeof given === 'object' && given !== null && 'allreduceSum' in given)) {
    throw new TypeError('Expected boolean or a Distributed from initDistributed() for distributed');
  }
  const own = given === true ? await initDistributedFromEnv() : null;
  const dist = typeof given === 'object' ? given : own;
  let result: TrainResult;
  try {
    result = await trainLoop(o, dist);
  } catch (e) {
    // The other ranks' failing collectives then name this rank and its reason.
    dist?.reportFailure((e as Error).message ?? String(e));
    await own?.close(false);
    throw e;
  }
  await own?.close(true); // after every rank is done: rank 0 hosts the store
  return result;
}

async function trainLoop(o: ReturnType<typeof resolveTrainOptions>, dist: Distributed | null): Promise<TrainResult> {
  // Rank 0 alone prints and writes (manifest, config, checkpoints, logs, report); every rank computes.
  const main = !dist || dist.isMain;
  const started = Date.now();
  const stream = o.stream ?? process.stdout;
  const progress = new ProgressBar({ stream, mode: main ? o.progress : 'quiet' });
  const log = (s: string) => progress.message(s);
  const outDir = path.resolve(o.outDir);
  const ckptDir = path.join(outDir, 'checkpoints');
  const checkpoints = { best: path.join(ckptDir, 'best'), last: path.join(ckptDir, 'last') };

  const recorded = o.resume && fs.existsSync(configPath(outDir))
    ? JSON.parse(fs.readFileSync(configPath(outDir), 'utf8')) as Record<string, unknown> : null;
  if (recorded) {
    // A resumed run keeps the shape of the run it continues; the CLI takes these from config.json.
    const now = runConfig(o);
    const clash = ['arch', 'head', 'inputSize', 'resize', 'preprocess', 'labelType']
      .filter((k) => recorded[k] !== undefined && JSON.stringify(recorded[k]) !== JSON.stringify(now[k]));
    if (clash.length) {
      throw new RangeError(`resume: ${clash.map((k) => `${k} ${JSON.stringify(now[k])} differs from the run's ${JSON.stringify(recorded[k])}`).join('; ')} (see ${configPath(outDir)})`);
    }
  }
  // Data: a resumed run reuses its own manifest so the split cannot drift.
  const ownManifest = path.join(outDir, 'manifest.json');
  const reuseManifest = o.resume && fs.existsSync(ownManifest);
  const data = reuseManifest ? await prepareFromManifest(ownManifest) : await loadData(o, log);
  const { classes, splits } = data;
  // Ranks started with different settings or data stop here, all with the same message.
  if (dist) await dist.checkSameConfig(replicaFingerprint(o, data, resumeEpochOf(outDir, o.resume)));
  // The run folder is made only once the data is known to be usable: a bad folder leaves nothing behind.
  if (main) {
    fs.mkdirSync(ckptDir, { recursive: true });
    if (!reuseManifest) await writeManifest(outDir, data.manifest);
    await writeFileAtomic(configPath(outDir), JSON.stringify(runConfig(o), null, 2) + '\n');
  }
  const numClasses = classes.length;
  const weights = o.classWeights === 'balanced' ? data.classWeights : null;
  log(`${numClasses} classes (${data.manifest.options.layout ?? 'filenames'} layout); ${splits.train.length} train, ${splits.val.length} validation, ${splits.test.length} test images`);
  const summary = new DataSummary(data.manifest);
  for (const line of summary.dataLines()) log(line);

  // Model: fresh, or the last checkpoint (weights + optimizer state) when resuming.
  const resumeState: TrainState | null = o.resume && fs.existsSync(statePath(outDir)) ? JSON.parse(fs.readFileSync(statePath(outDir), 'utf8')) : null;
  if (o.resume && !resumeState) throw new Error(`--resume: no training state in ${outDir} (expected ${statePath(outDir)})`);
  const inputShape: [number, number, number] = [o.inputSize[0], o.inputSize[1], 3];
  const stage2 = resumeState ? resumeState.epoch >= o.headEpochs : o.headEpochs === 0;
  if (o.model && o.model.numClasses !== numClasses) {
    throw new RangeError(`model has ${o.model.numClasses} outputs but the data has ${numClasses} classes`);
  }
  if (o.model && (o.model.inputShape[0] !== o.inputSize[0] || o.model.inputShape[1] !== o.inputSize[1])) {
    throw new RangeError(`model input [${o.model.inputShape.join(', ')}] does not match inputSize [${o.inputSize.join(', ')}]`);
  }
  // With NCCL each rank pins cuda:LOCAL_RANK.
  const device = dist?.modelDevice ?? o.device;
  const model: Model = resumeState
    ? await loadModel(checkpoints.last, { device, threads: o.threads })
    : o.model ?? await createModel({ arch: o.arch as Arch, numClasses, inputShape, head: o.head, unfreeze: stage2 ? o.unfreeze : 'none', seed: o.seed,
      ...(device ? { device } : {}), ...(o.precision ? { precision: o.precision } : {}), ...(o.threads ? { threads: o.threads } : {}) });
  if (resumeState || o.model) await model.setTrainable(stage2 ? o.unfreeze : 'none');
  if (o.weights && !resumeState && main) {
    const report = await loadKerasWeights(model, o.weights, { allowPartial: o.allowPartial ?? false, expectMissing: [/^head_/], ignoreUnexpected: true, onSkip: log });
    log(`loaded ${report.loaded.length} weights from ${o.weights}`);
  } else if (!resumeState && !o.model && o.arch === 'resnet50v2') {
    log('Training resnet50v2 from scratch (random weights, no --weights): expect far lower accuracy than from the Keras ImageNet weights (README: Keras weights).');
  }
  log(modelTotals(model));
  // A resumed run goes on at the rate it had reached, unless a learning rate other than the recorded one was asked for.
  const newLearningRate = recorded !== null && recorded.learningRate !== undefined && recorded.learningRate !== o.learningRate;
  let lr = resumeState && !newLearningRate ? resumeState.learningRate : stage2 || resumeState ? o.learningRate : o.headLearningRate;
  model.compile({ optimizer: { name: 'adam', learningRate: lr, ...(o.weightDecay ? { weightDecay: o.weightDecay } : {}) }, loss: 'categorical_crossentropy', ...(o.labelSmoothing ? { labelSmoothing: o.labelSmoothing } : {}) });
  const checkReplicas = dist && process.env.CARCLASS_DDP_CHECK_WEIGHTS === '1' ? (when: string) => dist.checkReplicas(model, when) : null;
  if (dist) {
    // Every replica starts from rank 0's weights (Keras weights were loaded there), statistics and Adam state.
    await dist.broadcastModel(model);
    await dist.attach(model);
    await checkReplicas?.('after the initial broadcast');
  }

  const loaderBase = { batchSize: o.batchSize, size: o.inputSize, resize: o.resize, preprocess: o.preprocess, onError: o.onError,
    ...(o.loaderThreads ? { threads: o.loaderThreads } : {}), ...(o.prefetch ? { prefetch: o.prefetch } : {}) };
  const trainLoader = createLoader({
    ...loaderBase, files: splits.train.map((s) => s.file), labels: splits.train.map((s) => s.label),
    ...(weights ? { sampleWeights: splits.train.map((s) => weights[s.label]) } : {}),
    shuffle: true, seed: o.seed, augment: o.augment === false ? false : { p: 0.7, ...o.augment },
    ...(dist ? { shard: { index: dist.rank, count: dist.worldSize } } : {}),
  });
  // Validation: a contiguous block per rank, no padding, so the summed metrics are exact.
  const valBlock = dist ? dist.block(splits.val.length) : { start: 0, end: splits.val.length };
  const valSamples = splits.val.slice(valBlock.start, valBlock.end);
  const valLoader = valSamples.length ? createLoader({ ...loaderBase, files: valSamples.map((s) => s.file), labels: valSamples.map((s) => s.label), shuffle: false, augment: false }) : null;

  const history: Record<string, number[]> = resumeState ? resumeState.history : {};
  const csv = main ? new CSVLogger(path.join(outDir, 'training.csv'), { append: !!resumeState }) : null;
  await csv?.onTrainBegin();
  const tb = o.tensorboard && main ? new TensorBoardWriter(path.join(outDir, 'logs')) : null;
  const earlyCfg = o.earlyStopping === false ? null : o.earlyStopping;
  const early = earlyCfg ? new EarlyStopping({
    monitor: earlyCfg.monitor ?? 'val_loss', mode: earlyCfg.mode ?? 'auto', minDelta: earlyCfg.minDelta ?? 0, patience: earlyCfg.patience ?? 12,
    restoreBestWeights: earlyCfg.restoreBestWeights ?? true, startFromEpoch: earlyCfg.startFromEpoch ?? o.headEpochs, log,
  }) : null;
  early?.onTrainBegin();
  let bestWeights: unknown = null;
  if (early && resumeState?.earlyStopping) {
    // The best weights of a resumed run are the best checkpoint on disk.
    const haveBest = fs.existsSync(checkpointFiles(checkpoints.best).metadata);
    early.loadState(resumeState.earlyStopping, haveBest);
    if (haveBest) bestWeights = await (await loadModel(checkpoints.best)).getWeights();
  }
  const monitor = earlyCfg?.monitor ?? 'val_loss';
  const meta = { classes, preprocess: o.preprocess, extra: { resize: o.resize, manifest: ownManifest, labelType: data.manifest.labelType, arch: o.arch } };
  const checkpoint = new ModelCheckpoint({
    filepath: checkpoints.best, monitor, mode: earlyCfg?.mode ?? 'auto', saveBestOnly: true, log,
    save: async (file, epoch) => { if (main) await model.save(file, { ...meta, epoch: epoch + 1 }); },
    ...(resumeState && resumeState.bestValue != null ? { initialValueThreshold: resumeState.bestValue } : {}),
  });
  const plateau = o.schedule === 'plateau' ? new ReduceLROnPlateau({ monitor: 'val_loss', factor: 0.5, patience: 3, log }) : null;

  let stopSignal: string | null = null;
  const onSignal = (sig: string) => () => { stopSignal = sig; log(`${sig} received: finishing the current step, then saving a checkpoint.`); };
  const handlers = o.handleSignals ? (['SIGINT', 'SIGTERM'] as const).map((s) => [s, onSignal(s)] as const) : [];
  for (const [s, h] of handlers) process.on(s, h);

  const saveLast = async (epochsDone: number, inEpoch?: EpochProgress) => {
    if (!main) return;
    await model.save(checkpoints.last, { ...meta, epoch: epochsDone });
    const state: TrainState = { epoch: epochsDone, ...(inEpoch ? { inEpoch: { ...inEpoch, worldSize: dist?.worldSize ?? 1 } } : {}), history, learningRate: lr, ...(early ? { earlyStopping: early.state() } : {}), bestValue: Number.isFinite(checkpoint.best) ? checkpoint.best : null };
    await writeFileAtomic(statePath(outDir), JSON.stringify(state, null, 2));
  };

  let status: TrainResult['status'] = 'completed';
  let message: string | undefined;
  let epoch = resumeState ? resumeState.epoch : 0;
  let stage1: Stage1Sources | null = null;
  try {
    for (; epoch < o.epochs; epoch++) {
      const frozenStage = epoch < o.stage1.end;
      if (frozenStage && !stage1) {
        stage1 = await stage1Sources(dist ? withoutCache(o, log) : o, { model, splits, classWeights: weights, outDir, progress, log, stopRequested: () => stopSignal !== null,
          ...(dist ? { shard: { index: dist.rank, count: dist.worldSize } } : {}) }, trainLoader);
      }
      if (stage1?.interrupted) {
        status = 'interrupted';
        await saveLast(epoch);
        message = `Interrupted by ${stopSignal} while building the feature cache (what is built is kept). Resume with: carclass train --resume --out ${outDir}`;
        log(message);
        break;
      }
      if (!frozenStage && stage1) { stage1.close(); stage1 = null; }
      const source = stage1?.train ?? trainLoader;
      // Entering stage 2 (a run resumed past it was restored with stage 2's trainability already).
      if (epoch === o.headEpochs && o.headEpochs > 0) {
        await model.setTrainable(o.unfreeze);
        lr = o.learningRate;
        model.setLearningRate(lr);
        log(`Stage 2: unfreezing ${JSON.stringify(o.unfreeze)} at learning rate ${lr}`);
      }
      if (o.schedule === 'cosine' && epoch >= o.headEpochs) {
        lr = cosineSchedule({ lr: o.learningRate, decaySteps: Math.max(1, o.epochs - o.headEpochs) })(epoch - o.headEpochs);
        model.setLearningRate(lr);
      }
      // A run interrupted inside this epoch goes on with what it had not trained on, with the same order and augmentation.
      const from = resumeState?.inEpoch && epoch === resumeState.epoch ? resumeState.inEpoch : null;
      const world = dist?.worldSize ?? 1;
      const plan = resumePlan(from, world, o.batchSize);
      if (plan.fromItem > 0 && !(source instanceof Loader)) throw new Error('internal: a resharded resume needs the image loader');
      const epochLength = plan.fromItem > 0 ? (source as Loader).batchesFrom(plan.fromItem) : source.length;
      // The saved sums are every rank's: one rank carries them on, so the epoch's all-reduce counts them once.
      const carry = from && main;
      let seen = carry ? from.seen : 0, lossSum = carry ? from.lossSum : 0, accSum = carry ? from.accSum : 0, step = plan.fromBatch;
      progress.epochBegin(epoch, o.epochs, epochLength, step);
      if (from && !plan.segmented && plan.fromBatch === from.step) log(`Resuming epoch ${epoch + 1} at step ${step + 1}/${source.length}`);
      else if (from) {
        const done = plan.segmentStart || plan.fromBatch * o.batchSize;
        log(`Resuming epoch ${epoch + 1} after ${done} of its images, trained by ${from.worldSize ?? 1} process(es), on ${world}: ${epochLength - step} step(s) left`);
      }
      let stoppedInEpoch = false;
      /** One vote per step: every rank takes the same stop and invalid-loss decisions from the all-reduced votes. */
      const vote = async (invalidLoss: boolean): Promise<{ stop: boolean; invalidLoss: boolean }> => {
        // A signal that lands while this all-reduce runs counts at the next step, never on one rank only
        // (that would leave the others in a collective this rank no longer joins).
        const stop = stopSignal !== null;
        if (!dist) return { stop, invalidLoss };
        const [stops, invalid] = await dist.allreduceSum([stop ? 1 : 0, invalidLoss ? 1 : 0], 'stop check');
        if (stops > 0) stopSignal ??= 'a signal on another rank';
        return { stop: stops > 0, invalidLoss: invalid > 0 };
      };
      /**
       * Data parallel: the steps of batches this rank's loader skipped (every file of them unreadable) up to
       * batch `end`. The rank joins them without samples, so every rank takes every step of the epoch.
       */
      const joinSkipped = async (end: number): Promise<boolean> => {
        while (dist && step < end) {
          await model.trainWithoutBatch();
          step += 1;
          const v = await vote(false);
          if (v.stop && step < epochLength) return true;
        }
        return false;
      };
      const batches = plan.fromItem > 0 ? (source as Loader).epoch(epoch, { fromItem: plan.fromItem }) : source.epoch(epoch, { fromBatch: step });
      for await (const batch of batches) {
        if (await joinSkipped(batch.number)) { batch.release(); stoppedInEpoch = true; break; }
        const r = await model.trainOnBatch(batch);
        batch.release(); // hands the pixel buffer back to the loader's pool now, not at the next GC
        const v = await vote(!Number.isFinite(r.loss));
        if (v.invalidLoss) {
          status = 'nan';
          const where = Number.isFinite(r.loss) ? `${r.loss} here, not finite on another rank` : String(r.loss);
          message = `Batch ${batch.number}: Invalid loss (${where}), terminating training. The last good checkpoint is kept: ${checkpoints.last}`;
          break;
        }
        seen += batch.size; lossSum += r.loss * batch.size; accSum += r.accuracy * batch.size; step = batch.number + 1;
        progress.update(step, { accuracy: accSum / seen, loss: lossSum / seen });
        if (v.stop && step < epochLength) { stoppedInEpoch = true; break; }
      }
      if (status !== 'nan' && !stoppedInEpoch && (await joinSkipped(epochLength))) stoppedInEpoch = true;
      if (status === 'nan') { log(message!); break; }
      if (stoppedInEpoch) {
        // The checkpoint holds this epoch's first `step` steps; resume trains the rest of it.
        status = 'interrupted';
        if (dist) [seen, lossSum, accSum] = await dist.allreduceSum([seen, lossSum, accSum], 'interrupted epoch sums');
        const items = plan.segmentStart + step * o.batchSize * world;
        await saveLast(epoch, { step, items, ...(plan.segmented ? { segmented: true } : {}), seen, lossSum, accSum });
        message = `Interrupted by ${stopSignal} during epoch ${epoch + 1} after step ${step}/${epochLength}. Saved ${checkpoints.last}. Resume with: carclass train --resume --out ${outDir}`;
        log(message);
        break;
      }
      let vSeen = 0, vLoss = 0, vAcc = 0;
      for await (const batch of (stage1?.val ?? valLoader)?.epoch(0) ?? []) {
        const r = await model.evaluateOnBatch(batch);
        batch.release();
        vSeen += r.count; vLoss += r.loss * r.count; vAcc += r.accuracy * r.count;
      }
      let stopAtEnd = stopSignal !== null;
      if (dist) {
        // Sums over all ranks: every rank logs the same val_loss, so callbacks decide alike everywhere;
        // the stop vote rides along so that every rank ends at this epoch or none does.
        let stops: number;
        [seen, lossSum, accSum, vSeen, vLoss, vAcc, stops] = await dist.allreduceSum([seen, lossSum, accSum, vSeen, vLoss, vAcc, stopAtEnd ? 1 : 0], 'epoch metrics');
        stopAtEnd = stops > 0;
        if (stopAtEnd) stopSignal ??= 'a signal on another rank';
        await checkReplicas?.(`after epoch ${epoch + 1}`);
      }
      const logs: Logs = { accuracy: accSum / Math.max(seen, 1), loss: lossSum / Math.max(seen, 1), ...(vSeen ? { val_accuracy: vAcc / vSeen, val_loss: vLoss / vSeen } : {}), learning_rate: lr };
      progress.epochEnd(logs);
      for (const [k, v] of Object.entries(logs)) (history[k] ??= []).push(v);
      await csv?.onEpochEnd(epoch, logs);
      tb?.onEpochEnd(epoch, logs);
      if (vSeen) await checkpoint.onEpochEnd(epoch, logs);
      let stop = false;
      if (early && vSeen) {
        const d = early.onEpochEnd(epoch, logs);
        if (d.captureWeights && early.restoreBestWeights) bestWeights = await model.getWeights();
        stop = d.stop;
      }
      if (plateau && vSeen) {
        const p = plateau.onEpochEnd(epoch, logs, lr);
        if (p.reduced) { lr = p.lr; model.setLearningRate(lr); }
      }
      await saveLast(epoch + 1);
      if (stop) { status = 'early_stopped'; epoch += 1; break; }
      if (stopAtEnd) {
        status = 'interrupted';
        epoch += 1;
        message = `Interrupted by ${stopSignal} at the end of epoch ${epoch}. Saved ${checkpoints.last}. Resume with: carclass train --resume --out ${outDir}`;
        log(message);
        break;
      }
    }
  } finally {
    for (const [s, h] of handlers) process.removeListener(s, h);
    stage1?.close();
    trainLoader.close();
    valLoader?.close();
    await tb?.close();
  }

  let bestEpoch: number | null = early ? early.bestEpoch + 1 : null;
  if (early && status !== 'interrupted' && status !== 'nan') {
    const end = early.onTrainEnd();
    if (end.restoreBest && bestWeights) await model.setWeights(bestWeights as any);
    bestEpoch = end.bestEpoch + 1;
  }

  summary.add('train', trainLoader.stats().errors);
  summary.add('val', valLoader?.stats().errors ?? []);
  const result: TrainResult = { status, epochsRun: epoch, bestEpoch, history, classes, outDir, checkpoints, seconds: (Date.now() - started) / 1000, ...(message ? { message } : {}) };
  if (dist) await dist.detach(model);
  if (!o.skipReport && status !== 'interrupted' && status !== 'nan' && splits.test.length) {
    const labels = splits.test.map((s) => s.label);
    const files = splits.test.map((s) => s.file);
    const passOptions = { size: o.inputSize, resize: o.resize, preprocess: o.preprocess, batchSize: o.batchSize, ...(o.loaderThreads ? { threads: o.loaderThreads } : {}),
      ...(dist ? { distributed: dist } : {}) };
    const { metrics, predictions } = await evaluateFiles(model, files, labels, classes, passOptions);
    if (!main) return { status, epochsRun: epoch, bestEpoch, history, classes, outDir, checkpoints, test: metrics, seconds: (Date.now() - started) / 1000, ...(message ? { message } : {}) };
    const grid = await gridImages(predictions, labels, classes, o.inputSize, 16);
    result.test = metrics;
    result.testImages = files.length;
    result.testErrors = predictions.errors;
    if (predictions.errors.length) {
      log(`test: ${predictions.errors.length} of ${files.length} test images could not be decoded and are not counted: ${firstAndMore(predictions.errors, (e) => `${path.basename(e.file)} (${e.reason})`)}`);
    }
    result.seconds = (Date.now() - started) / 1000;
    result.report = await writeReport(path.join(outDir, 'report'), {
      metrics, history, gridImages: grid, title: `carclass ${o.arch} on ${numClasses} classes`,
      hyperparameters: { ...runConfig(o), labelType: data.manifest.labelType },
      info: { arch: o.arch, inputSize: o.inputSize, epochsRun: epoch, bestEpoch, status, seconds: result.seconds, trainImages: splits.train.length, valImages: splits.val.length, testImages: splits.test.length, checkpoint: checkpoints.best,
        ...(predictions.errors.length ? { testNotDecoded: predictions.errors } : {}) },
    });
    summary.add('test', predictions.errors.map((e) => ({ code: 'UNDECODABLE', ...e })));
    result.data = summary.report(splits.test.length, metrics.count);
    log(`test: ${metricsLine(metrics)} ${testCountText(metrics.count, result.data)}; report in ${path.join(outDir, 'report')}`);
  }
  result.data ??= summary.report(splits.test.length);
  for (const line of summary.summaryLines()) log(line);
  // The full lists go to manifest.json (rejected and dropped are there from the start).
  if (result.data.undecodable.length) await writeManifest(outDir, summary.manifestWithUndecodable());
  return result;
}

/** The totals of model.summary() in one line, printed before training. */
function modelTotals(model: Model): string {
  const c = model.countParams();
  const n = (v: number) => v.toLocaleString('en-US');
  return `Model ${model.arch}: ${n(c.total)} params (${n(c.trainable)} trainable, ${n(c.nonTrainable)} non-trainable), input ${model.inputShape[0]}x${model.inputShape[1]}, ${model.numClasses} classes`;
}

/**
 * Data-parallel runs train the frozen-base epochs end to end: the feature cache is one file per run, not
 * sharded across ranks. 'on' is refused; 'auto' says so once.
 */
function withoutCache(o: ReturnType<typeof resolveTrainOptions>, log: (line: string) => void): ReturnType<typeof resolveTrainOptions> {
  if (!o.stage1.cache) return o;
  if (o.cacheFeatures === 'on') throw new RangeError("cacheFeatures 'on' (--cache-features on) is not supported with distributed training: each rank would need its own shard of the cache; use --cache-features auto|off");
  log('Feature cache off: distributed training runs the frozen-base epochs end to end on each rank\'s shard');
  return { ...o, stage1: { ...o.stage1, cache: false, note: '' } };
}

/** What every rank must agree on: the data it sees and the settings that shape the model and its steps. */
function replicaFingerprint(o: ReturnType<typeof resolveTrainOptions>, data: PreparedData, resumeEpoch: number): Record<string, unknown> {
  const c = runConfig(o);
  const fields: Record<string, unknown> = { classes: data.classes, trainImages: data.splits.train.length, valImages: data.splits.val.length,
    testImages: data.splits.test.length, resumeEpoch };
  for (const k of ['arch', 'head', 'inputSize', 'resize', 'preprocess', 'labelType', 'seed', 'unfreeze', 'epochs', 'batchSize', 'learningRate', 'weightDecay',
    'labelSmoothing', 'schedule', 'headEpochs', 'headLearningRate', 'classWeights', 'augment', 'earlyStopping', 'precision'] as const) fields[k] = c[k] ?? null;
  return fields;
}

function resumeEpochOf(outDir: string, resume: boolean): number {
  const file = statePath(outDir);
  if (!resume || !fs.existsSync(file)) return 0;
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as TrainState).epoch;
}

function fixed4(v: number | null): string {
  return v === null ? 'n/a' : v.toFixed(4);
}

