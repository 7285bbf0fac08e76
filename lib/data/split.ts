// Stratified, seeded train/val/test split: every class is cut by the same ratios, so rare classes appear in all splits.
import { Sample } from './dataset';
import { checkSeed, mulberry32, shuffleInPlace } from './random';
import { compareStrings } from './scan';
import { firstAndMore, invalid, oneOf, rejectUnknownKeys } from '../validate';

export const SEED_RATIOS: readonly number[] = [0.5625, 0.1875, 0.25];
export const SPLIT_NAMES = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

export interface SplitOptions {
  /** Class names; a sample's label indexes this list. */
  classes: readonly string[];
  /** train, val[, test] fractions summing to 1. Default [0.5625, 0.1875, 0.25] (the seed's run). */
  ratios?: readonly number[];
  seed?: number;
  /** A class with fewer samples than splits: 'error' (default) throws, 'drop' removes it and warns. */
  onTooSmall?: 'error' | 'drop';
  /** Receives the drop warnings; default console.warn. */
  warn?: (message: string) => void;
}

export interface SplitResult {
  /** Kept classes, sorted as given; labels in the splits index this list (renumbered when classes were dropped). */
  classes: string[];
  train: Sample[];
  val: Sample[];
  /** Empty when only two ratios were given. */
  test: Sample[];
  dropped: Array<{ name: string; count: number }>;
  warnings: string[];
}

function checkRatios(value: unknown): number[] {
  const ok = Array.isArray(value) && (value.length === 2 || value.length === 3)
    && value.every((r) => typeof r === 'number' && Number.isFinite(r) && r > 0 && r < 1);
  const sum = ok ? (value as number[]).reduce((a, b) => a + b, 0) : NaN;
  if (!ok || Math.abs(sum - 1) > 1e-6) throw invalid('ratios', '2 or 3 numbers in (0, 1) summing to 1', value);
  return [...(value as number[])];
}

/**
 * Per-class counts that follow the ratios and keep the running totals close to them: floors first, then the
 * remaining items go to the splits furthest behind their cumulative target (ties to the earlier split).
 */
function allocate(count: number, ratios: number[], assigned: number[], seenBefore: number): number[] {
  const sizes = ratios.map((r) => Math.floor(count * r));
  let left = count - sizes.reduce((a, b) => a + b, 0);
  const deficit = (i: number) => (seenBefore + count) * ratios[i] - (assigned[i] + sizes[i]);
  while (left > 0) {
    let best = 0;
    for (let i = 1; i < sizes.length; i++) if (deficit(i) > deficit(best) + 1e-9) best = i;
    sizes[best]++;
    left--;
  }
  // Every split needs at least one sample of the class: borrow from the largest share.
  for (let i = 0; i < sizes.length; i++) {
    if (sizes[i] === 0) {
      let donor = 0;
      for (let j = 1; j < sizes.length; j++) if (sizes[j] > sizes[donor]) donor = j;
      sizes[donor]--;
      sizes[i]++;
    }
  }
  return sizes;
}

export function stratifiedSplit(samples: readonly Sample[], options: SplitOptions): SplitResult {
  if (!Array.isArray(samples)) throw invalid('samples', 'array of {file, label}', samples);
  if (options === null || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('stratifiedSplit', options, ['classes', 'ratios', 'seed', 'onTooSmall', 'warn']);
  const { classes } = options;
  if (!Array.isArray(classes) || classes.some((c) => typeof c !== 'string')) throw invalid('classes', 'array of strings', classes);
  const ratios = checkRatios(options.ratios ?? SEED_RATIOS);
  const seed = checkSeed('seed', options.seed ?? 0);
  const onTooSmall = oneOf('onTooSmall', options.onTooSmall ?? 'error', ['error', 'drop'] as const);
  const warn = options.warn ?? ((message: string) => console.warn(message));

  const byClass: Sample[][] = classes.map(() => []);
  samples.forEach((sample, i) => {
    if (!sample || typeof sample.file !== 'string') throw invalid(`samples[${i}].file`, 'string', sample?.file);
    if (!Number.isInteger(sample.label) || sample.label < 0 || sample.label >= classes.length) {
      throw invalid(`samples[${i}].label`, `integer in [0, ${classes.length - 1}]`, sample.label);
    }
    byClass[sample.label].push(sample);
  });

  const tooSmall = byClass.map((list, c) => ({ c, count: list.length })).filter(({ count }) => count < ratios.length);
  const warnings: string[] = [];
  if (tooSmall.length > 0 && onTooSmall === 'error') {
    const shown = firstAndMore(tooSmall, ({ c, count }) => `${JSON.stringify(classes[c])} has ${count}`);
    throw new Error(`Cannot split: each class needs at least ${ratios.length} files (one per split); ${shown}. `
      + `Use onTooSmall: 'drop' (--drop-small-classes) or raise minCount (--min-count) so such classes are dropped before the split.`);
  }
  const dropped = tooSmall.map(({ c, count }) => ({ name: classes[c], count }));
  for (const { name, count } of dropped) {
    const message = `Dropping class ${JSON.stringify(name)}: ${count} file(s), fewer than the ${ratios.length} splits`;
    warnings.push(message);
    warn(message);
  }

  const droppedSet = new Set(tooSmall.map(({ c }) => c));
  const keptIndices = classes.map((_, c) => c).filter((c) => !droppedSet.has(c));
  const newLabel = new Map(keptIndices.map((c, i) => [c, i]));
  const parts: Sample[][] = ratios.map(() => []);
  const assigned = ratios.map(() => 0);
  let seen = 0;
  const random = mulberry32(seed);
  for (const c of keptIndices) {
    // Sort first so the result depends only on the set of files, not on their input order.
    const list = byClass[c].slice().sort((a, b) => compareStrings(a.file, b.file));
    shuffleInPlace(list, random);
    const sizes = allocate(list.length, ratios, assigned, seen);
    let offset = 0;
    sizes.forEach((size, s) => {
      for (const sample of list.slice(offset, offset + size)) parts[s].push({ file: sample.file, label: newLabel.get(c) as number });
      offset += size;
      assigned[s] += size;
    });
    seen += list.length;
  }
  for (const part of parts) part.sort((a, b) => compareStrings(a.file, b.file));
  return {
    classes: keptIndices.map((c) => classes[c]),
    train: parts[0],
    val: parts[1],
    test: parts[2] ?? [],
    dropped,
    warnings,
  };
}
