// Grad-CAM overlays: colour map, blend formula, heatmap resampling and encoding.
import sharp from 'sharp';
import { jet, blendHeatmap, resizeHeatmap, renderOverlay, deprocess } from '../lib/serve';

describe('overlay', () => {
  test('jet runs blue -> cyan -> yellow -> red like matplotlib', () => {
    expect(jet(0)).toEqual([0, 0, 128]);
    expect(jet(0.25)).toEqual([0, 128, 255]);
    expect(jet(0.5)).toEqual([128, 255, 128]);
    expect(jet(0.75)).toEqual([255, 128, 0]);
    expect(jet(1)).toEqual([128, 0, 0]);
    expect(jet(-3)).toEqual(jet(0));
    expect(jet(7)).toEqual(jet(1));
  });

  test('blend is (1 - alpha) * rgb + alpha * jet(heat), per pixel', () => {
    const rgb = Uint8Array.from([10, 20, 30, 200, 100, 50]);
    const heat = Float32Array.from([0, 1]);
    const out = blendHeatmap(rgb, 1, 2, heat, 1, 2, 0.4);
    const expected = [...[10, 20, 30].map((v, c) => Math.round(0.6 * v + 0.4 * jet(0)[c])), ...[200, 100, 50].map((v, c) => Math.round(0.6 * v + 0.4 * jet(1)[c]))];
    expect(Array.from(out)).toEqual(expected);
    expect(() => blendHeatmap(rgb, 2, 2, heat, 1, 2)).toThrow(/Expected 12 RGB bytes/);
  });

  test('a coarse heatmap is resampled bilinearly with half-pixel centres', () => {
    const out = resizeHeatmap(Float32Array.from([0, 1]), 1, 2, 1, 4);
    // Output centres at 0.125, 0.375, 0.625, 0.875 of the width -> source x = -0.25, 0.25, 0.75, 1.25, clamped.
    expect(Array.from(out)).toEqual([0, 0.25, 0.75, 1]);
  });

  test('renderOverlay encodes PNG (lossless) and JPEG, and validates options', async () => {
    const rgb = new Uint8Array(4 * 6 * 3).fill(100);
    const heat = new Float32Array(2 * 3).fill(1);
    const png = await renderOverlay(rgb, 4, 6, heat, 2, 3);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([6, 4, 3]);
    expect(Array.from(data.subarray(0, 3))).toEqual([111, 60, 60]); // 0.6 * 100 + 0.4 * jet(1)
    expect((await sharp(await renderOverlay(rgb, 4, 6, heat, 2, 3, { format: 'jpeg', quality: 80 })).metadata()).format).toBe('jpeg');
    await expect(renderOverlay(rgb, 4, 6, heat, 2, 3, { alpha: 2 })).rejects.toThrow('Expected number between 0 and 1 for alpha but received 2 of type number');
    await expect(renderOverlay(rgb, 4, 6, heat, 2, 3, { colour: 'x' } as never)).rejects.toThrow(/Unknown option "colour"/);
  });

  test('deprocess inverts the tf and caffe preprocessing', () => {
    const rgb = [0, 128, 255];
    const tf = Float32Array.from(rgb, (v) => v / 127.5 - 1);
    const caffe = Float32Array.from([255 - 103.939, 128 - 116.779, 0 - 123.68]); // BGR minus the mean
    expect(Array.from(deprocess(tf, 'tf'))).toEqual(rgb);
    expect(Array.from(deprocess(caffe, 'caffe'))).toEqual(rgb);
  });
});
