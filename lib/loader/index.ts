// Batch loader façade: validates options, iterates one epoch per `for await`, and hands out
// batches whose pixels stay native (`handle`) until the engine takes them.
import { native, defaultThreads } from '../native';
import { invalid, rejectUnknownKeys, positiveInt, nonNegativeInt, oneOf, booleanOption, numberIn } from '../validate';
import {
  ResizeMethod, Preprocess, DctMethod, RESIZE_METHODS, PREPROCESS_MODES, DCT_METHODS, DEFAULT_MAX_PIXELS,
  sizeOption, maxPixelsOption, maxFileBytesOption, DEFAULT_MAX_FILE_BYTES, toImageError,
} from '../image';

export interface AugmentOptions {
  /** Probability that an image is augmented at all (default 0.7). */
  p?: number;
  /** Which parts an augmented image gets (each default true): horizontal flip (p 0.5), brightness, contrast. */
  flip?: boolean;
  brightness?: boolean;
  contrast?: boolean;
}

export const AUGMENT_KEYS = ['p', 'flip', 'brightness', 'contrast'] as const;

/** Validated augmentation parts; `augment` true or an object (false is handled by the caller). */
export function augmentParts(name: string, augment: true | AugmentOptions): Required<AugmentOptions> {
  if (augment === true) return { p: 0.7, flip: true, brightness: true, contrast: true };
  if (typeof augment !== 'object' || augment === null) throw invalid(name, 'false, true or { p, flip, brightness, contrast }', augment);
  rejectUnknownKeys(name, augment, AUGMENT_KEYS);
  const part = (k: 'flip' | 'brightness' | 'contrast') => (augment[k] === undefined ? true : booleanOption(`${name}.${k}`, augment[k]));
  return { p: augment.p === undefined ? 0.7 : numberIn(`${name}.p`, augment.p, 0, 1), flip: part('flip'), brightness: part('brightness'), contrast: part('contrast') };
}

export interface LoaderOptions {
  files: string[];
  /** One integer class per file (-1 in batches when absent). */
  labels?: ArrayLike<number>;
  /** One non-negative weight per file. */
  sampleWeights?: ArrayLike<number>;
  batchSize: number;
  /** [height, width] of every sample. */
  size: [number, number];
  resize?: ResizeMethod;
  /** Default 'tf'. */
  preprocess?: Preprocess;
  dct?: DctMethod;
  /** Full permutation per epoch from (seed, epoch); default true. */
  shuffle?: boolean;
  /** Default: drawn at random once per loader (see `loader.seed`). */
  seed?: number;
  /** Flip / brightness / contrast (each can be turned off) per image with probability p; needs preprocess 'tf' or 'caffe'. */
  augment?: false | true | AugmentOptions;
  /** Decode threads (default: CARCLASS_THREADS or the core count). */
  threads?: number;
  /** Batches assembled ahead of the consumer (default 2). */
  prefetch?: number;
  /** 'skip' (default): drop bad files and record them in stats(); 'throw': reject the iteration. */
  onError?: 'skip' | 'throw';
  dropRemainder?: boolean;
  lenient?: boolean;
  maxPixels?: number;
  /** Files larger than this many bytes are refused (FILE_TOO_LARGE) before reading (default 64 MiB). */
  maxFileBytes?: number;
  /**
   * How tf/caffe batches travel to the engine. 'uint8': decoded bytes (flipped when augmented) plus each
   * sample's brightness/contrast; the engine preprocesses them (on the GPU for CUDA), a quarter of the
   * bytes. 'float32': preprocessed on the loader threads. Both give the same floats, bit for bit, for
   * crop_or_pad and nearest; bilinear uint8 rounds each resized value first (at most 0.5 before
   * preprocessing). Default: 'uint8' for crop_or_pad and nearest, 'float32' for bilinear.
   */
  batchFormat?: BatchFormat;
  /**
   * Data parallel: this replica's share of every epoch, as PyTorch's DistributedSampler: the epoch's
   * permutation padded (repeating its start) to a multiple of `count`, then every count-th item from `index`.
   */
  shard?: { index: number; count: number };
}

export type BatchFormat = 'float32' | 'uint8';
export const BATCH_FORMATS: readonly BatchFormat[] = ['float32', 'uint8'];

export interface LoadErrorRecord {
  file: string;
  code: string;
  reason: string;
}

export interface LoaderStats {
  images: number;
  batches: number;
  errors: LoadErrorRecord[];
  imagesPerSecond: number;
}

interface NativeBatch {
  handle: unknown;
  size: number;
  height: number;
  width: number;
  /** 3 for pixels; the feature depth for cached features. */
  channels?: number;
  labels: Int32Array;
  sampleWeights?: Float32Array;
  files: string[];
  indices: Int32Array;
  epoch: number;
  number: number;
  format: 'float32' | 'uint8' | 'none';
}

/**
 * One batch. Pixels live in native memory as NHWC contiguous float32, or uint8 (`format`: 'uint8' still
 * to preprocess, 'none' for preprocess 'none'); `handle` is the native batch external the engine
 * consumes without a copy; `data()` copies them out.
 */
export class Batch {
  readonly size: number;
  readonly shape: [number, number, number, number];
  readonly labels: Int32Array;
  readonly sampleWeights?: Float32Array;
  readonly files: string[];
  /** Position of each sample in the loader's `files`. */
  readonly indices: Int32Array;
  readonly epoch: number;
  /** Batch number within the epoch. */
  readonly number: number;
  readonly handle: unknown;
  /** How the pixels are held natively (see LoaderOptions.batchFormat). */
  readonly format: 'float32' | 'uint8' | 'none';

  /** @internal */
  constructor(raw: NativeBatch) {
    this.size = raw.size;
    this.shape = [raw.size, raw.height, raw.width, raw.channels ?? 3];
    this.labels = raw.labels;
    if (raw.sampleWeights) this.sampleWeights = raw.sampleWeights;
    this.files = raw.files;
    this.indices = raw.indices;
    this.epoch = raw.epoch;
    this.number = raw.number;
    this.handle = raw.handle;
    this.format = raw.format;
  }

  /**
   * A copy of the pixels, NHWC: Float32Array (a 'uint8' batch preprocessed and augmented on the way,
   * as the engine does), or Uint8Array for preprocess 'none'.
   */
  data(): Float32Array | Uint8Array {
    return native().batchPixels(this.handle);
  }

  /**
   * Gives the pixel buffer back to the loader now rather than at garbage collection (the loader
   * then reuses it: faster, flatter memory). The batch is unusable afterwards. Idempotent.
   */
  release(): void {
    native().releaseBatch(this.handle);
  }
}

const LOADER_KEYS = [
  'files', 'labels', 'sampleWeights', 'batchSize', 'size', 'resize', 'preprocess', 'dct', 'shuffle', 'seed', 'augment',
  'threads', 'prefetch', 'onError', 'dropRemainder', 'lenient', 'maxPixels', 'maxFileBytes', 'batchFormat', 'shard',
] as const;

function numberList(name: string, value: unknown, length: number, check: (v: number) => boolean, expected: string): number[] {
  const list = value as ArrayLike<unknown>;
  if (value === null || typeof value !== 'object' || typeof list.length !== 'number') throw invalid(name, `array of ${expected}`, value);
  if (list.length !== length) throw invalid(`${name}.length`, `${length} (one per file)`, list.length);
  const out = Array.from(list as ArrayLike<number>);
  out.forEach((v, i) => {
    if (typeof v !== 'number' || !check(v)) throw invalid(`${name}[${i}]`, expected, v);
  });
  return out;
}

function loadError(cause: unknown): Error {
  const err = toImageError(cause);
  const named = /^Cannot load "(.*)": /.exec(err.message);
  if (named) (err as { file?: string }).file = named[1];
  return err;
}

/** Validates options and starts the loader's thread pool. */
export function createLoader(options: LoaderOptions): Loader {
  return new Loader(options);
}

export class Loader implements AsyncIterable<Batch> {
  /** Batches per epoch (before any skipped batch made of bad files only). */
  readonly length: number;
  readonly seed: number;
  private readonly nativeLoader: any;
  private nextEpoch = 0;
  private closed = false;
  private lastStats: LoaderStats | undefined;

  constructor(options: LoaderOptions) {
    if (typeof options !== 'object' || options === null) throw invalid('options', 'object', options);
    rejectUnknownKeys('createLoader', options, LOADER_KEYS);
    const files = options.files;
    if (!Array.isArray(files) || files.length === 0) throw invalid('files', 'non-empty array of file paths', files);
    files.forEach((f, i) => {
      if (typeof f !== 'string' || f.length === 0) throw invalid(`files[${i}]`, 'file path string', f);
    });
    const size = sizeOption('size', options.size);
    const preprocess = options.preprocess === undefined ? 'tf' : oneOf('preprocess', options.preprocess, PREPROCESS_MODES);
    let augment: Required<AugmentOptions> | undefined;
    if (options.augment !== undefined && options.augment !== false) {
      augment = augmentParts('augment', options.augment);
      if (preprocess === 'none') throw invalid('preprocess', "'tf' or 'caffe' when augment is on (augmentation works on floats)", preprocess);
    }
    const resize = options.resize === undefined ? 'crop_or_pad' : oneOf('resize', options.resize, RESIZE_METHODS);
    const batchFormat = options.batchFormat === undefined ? (resize === 'bilinear' ? 'float32' : 'uint8')
      : oneOf('batchFormat', options.batchFormat, BATCH_FORMATS);
    if (preprocess === 'none' && options.batchFormat === 'float32') {
      throw invalid('batchFormat', "'uint8' (or unset) with preprocess 'none' (its batches are the decoded bytes)", batchFormat);
    }
    const seed = options.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : options.seed;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw invalid('seed', 'non-negative safe integer', seed);
    this.seed = seed;
    const nativeOptions = {
      files: files.slice(),
      labels: options.labels === undefined ? undefined
        : numberList('labels', options.labels, files.length, (v) => Number.isInteger(v) && v >= -1 && v <= 2 ** 31 - 1, 'integer >= -1'),
      sampleWeights: options.sampleWeights === undefined ? undefined
        : numberList('sampleWeights', options.sampleWeights, files.length, (v) => Number.isFinite(v) && v >= 0, 'non-negative number'),
      batchSize: positiveInt('batchSize', options.batchSize),
      height: size[0],
      width: size[1],
      resize,
      preprocess,
      dct: options.dct === undefined ? 'fast' : oneOf('dct', options.dct, DCT_METHODS),
      shuffle: options.shuffle === undefined ? true : booleanOption('shuffle', options.shuffle),
      seed,
      augment: augment !== undefined,
      augmentP: augment?.p ?? 0,
      augmentFlip: augment?.flip ?? true,
      augmentBrightness: augment?.brightness ?? true,
      augmentContrast: augment?.contrast ?? true,
      threads: options.threads === undefined ? defaultThreads() : positiveInt('threads', options.threads),
      prefetch: options.prefetch === undefined ? 2 : positiveInt('prefetch', options.prefetch),
      onError: options.onError === undefined ? 'skip' : oneOf('onError', options.onError, ['skip', 'throw'] as const),
      dropRemainder: options.dropRemainder === undefined ? false : booleanOption('dropRemainder', options.dropRemainder),
      uint8Batches: preprocess !== 'none' && batchFormat === 'uint8',
      lenient: options.lenient === undefined ? false : booleanOption('lenient', options.lenient),
      maxPixels: options.maxPixels === undefined ? DEFAULT_MAX_PIXELS : maxPixelsOption('maxPixels', options.maxPixels),
      maxFileBytes:
        options.maxFileBytes === undefined ? DEFAULT_MAX_FILE_BYTES : maxFileBytesOption('maxFileBytes', options.maxFileBytes),
    };
    if (options.shard !== undefined) {
      const shard = options.shard;
      if (typeof shard !== 'object' || shard === null) throw invalid('shard', '{ index, count }', shard);
      rejectUnknownKeys('shard', shard, ['index', 'count']);
      const count = positiveInt('shard.count', shard.count);
      const index = nonNegativeInt('shard.index', shard.index);
      if (index >= count) throw invalid('shard.index', `integer below shard.count ${count}`, index);
      Object.assign(nativeOptions, { shardIndex: index, shardCount: count });
    }
    if (nativeOptions.threads > 256) throw invalid('threads', 'integer between 1 and 256', nativeOptions.threads);
    this.nativeLoader = new (native().NativeLoader)(nativeOptions);
    this.length = this.nativeLoader.length;
  }

  /** Batches of an epoch started `fromItem` items into its whole (unsharded) order; `length` for 0. */
  batchesFrom(fromItem: number): number {
    nonNegativeInt('fromItem', fromItem);
    if (fromItem === 0) return this.length;
    if (this.closed) throw new Error('Loader is closed');
    return this.nativeLoader.batchesFrom(fromItem);
  }

  /** Iterates the next epoch (0, then 1, ...): one epoch per `for await`. */
  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.iterate(this.nextEpoch);
  }

  /**
   * An iterable over epoch `n` (its order and augmentation depend only on seed and n). `fromBatch`
   * starts inside it: batch numbers fromBatch, fromBatch + 1, ..., exactly as the whole epoch has them.
   * `fromItem` instead leaves out the first fromItem items of the epoch's whole order and shards the
   * rest, numbering its batches from 0 (`batchesFrom(fromItem)` of them): how a run interrupted
   * with another number of shards goes on with what it had not trained on.
   */
  epoch(n: number, options: { fromBatch?: number; fromItem?: number } = {}): AsyncIterable<Batch> {
    nonNegativeInt('epoch', n);
    rejectUnknownKeys('epoch options', options, ['fromBatch', 'fromItem']);
    const fromBatch = nonNegativeInt('fromBatch', options.fromBatch ?? 0);
    if (fromBatch > this.length) throw invalid('fromBatch', `integer in [0, ${this.length}] (batches per epoch)`, fromBatch);
    const fromItem = nonNegativeInt('fromItem', options.fromItem ?? 0);
    if (fromItem > 0 && fromBatch > 0) throw new TypeError('epoch options: give fromBatch or fromItem, not both');
    return { [Symbol.asyncIterator]: () => this.iterate(n, fromBatch, fromItem) };
  }

  /** Counters so far; errors list every skipped file with its reason. */
  stats(): LoaderStats {
    if (this.closed && this.lastStats) return this.lastStats;
    return this.nativeLoader.stats();
  }

  /** Stops the threads and frees queued batches; batches already handed out stay valid. */
  close(): void {
    if (this.closed) return;
    this.nativeLoader.close();
    this.lastStats = this.nativeLoader.stats();
    this.closed = true;
  }

  // Only one epoch runs at a time: starting another cancels the previous iteration.
  private iterate(epoch: number, fromBatch = 0, fromItem = 0): AsyncIterator<Batch> {
    this.nextEpoch = Math.max(this.nextEpoch, epoch + 1);
    let token: number | undefined;
    let finished = false;
    const end = (): IteratorResult<Batch> => ({ done: true, value: undefined });
    return {
      next: async (): Promise<IteratorResult<Batch>> => {
        if (finished) return end();
        if (this.closed) {
          finished = true;
          if (token !== undefined) return end();  // close() ends an epoch in progress
          throw new Error('Loader is closed');
        }
        try {
          if (token === undefined) token = this.nativeLoader.startEpoch(epoch, fromBatch, fromItem) as number;
          const raw: NativeBatch | null = await this.nativeLoader.next(token);
          if (raw === null) {
            finished = true;
            return end();
          }
          return { done: false, value: new Batch(raw) };
        } catch (cause) {
          finished = true;
          throw loadError(cause);
        }
      },
      return: async (): Promise<IteratorResult<Batch>> => {
        finished = true;
        if (token !== undefined && !this.closed) this.nativeLoader.cancel(token);
        return end();
      },
    };
  }
}
