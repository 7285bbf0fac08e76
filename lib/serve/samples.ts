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

/** The JPEGs of `dir` (not recursive, at most `limit`, by name), labelled from their file names. */
export async function loadSampleDir(dir: string, classes: readonly string[], limit = 48): Promise<SampleImage[]> {
  const names = (await fs.readdir(dir)).filter((name) => /\.jpe?g$/i.test(name)).sort().slice(0, limit);
  return Promise.all(names.map(async (name) => ({ name, label: labelFromFileName(name, classes), jpeg: await fs.readFile(path.join(dir, name)) })));
}
