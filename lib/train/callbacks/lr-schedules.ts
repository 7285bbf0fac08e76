// Learning-rate schedules: constant, cosine decay with optional linear warm-up (keras.optimizers.schedules.CosineDecay),
// and ReduceLROnPlateau with Keras semantics.
import { invalid, nonNegativeInt, rejectUnknownKeys } from '../../validate';
import { checkMonitor, finiteNumber, Logs, MonitorMode, pythonFloatRepr } from './monitor';

/** Learning rate for a step (an epoch or a batch: the caller picks the unit and uses it consistently). */
export type LrSchedule = (step: number) => number;

function positiveNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(name, 'positive number', value);
  return value;
}

export function constantSchedule(lr: number): LrSchedule {
  positiveNumber('lr', lr);
  return () => lr;
}

export interface CosineOptions {
  /** Peak rate: reached after warm-up, then decayed. */
  lr: number;
  /** Steps of the cosine part, after warm-up. */
  decaySteps: number;
  /** Final rate as a fraction of lr (Keras `alpha`). Default 0. */
  alpha?: number;
  /** Linear warm-up steps from warmupFrom to lr. Default 0. */
  warmupSteps?: number;
  warmupFrom?: number;
}

/** Keras CosineDecay: lr * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decaySteps)) + alpha), t clipped to decaySteps. */
export function cosineSchedule(options: CosineOptions): LrSchedule {
  rejectUnknownKeys('cosineSchedule', options, ['lr', 'decaySteps', 'alpha', 'warmupSteps', 'warmupFrom']);
  const lr = positiveNumber('lr', options.lr);
  const decaySteps = positiveNumber('decaySteps', options.decaySteps);
  const alpha = options.alpha ?? 0;
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) throw invalid('alpha', 'number between 0 and 1', alpha);
  const warmupSteps = nonNegativeInt('warmupSteps', options.warmupSteps ?? 0);
  const warmupFrom = options.warmupFrom ?? 0;
  if (typeof warmupFrom !== 'number' || !(warmupFrom >= 0)) throw invalid('warmupFrom', 'non-negative number', warmupFrom);
  return (step: number) => {
    if (step < warmupSteps) return warmupFrom + ((lr - warmupFrom) * step) / warmupSteps;
    const t = Math.min(step - warmupSteps, decaySteps);
    return lr * ((1 - alpha) * 0.5 * (1 + Math.cos((Math.PI * t) / decaySteps)) + alpha);
  };
}

export interface ReduceLROnPlateauOptions {
  monitor?: string;
  /** New rate = rate * factor. Default 0.1; must be < 1. */
  factor?: number;
  /** Epochs without improvement before reducing. Default 10. */
  patience?: number;
  mode?: MonitorMode;
  /** Improvement threshold. Default 1e-4. */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again. Default 0. */
  cooldown?: number;
  minLr?: number;
  log?: (message: string) => void;
}

/** Mirrors keras.callbacks.ReduceLROnPlateau.on_epoch_end; the caller applies the returned rate. */
export class ReduceLROnPlateau {
  readonly monitor: string;
  readonly direction: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  best: number;
  wait = 0;
  cooldownCounter = 0;
  private readonly log?: (message: string) => void;

  constructor(options: ReduceLROnPlateauOptions = {}) {
    rejectUnknownKeys('ReduceLROnPlateau', options, ['monitor', 'factor', 'patience', 'mode', 'minDelta', 'cooldown', 'minLr', 'log']);
    const { monitor, direction } = checkMonitor('ReduceLROnPlateau', options.monitor ?? 'val_loss', options.mode ?? 'auto');
    this.monitor = monitor;
    this.direction = direction;
    this.factor = positiveNumber('factor', options.factor ?? 0.1);
    if (this.factor >= 1) throw invalid('factor', 'number below 1', this.factor);
    this.patience = nonNegativeInt('patience', options.patience ?? 10);
    this.minDelta = finiteNumber('minDelta', options.minDelta ?? 1e-4);
    this.cooldown = nonNegativeInt('cooldown', options.cooldown ?? 0);
    this.minLr = finiteNumber('minLr', options.minLr ?? 0);
    this.log = options.log;
    this.best = direction === 'min' ? Infinity : -Infinity;
  }

  private improves(current: number): boolean {
    return this.direction === 'min' ? current < this.best - this.minDelta : current > this.best + this.minDelta;
  }

  /** Returns the rate to use from the next epoch on. `epoch` is 0-based. */
  onEpochEnd(epoch: number, logs: Logs, lr: number): { lr: number; reduced: boolean; message?: string } {
    const current = logs[this.monitor];
    if (current === undefined) return { lr, reduced: false };
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.wait = 0;
    }
    if (this.improves(current)) {
      this.best = current;
      this.wait = 0;
    } else if (this.cooldownCounter === 0) {
      this.wait += 1;
      if (this.wait >= this.patience && Math.fround(lr) > Math.fround(this.minLr)) { // Keras compares float32 values
        const newLr = Math.max(lr * this.factor, this.minLr);
        const message = `Epoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${pythonFloatRepr(newLr)}.`;
        this.log?.(message);
        this.cooldownCounter = this.cooldown;
        this.wait = 0;
        return { lr: newLr, reduced: true, message };
      }
    }
    return { lr, reduced: false };
  }
}
