// Ordered, unshuffled passes over files: predictions that line up with the file list, and test metrics.
import { createLoader, Batch } from '../loader';
import type { Model } from '../model';
import { predictFromFeatureCache } from './feature-cache';
import { decodeImage } from '../image';
import { computeMetrics, ClassificationMetrics, GridImage } from '../report';
import { defaultPreprocess } from '../model';
import { topKIndices } from '../data/prefilter';
import { invalid, positiveInt, rejectUnknownKeys } from '../validate';
import type { Distributed } from '../distributed';

export type ResizeMode = 'crop_or_pad' | 'bilinear' | 'nearest';
export type PreprocessMode = 'tf' | 'caffe' | 'none';

/** The model surface the loops need (the engine's Model satisfies it). */
export interface StepModel {
  predictOnBatch(batch: unknown): Promise<Float32Array>;
  /** Read when options leave out size, resize or preprocessing (a loaded checkpoint carries them). */
  inputShape?: readonly number[];
  arch?: string;
  preprocess?: string;
  extra?: Record<string, unknown>;
  classes?: string[];
}

export interface PassOptions {
  size: [number, number];
  resize: ResizeMode;
  preprocess: PreprocessMode;
  batchSize: number;
  threads?: number;
  onError?: 'skip' | 'throw';
  /** Data parallel: each rank predicts its contiguous block of the files; every rank gets the merged result in input order. */
  distributed?: Distributed | null;
  /** A feature-cache folder: the model's base features for these files are read from there (computed once if missing). */
  featureCache?: string;
}

/** predictFiles options: every field may be left out and is then read from the model (batch size 32). */
export interface PredictOptions extends Partial<PassOptions> {
  /** How many labels per file in `top` (default 5, at most the class count). */
  topK?: number;
  /** Class names for `top` (default the model's, else the class index as text). */
  classes?: string[];
}

export interface TopPrediction {
  /** Class index (column of probabilities). */
  index: number;
  label: string;
  probability: number;
}

/** The input pipeline a model was trained with: its size, and the resize and preprocessing its checkpoint recorded. */
export function passOptionsForModel(model: StepModel, batchSize = 32, threads?: number): PassOptions {
  if (!model.inputShape) throw new TypeError('predictFiles: options.size is needed for a model without inputShape');
  const resize = (model.extra?.resize as ResizeMode | undefined) ?? 'crop_or_pad';
  const preprocess = (model.preprocess as PreprocessMode | undefined) ?? defaultPreprocess(model.arch);
  return { size: [model.inputShape[0], model.inputShape[1]], resize, preprocess, batchSize, ...(threads ? { threads } : {}) };
}

export interface Predictions {
  /** Files that decoded, in input order. */
  files: string[];
  /** Position of each predicted file in the input list. */
  indices: number[];
  /** [files.length, K] probabilities, row i for files[i]. */
  probabilities: Float32Array;
  numClasses: number;
  /** Per predicted file (row i for files[i]): the topK classes, most probable first. */
  top: TopPrediction[][];
  errors: { file: string; reason: string }[];
}

/** The k most probable classes of one probability row, most probable first (ties: lower index first). */
export function topK(row: ArrayLike<number>, k: number, classes?: readonly string[]): TopPrediction[] {
  return topKIndices(row, k).map((j) => ({ index: j, label: classes?.[j] ?? String(j), probability: row[j] }));
}

/**
 * Predicts every file in order; files that fail to decode are skipped and listed (or throw). Options left out come
 * from the model (`predictFiles(model, files)` with a loaded checkpoint uses the pipeline it was trained with).
 */
export async function predictFiles(model: StepModel, files: string[], opts: PredictOptions = {}, onBatch?: (done: number, total: number) => void): Promise<Predictions> {
  if (typeof opts !== 'object' || opts === null) throw invalid('options', 'object', opts);
  rejectUnknownKeys('predictFiles', opts, ['size', 'resize', 'preprocess', 'batchSize', 'threads', 'onError', 'featureCache', 'distributed', 'topK', 'classes']);
  const needModel = opts.size === undefined || opts.resize === undefined || opts.preprocess === undefined;
  const options: PassOptions = { ...(needModel ? passOptionsForModel(model) : { batchSize: 32 }), ...definedOnly(opts) } as PassOptions;
  const k = positiveInt('topK', opts.topK ?? 5);
  const classes = opts.classes ?? model.classes;
  const dist = options.distributed;
  const p = dist && dist.worldSize > 1 ? await predictSharded(model, files, options, dist, onBatch)
    : options.featureCache ? await predictFromFeatureCache(model as Model, files, options, onBatch) : await predictWithLoader(model, files, options, onBatch);
  const top = p.files.map((_, i) => topK(p.probabilities.subarray(i * p.numClasses, (i + 1) * p.numClasses), k, classes));
  return { ...p, top };
}

async function predictWithLoader(model: StepModel, files: string[], options: PassOptions, onBatch?: (done: number, total: number) => void): Promise<Omit<Predictions, 'top'>> {
  const loader = createLoader({
    files, batchSize: options.batchSize, size: options.size, resize: options.resize, preprocess: options.preprocess,
    shuffle: false, augment: false, onError: options.onError ?? 'skip', ...(options.threads ? { threads: options.threads } : {}),
  });
  try {
    const p = await predictBatches(model, loader.epoch(0), loader.length, onBatch);
    return { ...p, errors: loader.stats().errors };
  } finally {
    loader.close();
  }
}

/** Predictions of a stream of ordered batches (pixels or cached features), concatenated in order. */
export async function predictBatches(model: StepModel, batches: AsyncIterable<Batch>, length: number, onBatch?: (done: number, total: number) => void): Promise<Omit<Predictions, 'errors' | 'top'>> {
  const rows: Float32Array[] = [];
  const outFiles: string[] = [];
  const indices: number[] = [];
  let numClasses = 0;
  let done = 0;
  for await (const batch of batches) {
    const probs = await model.predictOnBatch(batch);
    batch.release();
    if (batch.size > 0) numClasses = probs.length / batch.size;
    rows.push(probs);
    outFiles.push(...batch.files);
    indices.push(...Array.from(batch.indices));
    done += 1;
    onBatch?.(done, length);
  }
  const probabilities = new Float32Array(outFiles.length * numClasses);
  let offset = 0;
  for (const r of rows) {
    probabilities.set(r, offset);
    offset += r.length;
  }
  return { files: outFiles, indices, probabilities, numClasses };
}

function definedOnly(o: PredictOptions): Partial<PassOptions> {
  const out: Record<string, unknown> = {};
  for (const key of ['size', 'resize', 'preprocess', 'batchSize', 'threads', 'onError', 'featureCache', 'distributed'] as const) if (o[key] !== undefined) out[key] = o[key];
  return out as Partial<PassOptions>;
}

/** Each rank's block, predicted locally, then gathered: blocks in rank order are the input order. */
async function predictSharded(model: StepModel, files: string[], options: PassOptions, dist: Distributed, onBatch?: (done: number, total: number) => void): Promise<Omit<Predictions, 'top'>> {
  const { start, end } = dist.block(files.length);
  const local: Omit<Predictions, 'top'> = start < end ? await predictFiles(model, files.slice(start, end), { ...options, distributed: null }, onBatch)
    : { files: [], indices: [], probabilities: new Float32Array(0), numClasses: 0, errors: [] };
  const header = Buffer.from(JSON.stringify({ files: local.files, indices: local.indices.map((i) => i + start), numClasses: local.numClasses, errors: local.errors }));
  const probs = Buffer.from(local.probabilities.buffer, local.probabilities.byteOffset, local.probabilities.byteLength);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const parts = await dist.allgatherBytes(new Uint8Array(Buffer.concat([length, header, probs])), 'prediction gather');
  const merged: Omit<Predictions, 'top'> = { files: [], indices: [], probabilities: new Float32Array(0), numClasses: 0, errors: [] };
  const rows: Float32Array[] = [];
  for (const part of parts) {
    const b = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    const n = b.readUInt32LE(0);
    const h = JSON.parse(b.subarray(4, 4 + n).toString('utf8')) as Omit<Predictions, 'probabilities' | 'top'>;
    const raw = b.subarray(4 + n);
    const aligned = new Float32Array(raw.byteLength / 4);
    new Uint8Array(aligned.buffer).set(raw);
    merged.files.push(...h.files);
    merged.indices.push(...h.indices);
    merged.errors.push(...h.errors);
    if (h.numClasses) merged.numClasses = h.numClasses;
    rows.push(aligned);
  }
  merged.probabilities = new Float32Array(rows.reduce((a, r) => a + r.length, 0));
  let offset = 0;
  for (const r of rows) {
    merged.probabilities.set(r, offset);
    offset += r.length;
  }
  return merged;
}

export interface EvaluateResult {
  metrics: ClassificationMetrics;
  predictions: Predictions;
}

/** Predicts labelled files in order and computes loss, accuracy, top-5 and per-class metrics. */
export async function evaluateFiles(model: StepModel, files: string[], labels: number[], classes: string[], options: PassOptions): Promise<EvaluateResult> {
  if (files.length !== labels.length) throw new Error(`evaluate: ${files.length} files but ${labels.length} labels`);
  const predictions = await predictFiles(model, files, options);
  const kept = Int32Array.from(predictions.indices.map((i) => labels[i]));
  const metrics = computeMetrics({ labels: kept, probabilities: predictions.probabilities, numClasses: classes.length, classes });
  return { metrics, predictions };
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  return best;
}

/**
 * Which predicted rows the grid shows: mistakes first, then correct ones; within each, one per true class in turn
 * (so a grid of 16 spans the classes instead of showing the first files of one class). Rows of `predictions`.
 */
export function gridSelection(predictions: Predictions, labels: number[], count = 16): number[] {
  const k = predictions.numClasses;
  const wrong = new Map<number, number[]>(), right = new Map<number, number[]>();
  predictions.files.forEach((_, i) => {
    const best = argmax(predictions.probabilities.subarray(i * k, (i + 1) * k));
    const label = labels[predictions.indices[i]];
    const bucket = best === label ? right : wrong;
    if (!bucket.has(label)) bucket.set(label, []);
    bucket.get(label)!.push(i);
  });
  const out: number[] = [];
  for (const bucket of [wrong, right]) {
    const queues = [...bucket.keys()].sort((a, b) => a - b).map((c) => bucket.get(c)!);
    for (let round = 0; out.length < count && queues.some((q) => round < q.length); round++) {
      for (const q of queues) if (round < q.length && out.length < count) out.push(q[round]);
    }
  }
  return out;
}

/** Decodes up to `count` files for display (uint8 RGB at the model's input size) with their label and prediction: mistakes first, across classes. */
export async function gridImages(predictions: Predictions, labels: number[], classes: string[], size: [number, number], count = 16): Promise<GridImage[]> {
  const out: GridImage[] = [];
  const k = predictions.numClasses;
  for (const i of gridSelection(predictions, labels, count)) {
    const img = await decodeImage(predictions.files[i], { size, resize: 'crop_or_pad', preprocess: 'none' });
    const row = predictions.probabilities.subarray(i * k, (i + 1) * k);
    const best = argmax(row);
    out.push({
      rgb: img.data as Uint8Array, width: img.shape[1], height: img.shape[0],
      label: classes[labels[predictions.indices[i]]], predicted: classes[best], probability: row[best],
    });
  }
  return out;
}
