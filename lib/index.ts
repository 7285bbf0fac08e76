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
// Keras .h5 weights: read/write (layout-neutral), import into a model by layer name, export for Keras load_weights.
export { readKerasWeights, writeKerasWeights, kindFromWeightName, KERAS_WEIGHT_KINDS } from './keras/h5';
export type { KerasWeightsFile, KerasLayerWeights, KerasWeight, KerasWeightKind, WriteLayer, WriteKerasOptions } from './keras/h5';
export { loadKerasWeights, kerasSnakeCase, keras3LayerPaths } from './keras/import';
export type { LoadKerasWeightsOptions, KerasImportReport, ShapeMismatch } from './keras/import';
export { exportKerasWeights, classesPathFor } from './keras/export';
export type { ExportKerasWeightsOptions, KerasExportResult } from './keras/export';
export type { KerasWeightsModel, NamedTensor } from './keras/model-contract';
// ONNX export (opset 17): the architecture and weights in one file for ONNX Runtime and other runtimes.
export { exportOnnx, buildOnnxModel, ONNX_OPSET, ONNX_INPUT, ONNX_IMAGE_INPUT, ONNX_OUTPUT } from './onnx/export';
export type { ExportOnnxOptions, OnnxExportResult, OnnxExportableModel } from './onnx/export';
// Prefilter: drop non-car pictures with the 1000-class ImageNet model (seed's CAR_IDX and threshold).
export { prefilter, decideCar, topKIndices, readPrefilterManifest, keptFiles, CAR_IDX, CAR_THRESHOLD } from './data/prefilter';
export type { PrefilterOptions, PrefilterSummary, PrefilterEntry, PrefilterProgress, PrefilterMethod, PrefilterResize, PrefilterLoaderFactory, PrefilterLoader, PrefilterBatch } from './data/prefilter';
export { decodeImage, encodeJpeg } from './image';
export type { DecodeOptions, DecodedImage, EncodeOptions, ImageError, ResizeMethod, Preprocess, DctMethod } from './image';
export { createLoader, Loader, Batch } from './loader';
export type { LoaderOptions, LoaderStats, LoadErrorRecord, AugmentOptions, BatchFormat } from './loader';
export { createModel, loadModel, Model, checkpointFiles, ARCHS, HEADS } from './model';
export type {
  Arch, Head, Unfreeze, Precision, CreateModelOptions, ArrayInput, BatchLike, ModelInput, LayerInfo, WeightSpecEntry, Weights,
  CompileOptions, StepResult, GradCamResult, SaveOptions, LoadOptions, CheckpointMetadata,
} from './model';
export { drawCar, demoFileName, demoClassSpecs, generateDemoDataset, sharpJpegEncoder, DEMO_CLASSES, DEMO_DEFAULTS } from './demo';
export type { CarClassSpec, DemoDataset, DemoDatasetOptions, JpegEncoder } from './demo';
// Training loop and ordered prediction passes.
export { train, resolveTrainOptions } from './train/train';
export type { TrainOptions, TrainResult, EarlyStoppingConfig } from './train/train';
export { fitModel, evaluateModel } from './train/fit';
export type { FitOptions, FitData, FitBatch, FitModel, FitCallback, Callback, History, EvaluateOptions, EvaluateLogs } from './train/fit';
export { predictFiles, evaluateFiles, topK } from './train/evaluate';
export type { Predictions, EvaluateResult, PassOptions, PredictOptions, TopPrediction } from './train/evaluate';
// Frozen-base feature cache (memory-mapped head inputs, keyed by everything that changes them).
export { openFeatureCache, FeatureCache, FeatureBatches, featureKey, baseWeightsHash, fileIdentities, CACHE_DTYPES } from './cache';
export type { FeatureCacheOptions, FeatureCacheReport, FeatureKeyParts, CacheDtype } from './cache';
export { planStage1, CACHE_FEATURES_MODES, HEAD_AUGMENTS } from './train/feature-cache';
export type { CacheFeaturesMode, HeadAugment, Stage1Plan } from './train/feature-cache';
// Serving (issue 7): REST server, Grad-CAM overlays, demo backend.
export * from './serve';
// Data parallel on c10d (issue 11): process group, gradient sync, torchrun environment, launcher.
export { initDistributed, initDistributedFromEnv, Distributed, distributedBackends, distributedEnv, blockOf, DEFAULT_DIST_TIMEOUT_SECONDS } from './distributed';
export type { InitDistributedOptions, AttachOptions, GradientSyncStats, DistributedEnv, DistributedBackend } from './distributed';
export { launchWorkers, takeLaunchFlags } from './distributed/launcher';
export type { LaunchFlags, LaunchOptions } from './distributed/launcher';
