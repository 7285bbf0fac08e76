// Locates the read-only shared test data: CARCLASS_SHARED_DATA, ../shared/data beside the clone,
// one level further up from a worktree, or /work/shared/data.
import * as fs from 'fs';
import * as path from 'path';

export function sharedDataDir(): string {
  const candidates = [
    process.env.CARCLASS_SHARED_DATA,
    path.resolve(__dirname, '../../shared/data'),
    path.resolve(__dirname, '../../../shared/data'),
    '/work/shared/data',
  ].filter((dir): dir is string => !!dir);
  return candidates.find((dir) => fs.existsSync(dir)) ?? candidates[0];
}
