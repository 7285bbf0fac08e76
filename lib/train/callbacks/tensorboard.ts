// TensorBoard event files (REFERENCE section 5): TFRecord framing around hand-encoded Event protos.
// Event: wall_time double #1, step int64 #2, file_version string #3, summary #5 { value #1 { tag #1, simple_value float #2 } }.
import { crc32c } from '@node-rs/crc32';
import * as fsp from 'fs/promises';
import * as os from 'os';
import * as path from 'path';
import { Logs } from './monitor';
import { invalid, nonNegativeInt } from '../../validate';

const MASK_DELTA = 0xa282ead8;

/** TFRecord's masked CRC32C: rotate right by 15, add a constant (all mod 2^32). */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength)) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** One TFRecord: u64 LE length, masked CRC of the length bytes, payload, masked CRC of the payload. */
export function frameRecord(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + payload.length + 4);
  out.writeBigUInt64LE(BigInt(payload.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).copy(out, 12);
  out.writeUInt32LE(maskedCrc32c(payload), 12 + payload.length);
  return out;
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function lengthDelimited(fieldNumber: number, body: Buffer): Buffer {
  return Buffer.concat([varint((fieldNumber << 3) | 2), varint(body.length), body]);
}

export interface ScalarValue {
  tag: string;
  value: number;
}

/** Encodes an Event message: wall time in seconds, step, then either a file version or scalar summary values. */
export function encodeEvent(event: { wallTime: number; step: number; fileVersion?: string; scalars?: ScalarValue[] }): Buffer {
  const parts: Buffer[] = [];
  const wall = Buffer.alloc(9);
  wall[0] = (1 << 3) | 1; // field 1, 64-bit
  wall.writeDoubleLE(event.wallTime, 1);
  parts.push(wall);
  if (event.step !== 0) parts.push(Buffer.concat([varint((2 << 3) | 0), varint(event.step)])); // proto3 omits defaults
  if (event.fileVersion !== undefined) parts.push(lengthDelimited(3, Buffer.from(event.fileVersion, 'utf8')));
  if (event.scalars && event.scalars.length > 0) {
    const values = event.scalars.map(({ tag, value }) => {
      const simple = Buffer.alloc(5);
      simple[0] = (2 << 3) | 5; // field 2, 32-bit
      simple.writeFloatLE(value, 1);
      return lengthDelimited(1, Buffer.concat([lengthDelimited(1, Buffer.from(tag, 'utf8')), simple]));
    });
    parts.push(lengthDelimited(5, Buffer.concat(values)));
  }
  return Buffer.concat(parts);
}

let fileCounter = 0;

/** One event file; writes are queued so they stay in order without blocking the event loop. */
export class EventFileWriter {
  readonly path: string;
  private queue: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(dir: string, now: () => number = Date.now) {
    const seconds = Math.floor(now() / 1000);
    const name = `events.out.tfevents.${String(seconds).padStart(10, '0')}.${os.hostname()}.${process.pid}.${fileCounter++}`;
    this.path = path.join(dir, name);
    const first = frameRecord(encodeEvent({ wallTime: now() / 1000, step: 0, fileVersion: 'brain.Event:2' }));
    this.now = now;
    this.enqueue(() => fsp.mkdir(dir, { recursive: true }).then(() => fsp.writeFile(this.path, first)));
  }

  addScalars(step: number, scalars: ScalarValue[]): void {
    const record = frameRecord(encodeEvent({ wallTime: this.now() / 1000, step, scalars }));
    this.enqueue(() => fsp.appendFile(this.path, record));
  }

  private enqueue(write: () => Promise<void>): void {
    this.queue = this.queue.then(write);
    this.queue.catch(() => undefined); // reported by flush(); must not crash the process as unhandled
  }

  /** Resolves once everything queued is on disk; rejects with the first write error. */
  flush(): Promise<void> {
    return this.queue;
  }
}

/** The Keras TensorBoard callback's epoch scalars: `loss` -> train/epoch_loss, `val_loss` -> validation/epoch_loss. */
export class TensorBoardWriter {
  readonly logdir: string;
  private writers = new Map<'train' | 'validation', EventFileWriter>();
  private readonly now: () => number;

  constructor(logdir: string, options: { now?: () => number } = {}) {
    if (typeof logdir !== 'string' || logdir.length === 0) throw invalid('logdir', 'non-empty string', logdir);
    this.logdir = logdir;
    this.now = options.now ?? Date.now;
  }

  /** Writes one scalar; the file for the split is created on first use. */
  scalar(split: 'train' | 'validation', tag: string, value: number, step: number): void {
    this.writer(split).addScalars(nonNegativeInt('step', step), [{ tag, value }]);
  }

  /** Logs keys `x` go to train/epoch_x and `val_x` to validation/epoch_x, one event per split at step = epoch. */
  onEpochEnd(epoch: number, logs: Logs): void {
    nonNegativeInt('epoch', epoch);
    const train: ScalarValue[] = [];
    const validation: ScalarValue[] = [];
    for (const key of Object.keys(logs).sort()) {
      if (key.startsWith('val_')) validation.push({ tag: `epoch_${key.slice(4)}`, value: logs[key] });
      else train.push({ tag: `epoch_${key}`, value: logs[key] });
    }
    if (train.length > 0) this.writer('train').addScalars(epoch, train);
    if (validation.length > 0) this.writer('validation').addScalars(epoch, validation);
  }

  /** Paths of the event files written so far, keyed by split. */
  files(): Record<string, string> {
    return Object.fromEntries([...this.writers].map(([split, w]) => [split, w.path]));
  }

  async close(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.flush()));
  }

  private writer(split: 'train' | 'validation'): EventFileWriter {
    let w = this.writers.get(split);
    if (!w) {
      w = new EventFileWriter(path.join(this.logdir, split), this.now);
      this.writers.set(split, w);
    }
    return w;
  }
}
