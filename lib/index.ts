// Public API of carclass.
export { versions, setThreads, measureGemm } from './runtime';
export type { Versions } from './runtime';
export { loadAddon, loadFailureMessage, defaultThreads } from './native';
// Dataset tools: scan, file-name parsing, labels, stratified split, class weights, manifest.
export * from './data';
// Training callbacks: EarlyStopping, ModelCheckpoint, CSVLogger, TensorBoard, progress bar, LR schedules.
export * from './train/callbacks';
// Evaluation reports: metrics, confusion heatmap, history and prediction-grid PNGs, report.md/json.
export * from './report';
