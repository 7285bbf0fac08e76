// Synthetic car dataset used by `carclass demo`.
export { drawCar, renderCarScene, demoFileName, demoClassSpecs, generateDemoDataset, sharpJpegEncoder, createRng, DEMO_DEFAULTS } from './synth';
export type { CarClassSpec, CarPlacement, DemoDataset, DemoDatasetOptions, JpegEncoder, Rng } from './synth';
export { DEMO_CLASSES, classLabel } from './classes';
