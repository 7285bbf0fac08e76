// Public API of carclass.
export { versions, setThreads, measureGemm } from './runtime';
export type { Versions } from './runtime';
export { loadAddon, loadFailureMessage, defaultThreads } from './native';
export { decodeImage, encodeJpeg } from './image';
export type { DecodeOptions, DecodedImage, EncodeOptions, ImageError, ResizeMethod, Preprocess, DctMethod } from './image';
export { createLoader, Loader, Batch } from './loader';
export type { LoaderOptions, LoaderStats, LoadErrorRecord, AugmentOptions } from './loader';
