// Shared by EarlyStopping, ModelCheckpoint and ReduceLROnPlateau: which way a monitored metric should move.
import { invalid, oneOf } from '../../validate';

export type Logs = Record<string, number>;
export type MonitorMode = 'auto' | 'min' | 'max';
export const MONITOR_MODES: readonly MonitorMode[] = ['auto', 'min', 'max'];

/**
 * Keras infers `min` for loss; it asks the metric otherwise. Our metrics are known by name: loss-like -> min,
 * accuracy/AUC/precision/recall/F1 -> max. Anything else needs an explicit mode.
 */
export function resolveMode(where: string, monitor: string, mode: MonitorMode): 'min' | 'max' {
  if (mode !== 'auto') return mode;
  const name = monitor.startsWith('val_') ? monitor.slice(4) : monitor;
  if (name === 'loss' || name.endsWith('_loss') || name.endsWith('error')) return 'min';
  if (/acc|auc|precision|recall|f1/.test(name)) return 'max';
  throw new Error(`${where} received monitor=${monitor}, but cannot determine whether that metric should be maximized `
    + "or minimized. Pass mode: 'max' to use the highest value, or mode: 'min' to use the lowest.");
}

export function checkMonitor(where: string, monitor: unknown, mode: unknown): { monitor: string; mode: MonitorMode; direction: 'min' | 'max' } {
  if (typeof monitor !== 'string' || monitor.length === 0) throw invalid('monitor', 'non-empty metric name', monitor);
  const checkedMode = oneOf('mode', mode, MONITOR_MODES);
  return { monitor, mode: checkedMode, direction: resolveMode(where, monitor, checkedMode) };
}

export function finiteNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(name, 'finite number', value);
  return value;
}

/** Python's `f"{x:.5f}"`, including inf/-inf/nan spelled like Python. */
export function formatFixed(value: number, digits: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  return value.toFixed(digits);
}

/** Python's repr(float): shortest round-trip digits, exponent form below 1e-4 or from 1e16 (`1e-05`). */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (Number.isInteger(value) && Math.abs(value) < 1e16) return value.toFixed(1);
  const abs = Math.abs(value);
  if (abs >= 1e-4 && abs < 1e16) return String(value);
  const [mantissa, exponent] = value.toExponential().split('e');
  const sign = exponent.startsWith('-') ? '-' : '+';
  return `${mantissa}e${sign}${exponent.replace(/^[-+]/, '').padStart(2, '0')}`;
}
