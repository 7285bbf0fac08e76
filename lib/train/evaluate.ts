// Ordered, unshuffled passes over files: predictions that line up with the file list, and test metrics.
import { createLoader, Batch } from '../loader';
import type { Model } from '../model';
import { predictFromFeatureCache } from './feature-cache';
import { decodeImage } from '../image';
import { computeMetrics, ClassificationMetrics, GridImage } from '../report';

export type ResizeMode = 'crop_or_pad' | 'bilinear' | 'nearest';
export type PreprocessMode = 'tf' | 'caffe' | 'none';

/** The model surface the loops need (the engine's Model satisfies it). */
export interface StepModel {
  predictOnBatch(batch: unknown): Promise<Float32Array>;
}

export interface PassOptions {
  size: [number, number];
  resize: ResizeMode;
  preprocess: PreprocessMode;
  batchSize: number;
  threads?: number;
  onError?: 'skip' | 'throw';
  /** A feature-cache folder: the model's base features for these files are read from there (computed once if missing). */
  featureCache?: string;
}

export interface Predictions {
  /** Files that decoded, in input order. */
  files: string[];
  /** Position of each predicted file in the input list. */
  indices: number[];
  /** [files.length, K] probabilities, row i for files[i]. */
  probabilities: Float32Array;
  numClasses: number;
  errors: { file: string; reason: string }[];
}

/** Predicts every file in order; files that fail to decode are skipped and listed (or throw). */
export async function predictFiles(model: StepModel, files: string[], options: PassOptions, onBatch?: (done: number, total: number) => void): Promise<Predictions> {
  if (options.featureCache) return predictFromFeatureCache(model as Model, files, options, onBatch);
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
export async function predictBatches(model: StepModel, batches: AsyncIterable<Batch>, length: number, onBatch?: (done: number, total: number) => void): Promise<Omit<Predictions, 'errors'>> {
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

/** Decodes up to `count` files for display (uint8 RGB at the model's input size) with their label and prediction. */
export async function gridImages(predictions: Predictions, labels: number[], classes: string[], size: [number, number], count = 16): Promise<GridImage[]> {
  const out: GridImage[] = [];
  const k = predictions.numClasses;
  for (let i = 0; i < Math.min(count, predictions.files.length); i++) {
    const img = await decodeImage(predictions.files[i], { size, resize: 'crop_or_pad', preprocess: 'none' });
    const row = predictions.probabilities.subarray(i * k, (i + 1) * k);
    let best = 0;
    for (let j = 1; j < k; j++) if (row[j] > row[best]) best = j;
    out.push({
      rgb: img.data as Uint8Array, width: img.shape[1], height: img.shape[0],
      label: classes[labels[predictions.indices[i]]], predicted: classes[best], probability: row[best],
    });
  }
  return out;
}
