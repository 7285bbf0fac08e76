// model.fit() and model.evaluate() as Keras users write them: loaders in, a History out, the same callbacks
// as train() (EarlyStopping, ModelCheckpoint, CSVLogger, TensorBoardWriter, ProgressBar, ReduceLROnPlateau)
// and user callbacks with Keras's hook names.
import { EarlyStopping, ReduceLROnPlateau, ProgressBar, TensorBoardWriter, Logs } from './callbacks';
import type { ProgressStream } from './callbacks';
import { invalid, rejectUnknownKeys, positiveInt, nonNegativeInt } from '../validate';

/** One batch as a loader yields it (pixels stay native behind `handle`). */
export interface FitBatch {
  handle: unknown;
  size: number;
  labels: Int32Array;
  number: number;
  release(): void;
}

/** What fit() iterates: a Loader (epoch n has its own shuffle order and augmentation). */
export interface FitData {
  readonly length: number;
  epoch(n: number): AsyncIterable<FitBatch>;
}

/** The model surface fit() drives; carclass's Model has it. */
export interface FitModel {
  readonly numClasses: number;
  readonly learningRate: number;
  /** Set by a callback (Keras `self.model.stop_training = True`): training stops after the current batch. */
  stopTraining: boolean;
  trainOnBatch(input: FitBatch | { handle: unknown; size: number; sampleWeights: Float32Array }): Promise<{ loss: number; accuracy: number }>;
  evaluateOnBatch(input: FitBatch): Promise<{ loss: number; accuracy: number; count: number }>;
  setLearningRate(lr: number): void;
  getWeights(): Promise<unknown>;
  setWeights(weights: any): Promise<unknown>;
}

/** A user callback: any of Keras's hooks (camelCase), sync or async. `logs` holds the running or epoch metrics. */
export interface Callback {
  /** Called first with the model being trained (Keras `set_model`). */
  setModel?(model: FitModel): void;
  onTrainBegin?(logs: Logs): unknown;
  onTrainEnd?(logs: Logs): unknown;
  onEpochBegin?(epoch: number, logs: Logs): unknown;
  onEpochEnd?(epoch: number, logs: Logs): unknown;
  onTrainBatchBegin?(batch: number, logs: Logs): unknown;
  onTrainBatchEnd?(batch: number, logs: Logs): unknown;
  onTestBegin?(logs: Logs): unknown;
  onTestEnd?(logs: Logs): unknown;
  onTestBatchBegin?(batch: number, logs: Logs): unknown;
  onTestBatchEnd?(batch: number, logs: Logs): unknown;
}

export type FitCallback = Callback | EarlyStopping<any> | ReduceLROnPlateau | TensorBoardWriter | ProgressBar;

export interface FitOptions {
  /** Train until this epoch (exclusive, 1-based count as in Keras). Default 1. */
  epochs?: number;
  /** First epoch (0-based) to run, for continuing an earlier fit: epochs initialEpoch..epochs-1 run. Default 0. */
  initialEpoch?: number;
  /** Evaluated after each epoch; adds val_loss and val_accuracy to the logs. */
  validationData?: FitData;
  callbacks?: FitCallback[];
  /** Loss weight per class (array indexed by class, or { class: weight }); classes left out weigh 1. Replaces the loader's sample weights. */
  classWeights?: ArrayLike<number> | Record<number, number> | null;
  /** 0: silent, 1: progress bar (default; plain lines about every 10 s when not a terminal), 2: one line per epoch. Ignored when callbacks hold a ProgressBar. */
  verbose?: 0 | 1 | 2;
  /** Where the progress goes (default stdout). */
  stream?: ProgressStream;
}

/** What fit() returns, as Keras's History: `history.loss[i]` is epoch `epoch[i]`'s loss. */
export interface History {
  /** Per metric, one value per epoch run: loss, accuracy, val_loss, val_accuracy (with validationData), learning_rate. */
  history: Record<string, number[]>;
  /** The 0-based epochs that ran, in order. */
  epoch: number[];
  params: { epochs: number; steps: number; verbose: 0 | 1 | 2 };
  /** True when a callback (EarlyStopping, or one setting stopTraining) ended training before `epochs`. */
  stoppedEarly: boolean;
}

export interface EvaluateOptions {
  callbacks?: Callback[];
  verbose?: 0 | 1;
  stream?: ProgressStream;
}

/** What evaluate() returns: sample-weighted like Keras (each sample counts once). */
export interface EvaluateLogs {
  loss: number;
  accuracy: number;
  /** Samples evaluated (files that failed to decode are not counted). */
  count: number;
}

const FIT_KEYS = ['epochs', 'initialEpoch', 'validationData', 'callbacks', 'classWeights', 'verbose', 'stream'];
const HOOKS = ['onTrainBegin', 'onTrainEnd', 'onEpochBegin', 'onEpochEnd', 'onTrainBatchBegin', 'onTrainBatchEnd',
  'onTestBegin', 'onTestEnd', 'onTestBatchBegin', 'onTestBatchEnd'] as const;
type Hook = typeof HOOKS[number];

function verbosity<T extends number>(value: unknown, allowed: T[]): T {
  if (!allowed.includes(value as T)) throw invalid('verbose', `one of ${allowed.join(', ')}`, value);
  return value as T;
}

function checkData(name: string, data: unknown): FitData {
  const d = data as FitData;
  if (!d || typeof d !== 'object' || typeof d.epoch !== 'function' || typeof d.length !== 'number') throw invalid(name, 'loader (createLoader)', data);
  return d;
}

/** classWeights as a dense per-class array (1 where not given). */
function classWeightTable(value: FitOptions['classWeights'], numClasses: number): Float32Array | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object') throw invalid('classWeights', 'array or { class: weight } object', value);
  const table = new Float32Array(numClasses).fill(1);
  const entries: [string, unknown][] = typeof (value as ArrayLike<number>).length === 'number'
    ? Array.from(value as ArrayLike<number>, (v, i) => [String(i), v]) : Object.entries(value);
  for (const [k, v] of entries) {
    const c = Number(k);
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw invalid(`classWeights key ${k}`, `class index in [0, ${numClasses - 1}]`, k);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(`classWeights[${k}]`, 'non-negative number', v);
    table[c] = v;
  }
  return table;
}

/** Calls one hook on every user callback (built-in ones are driven by fit itself). */
async function call(callbacks: FitCallback[], hook: Hook, ...args: unknown[]): Promise<void> {
  for (const cb of callbacks) {
    if (cb instanceof EarlyStopping || cb instanceof ReduceLROnPlateau || cb instanceof TensorBoardWriter || cb instanceof ProgressBar) continue;
    const fn = (cb as Record<string, unknown>)[hook];
    if (typeof fn === 'function') await fn.apply(cb, args);
  }
}

function checkCallbacks(value: unknown): FitCallback[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid('callbacks', 'array of callbacks', value);
  value.forEach((cb, i) => {
    if (typeof cb !== 'object' || cb === null) throw invalid(`callbacks[${i}]`, 'callback object', cb);
  });
  return value;
}

/** One pass over `data` without training; fires the test hooks. */
async function testLoop(model: FitModel, data: FitData, callbacks: FitCallback[]): Promise<EvaluateLogs> {
  await call(callbacks, 'onTestBegin', {});
  let count = 0, lossSum = 0, accSum = 0, step = 0;
  for await (const batch of data.epoch(0)) {
    await call(callbacks, 'onTestBatchBegin', step, {});
    let r;
    try {
      r = await model.evaluateOnBatch(batch);
    } finally {
      batch.release();
    }
    count += r.count; lossSum += r.loss * r.count; accSum += r.accuracy * r.count;
    await call(callbacks, 'onTestBatchEnd', step, { loss: lossSum / Math.max(count, 1), accuracy: accSum / Math.max(count, 1) });
    step += 1;
  }
  const logs = { loss: count ? lossSum / count : NaN, accuracy: count ? accSum / count : NaN, count };
  await call(callbacks, 'onTestEnd', { loss: logs.loss, accuracy: logs.accuracy });
  return logs;
}

/** Keras `model.fit(x, epochs=..., validation_data=..., callbacks=..., class_weight=..., initial_epoch=...)`. */
export async function fitModel(model: FitModel, trainData: FitData, options: FitOptions = {}): Promise<History> {
  if (!options || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('fit', options, FIT_KEYS);
  const data = checkData('trainData', trainData);
  const validation = options.validationData === undefined ? null : checkData('validationData', options.validationData);
  const epochs = positiveInt('epochs', options.epochs ?? 1);
  const initialEpoch = nonNegativeInt('initialEpoch', options.initialEpoch ?? 0);
  if (initialEpoch >= epochs) throw invalid('initialEpoch', `integer below epochs (${epochs})`, initialEpoch);
  const verbose = verbosity(options.verbose ?? 1, [0, 1, 2]);
  const callbacks = checkCallbacks(options.callbacks);
  const weights = classWeightTable(options.classWeights, model.numClasses);
  const given = callbacks.find((c): c is ProgressBar => c instanceof ProgressBar);
  const progress = given ?? (verbose === 0 ? null : new ProgressBar({ stream: options.stream ?? process.stdout, ...(verbose === 2 ? { mode: 'plain', plainIntervalMs: 0 } : {}) }));
  const early = callbacks.filter((c): c is EarlyStopping<any> => c instanceof EarlyStopping);
  const plateaus = callbacks.filter((c): c is ReduceLROnPlateau => c instanceof ReduceLROnPlateau);
  const boards = callbacks.filter((c): c is TensorBoardWriter => c instanceof TensorBoardWriter);

  const history: History = { history: {}, epoch: [], params: { epochs, steps: data.length, verbose }, stoppedEarly: false };
  model.stopTraining = false;
  for (const cb of callbacks) (cb as Callback).setModel?.(model);
  for (const e of early) e.onTrainBegin();
  await call(callbacks, 'onTrainBegin', {});
  const bestWeights = new Map<EarlyStopping<any>, unknown>();
  let lastLogs: Logs = {};
  try {
    for (let epoch = initialEpoch; epoch < epochs && !model.stopTraining; epoch++) {
      await call(callbacks, 'onEpochBegin', epoch, {});
      progress?.epochBegin(epoch, epochs, data.length);
      let seen = 0, lossSum = 0, accSum = 0;
      for await (const batch of data.epoch(epoch)) {
        await call(callbacks, 'onTrainBatchBegin', batch.number, {});
        let r;
        try {
          const input = weights ? { handle: batch.handle, size: batch.size, sampleWeights: Float32Array.from(batch.labels, (l) => weights[l]) } : batch;
          r = await model.trainOnBatch(input);
        } finally {
          batch.release();
        }
        if (!Number.isFinite(r.loss)) throw new Error(`fit: epoch ${epoch + 1}, batch ${batch.number}: invalid loss (${r.loss}); training stopped`);
        seen += batch.size; lossSum += r.loss * batch.size; accSum += r.accuracy * batch.size;
        const running = { loss: lossSum / seen, accuracy: accSum / seen };
        progress?.update(batch.number + 1, running);
        await call(callbacks, 'onTrainBatchEnd', batch.number, running);
        if (model.stopTraining) break;
      }
      const logs: Logs = { loss: lossSum / Math.max(seen, 1), accuracy: accSum / Math.max(seen, 1) };
      if (validation) {
        const v = await testLoop(model, validation, callbacks);
        logs.val_loss = v.loss;
        logs.val_accuracy = v.accuracy;
      }
      logs.learning_rate = model.learningRate;
      history.epoch.push(epoch);
      for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
      progress?.epochEnd(logs);
      for (const e of early) {
        const d = e.onEpochEnd(epoch, logs);
        if (d.captureWeights && e.restoreBestWeights) bestWeights.set(e, await model.getWeights());
        if (d.stop) { model.stopTraining = true; history.stoppedEarly = true; }
      }
      for (const p of plateaus) {
        const next = p.onEpochEnd(epoch, logs, model.learningRate);
        if (next.reduced) model.setLearningRate(next.lr);
      }
      for (const b of boards) b.onEpochEnd(epoch, logs);
      await call(callbacks, 'onEpochEnd', epoch, logs);
      if (model.stopTraining && epoch + 1 < epochs) history.stoppedEarly = true;
      lastLogs = logs;
    }
    for (const e of early) {
      const end = e.onTrainEnd();
      if (end.restoreBest && bestWeights.has(e)) await model.setWeights(bestWeights.get(e));
    }
    await call(callbacks, 'onTrainEnd', lastLogs);
  } finally {
    for (const b of boards) await b.close();
  }
  return history;
}

/** Keras `model.evaluate(x)`: loss and accuracy over every sample of `data`. */
export async function evaluateModel(model: FitModel, data: FitData, options: EvaluateOptions = {}): Promise<EvaluateLogs> {
  if (!options || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('evaluate', options, ['callbacks', 'verbose', 'stream']);
  const loader = checkData('data', data);
  const verbose = verbosity(options.verbose ?? 0, [0, 1]);
  const logs = await testLoop(model, loader, checkCallbacks(options.callbacks));
  if (verbose) (options.stream ?? process.stdout).write(`${loader.length}/${loader.length} - accuracy: ${logs.accuracy.toFixed(4)} - loss: ${logs.loss.toFixed(4)}\n`);
  return logs;
}
