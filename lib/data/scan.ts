// Recursive image discovery (JPEG, PNG, BMP). Follows symlinks but visits each real directory once, so loops terminate.
import * as fsp from 'fs/promises';
import * as path from 'path';
import { invalid } from '../validate';

const JPEG_EXTENSION = /\.jpe?g$/i;
/** What the native image core decodes: JPEG, PNG and BMP. */
const IMAGE_EXTENSION = /\.(jpe?g|png|bmp)$/i;
export const IMAGE_EXTENSIONS_TEXT = '.jpg/.jpeg/.png/.bmp';

export function isJpegName(name: string): boolean {
  return JPEG_EXTENSION.test(name);
}

export function isImageName(name: string): boolean {
  return IMAGE_EXTENSION.test(name);
}

/** Code-unit order: identical on every platform and locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkDir(dir: unknown): string {
  if (typeof dir !== 'string' || dir.length === 0) throw invalid('dir', 'non-empty string', dir);
  return path.resolve(dir);
}

/** Absolute paths of all .jpg/.jpeg/.png/.bmp files (any case) under `dir`, sorted. */
export async function scanImages(dir: string): Promise<string[]> {
  return (await scanFiles(dir)).images;
}

export interface ScanResult {
  /** Images (.jpg/.jpeg/.png/.bmp), absolute, sorted. */
  images: string[];
  /** Other regular files, absolute, sorted: not read, but counted so they do not vanish unnoticed. */
  others: string[];
}

/** Every regular file under `dir` (symlinks followed, each real folder once), split into images and the rest. */
export async function scanFiles(dir: string): Promise<ScanResult> {
  const root = checkDir(dir);
  const stat = await fsp.stat(root).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`Cannot scan ${root}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}`);
  });
  if (!stat.isDirectory()) throw new Error(`Cannot scan ${root}: not a directory`);
  const visited = new Set<string>();
  const images: string[] = [];
  const others: string[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const current = pending.pop() as string;
    const real = await fsp.realpath(current);
    if (visited.has(real)) continue;
    visited.add(real);
    for (const entry of await fsp.readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await fsp.stat(full).catch(() => null); // dangling links are skipped
        if (!target) continue;
        isDir = target.isDirectory();
        isFile = target.isFile();
      }
      if (isDir) pending.push(full);
      else if (isFile) (isImageName(entry.name) ? images : others).push(full);
    }
  }
  return { images: images.sort(compareStrings), others: others.sort(compareStrings) };
}

/** "3 .bmp, 1 .txt, 1 without extension": counts of files by extension, most frequent first. */
export function countByExtension(files: readonly string[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const f of files) {
    const ext = path.extname(f).toLowerCase() || '(no extension)';
    counts.set(ext, (counts.get(ext) ?? 0) + 1);
  }
  return Object.fromEntries([...counts.entries()].sort((a, b) => b[1] - a[1] || compareStrings(a[0], b[0])));
}
