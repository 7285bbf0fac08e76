// Keras preprocessing: 'tf' = x / 127.5 - 1 on RGB, 'caffe' = BGR minus the ImageNet mean, 'none' = uint8.
import * as path from 'path';
import { decodeImage } from '../lib';
import { carFiles } from './helpers/images';

const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

test.each([[100, 120], [250, 341], [101, 333]])('tf, caffe and none agree with the formulas on a real photo (%i x %i)', async (h, w) => {
  const file = carFiles()[0];
  const raw = await decodeImage(file, { size: [h, w] });
  const tf = await decodeImage(file, { size: [h, w], preprocess: 'tf' });
  const caffe = await decodeImage(file, { size: [h, w], preprocess: 'caffe' });
  expect(raw.data.constructor.name).toBe('Uint8Array');
  expect(tf.data.constructor.name).toBe('Float32Array');
  expect(tf.shape).toEqual([h, w, 3]);
  const mismatches: string[] = [];
  for (let i = 0; i < raw.data.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      const tfWant = Math.fround(Math.fround(raw.data[i + c] / 127.5) - 1);
      // caffe output channel c is source channel 2 - c (RGB -> BGR)
      const caffeWant = Math.fround(raw.data[i + 2 - c] - Math.fround(CAFFE_MEAN_BGR[c]));
      if (tf.data[i + c] !== tfWant) mismatches.push(`tf[${i + c}] ${tf.data[i + c]} != ${tfWant}`);
      if (caffe.data[i + c] !== caffeWant) mismatches.push(`caffe[${i + c}] ${caffe.data[i + c]} != ${caffeWant}`);
    }
  }
  expect(mismatches.slice(0, 5)).toEqual([]);
});

test('tf range is [-1, 1]; padding is -1 for tf and -mean for caffe', async () => {
  const file = carFiles()[2];
  const tf = await decodeImage(file, { size: [400, 400], preprocess: 'tf' });
  let min = Infinity, max = -Infinity;
  tf.data.forEach((v) => { min = Math.min(min, v); max = Math.max(max, v); });
  expect(min).toBeGreaterThanOrEqual(-1);
  expect(max).toBeLessThanOrEqual(1);
  expect(Array.from(tf.data.subarray(0, 3))).toEqual([-1, -1, -1]);  // 400 rows from ~213: top-left is padding
  const caffe = await decodeImage(file, { size: [400, 400], preprocess: 'caffe' });
  Array.from(caffe.data.subarray(0, 3)).forEach((v, c) => expect(v).toBeCloseTo(-CAFFE_MEAN_BGR[c], 4));
});

test('unknown preprocess is rejected by name', async () => {
  await expect(decodeImage(path.join(carFiles()[0]), { preprocess: 'torch' as any })).rejects.toThrow(
    'Expected one of tf, caffe, none for preprocess but received "torch" of type string');
});
