// ModelCheckpoint decisions and messages (keras.callbacks.ModelCheckpoint); the save itself is the caller's function.
import { booleanOption, invalid, rejectUnknownKeys } from '../../validate';
import { checkMonitor, finiteNumber, formatFixed, Logs, MonitorMode } from './monitor';

export interface ModelCheckpointOptions {
  /** May hold Python-style placeholders: `{epoch:02d}` (1-based), `{val_loss:.2f}`, `{name}`. */
  filepath: string;
  save: (filepath: string, epoch: number, logs: Logs) => void | Promise<void>;
  monitor?: string;
  mode?: MonitorMode;
  saveBestOnly?: boolean;
  /** Initial best value: nothing is saved until the metric beats it. */
  initialValueThreshold?: number;
  log?: (message: string) => void;
}

export interface CheckpointResult {
  saved: boolean;
  filepath: string;
  message: string;
}

/** Formats the Python format-spec subset Keras users put in checkpoint paths. */
export function formatCheckpointPath(template: string, epoch: number, logs: Logs): string {
  const values: Record<string, number> = { ...logs, epoch: epoch + 1 };
  return template.replace(/\{(\w+)(?::([^}]*))?\}/g, (_, name: string, spec: string | undefined) => {
    if (!(name in values)) throw new Error(`Failed to format checkpoint path ${JSON.stringify(template)}: no value for {${name}}`);
    const value = values[name];
    if (!spec) return String(value);
    const m = /^(0?)(\d*)(?:\.(\d+))?([dfe]?)$/.exec(spec);
    if (!m) throw new Error(`Failed to format checkpoint path ${JSON.stringify(template)}: unsupported format spec ${JSON.stringify(spec)}`);
    const [, zero, widthText, precision, type] = m;
    let text = type === 'd' ? String(Math.trunc(value))
      : type === 'e' ? value.toExponential(precision === undefined ? 6 : Number(precision))
        : precision !== undefined || type === 'f' ? formatFixed(value, precision === undefined ? 6 : Number(precision)) : String(value);
    const width = Number(widthText || 0);
    if (text.length < width) text = (zero ? '0' : ' ').repeat(width - text.length) + text;
    if (zero && text.startsWith('0') && text.includes('-')) text = '-' + text.replace('-', ''); // -5 padded to -005
    return text;
  });
}

export class ModelCheckpoint {
  readonly filepath: string;
  readonly monitor: string;
  readonly direction: 'min' | 'max';
  readonly saveBestOnly: boolean;
  best: number;
  private readonly save: ModelCheckpointOptions['save'];
  private readonly log?: (message: string) => void;

  constructor(options: ModelCheckpointOptions) {
    if (!options || typeof options !== 'object') throw invalid('options', 'object', options);
    rejectUnknownKeys('ModelCheckpoint', options, ['filepath', 'save', 'monitor', 'mode', 'saveBestOnly', 'initialValueThreshold', 'log']);
    if (typeof options.filepath !== 'string' || options.filepath.length === 0) throw invalid('filepath', 'non-empty string', options.filepath);
    if (typeof options.save !== 'function') throw invalid('save', 'function', options.save);
    if (options.log !== undefined && typeof options.log !== 'function') throw invalid('log', 'function', options.log);
    const { monitor, direction } = checkMonitor('ModelCheckpoint', options.monitor ?? 'val_loss', options.mode ?? 'auto');
    this.filepath = options.filepath;
    this.monitor = monitor;
    this.direction = direction;
    this.saveBestOnly = booleanOption('saveBestOnly', options.saveBestOnly ?? false);
    this.best = options.initialValueThreshold === undefined
      ? (direction === 'min' ? Infinity : -Infinity)
      : finiteNumber('initialValueThreshold', options.initialValueThreshold);
    this.save = options.save;
    this.log = options.log;
  }

  isImprovement(value: number): boolean {
    return this.direction === 'min' ? value < this.best : value > this.best;
  }

  /** `epoch` is 0-based; messages print it 1-based like Keras. */
  async onEpochEnd(epoch: number, logs: Logs): Promise<CheckpointResult> {
    const filepath = formatCheckpointPath(this.filepath, epoch, logs);
    let saved = true;
    let message: string;
    const current = logs[this.monitor];
    if (!this.saveBestOnly) {
      message = `Epoch ${epoch + 1}: saving model to ${filepath}`;
    } else if (current === undefined) {
      // Keras saves anyway and warns.
      message = `Can save best model only with ${this.monitor} available; saving model to ${filepath}`;
    } else if (this.isImprovement(current)) {
      message = `Epoch ${epoch + 1}: ${this.monitor} improved from ${formatFixed(this.best, 5)} to ${formatFixed(current, 5)}, saving model to ${filepath}`;
      this.best = current;
    } else {
      message = `Epoch ${epoch + 1}: ${this.monitor} did not improve from ${formatFixed(this.best, 5)}`;
      saved = false;
    }
    this.log?.(message);
    if (saved) await this.save(filepath, epoch, logs);
    return { saved, filepath, message };
  }
}
