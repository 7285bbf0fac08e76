// Shared test helpers: temp folders and the shared data location.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** ../shared/data beside the repository (read-only test data). */
export const sharedData = path.resolve(__dirname, '..', '..', 'shared', 'data');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `carclass-${prefix}-`));
}
