// Test fixtures: deterministic RGB patterns, JPEGs written to a temp folder, PNM parsing for djpeg.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { encodeJpeg } from '../../lib';
import { sharedDataDir } from '../shared-data';

export const sharedData = sharedDataDir();
export const carsDir = path.join(sharedData, 'cars-sample');
export const corpusDir = path.join(sharedData, 'jpeg-corpus');

export function carFiles(): string[] {
  return fs.readdirSync(carsDir).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(carsDir, f));
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `carclass-${prefix}-`));
}

/** Smooth colour gradients plus a seed-dependent texture, so JPEG keeps real detail. */
export function pattern(height: number, width: number, seed = 1): Uint8Array {
  const rgb = new Uint8Array(height * width * 3);
  let state = seed * 2654435761 >>> 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1664525 + 1013904223) >>> 0;
      const noise = (state >>> 24) & 31;
      const i = (y * width + x) * 3;
      rgb[i] = (x * 255 / Math.max(1, width - 1) + noise) & 255;
      rgb[i + 1] = (y * 255 / Math.max(1, height - 1) + seed * 40) & 255;
      rgb[i + 2] = ((x + y) * 3 + noise * 2) & 255;
    }
  }
  return rgb;
}

/** Writes `count` JPEGs of the given size into `dir`, returns their paths. */
export async function writeJpegs(dir: string, count: number, height: number, width: number, quality = 75): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `img-${String(i).padStart(4, '0')}.jpg`);
    fs.writeFileSync(file, await encodeJpeg(pattern(height, width, i + 1), width, height, { quality }));
    files.push(file);
  }
  return files;
}

export interface Pnm {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** Parses binary P6/P5 (maxval 255); gray is replicated to RGB. */
export function parsePnm(buf: Buffer): Pnm {
  const fields: string[] = [];
  let pos = 0;
  while (fields.length < 4) {
    while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    if (buf[pos] === 0x23) { while (buf[pos] !== 0x0a) pos++; continue; }
    let token = '';
    while (!/\s/.test(String.fromCharCode(buf[pos]))) token += String.fromCharCode(buf[pos++]);
    fields.push(token);
  }
  pos++;
  const [magic, w, h] = [fields[0], Number(fields[1]), Number(fields[2])];
  const body = buf.subarray(pos);
  if (magic === 'P6') return { width: w, height: h, rgb: new Uint8Array(body.subarray(0, w * h * 3)) };
  if (magic !== 'P5') throw new Error(`unexpected PNM ${magic}`);
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = body[i];
  return { width: w, height: h, rgb };
}

export function hasDjpeg(): boolean {
  return spawnSync('djpeg', ['-version']).error === undefined;
}

export function djpeg(file: string, dct: 'fast' | 'int'): Pnm {
  const r = spawnSync('djpeg', ['-dct', dct, '-pnm', file], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`djpeg failed: ${r.stderr}`);
  return parsePnm(r.stdout);
}

/** Debian python with Pillow (not the pyenv python on PATH). */
export function hasPillow(): boolean {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import PIL, numpy']);
  return r.status === 0;
}

export function writePpm(file: string, rgb: Uint8Array, width: number, height: number): void {
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`), Buffer.from(rgb)]));
}
