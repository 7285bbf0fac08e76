// Model façade: Keras-named architectures, async train/evaluate/predict steps, weights by name, checkpoints.
import { promises as fsp } from 'fs';
import * as path from 'path';
import { native } from '../native';
import { setThreads } from '../runtime';
import { invalid, rejectUnknownKeys, positiveInt, numberIn, oneOf, nonNegativeInt, booleanOption } from '../validate';
import { writeFileAtomic } from '../atomic-file';
import { fitModel, evaluateModel } from '../train/fit';
import type { FitData, FitOptions, History, EvaluateOptions, EvaluateLogs } from '../train/fit';

export const ARCHS = ['resnet50v2', 'resnet-small', 'resnet-tiny', 'vgg16'] as const;
export const HEADS = ['gap', 'vgg', 'imagenet'] as const;
export type Arch = (typeof ARCHS)[number];

/** The Keras preprocessing each family was trained with: VGG16 'caffe' (BGR minus mean), ResNetV2 'tf' (x/127.5-1). */
export function defaultPreprocess(arch: string | undefined): 'tf' | 'caffe' {
  return arch?.startsWith('vgg') ? 'caffe' : 'tf';
}

/** The ImageNet mean that 'caffe' preprocessing subtracts, in BGR order (as native/image/transform.cc). */
export const CAFFE_MEAN_BGR: readonly number[] = [103.939, 116.779, 123.68];
export type Head = (typeof HEADS)[number];
export type Unfreeze = 'all' | 'none' | string[];
export type Precision = 'fp32' | 'bf16';

export interface CreateModelOptions {
  arch: Arch;
  /** Output classes; defaults to 1000 for head 'imagenet'. */
  numClasses?: number;
  /** [height, width, 3]. */
  inputShape: [number, number, number];
  /** 'gap' (default): head_gap -> head_pred; 'vgg': flatten, 2 x Dense 1024 + Dropout 0.3; 'imagenet': Keras top. */
  head?: Head;
  /** Base layers that train: 'all', 'none' (default, as the seed) or regular expressions searched in layer names. */
  unfreeze?: Unfreeze;
  /** 'auto' (default: CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:N'. */
  device?: string;
  precision?: Precision;
  seed?: number;
  /** Sets LibTorch's (process-wide) thread count. */
  threads?: number;
}

/** Plain arrays for users without the loader: pixels NHWC float32. */
export interface ArrayInput {
  x: Float32Array;
  shape: [number, number, number, number];
  labels?: Int32Array;
  sampleWeights?: Float32Array;
}
/** A loader batch: any object with a native `handle`. */
export interface BatchLike {
  handle: unknown;
  size?: number;
  /** Per-sample loss weights for this step instead of the batch's own. */
  sampleWeights?: Float32Array;
}
export type ModelInput = ArrayInput | BatchLike;

export interface LayerInfo {
  name: string;
  type: string;
  outputShape: number[];
  params: number;
  trainable: boolean;
  inputs: string[];
  head: boolean;
}
export interface WeightSpecEntry {
  name: string;
  shape: number[];
  trainable: boolean;
  layer: string;
}
/** Keyed "<keras_layer>/<kind>", Keras layouts (conv HWIO, dense [in, out]), Keras order. */
export type Weights = Record<string, { shape: number[]; data: Float32Array }>;

export interface CompileOptions {
  optimizer?: { name: 'adam'; learningRate?: number; weightDecay?: number } | 'adam';
  loss?: 'categorical_crossentropy';
  labelSmoothing?: number;
}
export interface StepResult {
  loss: number;
  accuracy: number;
  count: number;
  correct: number;
  top5Correct: number;
}
export interface GradCamResult {
  /** height * width values in [0, 1], row-major. */
  heatmap: Float32Array;
  height: number;
  width: number;
  classIndex: number;
  probability: number;
  layer: string;
}
export interface SaveOptions {
  classes?: string[];
  epoch?: number;
  preprocess?: string;
  extra?: Record<string, unknown>;
}
export interface LoadOptions {
  device?: string;
  precision?: Precision;
  threads?: number;
}
/** The JSON metadata file written next to the safetensors weights. */
export interface CheckpointMetadata {
  format: 'carclass-model';
  version: 1;
  arch: Arch;
  head: Head;
  numClasses: number;
  inputShape: [number, number, number];
  unfreeze: Unfreeze;
  seed: number;
  classes?: string[];
  epoch?: number;
  preprocess?: string;
  extra?: Record<string, unknown>;
  optimizer: { name: 'adam'; learningRate: number; weightDecay: number; labelSmoothing: number; iterations: number } | null;
  weights: string;
  savedAt: string;
}

const CREATE_KEYS = ['arch', 'numClasses', 'inputShape', 'head', 'unfreeze', 'device', 'precision', 'seed', 'threads'] as const;

function validateUnfreeze(value: unknown): Unfreeze {
  if (value === 'all' || value === 'none') return value;
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string' && p.length > 0)) {
    throw invalid('unfreeze', "'all', 'none' or an array of regular expressions", value);
  }
  for (const p of value) {
    try {
      new RegExp(p);
    } catch (e) {
      throw new TypeError(`Invalid regular expression ${JSON.stringify(p)} in unfreeze: ${(e as Error).message}`);
    }
  }
  return [...value];
}

/** 'auto', 'cpu', 'cuda' or 'cuda:N' (availability is the engine's to check). */
export function validateDevice(value: unknown): string {
  if (typeof value !== 'string' || !/^(auto|cpu|cuda(:\d{1,3})?)$/.test(value)) throw invalid('device', "'auto', 'cpu', 'cuda' or 'cuda:N'", value);
  return value;
}

function validateInputShape(value: unknown): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((d) => Number.isInteger(d) && d > 0) || value[2] !== 3 || value[0] < 32 || value[1] < 32) {
    throw invalid('inputShape', '[height >= 32, width >= 32, 3]', value);
  }
  return [value[0], value[1], value[2]];
}

interface NormalizedConfig {
  arch: Arch;
  numClasses: number;
  inputShape: [number, number, number];
  head: Head;
  unfreeze: Unfreeze;
  device: string;
  precision: Precision;
  seed: number;
}

function normalizeCreate(options: CreateModelOptions): NormalizedConfig {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'object', options);
  rejectUnknownKeys('createModel', options, CREATE_KEYS);
  const arch = oneOf('arch', options.arch, ARCHS);
  const head = options.head === undefined ? 'gap' : oneOf('head', options.head, HEADS);
  const numClasses = options.numClasses === undefined && head === 'imagenet' ? 1000 : positiveInt('numClasses', options.numClasses);
  const inputShape = validateInputShape(options.inputShape);
  const unfreeze = options.unfreeze === undefined ? 'none' : validateUnfreeze(options.unfreeze);
  const device = options.device === undefined ? 'auto' : validateDevice(options.device);
  const precision = options.precision === undefined ? 'fp32' : oneOf('precision', options.precision, ['fp32', 'bf16'] as const);
  const seed = options.seed === undefined ? 1 : nonNegativeInt('seed', options.seed);
  if (options.threads !== undefined) setThreads(positiveInt('threads', options.threads));
  return { arch, numClasses, inputShape, head, unfreeze, device, precision, seed };
}

/** Re-throws native errors with the caller's stack (captured before the async hop). */
async function withStack<T>(promise: Promise<T>, where: Error): Promise<T> {
  try {
    return await promise;
  } catch (e) {
    // not instanceof: errors made by the addon belong to the main realm (differs under jest/vm)
    const err = typeof e === 'object' && e !== null && 'message' in e ? (e as Error) : new Error(String(e));
    err.stack = `${err.name}: ${err.message}\n${(where.stack ?? '').split('\n').slice(1).join('\n')}`;
    throw err;
  }
}

/** Typed-array check that also accepts arrays made in another realm (vm, jest). */
function isTyped(value: unknown, tag: 'Float32Array' | 'Int32Array'): boolean {
  return ArrayBuffer.isView(value) && Object.prototype.toString.call(value) === `[object ${tag}]`;
}

/** Keras 3's readable_memory_size: B, KB, MB, GB in steps of 1024, two decimals. */
function readableBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
  return `${bytes.toFixed(2)} ${units[i]}`;
}

function formatNumber(n: number): string {
  return n.toLocaleString('en-US');
}

export class Model {
  readonly arch: Arch;
  readonly head: Head;
  readonly numClasses: number;
  readonly inputShape: [number, number, number];
  readonly precision: Precision;
  readonly seed: number;
  /** The device in use, e.g. 'cpu' or 'cuda:0'. */
  readonly device: string;
  /** Filled by loadModel from the checkpoint's metadata. */
  classes?: string[];
  preprocess?: string;
  epoch?: number;
  extra?: Record<string, unknown>;

  private unfreezeValue: Unfreeze;
  private chain: Promise<unknown> = Promise.resolve();
  private compiled: { learningRate: number; weightDecay: number; labelSmoothing: number } | null = null;

  /** @internal use createModel() */
  constructor(private readonly nativeModel: any, config: NormalizedConfig) {
    this.arch = config.arch;
    this.head = config.head;
    this.numClasses = config.numClasses;
    this.inputShape = config.inputShape;
    this.precision = config.precision;
    this.seed = config.seed;
    this.unfreezeValue = config.unfreeze;
    this.device = nativeModel.info().device;
  }

  /** Calls run one after another in call order; a failure does not block later calls. */
  private enqueue<T>(fn: () => Promise<T> | T): Promise<T> {
    const where = new Error();
    const run = this.chain.then(() => withStack(Promise.resolve().then(fn), where));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Validates `input`, then queues `call` with its native form; validation errors reject the promise. */
  private step<T>(input: ModelInput, needLabels: boolean, call: (nativeInput: unknown) => Promise<T>): Promise<T> {
    let nativeInput: unknown;
    try {
      nativeInput = this.toNativeInput(input, needLabels);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(() => call(nativeInput));
  }

  private toNativeInput(input: ModelInput, needLabels: boolean): unknown {
    if (typeof input !== 'object' || input === null) throw invalid('input', 'loader batch or { x, shape, labels? }', input);
    if ('handle' in input) {
      // A batch with its own sampleWeights (fit()'s classWeights) replaces the weights the loader gave it.
      const w = (input as BatchLike).sampleWeights;
      if (w === undefined) return { handle: input.handle };
      const n = (input as BatchLike).size;
      if (!isTyped(w, 'Float32Array') || (n !== undefined && w.length !== n)) throw invalid('sampleWeights', `Float32Array of length ${n ?? 'batch size'}`, w);
      return { handle: input.handle, sampleWeights: w };
    }
    const a = input as ArrayInput;
    rejectUnknownKeys('input', a, ['x', 'shape', 'labels', 'sampleWeights']);
    if (!isTyped(a.x, 'Float32Array')) throw invalid('x', 'Float32Array', a.x);
    if (!Array.isArray(a.shape) || a.shape.length !== 4 || !a.shape.every((d) => Number.isInteger(d) && d > 0)) throw invalid('shape', '[n, h, w, c]', a.shape);
    const [n, h, w, c] = a.shape;
    if (a.x.length !== n * h * w * c) throw new RangeError(`x has ${a.x.length} values but shape [${a.shape.join(', ')}] needs ${n * h * w * c}`);
    if (h !== this.inputShape[0] || w !== this.inputShape[1] || c !== this.inputShape[2]) {
      throw new RangeError(`input shape [${a.shape.join(', ')}] does not match the model's inputShape [${this.inputShape.join(', ')}]`);
    }
    if (a.labels !== undefined) {
      if (!isTyped(a.labels, 'Int32Array') || a.labels.length !== n) throw invalid('labels', `Int32Array of length ${n}`, a.labels);
      for (const l of a.labels) if (l < 0 || l >= this.numClasses) throw new RangeError(`label ${l} is outside [0, ${this.numClasses})`);
    } else if (needLabels) {
      throw new TypeError('This step needs labels: pass { x, shape, labels }');
    }
    if (a.sampleWeights !== undefined && (!isTyped(a.sampleWeights, 'Float32Array') || a.sampleWeights.length !== n)) {
      throw invalid('sampleWeights', `Float32Array of length ${n}`, a.sampleWeights);
    }
    return a;
  }

  /** Layers in Keras order with output shapes (no batch axis) and parameter counts. */
  layers(): LayerInfo[] {
    return this.nativeModel.layers();
  }

  /** Weight names, Keras shapes and trainability in Keras order, without data. */
  weightSpec(): WeightSpecEntry[] {
    return this.nativeModel.weightSpec();
  }

  /** Parameter counts as Keras reports them (BN moving statistics are non-trainable). */
  countParams(): { total: number; trainable: number; nonTrainable: number } {
    return this.nativeModel.countParams();
  }

  /** The default Grad-CAM layer (last conv before the final Add) and the base's output layer. */
  info(): { device: string; camLayer: string; baseOutput: string; iterations: number } {
    return this.nativeModel.info();
  }

  get unfreeze(): Unfreeze {
    return this.unfreezeValue;
  }

  /** Set by a callback during fit() (Keras `model.stop_training = True`): training stops after the current batch. */
  stopTraining = false;

  /**
   * Keras `model.fit()`: trains on a loader for `epochs` (from `initialEpoch`), evaluates `validationData` after each
   * epoch, drives callbacks, and resolves with the History. Needs compile() first.
   */
  fit(trainData: FitData, options: FitOptions = {}): Promise<History> {
    if (!this.compiled) return Promise.reject(new Error('fit: call model.compile({ optimizer, loss }) first'));
    return fitModel(this, trainData, options);
  }

  /** Keras `model.evaluate()`: loss and accuracy over a loader of labelled images. */
  evaluate(data: FitData, options: EvaluateOptions = {}): Promise<EvaluateLogs> {
    return evaluateModel(this, data, options);
  }

  /** A Keras-like summary table; columns widen to the longest layer name and shape, so they always line up. */
  summary(): string {
    const rows = this.layers().map((r) => [`${r.name} (${r.type})`, `(None, ${r.outputShape.join(', ')})`, formatNumber(r.params)]);
    const header = ['Layer (type)', 'Output Shape', 'Param #'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)) + (i < 2 ? 2 : 0));
    const row = (cells: string[]) => ' ' + cells[0].padEnd(widths[0]) + cells[1].padEnd(widths[1]) + cells[2].padStart(widths[2]);
    const line = (c: string) => c.repeat(widths.reduce((a, b) => a + b, 0) + 1);
    const c = this.countParams();
    const size = (n: number) => `${formatNumber(n)} (${readableBytes(n * 4)})`; // float32 parameters, as Keras 3 shows
    return [`Model: "${this.arch}"`, line('_'), row(header), line('='), ...rows.map(row), line('='),
      `Total params: ${size(c.total)}`, `Trainable params: ${size(c.trainable)}`, `Non-trainable params: ${size(c.nonTrainable)}`, line('_')].join('\n');
  }

  /** Sets the optimizer (Adam, Keras defaults: lr 1e-4, betas 0.9/0.999, epsilon 1e-7) and the loss. */
  compile(options: CompileOptions = {}): void {
    rejectUnknownKeys('compile', options, ['optimizer', 'loss', 'labelSmoothing']);
    if (options.loss !== undefined) oneOf('loss', options.loss, ['categorical_crossentropy'] as const);
    let learningRate = 1e-4;
    let weightDecay = 0;
    if (options.optimizer !== undefined && options.optimizer !== 'adam') {
      const o = options.optimizer;
      if (typeof o !== 'object' || o === null) throw invalid('optimizer', "'adam' or { name: 'adam', learningRate?, weightDecay? }", o);
      rejectUnknownKeys('optimizer', o, ['name', 'learningRate', 'weightDecay']);
      oneOf('optimizer.name', o.name, ['adam'] as const);
      if (o.learningRate !== undefined) learningRate = numberIn('optimizer.learningRate', o.learningRate, Number.MIN_VALUE, 10);
      if (o.weightDecay !== undefined) weightDecay = numberIn('optimizer.weightDecay', o.weightDecay, 0, 1);
    }
    const labelSmoothing = options.labelSmoothing === undefined ? 0 : numberIn('labelSmoothing', options.labelSmoothing, 0, 1);
    this.compiled = { learningRate, weightDecay, labelSmoothing };
  }

  get learningRate(): number {
    return this.compiled?.learningRate ?? 1e-4;
  }

  /** Takes effect from the next train step. */
  setLearningRate(learningRate: number): void {
    numberIn('learningRate', learningRate, Number.MIN_VALUE, 10);
    if (!this.compiled) this.compile();
    this.compiled!.learningRate = learningRate;
  }

  /** Changes which base layers train (head always trains); frozen BN layers run in inference mode. */
  setTrainable(unfreeze: Unfreeze): Promise<void> {
    const value = validateUnfreeze(unfreeze);
    return this.enqueue(() => {
      this.nativeModel.setTrainable(value);
      this.unfreezeValue = value;
    });
  }

  /** One optimizer step; loss = mean_i(w_i * CE_i) before the update, accuracy unweighted. */
  trainOnBatch(input: ModelInput): Promise<StepResult> {
    if (!this.compiled) return Promise.reject(new Error('Call model.compile() before trainOnBatch()'));
    const opts = { ...this.compiled };
    return this.step(input, true, (x) => this.nativeModel.train(x, opts));
  }

  /**
   * @internal Data parallel: joins a step for which this replica has no batch (every file of it was
   * unreadable), so the replicas stay in step and apply the same update.
   */
  trainWithoutBatch(): Promise<StepResult> {
    if (!this.compiled) return Promise.reject(new Error('Call model.compile() before trainWithoutBatch()'));
    const opts = { ...this.compiled };
    return this.enqueue(() => this.nativeModel.trainWithoutBatch(opts));
  }

  /** Loss and accuracy without gradients, BN in inference mode. */
  evaluateOnBatch(input: ModelInput): Promise<StepResult> {
    const labelSmoothing = this.compiled?.labelSmoothing ?? 0;
    return this.step(input, true, (x) => this.nativeModel.evaluate(x, { labelSmoothing }));
  }

  /** Softmax probabilities [N, K] row-major, in input order. */
  predictOnBatch(input: ModelInput): Promise<Float32Array> {
    return this.step(input, false, (x) => this.nativeModel.predict(x));
  }

  /** The pooled embedding (global average of the base output) [N, dim]. */
  features(input: ModelInput): Promise<{ data: Float32Array; dim: number }> {
    return this.step(input, false, (x) => this.nativeModel.features(x));
  }

  /** Grad-CAM of one image: ReLU(sum_c mean(grad_c) * A_c) for the class probability, upsampled and min-max normalised. */
  gradCam(input: ModelInput, options: { classIndex?: number; layer?: string } = {}): Promise<GradCamResult> {
    try {
      return this.step(input, false, this.gradCamOptions(options));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private gradCamOptions(options: { classIndex?: number; layer?: string }): (x: unknown) => Promise<GradCamResult> {
    rejectUnknownKeys('gradCam', options, ['classIndex', 'layer']);
    const opts: { classIndex?: number; layer?: string } = {};
    if (options.classIndex !== undefined) {
      opts.classIndex = nonNegativeInt('classIndex', options.classIndex);
      if (opts.classIndex >= this.numClasses) throw new RangeError(`classIndex ${opts.classIndex} is outside [0, ${this.numClasses})`);
    }
    if (options.layer !== undefined) {
      if (typeof options.layer !== 'string') throw invalid('layer', 'string', options.layer);
      opts.layer = options.layer;
    }
    return (x) => this.nativeModel.gradCam(x, opts);
  }

  /** All weights by Keras name, Keras layouts, Keras order (queued after running steps). */
  getWeights(): Promise<Weights> {
    return this.enqueue(() => this.nativeModel.getWeights());
  }

  /** Synchronous getWeights; throws if a step is running. */
  getWeightsSync(): Weights {
    return this.nativeModel.getWeightsSync();
  }

  /** Loads weights by name; one Error lists every missing/unexpected/mis-shaped name unless allowPartial. */
  setWeights(weights: Weights, options: { allowPartial?: boolean } = {}): Promise<{ loaded: number; skipped: string[] }> {
    rejectUnknownKeys('setWeights', options, ['allowPartial']);
    const allowPartial = options.allowPartial === undefined ? false : booleanOption('allowPartial', options.allowPartial);
    if (typeof weights !== 'object' || weights === null) throw invalid('weights', 'object of { shape, data }', weights);
    return this.enqueue(() => this.nativeModel.setWeights(weights, allowPartial));
  }

  /** Synchronous setWeights; throws if a step is running. */
  setWeightsSync(weights: Weights, options: { allowPartial?: boolean } = {}): { loaded: number; skipped: string[] } {
    rejectUnknownKeys('setWeights', options, ['allowPartial']);
    return this.nativeModel.setWeightsSync(weights, options.allowPartial === true);
  }

  /**
   * Saves weights + Adam state as safetensors and the metadata as JSON, each through a temporary file.
   * `path` ending in .safetensors: that file plus the .json beside it; otherwise a folder holding
   * model.safetensors and model.json. Returns both paths.
   */
  save(target: string, options: SaveOptions = {}): Promise<{ weights: string; metadata: string }> {
    if (typeof target !== 'string' || target.length === 0) throw invalid('path', 'non-empty string', target);
    rejectUnknownKeys('save', options, ['classes', 'epoch', 'preprocess', 'extra']);
    const classes = options.classes ?? this.classes;
    if (classes !== undefined) {
      if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string')) throw invalid('classes', 'string[]', classes);
      if (classes.length !== this.numClasses) throw new RangeError(`classes has ${classes.length} names for ${this.numClasses} classes`);
    }
    const epoch = options.epoch === undefined ? this.epoch : nonNegativeInt('epoch', options.epoch);
    const preprocess = options.preprocess ?? this.preprocess;
    if (preprocess !== undefined && typeof preprocess !== 'string') throw invalid('preprocess', 'string', preprocess);
    const extra = options.extra ?? this.extra;
    const files = checkpointFiles(target);
    return this.enqueue(async () => {
      await fsp.mkdir(path.dirname(files.weights), { recursive: true });
      const meta: CheckpointMetadata = {
        format: 'carclass-model',
        version: 1,
        arch: this.arch,
        head: this.head,
        numClasses: this.numClasses,
        inputShape: this.inputShape,
        unfreeze: this.unfreezeValue,
        seed: this.seed,
        classes,
        epoch,
        preprocess,
        extra,
        optimizer: null,
        weights: path.basename(files.weights),
        savedAt: new Date().toISOString(),
      };
      const iterations = this.nativeModel.info().iterations;
      if (this.compiled) meta.optimizer = { name: 'adam', ...this.compiled, iterations };
      const text = JSON.stringify(meta, null, 2) + '\n';
      await this.nativeModel.save(files.weights, { carclass: JSON.stringify(meta) });
      await writeFileAtomic(files.metadata, text);
      return files;
    });
  }

  /** @internal The native model, for other native objects (the feature cache) that run its engine. */
  nativeHandle(): unknown {
    return this.nativeModel;
  }

  /** @internal the native model, once the calls queued before have finished (lib/distributed) */
  withNative<T>(fn: (nativeModel: unknown) => Promise<T> | T): Promise<T> {
    return this.enqueue(() => fn(this.nativeModel));
  }

  /** @internal */
  loadWeightsFile(file: string): Promise<Record<string, string>> {
    return this.enqueue(() => this.nativeModel.load(file));
  }

  /** @internal */
  restoreCompiled(c: { learningRate: number; weightDecay: number; labelSmoothing: number } | null): void {
    this.compiled = c ? { learningRate: c.learningRate, weightDecay: c.weightDecay, labelSmoothing: c.labelSmoothing } : null;
  }
}

/** Where save()/loadModel() put the two files for a target path. */
export function checkpointFiles(target: string): { weights: string; metadata: string } {
  if (target.endsWith('.safetensors')) return { weights: target, metadata: target.slice(0, -'.safetensors'.length) + '.json' };
  if (target.endsWith('.json')) return { weights: target.slice(0, -'.json'.length) + '.safetensors', metadata: target };
  return { weights: path.join(target, 'model.safetensors'), metadata: path.join(target, 'model.json') };
}

/** Builds a model (weights initialised as Keras does: glorot_uniform kernels, zero biases). */
export async function createModel(options: CreateModelOptions): Promise<Model> {
  const config = normalizeCreate(options);
  const where = new Error();
  const nativeModel = await withStack<any>(native().createModel(config), where);
  return new Model(nativeModel, config);
}

async function readMetadata(files: { weights: string; metadata: string }): Promise<CheckpointMetadata> {
  let text: string;
  try {
    text = await fsp.readFile(files.metadata, 'utf8');
  } catch (e) {
    throw new Error(`Cannot read checkpoint metadata ${files.metadata}: ${(e as Error).message}`);
  }
  let meta: CheckpointMetadata;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new Error(`Checkpoint metadata ${files.metadata} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof meta !== 'object' || meta === null || meta.format !== 'carclass-model') {
    throw new Error(`Checkpoint metadata ${files.metadata} is not a carclass model (format ${JSON.stringify((meta as any)?.format)})`);
  }
  return meta;
}

/** Loads a checkpoint written by save(): architecture from the JSON, weights and Adam state from safetensors. */
export async function loadModel(target: string, options: LoadOptions = {}): Promise<Model> {
  if (typeof target !== 'string' || target.length === 0) throw invalid('path', 'non-empty string', target);
  rejectUnknownKeys('loadModel', options, ['device', 'precision', 'threads']);
  const files = checkpointFiles(target);
  const meta = await readMetadata(files);
  let model: Model;
  try {
    model = await createModel({
      arch: meta.arch,
      head: meta.head,
      numClasses: meta.numClasses,
      inputShape: meta.inputShape,
      unfreeze: meta.unfreeze,
      seed: meta.seed,
      device: options.device,
      precision: options.precision,
      threads: options.threads,
    });
  } catch (e) {
    throw new Error(`Checkpoint metadata ${files.metadata} describes an invalid model: ${(e as Error).message}`);
  }
  await model.loadWeightsFile(files.weights);
  model.restoreCompiled(meta.optimizer);
  model.classes = meta.classes;
  model.epoch = meta.epoch;
  model.preprocess = meta.preprocess;
  model.extra = meta.extra;
  return model;
}

/** Test-only: float64 analytic vs central-difference gradients on a fresh network (all layers trainable). */
export function gradCheck64(
  config: { arch: Arch; numClasses: number; inputShape: [number, number, number]; head?: Head; seed?: number },
  input: ArrayInput,
  samplesPerParam = 1,
  eps = 1e-6,
): Promise<{ names: string[]; analytic: Float64Array; numeric: Float64Array; loss: number }> {
  return native().gradCheck64({ head: 'gap', seed: 1, ...config }, input, samplesPerParam, eps);
}
