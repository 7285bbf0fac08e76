// Public API of carclass.
export { versions, setThreads, measureGemm } from './runtime';
export type { Versions } from './runtime';
export { loadAddon, loadFailureMessage, defaultThreads } from './native';
export { drawCar, demoFileName, demoClassSpecs, generateDemoDataset, sharpJpegEncoder, DEMO_CLASSES, DEMO_DEFAULTS } from './demo';
export type { CarClassSpec, DemoDataset, DemoDatasetOptions, JpegEncoder } from './demo';
