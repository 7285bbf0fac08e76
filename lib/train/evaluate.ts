// Ordered, unshuffled passes over files: predictions that line up with the file list, and test metrics.
import { createLoader } from '../loader';
import { decodeImage } from '../image';
import { computeMetrics, ClassificationMetrics, GridImage } from '../report';
import type { Distributed } from '../distributed';

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
  /** Data parallel: each rank predicts its contiguous block of the files; every rank gets the merged result in input order. */
  distributed?: Distributed | null;
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
  const dist = options.distributed;
  if (dist && dist.worldSize > 1) return predictSharded(model, files, options, dist, onBatch);
  const loader = createLoader({
    files, batchSize: options.batchSize, size: options.size, resize: options.resize, preprocess: options.preprocess,
    shuffle: false, augment: false, onError: options.onError ?? 'skip', ...(options.threads ? { threads: options.threads } : {}),
  });
  const rows: Float32Array[] = [];
  const outFiles: string[] = [];
  const indices: number[] = [];
  let numClasses = 0;
  try {
    let done = 0;
    for await (const batch of loader) {
      const probs = await model.predictOnBatch(batch);
      batch.release();
      if (batch.size > 0) numClasses = probs.length / batch.size;
      rows.push(probs);
      outFiles.push(...batch.files);
      indices.push(...Array.from(batch.indices));
      done += 1;
      onBatch?.(done, loader.length);
    }
  } finally {
    loader.close();
  }
  const probabilities = new Float32Array(outFiles.length * numClasses);
  let offset = 0;
  for (const r of rows) {
    probabilities.set(r, offset);
    offset += r.length;
  }
  return { files: outFiles, indices, probabilities, numClasses, errors: loader.stats().errors };
}

/** Each rank's block, predicted locally, then gathered: blocks in rank order are the input order. */
async function predictSharded(model: StepModel, files: string[], options: PassOptions, dist: Distributed, onBatch?: (done: number, total: number) => void): Promise<Predictions> {
  const { start, end } = dist.block(files.length);
  const local: Predictions = start < end ? await predictFiles(model, files.slice(start, end), { ...options, distributed: null }, onBatch)
    : { files: [], indices: [], probabilities: new Float32Array(0), numClasses: 0, errors: [] };
  const header = Buffer.from(JSON.stringify({ files: local.files, indices: local.indices.map((i) => i + start), numClasses: local.numClasses, errors: local.errors }));
  const probs = Buffer.from(local.probabilities.buffer, local.probabilities.byteOffset, local.probabilities.byteLength);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const parts = await dist.allgatherBytes(new Uint8Array(Buffer.concat([length, header, probs])), 'prediction gather');
  const merged: Predictions = { files: [], indices: [], probabilities: new Float32Array(0), numClasses: 0, errors: [] };
  const rows: Float32Array[] = [];
  for (const part of parts) {
    const b = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    const n = b.readUInt32LE(0);
    const h = JSON.parse(b.subarray(4, 4 + n).toString('utf8')) as Omit<Predictions, 'probabilities'>;
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
