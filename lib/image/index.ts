// JPEG/PNG/BMP decode and JPEG encode façade over the native image core. Options are validated here, before C++.
import { native } from '../native';
import { invalid, rejectUnknownKeys, positiveInt, oneOf, booleanOption, numberIn } from '../validate';

export type ResizeMethod = 'crop_or_pad' | 'bilinear' | 'nearest';
export type Preprocess = 'tf' | 'caffe' | 'none';
export type DctMethod = 'fast' | 'accurate';

export const RESIZE_METHODS: readonly ResizeMethod[] = ['crop_or_pad', 'bilinear', 'nearest'];
export const PREPROCESS_MODES: readonly Preprocess[] = ['tf', 'caffe', 'none'];
export const DCT_METHODS: readonly DctMethod[] = ['fast', 'accurate'];
export const DEFAULT_MAX_PIXELS = 50_000_000;
/** Files larger than this are refused before reading (64 MiB). */
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;

export interface DecodeOptions {
  /** [height, width] of the output; the decoded size is kept when absent. */
  size?: [number, number];
  /**
   * How to reach `size`: TF resize_with_crop_or_pad (default; pads with 0 before preprocessing),
   * TF half-pixel bilinear without antialias (rounded to nearest for preprocess 'none'), PIL nearest.
   */
  resize?: ResizeMethod;
  /** 'tf' x/127.5-1, 'caffe' BGR minus ImageNet mean, 'none' uint8 (default). */
  preprocess?: Preprocess;
  /** JPEG only: 'fast' = libjpeg IFAST (TensorFlow's default), 'accurate' = ISLOW. */
  dct?: DctMethod;
  /**
   * JPEG: accept libjpeg warnings (truncated data, stray bytes) instead of failing; a fatal error after a warning still fails.
   * PNG: also accept CRC errors and image data that ends early (rows not reached stay 0); ancillary-chunk problems never fail.
   */
  lenient?: boolean;
  /** Reject images with more pixels than this, from the header, before allocating (default 50 Mpx). */
  maxPixels?: number;
  /** Refuse files larger than this many bytes, from fstat, before reading (default 64 MiB). Paths only. */
  maxFileBytes?: number;
}

export interface DecodedImage {
  data: Float32Array | Uint8Array;
  shape: [number, number, number];
}

/** Error from the native image code; `code` tells bad files apart (JPEG_TRUNCATED, PNG_CORRUPT, NOT_JPEG for neither format, ...). */
export interface ImageError extends Error {
  code: string;
  file?: string;
}

/** Turns a native "CODE|message" error into an Error with `code`, naming `file` when known. */
export function toImageError(cause: unknown, file?: string): ImageError {
  // Not `instanceof Error`: errors made by the addon may come from another realm (vm, jest).
  const message = (cause as { message?: unknown } | null)?.message;
  const text = typeof message === 'string' ? message : String(cause);
  const bar = text.indexOf('|');
  const code = bar > 0 && /^[A-Z0-9_]+$/.test(text.slice(0, bar)) ? text.slice(0, bar) : 'INTERNAL';
  const reason = bar > 0 && code !== 'INTERNAL' ? text.slice(bar + 1) : text;
  const err = new Error(file !== undefined ? `Cannot decode "${file}": ${reason}` : reason) as ImageError;
  err.code = code;
  if (file !== undefined) err.file = file;
  return err;
}

/** Validates [height, width]. */
export function sizeOption(name: string, value: unknown): [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535)) {
    throw invalid(name, '[height, width] of positive integers', value);
  }
  return [value[0], value[1]];
}

export function maxPixelsOption(name: string, value: unknown): number {
  return positiveInt(name, value);
}

export function maxFileBytesOption(name: string, value: unknown): number {
  const bytes = positiveInt(name, value);
  if (!Number.isSafeInteger(bytes)) throw invalid(name, 'positive safe integer', value);
  return bytes;
}

const DECODE_KEYS = ['size', 'resize', 'preprocess', 'dct', 'lenient', 'maxPixels', 'maxFileBytes'] as const;

/**
 * Decodes a JPEG, PNG or BMP file or buffer (told apart by their signature) to HWC RGB off the main thread.
 * PNG follows tf.io.decode_png(channels=3): palette and gray become RGB, alpha is dropped (not composited),
 * 16-bit samples keep their high byte; BMP alpha is dropped too. Resize and preprocessing are the same for every format.
 */
export async function decodeImage(input: string | Uint8Array, options: DecodeOptions = {}): Promise<DecodedImage> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) throw invalid('input', 'path string or Buffer', input);
  if (typeof options !== 'object' || options === null) throw invalid('options', 'object', options);
  rejectUnknownKeys('decodeImage', options, DECODE_KEYS);
  const native_options: Record<string, unknown> = {
    resize: options.resize === undefined ? 'crop_or_pad' : oneOf('resize', options.resize, RESIZE_METHODS),
    preprocess: options.preprocess === undefined ? 'none' : oneOf('preprocess', options.preprocess, PREPROCESS_MODES),
    dct: options.dct === undefined ? 'fast' : oneOf('dct', options.dct, DCT_METHODS),
    lenient: options.lenient === undefined ? false : booleanOption('lenient', options.lenient),
    maxPixels: options.maxPixels === undefined ? DEFAULT_MAX_PIXELS : maxPixelsOption('maxPixels', options.maxPixels),
    maxFileBytes:
      options.maxFileBytes === undefined ? DEFAULT_MAX_FILE_BYTES : maxFileBytesOption('maxFileBytes', options.maxFileBytes),
  };
  if (options.size !== undefined) {
    const [height, width] = sizeOption('size', options.size);
    native_options.height = height;
    native_options.width = width;
  }
  try {
    return await native().decodeImage(input, native_options);
  } catch (cause) {
    throw toImageError(cause, typeof input === 'string' ? input : undefined);
  }
}

export interface EncodeOptions {
  /** 1..100, default 75. */
  quality?: number;
}

/** Encodes packed RGB (height * width * 3 bytes) as a baseline 4:2:0 JPEG. */
export async function encodeJpeg(rgb: Uint8Array, width: number, height: number, options: EncodeOptions = {}): Promise<Buffer> {
  if (!(rgb instanceof Uint8Array)) throw invalid('rgb', 'Uint8Array', rgb);
  positiveInt('width', width);
  positiveInt('height', height);
  if (typeof options !== 'object' || options === null) throw invalid('options', 'object', options);
  rejectUnknownKeys('encodeJpeg', options, ['quality']);
  const quality = options.quality === undefined ? 75 : options.quality;
  if (!Number.isInteger(quality)) throw invalid('quality', 'integer between 1 and 100', quality);
  numberIn('quality', quality, 1, 100);
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`Expected ${width * height * 3} bytes (width * height * 3) for rgb but received ${rgb.length}`);
  }
  try {
    return await native().encodeJpeg(rgb, width, height, quality);
  } catch (cause) {
    throw toImageError(cause);
  }
}
