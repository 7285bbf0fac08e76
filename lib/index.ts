// Public API of carclass.
export { versions, setThreads, measureGemm } from './runtime';
export type { Versions } from './runtime';
export { loadAddon, loadFailureMessage, defaultThreads } from './native';
// Dataset tools: scan, file-name parsing, labels, stratified split, class weights, manifest.
export * from './data';
// Training callbacks: EarlyStopping, ModelCheckpoint, CSVLogger, TensorBoard, progress bar, LR schedules.
export * from './train/callbacks';
