// Writes that a kill cannot leave half done: write a temporary file beside the target, then rename it.
import { promises as fsp } from 'fs';

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, data);
  await fsp.rename(tmp, file);
}
