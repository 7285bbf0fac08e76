// Keras-style progress: `Epoch 3/20`, then `469/469 ━━━━━━━━━━━━━━━━━━━━ 12s 25ms/step - accuracy: 0.9712 - loss: 0.0951`.
// On a TTY the line redraws in place with \r; otherwise (a log file, CI) a line every ~10 s and the finished line.
import { invalid, oneOf, rejectUnknownKeys } from '../../validate';
import { Logs } from './monitor';
import { compareStrings } from '../../data/scan';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'quiet';

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  stream?: ProgressStream;
  /** auto: tty when stream.isTTY, else plain. */
  mode?: ProgressMode;
  /** Bar width in characters. Default 20 (Keras). */
  width?: number;
  /** Plain mode: also print a line each time this many percent of the epoch is done (0 = off). */
  plainEveryPercent?: number;
  /** Plain mode: also print a line when this many milliseconds passed since the last one (default 10000; 0 = off). */
  plainIntervalMs?: number;
  /** Minimum milliseconds between TTY redraws. Default 50 (Keras). */
  intervalMs?: number;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

/** Keras `_format_time`: s, ms or us per step. */
export function formatTimePerStep(seconds: number): string {
  if (seconds >= 1 || seconds === 0) return `${Math.round(seconds)}s/step`;
  if (seconds >= 1e-3) return `${Math.round(seconds * 1e3)}ms/step`;
  return `${Math.round(seconds * 1e6)}us/step`;
}

/** Keras ETA: `h:mm:ss`, `m:ss` or `Ns`. */
export function formatEta(seconds: number): string {
  const s = Math.round(seconds);
  if (s > 3600) return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  if (s > 60) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  return `${s}s`;
}

/** Keras metric values: 4 decimals, scientific for tiny magnitudes. */
export function formatMetric(value: number): string {
  if (!Number.isFinite(value)) return String(value).toLowerCase().replace('infinity', 'inf');
  return Math.abs(value) > 1e-3 || value === 0 ? value.toFixed(4) : value.toExponential(4);
}

export class ProgressBar {
  readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly stream: ProgressStream;
  private readonly width: number;
  private readonly plainEveryPercent: number;
  private readonly intervalMs: number;
  private readonly plainIntervalMs: number;
  private readonly now: () => number;
  private steps = 0;
  private firstStep = 0;
  private startMs = 0;
  private lastPlainMs = 0;
  private lastDrawMs = -Infinity;
  private lastLength = 0;
  private lineOpen = false;
  private nextPlainPercent = 0;
  private lastLogs: Logs = {};

  constructor(options: ProgressBarOptions = {}) {
    rejectUnknownKeys('ProgressBar', options, ['stream', 'mode', 'width', 'plainEveryPercent', 'plainIntervalMs', 'intervalMs', 'now']);
    this.stream = options.stream ?? process.stdout;
    if (!this.stream || typeof this.stream.write !== 'function') throw invalid('stream', 'writable stream', this.stream);
    const mode = oneOf('mode', options.mode ?? 'auto', ['auto', 'tty', 'plain', 'quiet'] as const);
    this.mode = mode === 'auto' ? (this.stream.isTTY ? 'tty' : 'plain') : mode;
    this.width = options.width ?? 20;
    if (!Number.isInteger(this.width) || this.width < 1) throw invalid('width', 'positive integer', options.width);
    this.plainEveryPercent = options.plainEveryPercent ?? 0;
    if (typeof this.plainEveryPercent !== 'number' || !(this.plainEveryPercent >= 0 && this.plainEveryPercent <= 100)) {
      throw invalid('plainEveryPercent', 'number between 0 and 100', options.plainEveryPercent);
    }
    this.intervalMs = options.intervalMs ?? 50;
    this.plainIntervalMs = options.plainIntervalMs ?? 10000;
    if (typeof this.plainIntervalMs !== 'number' || !(this.plainIntervalMs >= 0)) throw invalid('plainIntervalMs', 'non-negative number', options.plainIntervalMs);
    this.now = options.now ?? (() => performance.now());
  }

  /** `epoch` is 0-based; prints `Epoch 1/20` for epoch 0. `firstStep`: steps already done (a resumed epoch), left out of the timing. */
  epochBegin(epoch: number, epochs: number, steps: number, firstStep = 0): void {
    this.begin(`Epoch ${epoch + 1}/${epochs}`, steps, firstStep);
  }

  /** Starts a bar of `steps` steps under a title line (an epoch, or a pass such as building a cache). */
  begin(title: string, steps: number, firstStep = 0): void {
    this.steps = steps;
    this.firstStep = firstStep;
    this.startMs = this.now();
    this.lastPlainMs = this.startMs;
    this.lastDrawMs = -Infinity;
    this.lastLogs = {};
    this.nextPlainPercent = this.plainEveryPercent;
    this.println(title);
  }

  /** `step` = steps done so far in this epoch (1..steps); `logs` = running training metrics. */
  update(step: number, logs: Logs = {}): void {
    this.lastLogs = logs;
    if (this.mode === 'quiet' || step >= this.steps) return; // the finished line is drawn by epochEnd
    const t = this.now();
    if (this.mode === 'tty') {
      if (t - this.lastDrawMs < this.intervalMs) return;
      this.lastDrawMs = t;
      this.redraw(this.render(step, logs, false));
      return;
    }
    const percentDue = this.plainEveryPercent > 0 && (100 * step) / this.steps >= this.nextPlainPercent;
    const timeDue = this.plainIntervalMs > 0 && t - this.lastPlainMs >= this.plainIntervalMs;
    if (percentDue || timeDue) {
      while (this.plainEveryPercent > 0 && (100 * step) / this.steps >= this.nextPlainPercent) this.nextPlainPercent += this.plainEveryPercent;
      this.lastPlainMs = t;
      this.println(this.render(step, logs, false));
    }
  }

  /** Draws the finished line with all epoch metrics (train and val), then a newline. */
  epochEnd(logs: Logs): void {
    if (this.mode === 'quiet') return;
    const line = this.render(this.steps, { ...this.lastLogs, ...logs }, true);
    if (this.mode === 'tty') {
      this.redraw(line);
      this.stream.write('\n');
      this.lineOpen = false;
      this.lastLength = 0;
    } else {
      this.println(line);
    }
  }

  /** Prints a message line (early stopping, checkpoints) without garbling an open progress line. */
  message(text: string): void {
    if (this.mode === 'quiet') return;
    this.println(text);
  }

  /** The text of a progress line; exposed for tests and custom outputs. */
  render(step: number, logs: Logs, finished: boolean): string {
    const digits = String(this.steps).length;
    const done = Math.min(this.steps > 0 ? step / this.steps : 1, 1);
    const filled = Math.floor(this.width * done);
    const bar = '━'.repeat(filled) + '─'.repeat(this.width - filled);
    const elapsedS = (this.now() - this.startMs) / 1000;
    const perStep = step > this.firstStep ? elapsedS / (step - this.firstStep) : 0;
    const time = finished ? `${Math.round(elapsedS)}s` : formatEta(perStep * (this.steps - step));
    const metrics = Object.keys(logs).sort(compareStrings).map((k) => ` - ${k}: ${formatMetric(logs[k])}`).join('');
    return `${String(step).padStart(digits)}/${this.steps} ${bar} ${time} ${formatTimePerStep(perStep)}${metrics}`;
  }

  private redraw(line: string): void {
    const pad = this.lastLength > line.length ? ' '.repeat(this.lastLength - line.length) : '';
    this.stream.write(`\r${line}${pad}`);
    this.lastLength = line.length;
    this.lineOpen = true;
  }

  private println(text: string): void {
    if (this.mode === 'quiet') return;
    if (this.lineOpen) {
      this.stream.write('\n');
      this.lineOpen = false;
      this.lastLength = 0;
    }
    this.stream.write(`${text}\n`);
  }
}
