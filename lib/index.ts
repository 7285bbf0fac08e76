// Public API of carclass.
export { versions, setThreads, measureGemm } from './runtime';
export type { Versions } from './runtime';
export { loadAddon, loadFailureMessage, defaultThreads } from './native';
export { createModel, loadModel, Model, checkpointFiles, ARCHS, HEADS } from './model';
export type {
  Arch, Head, Unfreeze, Precision, CreateModelOptions, ArrayInput, BatchLike, ModelInput, LayerInfo, WeightSpecEntry, Weights,
  CompileOptions, StepResult, GradCamResult, SaveOptions, LoadOptions, CheckpointMetadata,
} from './model';
