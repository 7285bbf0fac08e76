// Grad-CAM overlays: a jet-like colour map of the heatmap blended over the RGB image, encoded with sharp.
import sharp from 'sharp';
import { invalid, numberIn, oneOf, rejectUnknownKeys } from '../validate';

export type OverlayFormat = 'png' | 'jpeg';

export interface OverlayOptions {
  /** Heatmap weight in the blend, 0..1 (default 0.4, as the Keras Grad-CAM example). */
  alpha?: number;
  format?: OverlayFormat;
  /** JPEG quality 1..100 (default 90). */
  quality?: number;
}

/** Matplotlib-like "jet": blue -> cyan -> yellow -> red for v in 0..1. */
export function jet(v: number): [number, number, number] {
  const t = Math.max(0, Math.min(1, v));
  const channel = (centre: number) => Math.round(255 * Math.max(0, Math.min(1, 1.5 - Math.abs(4 * t - centre))));
  return [channel(3), channel(2), channel(1)];
}

/** Bilinear resampling of a heatmap to another size (half-pixel centres), for overlays on images of a different size. */
export function resizeHeatmap(heatmap: Float32Array, height: number, width: number, outHeight: number, outWidth: number): Float32Array {
  if (height === outHeight && width === outWidth) return heatmap;
  const out = new Float32Array(outHeight * outWidth);
  for (let y = 0; y < outHeight; y++) {
    const sy = Math.max(0, Math.min(height - 1, ((y + 0.5) * height) / outHeight - 0.5));
    const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, height - 1), fy = sy - y0;
    for (let x = 0; x < outWidth; x++) {
      const sx = Math.max(0, Math.min(width - 1, ((x + 0.5) * width) / outWidth - 0.5));
      const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, width - 1), fx = sx - x0;
      const top = heatmap[y0 * width + x0] * (1 - fx) + heatmap[y0 * width + x1] * fx;
      const bottom = heatmap[y1 * width + x0] * (1 - fx) + heatmap[y1 * width + x1] * fx;
      out[y * outWidth + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/** Blends jet(heatmap) over `rgb` (height x width x 3): out = (1 - alpha) * rgb + alpha * jet. */
export function blendHeatmap(rgb: Uint8Array, height: number, width: number, heatmap: Float32Array, heatHeight: number, heatWidth: number, alpha = 0.4): Uint8Array {
  if (rgb.length !== height * width * 3) throw new Error(`Expected ${height * width * 3} RGB bytes for ${height}x${width} but received ${rgb.length}`);
  if (heatmap.length !== heatHeight * heatWidth) throw new Error(`Expected ${heatHeight * heatWidth} heatmap values for ${heatHeight}x${heatWidth} but received ${heatmap.length}`);
  const heat = resizeHeatmap(heatmap, heatHeight, heatWidth, height, width);
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < height * width; i++) {
    const colour = jet(heat[i]);
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round((1 - alpha) * rgb[3 * i + c] + alpha * colour[c]);
  }
  return out;
}

/** The blended overlay as an encoded PNG or JPEG. */
export async function renderOverlay(
  rgb: Uint8Array, height: number, width: number,
  heatmap: Float32Array, heatHeight: number, heatWidth: number,
  options: OverlayOptions = {},
): Promise<Buffer> {
  rejectUnknownKeys('renderOverlay', options, ['alpha', 'format', 'quality']);
  const alpha = options.alpha === undefined ? 0.4 : numberIn('alpha', options.alpha, 0, 1);
  const format = options.format === undefined ? 'png' : oneOf('format', options.format, ['png', 'jpeg'] as const);
  const quality = options.quality === undefined ? 90 : numberIn('quality', options.quality, 1, 100);
  if (!Number.isInteger(quality)) throw invalid('quality', 'integer between 1 and 100', quality);
  const pixels = blendHeatmap(rgb, height, width, heatmap, heatHeight, heatWidth, alpha);
  const image = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels: 3 } });
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality }).toBuffer();
}
