// EarlyStopping with the semantics of keras.callbacks.EarlyStopping (Keras 3), decisions only: the loop acts on them.
import { booleanOption, invalid, nonNegativeInt, rejectUnknownKeys } from '../../validate';
import { checkMonitor, finiteNumber, Logs, MonitorMode } from './monitor';

export interface EarlyStoppingOptions<W = unknown> {
  monitor?: string;
  /** Absolute change below which a value is not an improvement. Default 0. */
  minDelta?: number;
  /** Epochs without improvement before stopping. Default 12 (the seed's run). */
  patience?: number;
  mode?: MonitorMode;
  /** The wait counter resets only when the value also beats this. */
  baseline?: number;
  restoreBestWeights?: boolean;
  /** Epochs (0-based) before this are ignored (warm-up). */
  startFromEpoch?: number;
  /** Snapshot of the model's weights, taken when the best epoch changes (restoreBestWeights only). */
  getWeights?: () => W;
  setWeights?: (weights: W) => void;
  /** Receives the Keras messages (`Epoch 17: early stopping`, ...). */
  log?: (message: string) => void;
}

export interface EarlyStoppingDecision {
  /** Training should stop after this epoch. */
  stop: boolean;
  /** The monitored value improved on the best so far (the epoch became the best epoch). */
  improved: boolean;
  /** The current weights are now the best ones: snapshot them (done already if getWeights was given). */
  captureWeights: boolean;
}

/** Serializable state for --resume. */
export interface EarlyStoppingState {
  wait: number;
  best: number | null;
  bestEpoch: number;
  stoppedEpoch: number;
}

export class EarlyStopping<W = unknown> {
  readonly monitor: string;
  readonly direction: 'min' | 'max';
  readonly minDelta: number;
  readonly patience: number;
  readonly baseline: number | undefined;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  wait = 0;
  /** Best monitored value so far; null until the first monitored epoch. */
  best: number | null = null;
  /** 0-based epoch of the best value (Keras `best_epoch`); messages print it 1-based. */
  bestEpoch = 0;
  /** 0-based epoch at which training was stopped; 0 when it was not. */
  stoppedEpoch = 0;
  bestWeights: W | null = null;
  private hasBestWeights = false;
  private readonly getWeights?: () => W;
  private readonly setWeights?: (weights: W) => void;
  private readonly log?: (message: string) => void;

  constructor(options: EarlyStoppingOptions<W> = {}) {
    rejectUnknownKeys('EarlyStopping', options, ['monitor', 'minDelta', 'patience', 'mode', 'baseline', 'restoreBestWeights',
      'startFromEpoch', 'getWeights', 'setWeights', 'log']);
    const { monitor, direction } = checkMonitor('EarlyStopping', options.monitor ?? 'val_loss', options.mode ?? 'auto');
    this.monitor = monitor;
    this.direction = direction;
    this.minDelta = Math.abs(finiteNumber('minDelta', options.minDelta ?? 0));
    this.patience = nonNegativeInt('patience', options.patience ?? 12);
    this.baseline = options.baseline === undefined ? undefined : finiteNumber('baseline', options.baseline);
    this.restoreBestWeights = booleanOption('restoreBestWeights', options.restoreBestWeights ?? false);
    this.startFromEpoch = nonNegativeInt('startFromEpoch', options.startFromEpoch ?? 0);
    for (const key of ['getWeights', 'setWeights', 'log'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'function') throw invalid(key, 'function', options[key]);
    }
    this.getWeights = options.getWeights;
    this.setWeights = options.setWeights;
    this.log = options.log;
  }

  /** Keras `_is_improvement`: min_delta is subtracted in the direction of improvement. */
  isImprovement(value: number, reference: number | null): boolean {
    if (reference === null) return true;
    return this.direction === 'min' ? value + this.minDelta < reference : value - this.minDelta > reference;
  }

  onTrainBegin(): void {
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.best = null;
    this.bestWeights = null;
    this.hasBestWeights = false;
    this.bestEpoch = 0;
  }

  /** `epoch` is 0-based, as in Keras. */
  onEpochEnd(epoch: number, logs: Logs): EarlyStoppingDecision {
    nonNegativeInt('epoch', epoch);
    const current = logs?.[this.monitor];
    const decision: EarlyStoppingDecision = { stop: false, improved: false, captureWeights: false };
    if (current === undefined || current === null || epoch < this.startFromEpoch) return decision;
    if (this.restoreBestWeights && !this.hasBestWeights) {
      // The first monitored epoch is the best one until something beats it.
      this.capture(decision);
      this.bestEpoch = epoch;
    }
    this.wait += 1;
    if (this.isImprovement(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      decision.improved = true;
      if (this.restoreBestWeights) this.capture(decision);
      // Only a value that also beats the baseline restarts the wait.
      if (this.baseline === undefined || this.isImprovement(current, this.baseline)) this.wait = 0;
      return decision;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      decision.stop = true;
    }
    return decision;
  }

  /**
   * Emits Keras's closing messages and restores the best weights (through setWeights when given).
   * `restoreBest` says whether the loop should restore them itself.
   */
  onTrainEnd(): { messages: string[]; restoreBest: boolean; bestEpoch: number } {
    const messages: string[] = [];
    if (this.stoppedEpoch > 0) messages.push(`Epoch ${this.stoppedEpoch + 1}: early stopping`);
    const restoreBest = this.restoreBestWeights && this.hasBestWeights;
    if (restoreBest) {
      messages.push(`Restoring model weights from the end of the best epoch: ${this.bestEpoch + 1}.`);
      if (this.setWeights) this.setWeights(this.bestWeights as W);
    }
    if (this.log) for (const m of messages) this.log(m);
    return { messages, restoreBest, bestEpoch: this.bestEpoch };
  }

  state(): EarlyStoppingState {
    return { wait: this.wait, best: this.best, bestEpoch: this.bestEpoch, stoppedEpoch: this.stoppedEpoch };
  }

  /** Restores counters saved with a checkpoint; `hasBestWeights` says whether the best weights exist (e.g. a best checkpoint). */
  loadState(state: EarlyStoppingState, hasBestWeights = false): void {
    this.wait = nonNegativeInt('state.wait', state.wait);
    this.best = state.best === null ? null : finiteNumber('state.best', state.best);
    this.bestEpoch = nonNegativeInt('state.bestEpoch', state.bestEpoch);
    this.stoppedEpoch = nonNegativeInt('state.stoppedEpoch', state.stoppedEpoch);
    this.hasBestWeights = hasBestWeights;
  }

  private capture(decision: EarlyStoppingDecision): void {
    decision.captureWeights = true;
    this.hasBestWeights = true;
    this.bestWeights = this.getWeights ? this.getWeights() : null;
  }
}
