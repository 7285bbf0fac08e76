// Every odd or broken file in shared/data/jpeg-corpus decodes to the right shape or fails with a
// named error; none crashes the process, through decodeImage or the loader.
import * as fs from 'fs';
import * as path from 'path';
import { createLoader, decodeImage } from '../lib';
import { corpusDir } from './helpers/images';

// [height, width] (as Pillow reports them), or the error code in strict mode.
const expected: Record<string, { shape?: [number, number]; strict?: string; lenient?: string }> = {
  'ljt-monkey12.jpg': { strict: 'JPEG_UNSUPPORTED', lenient: 'JPEG_UNSUPPORTED' },  // 12-bit
  'ljt-testimgari.jpg': { shape: [149, 227] },  // arithmetic coding
  'ljt-testimgint.jpg': { shape: [149, 227] },  // progressive
  'ljt-testorig.jpg': { shape: [149, 227] },
  'pil-app13.jpg': { shape: [4, 4] },
  'pil-flower.jpg': { shape: [360, 480] },
  'pil-flower2.jpg': { shape: [225, 300] },
  'pil-hopper.jpg': { shape: [128, 128] },
  'pil-hopper_16bit_qtables.jpg': { shape: [128, 128] },
  'pil-hopper_gray.jpg': { shape: [128, 128] },
  'pil-hopper_orientation_6.jpg': { shape: [128, 128] },
  'pil-icc-after-SOF.jpg': { shape: [10, 10] },
  'pil-icc_profile_big.jpg': { shape: [250, 425] },
  'pil-jpeg_ff00_header.jpg': { shape: [225, 300], strict: 'JPEG_CORRUPT' },  // stray bytes: a libjpeg warning
  'pil-junk_jpeg_header.jpg': { shape: [768, 1024], strict: 'JPEG_CORRUPT' },
  'pil-pil_sample_cmyk.jpg': { shape: [100, 100] },
  'pil-pil_sample_rgb.jpg': { shape: [100, 100] },
  'pil-sugarshack_bad_mpo_header.jpg': { shape: [480, 640] },
  'pil-truncated_app14.jpg': { shape: [100, 100], strict: 'JPEG_CORRUPT' },
  'pil-truncated_jpeg.jpg': { shape: [100, 100], strict: 'JPEG_TRUNCATED' },
};

const corpus = fs.readdirSync(corpusDir).filter((f) => f.endsWith('.jpg')).sort();

test('the corpus is the one this test knows', () => {
  expect(corpus).toEqual(Object.keys(expected).sort());
});

for (const mode of ['strict', 'lenient'] as const) {
  test.each(corpus)(`${mode}: %s`, async (name) => {
    const want = expected[name];
    const code = want[mode];
    for (const dct of ['fast', 'accurate'] as const) {
      const result = await decodeImage(path.join(corpusDir, name), { dct, lenient: mode === 'lenient' }).then(
        (img) => ({ shape: img.shape, length: img.data.length }), (err) => ({ code: err.code, message: err.message }));
      if (code) {
        expect(result).toEqual({ code, message: expect.stringContaining(name) });
      } else {
        const [h, w] = want.shape!;
        expect(result).toEqual({ shape: [h, w, 3], length: h * w * 3 });
      }
    }
  });
}

test('the loader skips the bad ones and keeps the rest, with a fixed size', async () => {
  const files = corpus.map((f) => path.join(corpusDir, f));
  const loader = createLoader({ files, batchSize: 4, size: [64, 64], shuffle: false, threads: 2, preprocess: 'caffe' });
  let kept: string[] = [];
  for await (const batch of loader) {
    expect(batch.shape).toEqual([batch.size, 64, 64, 3]);
    kept = kept.concat(batch.files.map((f) => path.basename(f)));
  }
  const bad = corpus.filter((f) => expected[f].strict);
  expect(kept).toEqual(corpus.filter((f) => !expected[f].strict));
  expect(loader.stats().errors.map((e) => [path.basename(e.file), e.code])).toEqual(bad.map((f) => [f, expected[f].strict]));
  loader.close();
});
