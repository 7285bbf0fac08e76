// Shared test helpers: temp folders and the shared data location.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { sharedDataDir } from './shared-data';

/** The read-only shared test data (see shared-data.ts). */
export const sharedData = sharedDataDir();

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `carclass-${prefix}-`));
}
