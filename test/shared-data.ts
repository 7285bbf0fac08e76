// Locates /work/shared/data: next to the repo clone (../../shared), or one level up from a worktree.
import * as fs from 'fs';
import * as path from 'path';

export function sharedDataDir(): string {
  const candidates = [path.resolve(__dirname, '../../shared/data'), path.resolve(__dirname, '../../../shared/data')];
  return candidates.find((dir) => fs.existsSync(dir)) ?? candidates[0];
}
