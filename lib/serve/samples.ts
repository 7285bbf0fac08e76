// Sample pictures for the web page, read from a folder; labels come from dataset-style file names.
import * as fs from 'fs/promises';
import * as path from 'path';
import { SampleImage } from './backend';

/**
 * The class whose name starts the file name (case-insensitive, followed by `_` or `.`), longest match first:
 * `Audi_A5_2013_..._eUH.jpg` is `Audi_A5` with model labels and `Audi` with make labels.
 */
export function labelFromFileName(fileName: string, classes: readonly string[]): string | undefined {
  const lower = fileName.toLowerCase();
  let best: string | undefined;
  for (const label of classes) {
    const prefix = label.toLowerCase();
    const next = lower.charAt(prefix.length);
    if (lower.startsWith(prefix) && (next === '_' || next === '.') && (best === undefined || label.length > best.length)) best = label;
  }
  return best;
}

/** Largest sample file read (a sample is a photo for the page, not a dataset). */
const MAX_SAMPLE_BYTES = 16 * 1024 * 1024;

/**
 * The JPEGs of `dir` (not recursive), at most `limit`, labelled from their file names and drawn across the classes in
 * turn (each class's first file by name, then each class's second, ...), so the game meets every class and not only the
 * first ones in the alphabet; unlabelled files come last. Only regular files inside `dir` are read: a symbolic link
 * that leads outside it, a FIFO or a device is skipped. With `decodes`, only files it accepts are kept.
 */
export async function loadSampleDir(
  dir: string, classes: readonly string[], limit = 48, decodes?: (jpeg: Buffer) => Promise<boolean>,
): Promise<SampleImage[]> {
  const root = await fs.realpath(dir);
  const byLabel = new Map<string | undefined, string[]>();
  for (const name of (await fs.readdir(root)).filter((n) => /\.jpe?g$/i.test(n)).sort()) {
    const label = labelFromFileName(name, classes);
    byLabel.set(label, [...(byLabel.get(label) ?? []), name]);
  }
  const unlabelled = byLabel.get(undefined) ?? [];
  byLabel.delete(undefined);
  const groups = [...byLabel.values()];
  const order: string[] = [];
  for (let i = 0; groups.some((names) => i < names.length); i++) {
    for (const names of groups) if (i < names.length) order.push(names[i]);
  }
  order.push(...unlabelled);
  const samples: SampleImage[] = [];
  for (const name of order) {
    if (samples.length >= limit) break;
    const jpeg = await readInside(root, name);
    if (jpeg && (!decodes || await decodes(jpeg))) samples.push({ name, label: labelFromFileName(name, classes), jpeg });
  }
  return samples.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The bytes of root/name when it is (or links to) a regular file inside root of at most MAX_SAMPLE_BYTES. */
async function readInside(root: string, name: string): Promise<Buffer | undefined> {
  let target: string;
  try {
    target = await fs.realpath(path.join(root, name));
  } catch {
    return undefined; // a dangling link
  }
  if (!target.startsWith(root + path.sep)) return undefined;
  const info = await fs.stat(target);
  if (!info.isFile() || info.size > MAX_SAMPLE_BYTES) return undefined;
  return fs.readFile(target);
}
