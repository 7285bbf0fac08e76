// RSS stays flat over 50 epochs of a small set (batches are freed, prefetch is bounded),
// including early exits and loaders created and closed repeatedly.
import * as path from 'path';
import { spawnSync } from 'child_process';
import { createLoader } from '../lib';
import { tempDir, writeJpegs } from './helpers/images';

test('RSS flat over 50 epochs', async () => {
  const files = await writeJpegs(tempDir('memory'), 24, 120, 160);
  const loader = createLoader({ files, batchSize: 4, size: [160, 160], threads: 2, prefetch: 3, seed: 1, augment: { p: 0.5 } });
  // Batches are released as a training step releases them. (Unreleased ones are freed when V8
  // collects their handles, which makes RSS swing by ~100 MB with its collection schedule; too
  // noisy to check a leak against.)
  const epoch = async () => {
    let n = 0;
    for await (const batch of loader) {
      n += batch.size;
      batch.release();
    }
    return n;
  };
  for (let i = 0; i < 10; i++) await epoch();  // warm up: pools and allocator caches fill
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
  expect(grown).toBeLessThan(40);
  expect(loader.stats().batches).toBeGreaterThanOrEqual(60 * 6);
});

test('one huge photo does not pin its decode buffer in the loader thread', async () => {
  const dir = tempDir('memory-huge');
  // Written by a child process, so that its 72 MB pixel array never touches this process's RSS.
  const huge = path.join(dir, 'huge.jpg');
  const write = spawnSync(process.execPath, ['-e', `
    const { encodeJpeg } = require(${JSON.stringify(path.resolve(__dirname, '../dist'))});
    const w = 6000, h = 4000, rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7) % 251;
    encodeJpeg(rgb, w, h, { quality: 50 }).then((jpeg) => require('fs').writeFileSync(${JSON.stringify(huge)}, jpeg));
  `], { encoding: 'utf8' });
  expect(write.stderr).toBe('');
  const small = await writeJpegs(dir, 8, 60, 80);
  // bilinear decodes the whole image (crop_or_pad would skip most rows of the big one).
  const loader = createLoader({ files: [huge, ...small], batchSize: 1, size: [48, 64], resize: 'bilinear', shuffle: false,
    threads: 1, prefetch: 1 });
  const before = process.memoryUsage().rss / 2 ** 20;
  let batches = 0;
  for await (const batch of loader) {
    batches++;
    batch.release();
  }
  const after = process.memoryUsage().rss / 2 ** 20;  // the loader thread is still alive here
  loader.close();
  expect(batches).toBe(9);
  // Keeping the 72 MB buffer for reuse would leave RSS that much higher.
  expect(after - before).toBeLessThan(30);
});

test('batches that are never released are freed with their handles (forced GC in a child)', async () => {
  const files = await writeJpegs(tempDir('memory-gc'), 24, 120, 160);
  const run = spawnSync(process.execPath, ['--expose-gc', '-e', `
    const { createLoader } = require(${JSON.stringify(path.resolve(__dirname, '../dist'))});
    const loader = createLoader({ files: JSON.parse(process.argv[1]), batchSize: 4, size: [160, 160], threads: 2, seed: 1 });
    const epoch = async () => { let n = 0; for await (const batch of loader) n += batch.size; return n; };
    (async () => {
      for (let i = 0; i < 5; i++) await epoch();
      global.gc();
      const before = process.memoryUsage().rss;
      let images = 0;
      for (let i = 0; i < 40; i++) images += await epoch();  // ~300 MB of batches, none released
      global.gc();
      await new Promise((r) => setTimeout(r, 50));
      loader.close();
      console.log(JSON.stringify({ images, grownMiB: (process.memoryUsage().rss - before) / 2 ** 20 }));
    })();
  `, JSON.stringify(files)], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  const result = JSON.parse(run.stdout.trim());
  expect(result.images).toBe(40 * 24);
  // Leaking the 40 epochs' batches would add ~300 MB; freed ones may stay in malloc's arenas.
  expect(result.grownMiB).toBeLessThan(100);
});
