// RSS stays flat over 50 epochs of a small set (batches are freed, prefetch is bounded),
// including early exits and loaders created and closed repeatedly.
import { createLoader } from '../lib';
import { tempDir, writeJpegs } from './helpers/images';

test('RSS flat over 50 epochs', async () => {
  const files = await writeJpegs(tempDir('memory'), 24, 120, 160);
  const loader = createLoader({ files, batchSize: 4, size: [160, 160], threads: 2, prefetch: 3, seed: 1, augment: { p: 0.5 } });
  const epoch = async () => {
    let n = 0;
    for await (const batch of loader) n += batch.size;
    return n;
  };
  // Warm up: batches are freed when V8 collects their handles, which it does once the reported
  // external memory passes its own threshold (tens of MB), so RSS first climbs to a plateau.
  for (let i = 0; i < 10; i++) await epoch();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 50; i++) {
    expect(await epoch()).toBe(24);
    if (i % 10 === 0) {
      for await (const _ of loader) break;  // early exit
      const temporary = createLoader({ files, batchSize: 8, size: [64, 64], threads: 2 });
      for await (const _ of temporary) break;
      temporary.close();
    }
  }
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  loader.close();
  // 50 epochs produce ~370 MB of batches: leaking them (or decode buffers) would far exceed this.
  expect(grown).toBeLessThan(120);
  expect(loader.stats().batches).toBeGreaterThanOrEqual(60 * 6);
});
