// From file names to a labelled dataset: parse, count, keep the top N classes, sort the class list.
import { carLabel, LabelType, parseCarFilename } from './filename';
import { compareStrings } from './scan';
import { invalid, nonNegativeInt, oneOf, positiveInt, rejectUnknownKeys } from '../validate';

export interface Sample {
  file: string;
  /** Index into the dataset's sorted class list. */
  label: number;
}

export interface RejectedFile {
  file: string;
  reason: string;
}

export interface DroppedClass {
  name: string;
  count: number;
  reason: string;
}

export interface BuildDatasetOptions {
  labelType?: LabelType;
  /** Keep at most this many classes, the most frequent ones (ties broken by name). Default 300. */
  topN?: number;
  /** Drop classes with fewer files than this. Default 1. */
  minCount?: number;
}

/** Where class names come from: the car file name (make or make_model), the class folder, or a label manifest's column. */
export type DatasetLabelType = LabelType | 'folder' | 'manifest';
export const DATASET_LABEL_TYPES: readonly DatasetLabelType[] = ['make', 'model', 'folder', 'manifest'];

export interface Dataset {
  labelType: DatasetLabelType;
  /** Sorted class names; a sample's label indexes this list. */
  classes: string[];
  samples: Sample[];
  rejected: RejectedFile[];
  dropped: DroppedClass[];
}

export const DEFAULT_TOP_N = 300;

export function checkBuildDatasetOptions(options: BuildDatasetOptions = {}): Required<BuildDatasetOptions> {
  if (options === null || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('buildDataset', options, ['labelType', 'topN', 'minCount']);
  return {
    labelType: oneOf('labelType', options.labelType ?? 'make', ['make', 'model'] as const),
    topN: positiveInt('topN', options.topN ?? DEFAULT_TOP_N),
    minCount: nonNegativeInt('minCount', options.minCount ?? 1),
  };
}

/** A file with its class name, before classes are counted and cut. */
export interface LabelledFile {
  file: string;
  name: string;
}

/** Labels `files` by parsing their names. Files whose names do not parse are listed in `rejected`, never guessed. */
export function buildDataset(files: readonly string[], options: BuildDatasetOptions = {}): Dataset {
  if (!Array.isArray(files)) throw invalid('files', 'array of file paths', files);
  const { labelType, topN, minCount } = checkBuildDatasetOptions(options);
  const { labelled, rejected } = labelByFilename(files, labelType);
  return datasetFromLabels(labelled, rejected, { labelType, topN, minCount });
}

/** The car file-name layout: each file's class from its own name. */
export function labelByFilename(files: readonly string[], labelType: LabelType): { labelled: LabelledFile[]; rejected: RejectedFile[] } {
  const rejected: RejectedFile[] = [];
  const labelled: LabelledFile[] = [];
  for (const file of files) {
    if (typeof file !== 'string') throw invalid('files[]', 'string', file);
    const parsed = parseCarFilename(file);
    if (!parsed.ok) {
      rejected.push({ file, reason: parsed.reason });
      continue;
    }
    const name = carLabel(parsed.record, labelType);
    if (name === null) {
      rejected.push({ file, reason: 'model is missing (nan); cannot label by model' });
      continue;
    }
    labelled.push({ file, name });
  }
  return { labelled, rejected };
}

/**
 * Counts labelled files per class, keeps the top N with at least minCount files and sorts the class list.
 * `knownClasses` (folder layout: every class folder, even an empty one) appear as dropped classes when they hold no file.
 */
export function datasetFromLabels(labelled: readonly LabelledFile[], rejected: RejectedFile[],
  options: { labelType: DatasetLabelType; topN: number; minCount: number; knownClasses?: readonly string[] }): Dataset {
  const { labelType, topN, minCount } = options;
  const counts = new Map<string, number>();
  for (const { name } of labelled) counts.set(name, (counts.get(name) ?? 0) + 1);
  // Most frequent first, ties by name, so the cut at topN is deterministic.
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || compareStrings(a[0], b[0]));
  const dropped: DroppedClass[] = [];
  for (const name of options.knownClasses ?? []) if (!counts.has(name)) dropped.push({ name, count: 0, reason: 'its folder holds no images' });
  const kept: string[] = [];
  ranked.forEach(([name, count], rank) => {
    if (count < minCount) dropped.push({ name, count, reason: `fewer than minCount=${minCount} files` });
    else if (rank >= topN) dropped.push({ name, count, reason: `not among the topN=${topN} most frequent classes` });
    else kept.push(name);
  });
  const classes = kept.sort(compareStrings);
  const index = new Map(classes.map((name, i) => [name, i]));
  const samples: Sample[] = [];
  for (const { file, name } of labelled) {
    const label = index.get(name);
    if (label !== undefined) samples.push({ file, label });
  }
  return { labelType, classes, samples, rejected, dropped };
}

/** sklearn `compute_class_weight('balanced')`: w_c = n / (K * count_c). Call it on the training labels. */
export function balancedClassWeights(labels: ArrayLike<number>, numClasses: number): number[] {
  positiveInt('numClasses', numClasses);
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw invalid(`labels[${i}]`, `integer in [0, ${numClasses - 1}]`, label);
    }
    counts[label]++;
  }
  return counts.map((count, c) => {
    if (count === 0) throw new Error(`Cannot compute balanced class weights: class ${c} has no samples in the labels`);
    return labels.length / (numClasses * count);
  });
}
