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
  /** Flip / brightness / contrast per image with probability p; needs preprocess 'tf' or 'caffe'. */
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
   * Data parallel: this replica's share of every epoch, as PyTorch's DistributedSampler: the epoch's
   * permutation padded (repeating its start) to a multiple of `count`, then every count-th item from `index`.
   */
  shard?: { index: number; count: number };
}

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
  labels: Int32Array;
  sampleWeights?: Float32Array;
  files: string[];
  indices: Int32Array;
  epoch: number;
  number: number;
  isUint8: boolean;
}

/**
 * One batch. Pixels live in native memory as NHWC contiguous float32 (uint8 for preprocess 'none');
 * `handle` is the native batch external the engine consumes without a copy; `data()` copies them out.
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

  /** @internal */
  constructor(raw: NativeBatch) {
    this.size = raw.size;
    this.shape = [raw.size, raw.height, raw.width, 3];
    this.labels = raw.labels;
    if (raw.sampleWeights) this.sampleWeights = raw.sampleWeights;
    this.files = raw.files;
    this.indices = raw.indices;
    this.epoch = raw.epoch;
    this.number = raw.number;
    this.handle = raw.handle;
  }

  /** A copy of the pixels, NHWC: Float32Array, or Uint8Array for preprocess 'none'. */
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
  'threads', 'prefetch', 'onError', 'dropRemainder', 'lenient', 'maxPixels', 'maxFileBytes', 'shard',
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
    let augmentP: number | undefined;
    if (options.augment !== undefined && options.augment !== false) {
      if (options.augment === true) augmentP = 0.7;
      else if (typeof options.augment === 'object' && options.augment !== null) {
        rejectUnknownKeys('augment', options.augment, ['p']);
        augmentP = options.augment.p === undefined ? 0.7 : numberIn('augment.p', options.augment.p, 0, 1);
      } else throw invalid('augment', 'false, true or { p }', options.augment);
      if (preprocess === 'none') throw invalid('preprocess', "'tf' or 'caffe' when augment is on (augmentation works on floats)", preprocess);
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
      resize: options.resize === undefined ? 'crop_or_pad' : oneOf('resize', options.resize, RESIZE_METHODS),
      preprocess,
      dct: options.dct === undefined ? 'fast' : oneOf('dct', options.dct, DCT_METHODS),
      shuffle: options.shuffle === undefined ? true : booleanOption('shuffle', options.shuffle),
      seed,
      augment: augmentP !== undefined,
      augmentP: augmentP ?? 0,
      threads: options.threads === undefined ? defaultThreads() : positiveInt('threads', options.threads),
      prefetch: options.prefetch === undefined ? 2 : positiveInt('prefetch', options.prefetch),
      onError: options.onError === undefined ? 'skip' : oneOf('onError', options.onError, ['skip', 'throw'] as const),
      dropRemainder: options.dropRemainder === undefined ? false : booleanOption('dropRemainder', options.dropRemainder),
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

  /** Iterates the next epoch (0, then 1, ...): one epoch per `for await`. */
  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.iterate(this.nextEpoch);
  }

  /** An iterable over epoch `n` (its order and augmentation depend only on seed and n). */
  epoch(n: number): AsyncIterable<Batch> {
    nonNegativeInt('epoch', n);
    return { [Symbol.asyncIterator]: () => this.iterate(n) };
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
  private iterate(epoch: number): AsyncIterator<Batch> {
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
          if (token === undefined) token = this.nativeLoader.startEpoch(epoch) as number;
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
