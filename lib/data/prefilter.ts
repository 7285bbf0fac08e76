// Drops non-car pictures with the 1000-class ImageNet model, as the seed did before training.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { scanImages } from './scan';
import { invalid, rejectUnknownKeys, numberIn, oneOf, positiveInt, booleanOption } from '../validate';

/** ImageNet classes the seed counted as "car" (minivan, limousine, sports car, ... beach wagon). REFERENCE section 1. */
export const CAR_IDX: readonly number[] = Object.freeze([656, 627, 817, 511, 468, 751, 705, 757, 717, 734, 654, 675, 864, 609, 436]);
/** The seed's keep threshold on the summed car probability. */
export const CAR_THRESHOLD = 0.1;

export type PrefilterMethod = 'acc-prob' | 'top-k';
export type PrefilterResize = 'nearest' | 'bilinear' | 'crop_or_pad';

export interface PrefilterBatch {
  size: number;
  files: string[];
  indices?: ArrayLike<number>;
  handle?: unknown;
}

export interface PrefilterLoader extends AsyncIterable<PrefilterBatch> {
  stats(): { errors: { file: string; reason: string }[] };
}

export type PrefilterLoaderFactory = (options: {
  files: string[];
  batchSize: number;
  size: [number, number];
  resize: PrefilterResize;
  preprocess: 'tf';
  shuffle: false;
  threads?: number;
  onError: 'skip';
}) => PrefilterLoader | Promise<PrefilterLoader>;

export interface PrefilterProgress {
  done: number;
  total: number;
  kept: number;
  dropped: number;
  errors: number;
  /** Dropped files that could not be moved or copied aside. */
  actionErrors: number;
}

export interface PrefilterOptions {
  /** Folder scanned recursively for .jpg/.jpeg files (give `dir` or `files`). */
  dir?: string;
  files?: string[];
  /** The 1000-class ImageNet model (ResNet50V2 with its top). */
  model: { predictOnBatch(batch: any): Promise<Float32Array> };
  /** The native loader factory (`createLoader`), injected so the prefilter can be tested with fakes. */
  createLoader: PrefilterLoaderFactory;
  threshold?: number;
  method?: PrefilterMethod;
  topK?: number;
  carIndices?: readonly number[];
  /** Input size: one number for a square, or [height, width]. Default 224. */
  size?: number | [number, number];
  /** Default 'nearest', like the seed's Keras load_img(target_size=(224, 224)). */
  resize?: PrefilterResize;
  batchSize?: number;
  threads?: number;
  /** JSON-lines manifest; default `<dir>/prefilter-manifest.jsonl` (required with `files`). */
  manifestPath?: string;
  /** Dropped files are moved here, keeping their path relative to the root. Never overwrites. */
  moveTo?: string;
  /** Dropped files are copied here, keeping their path relative to the root. Never overwrites. */
  copyTo?: string;
  /** Skip files already in an existing manifest and append to it. */
  resume?: boolean;
  /** Root for relative paths in move/copy; defaults to `dir` or the files' common folder. */
  root?: string;
  onProgress?: (progress: PrefilterProgress) => void;
  /**
   * Data parallel (lib/distributed's `Distributed`): every rank classifies every `worldSize`-th batch and
   * rank 0 writes the manifest, in the order one process would. Every rank returns the same summary.
   */
  distributed?: PrefilterGroup;
}

/** What the prefilter needs of a process group (lib/distributed's `Distributed` has it). */
export interface PrefilterGroup {
  readonly rank: number;
  readonly worldSize: number;
  allgather<T>(value: T, what?: string): Promise<T[]>;
}

export interface PrefilterEntry {
  file: string;
  status: 'kept' | 'dropped' | 'error';
  /** Summed softmax probability over the car classes. */
  carProb?: number;
  /** Most probable ImageNet class and its probability. */
  topClass?: number;
  topProb?: number;
  /** Why the file could not be read (status 'error'). */
  reason?: string;
  /** Where a dropped file went, or why moving/copying it failed. */
  movedTo?: string;
  copiedTo?: string;
  actionError?: string;
}

export interface PrefilterSummary {
  manifestPath: string;
  summaryPath: string;
  csvPath: string;
  method: PrefilterMethod;
  threshold: number;
  topK: number;
  total: number;
  kept: number;
  dropped: number;
  errors: number;
  /** Files skipped because an earlier run already decided them (resume). */
  resumed: number;
  actionErrors: number;
}

const OPTION_KEYS = [
  'dir', 'files', 'model', 'createLoader', 'threshold', 'method', 'topK', 'carIndices', 'size', 'resize', 'batchSize',
  'threads', 'manifestPath', 'moveTo', 'copyTo', 'resume', 'root', 'onProgress', 'distributed',
] as const;

/** The files of every `worldSize`-th batch from batch `rank` on: the batches concatenated in round order are the input order. */
export function batchShard<T>(items: readonly T[], batchSize: number, rank: number, worldSize: number): T[] {
  return items.filter((_, i) => Math.floor(i / batchSize) % worldSize === rank);
}

/** A short fingerprint of a file list, to check that every rank sees the same work. */
function listDigest(files: readonly string[]): string {
  return crypto.createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16);
}

/** JPEGs under `dir` (the shared scan), minus any under the move/copy destinations. */
async function scanJpegs(dir: string, exclude: string[]): Promise<string[]> {
  const skip = exclude.map((e) => path.resolve(e) + path.sep);
  return (await scanImages(dir)).filter((f) => !skip.some((e) => f.startsWith(e)));
}

function commonFolder(files: string[]): string {
  if (files.length === 0) return process.cwd();
  let parts = path.dirname(files[0]).split(path.sep);
  for (const f of files.slice(1)) {
    const other = path.dirname(f).split(path.sep);
    let i = 0;
    while (i < parts.length && i < other.length && parts[i] === other[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join(path.sep) || path.sep;
}

/** Indices of the `k` largest values (ties: lower index first). */
export function topKIndices(probs: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < probs.length; i++) {
    let at = best.length;
    while (at > 0 && probs[best[at - 1]] < probs[i]) at--;
    if (at < k) {
      best.splice(at, 0, i);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

/** The keep decision for one image's softmax row. */
export function decideCar(probs: ArrayLike<number>, options: { method: PrefilterMethod; threshold: number; topK: number; carIndices: readonly number[] }): { keep: boolean; carProb: number; topClass: number; topProb: number } {
  let carProb = 0;
  for (const i of options.carIndices) carProb += probs[i];
  const top = topKIndices(probs, Math.max(1, options.topK));
  const keep = options.method === 'acc-prob' ? carProb > options.threshold : top.some((i) => options.carIndices.includes(i));
  return { keep, carProb, topClass: top[0], topProb: probs[top[0]] };
}

/** Reads a prefilter manifest; a truncated last line (killed run) is ignored. */
export async function readPrefilterManifest(manifestPath: string): Promise<PrefilterEntry[]> {
  const text = await fs.promises.readFile(manifestPath, 'utf8');
  const lines = text.split('\n');
  const entries: PrefilterEntry[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const entry = JSON.parse(line);
      if (typeof entry.file === 'string' && typeof entry.status === 'string') entries.push(entry);
    } catch (err) {
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim() !== '')) {
        throw new Error(`Cannot read prefilter manifest ${manifestPath}: line ${i + 1} is not JSON`);
      }
    }
  });
  return entries;
}

/** The files a manifest kept (what `carclass train` takes from a prefilter run). */
export async function keptFiles(manifestPath: string): Promise<string[]> {
  const last = new Map<string, PrefilterEntry>();
  for (const entry of await readPrefilterManifest(manifestPath)) last.set(entry.file, entry);
  return [...last.values()].filter((e) => e.status === 'kept').map((e) => e.file);
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.promises.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Moves a file without ever overwriting; across file systems it copies, then removes the source. */
async function moveNoOverwrite(source: string, destination: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(destination), { recursive: true });
  if (await exists(destination)) throw new Error(`destination exists: ${destination}`);
  try {
    await fs.promises.link(source, destination);
    await fs.promises.unlink(source);
  } catch (err: any) {
    if (err.code === 'EEXIST') throw new Error(`destination exists: ${destination}`);
    if (err.code !== 'EXDEV' && err.code !== 'EPERM' && err.code !== 'ENOTSUP') throw err;
    await fs.promises.copyFile(source, destination, fs.constants.COPYFILE_EXCL);
    await fs.promises.unlink(source);
  }
}

async function copyNoOverwrite(source: string, destination: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(destination), { recursive: true });
  try {
    await fs.promises.copyFile(source, destination, fs.constants.COPYFILE_EXCL);
  } catch (err: any) {
    if (err.code === 'EEXIST') throw new Error(`destination exists: ${destination}`);
    throw err;
  }
}

function csvField(value: unknown): string {
  const text = value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function siblingPath(manifestPath: string, suffix: string): string {
  return `${manifestPath.replace(/\.jsonl?$/i, '')}${suffix}`;
}

/**
 * Classifies every image with the ImageNet model and keeps those that look like cars: `acc-prob` keeps an image
 * when the summed probability over `carIndices` is above `threshold`; `top-k` when one of its top-k classes is a
 * car class. Writes a JSON-lines manifest as it goes (so a killed run resumes), then a summary JSON and a CSV.
 * Dropped files can be moved or copied aside; nothing is ever deleted.
 */
export async function prefilter(options: PrefilterOptions): Promise<PrefilterSummary> {
  if (options === null || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('prefilter', options, OPTION_KEYS);
  const { model, createLoader } = options;
  if (!model || typeof model.predictOnBatch !== 'function') throw invalid('model', 'model with predictOnBatch()', model);
  if (typeof createLoader !== 'function') throw invalid('createLoader', 'loader factory function', createLoader);
  if ((options.dir === undefined) === (options.files === undefined)) throw new TypeError('prefilter needs exactly one of dir or files');
  if (options.dir !== undefined && (typeof options.dir !== 'string' || options.dir === '')) throw invalid('dir', 'folder path', options.dir);
  if (options.files !== undefined && (!Array.isArray(options.files) || !options.files.every((f) => typeof f === 'string' && f !== ''))) {
    throw invalid('files', 'array of file paths', options.files);
  }
  const threshold = options.threshold === undefined ? CAR_THRESHOLD : numberIn('threshold', options.threshold, 0, 1);
  const method = options.method === undefined ? 'acc-prob' : oneOf('method', options.method, ['acc-prob', 'top-k'] as const);
  const topK = options.topK === undefined ? 5 : positiveInt('topK', options.topK);
  const carIndices = options.carIndices ?? CAR_IDX;
  if (!Array.isArray(carIndices) || carIndices.length === 0 || !carIndices.every((i) => Number.isInteger(i) && i >= 0)) {
    throw invalid('carIndices', 'non-empty array of class indices', carIndices);
  }
  const sizeOption = options.size ?? 224;
  const size: [number, number] = typeof sizeOption === 'number' ? [positiveInt('size', sizeOption), sizeOption] : Array.isArray(sizeOption) && sizeOption.length === 2
    ? [positiveInt('size[0]', sizeOption[0]), positiveInt('size[1]', sizeOption[1])]
    : (() => { throw invalid('size', 'positive integer or [height, width]', sizeOption); })();
  const resize = options.resize === undefined ? 'nearest' : oneOf('resize', options.resize, ['nearest', 'bilinear', 'crop_or_pad'] as const);
  const batchSize = options.batchSize === undefined ? 32 : positiveInt('batchSize', options.batchSize);
  const threads = options.threads === undefined ? undefined : positiveInt('threads', options.threads);
  const resume = options.resume === undefined ? false : booleanOption('resume', options.resume);
  for (const key of ['moveTo', 'copyTo', 'manifestPath', 'root'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) throw invalid(key, 'path', value);
  }
  if (options.moveTo !== undefined && options.copyTo !== undefined) throw new TypeError('prefilter takes moveTo or copyTo, not both');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw invalid('onProgress', 'function', options.onProgress);
  if (options.manifestPath === undefined && options.dir === undefined) throw new TypeError('prefilter needs manifestPath when given files');
  const group = options.distributed;
  if (group !== undefined && (group === null || typeof group.allgather !== 'function' || !Number.isInteger(group.rank) || !Number.isInteger(group.worldSize))) {
    throw invalid('distributed', 'process group (initDistributed())', group);
  }
  const rank = group?.rank ?? 0, world = group?.worldSize ?? 1;
  const writer = rank === 0;

  const dir = options.dir === undefined ? undefined : path.resolve(options.dir);
  if (dir !== undefined) {
    const stat = await fs.promises.stat(dir).catch(() => undefined);
    if (!stat?.isDirectory()) throw new Error(`prefilter: ${options.dir} is not a folder`);
  }
  const moveTo = options.moveTo === undefined ? undefined : path.resolve(options.moveTo);
  const copyTo = options.copyTo === undefined ? undefined : path.resolve(options.copyTo);
  const manifestPath = path.resolve(options.manifestPath ?? path.join(dir!, 'prefilter-manifest.jsonl'));
  const allFiles = dir !== undefined
    ? await scanJpegs(dir, [moveTo, copyTo].filter((p): p is string => p !== undefined))
    : options.files!.map((f) => path.resolve(f));
  const root = path.resolve(options.root ?? dir ?? commonFolder(allFiles));

  const done = new Set<string>();
  if (resume && (await exists(manifestPath))) {
    // A killed run can leave half a line: cut it so appended lines start clean.
    const text = await fs.promises.readFile(manifestPath, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) await fs.promises.truncate(manifestPath, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
    for (const entry of await readPrefilterManifest(manifestPath)) done.add(path.resolve(entry.file));
  }
  const todo = allFiles.filter((f) => !done.has(f));
  const resumed = allFiles.length - todo.length;
  if (group) {
    // Every rank must see the same work (same folder, same manifest); this also keeps rank 0 from
    // truncating the manifest before the others have read it for --resume.
    const seen = await group.allgather({ todo: todo.length, digest: listDigest(todo) }, 'prefilter file list');
    const differ = seen.map((v, r) => ({ ...v, r })).filter((v) => v.digest !== seen[0].digest);
    if (differ.length) {
      throw new Error(`prefilter: the ranks see different files to classify (rank 0: ${seen[0].todo}, ${differ.map((v) => `rank ${v.r}: ${v.todo}`).join(', ')}); start every rank on the same folder and manifest`);
    }
  }
  let manifest: fs.promises.FileHandle | null = null;
  if (writer) {
    await fs.promises.mkdir(path.dirname(manifestPath), { recursive: true });
    manifest = await fs.promises.open(manifestPath, resume ? 'a' : 'w');
  }
  const mine = group ? batchShard(todo, batchSize, rank, world) : todo;

  const counts = { kept: 0, dropped: 0, errors: 0, actionErrors: 0 };
  let total = { ...counts };
  const progress = () => options.onProgress?.({ done: total.kept + total.dropped + total.errors, total: todo.length, ...total });
  const highest = Math.max(...carIndices);
  /** This batch's manifest lines (moving or copying dropped files aside as it goes). */
  const classify = async (batch: PrefilterBatch): Promise<string[]> => {
    const probs = await model.predictOnBatch(batch);
    const classes = probs.length / batch.size;
    if (!Number.isInteger(classes) || batch.size !== batch.files.length) {
      throw new Error(`prefilter: the model returned ${probs.length} values for a batch of ${batch.size} images (${batch.files.length} files)`);
    }
    if (highest >= classes) throw new Error(`prefilter: car class ${highest} is outside the model's ${classes} classes; use the 1000-class ImageNet model (with-top weights)`);
    const lines: string[] = [];
    for (let row = 0; row < batch.size; row++) {
      const file = path.resolve(batch.files[row]);
      const decision = decideCar(probs.subarray(row * classes, (row + 1) * classes), { method, threshold, topK, carIndices });
      const entry: PrefilterEntry = { file, status: decision.keep ? 'kept' : 'dropped', carProb: decision.carProb, topClass: decision.topClass, topProb: decision.topProb };
      if (decision.keep) counts.kept++;
      else {
        counts.dropped++;
        const target = moveTo ?? copyTo;
        if (target !== undefined) {
          const relative = path.relative(root, file);
          const destination = path.join(target, relative.startsWith('..') || path.isAbsolute(relative) ? path.basename(file) : relative);
          try {
            if (moveTo !== undefined) {
              await moveNoOverwrite(file, destination);
              entry.movedTo = destination;
            } else {
              await copyNoOverwrite(file, destination);
              entry.copiedTo = destination;
            }
          } catch (err: any) {
            counts.actionErrors++;
            entry.actionError = err.message;
          }
        }
      }
      lines.push(JSON.stringify(entry));
    }
    return lines;
  };
  try {
    const loader = mine.length > 0 ? await createLoader({ files: mine, batchSize, size, resize, preprocess: 'tf', shuffle: false, threads, onError: 'skip' }) : null;
    const batches = loader?.[Symbol.asyncIterator]();
    let errorsSeen = 0;
    const errorLines = (): string[] => {
      const errors = loader?.stats().errors ?? [];
      const lines: string[] = [];
      for (; errorsSeen < errors.length; errorsSeen++) {
        const { file, reason } = errors[errorsSeen];
        counts.errors++;
        lines.push(JSON.stringify({ file: path.resolve(file), status: 'error', reason } satisfies PrefilterEntry));
      }
      return lines;
    };
    // One round: each rank classifies its next batch; rank 0 appends every rank's lines in rank order.
    // Rounds go on until every rank has run out (ranks may have one batch more than others, or fewer after errors).
    let finished = !batches;
    for (;;) {
      let lines: string[] = [];
      if (!finished) {
        const next = await batches!.next();
        if (next.done) finished = true;
        else lines = await classify(next.value);
      }
      lines.push(...errorLines());
      const parts = group ? await group.allgather({ lines, finished, counts }, 'prefilter batch') : [{ lines, finished, counts }];
      const all = parts.flatMap((p) => p.lines);
      if (manifest && all.length) await manifest.appendFile(`${all.join('\n')}\n`);
      total = parts.reduce((t, p) => ({ kept: t.kept + p.counts.kept, dropped: t.dropped + p.counts.dropped, errors: t.errors + p.counts.errors, actionErrors: t.actionErrors + p.counts.actionErrors }),
        { kept: 0, dropped: 0, errors: 0, actionErrors: 0 });
      if (todo.length > 0) progress();
      if (parts.every((p) => p.finished)) break;
    }
  } finally {
    await manifest?.close();
  }

  if (!writer) {
    // Rank 0 writes the summary and the CSV; the others return what it wrote.
    const [summary] = await group!.allgather<PrefilterSummary | null>(null, 'prefilter summary');
    return summary!;
  }
  // Summary and CSV cover the whole manifest, earlier (resumed) runs included.
  const latest = new Map<string, PrefilterEntry>();
  for (const entry of await readPrefilterManifest(manifestPath)) latest.set(entry.file, entry);
  const entries = [...latest.values()];
  const summary: PrefilterSummary = {
    manifestPath,
    summaryPath: siblingPath(manifestPath, '.summary.json'),
    csvPath: siblingPath(manifestPath, '.csv'),
    method, threshold, topK,
    total: entries.length,
    kept: entries.filter((e) => e.status === 'kept').length,
    dropped: entries.filter((e) => e.status === 'dropped').length,
    errors: entries.filter((e) => e.status === 'error').length,
    resumed,
    actionErrors: total.actionErrors,
  };
  const csv = ['file,status,car_prob,top_class,top_prob,reason,moved_to,copied_to']
    .concat(entries.map((e) => [e.file, e.status, e.carProb, e.topClass, e.topProb, e.reason ?? e.actionError, e.movedTo, e.copiedTo].map(csvField).join(',')))
    .join('\n');
  await fs.promises.writeFile(summary.csvPath, `${csv}\n`);
  await fs.promises.writeFile(summary.summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  if (group) await group.allgather(summary, 'prefilter summary');
  return summary;
}
