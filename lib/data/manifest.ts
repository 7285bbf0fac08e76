// The split on disk: manifest.json (authoritative, re-read by --manifest) and manifest.csv (for people and spreadsheets).
import * as fsp from 'fs/promises';
import * as path from 'path';
import { DATASET_LABEL_TYPES, DatasetLabelType, DroppedClass, RejectedFile, Sample } from './dataset';
import { countByExtension } from './scan';
import { SPLIT_NAMES, SplitName, SplitResult } from './split';

export const MANIFEST_VERSION = 1;

export interface ManifestEntry {
  /** Path relative to `root`, with `/` separators. */
  file: string;
  label: number;
  split: SplitName;
}

export interface Manifest {
  version: number;
  /** Absolute directory the entries are relative to. */
  root: string;
  labelType: DatasetLabelType;
  classes: string[];
  seed: number;
  /** Every option that shaped the dataset and the split (topN, minCount, ratios, onTooSmall, ...). */
  options: Record<string, unknown>;
  entries: ManifestEntry[];
  /** Class weights computed on the train split, when used. */
  classWeights?: number[];
  rejected?: RejectedFile[];
  dropped?: DroppedClass[];
  /** Files found that are not images by extension (not read): how many, by extension. */
  ignored?: { count: number; byExtension: Record<string, number> };
  /** Images a run could not decode (added by train() once it has seen them), with the split each belongs to. */
  undecodable?: Array<{ file: string; split: SplitName; code: string; reason: string }>;
  createdAt?: string;
}

export interface CreateManifestInput {
  root: string;
  labelType: DatasetLabelType;
  seed: number;
  options: Record<string, unknown>;
  split: SplitResult;
  classWeights?: number[];
  rejected?: RejectedFile[];
  dropped?: DroppedClass[];
  /** Non-image files the scan found (not read). */
  ignored?: string[];
}

function relativeTo(root: string, file: string): string {
  const rel = path.relative(root, path.resolve(root, file));
  return rel.split(path.sep).join('/');
}

export function createManifest(input: CreateManifestInput): Manifest {
  const root = path.resolve(input.root);
  const entries: ManifestEntry[] = [];
  for (const split of SPLIT_NAMES) {
    for (const s of input.split[split]) entries.push({ file: relativeTo(root, s.file), label: s.label, split });
  }
  const droppedBySplit = input.split.dropped.map(({ name, count }) => ({ name, count, reason: 'too small to split' }));
  return {
    version: MANIFEST_VERSION,
    root,
    labelType: input.labelType,
    classes: [...input.split.classes],
    seed: input.seed,
    options: { ...input.options },
    entries,
    ...(input.classWeights ? { classWeights: [...input.classWeights] } : {}),
    rejected: input.rejected ?? [],
    dropped: [...(input.dropped ?? []), ...droppedBySplit],
    ...(input.ignored && input.ignored.length ? { ignored: { count: input.ignored.length, byExtension: countByExtension(input.ignored) } } : {}),
    createdAt: new Date().toISOString(),
  };
}

/** RFC 4180 quoting: only when needed. */
function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function manifestToCsv(manifest: Manifest): string {
  const lines = ['file,class,label,split'];
  for (const e of manifest.entries) lines.push([e.file, manifest.classes[e.label], e.label, e.split].map(csvField).join(','));
  return lines.join('\n') + '\n';
}

/** Writes `<dir>/manifest.json` and `<dir>/manifest.csv`; returns both paths. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<{ json: string; csv: string }> {
  checkManifest(manifest, 'manifest');
  await fsp.mkdir(dir, { recursive: true });
  const json = path.join(dir, 'manifest.json');
  const csv = path.join(dir, 'manifest.csv');
  await fsp.writeFile(json, JSON.stringify(manifest, null, 2) + '\n');
  await fsp.writeFile(csv, manifestToCsv(manifest));
  return { json, csv };
}

function fail(where: string, message: string): never {
  throw new Error(`Invalid manifest ${where}: ${message}`);
}

function checkManifest(value: unknown, where: string): Manifest {
  if (!value || typeof value !== 'object') fail(where, 'not a JSON object');
  const m = value as Manifest;
  if (m.version !== MANIFEST_VERSION) fail(where, `version must be ${MANIFEST_VERSION}, found ${JSON.stringify(m.version)}`);
  if (typeof m.root !== 'string') fail(where, 'root must be a string');
  if (!DATASET_LABEL_TYPES.includes(m.labelType)) fail(where, `labelType must be one of ${DATASET_LABEL_TYPES.join(', ')}, found ${JSON.stringify(m.labelType)}`);
  if (!Array.isArray(m.classes) || m.classes.length === 0 || m.classes.some((c) => typeof c !== 'string')) fail(where, 'classes must be a non-empty array of strings');
  if (new Set(m.classes).size !== m.classes.length) fail(where, 'classes contains duplicates');
  if (!Number.isInteger(m.seed)) fail(where, 'seed must be an integer');
  if (!m.options || typeof m.options !== 'object') fail(where, 'options must be an object');
  if (!Array.isArray(m.entries)) fail(where, 'entries must be an array');
  m.entries.forEach((e, i) => {
    if (!e || typeof e.file !== 'string' || e.file.length === 0) fail(where, `entries[${i}].file must be a non-empty string`);
    if (!Number.isInteger(e.label) || e.label < 0 || e.label >= m.classes.length) fail(where, `entries[${i}].label ${JSON.stringify(e.label)} is not a class index (0..${m.classes.length - 1}) for ${e.file}`);
    if (!(SPLIT_NAMES as readonly string[]).includes(e.split)) fail(where, `entries[${i}].split must be train, val or test, found ${JSON.stringify(e.split)}`);
  });
  if (m.classWeights !== undefined && (!Array.isArray(m.classWeights) || m.classWeights.length !== m.classes.length)) {
    fail(where, 'classWeights must have one number per class');
  }
  return m;
}

/** Reads a manifest.json (or the manifest.json inside a directory) and validates it. */
export async function readManifest(file: string): Promise<Manifest> {
  let target = path.resolve(file);
  const stat = await fsp.stat(target).catch(() => fail(target, 'file not found'));
  if (stat.isDirectory()) target = path.join(target, 'manifest.json');
  const text = await fsp.readFile(target, 'utf8').catch(() => fail(target, 'file not found'));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    fail(target, `not valid JSON (${(e as Error).message})`);
  }
  return checkManifest(parsed, target);
}

/** The manifest's splits with absolute file paths, ready for the loader. */
export function manifestSplits(manifest: Manifest): Record<SplitName, Sample[]> {
  const out: Record<SplitName, Sample[]> = { train: [], val: [], test: [] };
  for (const e of manifest.entries) out[e.split].push({ file: path.resolve(manifest.root, e.file), label: e.label });
  return out;
}
