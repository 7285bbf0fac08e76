import { crc32c } from '@node-rs/crc32';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TensorBoardWriter } from '../lib/train/callbacks';

// ---- An independent TFRecord + protobuf reader (shares no code with the writer). ----

function masked(data: Buffer): number {
  const crc = crc32c(data) >>> 0;
  const rotated = ((crc >>> 15) | ((crc << 17) >>> 0)) >>> 0;
  return (rotated + 0xa282ead8) % 0x100000000;
}

function readRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const lengthBytes = buf.subarray(at, at + 8);
    const length = Number(lengthBytes.readBigUInt64LE(0));
    if (buf.readUInt32LE(at + 8) !== masked(lengthBytes)) throw new Error(`bad length CRC at ${at}`);
    const payload = buf.subarray(at + 12, at + 12 + length);
    if (buf.readUInt32LE(at + 12 + length) !== masked(payload)) throw new Error(`bad payload CRC at ${at}`);
    out.push(payload);
    at += 12 + length + 4;
  }
  if (at !== buf.length) throw new Error('trailing bytes');
  return out;
}

type Field = { field: number; wire: number; value: bigint | Buffer };
function decodeMessage(buf: Buffer): Field[] {
  const fields: Field[] = [];
  let at = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[at++];
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = Number(readVarint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) fields.push({ field, wire, value: readVarint() });
    else if (wire === 1) { fields.push({ field, wire, value: buf.subarray(at, at + 8) }); at += 8; }
    else if (wire === 5) { fields.push({ field, wire, value: buf.subarray(at, at + 4) }); at += 4; }
    else if (wire === 2) { const n = Number(readVarint()); fields.push({ field, wire, value: buf.subarray(at, at + n) }); at += n; }
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return fields;
}

interface DecodedEvent { wallTime: number; step: number; fileVersion?: string; values: Array<{ tag: string; value: number }> }
function decodeEvent(payload: Buffer): DecodedEvent {
  const ev: DecodedEvent = { wallTime: NaN, step: 0, values: [] };
  for (const f of decodeMessage(payload)) {
    if (f.field === 1 && f.wire === 1) ev.wallTime = (f.value as Buffer).readDoubleLE(0);
    else if (f.field === 2 && f.wire === 0) ev.step = Number(f.value as bigint);
    else if (f.field === 3 && f.wire === 2) ev.fileVersion = (f.value as Buffer).toString('utf8');
    else if (f.field === 5 && f.wire === 2) {
      for (const v of decodeMessage(f.value as Buffer)) {
        if (v.field !== 1 || v.wire !== 2) throw new Error('unexpected Summary field');
        let tag = '';
        let value = NaN;
        for (const inner of decodeMessage(v.value as Buffer)) {
          if (inner.field === 1 && inner.wire === 2) tag = (inner.value as Buffer).toString('utf8');
          else if (inner.field === 2 && inner.wire === 5) value = (inner.value as Buffer).readFloatLE(0);
        }
        ev.values.push({ tag, value });
      }
    } else throw new Error(`unexpected Event field ${f.field}`);
  }
  return ev;
}

function eventsIn(dir: string): { name: string; events: DecodedEvent[] } {
  const names = fs.readdirSync(dir);
  expect(names.length).toBe(1);
  return { name: names[0], events: readRecords(fs.readFileSync(path.join(dir, names[0]))).map(decodeEvent) };
}

// ---- Tests ----

function hasPythonTensorboard(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import tensorboard'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('TensorBoardWriter', () => {
  let logdir: string;
  const history = [
    { loss: 2.5, accuracy: 0.25, val_loss: 1.61234, val_accuracy: 0.3 },
    { loss: 1.75, accuracy: 0.5, val_loss: 1.583, val_accuracy: 0.45 },
    { loss: 1.0, accuracy: 0.75, val_loss: 1.59, val_accuracy: 0.44 },
  ];
  // Step 200 exercises multi-byte varints.
  const steps = [0, 1, 200];
  beforeAll(async () => {
    logdir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-tb-'));
    const tb = new TensorBoardWriter(logdir, { now: () => 1700000000123 });
    history.forEach((logs, i) => tb.onEpochEnd(steps[i], logs));
    await tb.close();
  });
  afterAll(() => fs.rmSync(logdir, { recursive: true, force: true }));

  test('file names follow events.out.tfevents.<10-digit time>.<host>.<pid>.<n>', () => {
    for (const split of ['train', 'validation']) {
      const { name } = eventsIn(path.join(logdir, split));
      const m = /^events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.(\d+)$/.exec(name);
      expect(m).not.toBeNull();
      expect(m![1]).toBe('1700000000');
      expect(m![2]).toBe(os.hostname());
      expect(Number(m![3])).toBe(process.pid);
    }
  });

  test('records pass both CRCs; first event is brain.Event:2; scalars decode to the logged values', () => {
    const train = eventsIn(path.join(logdir, 'train')).events;
    const validation = eventsIn(path.join(logdir, 'validation')).events;
    for (const events of [train, validation]) {
      expect(events[0].fileVersion).toBe('brain.Event:2');
      expect(events[0].values).toEqual([]);
      expect(events[0].wallTime).toBeCloseTo(1700000000.123, 6);
      expect(events.length).toBe(1 + history.length);
    }
    history.forEach((logs, i) => {
      const t = train[i + 1];
      const v = validation[i + 1];
      expect(t.step).toBe(steps[i]);
      expect(v.step).toBe(steps[i]);
      const byTag = (ev: DecodedEvent) => Object.fromEntries(ev.values.map((x) => [x.tag, x.value]));
      const tt = byTag(t);
      const vv = byTag(v);
      expect(Object.keys(tt).sort()).toEqual(['epoch_accuracy', 'epoch_loss']);
      expect(Object.keys(vv).sort()).toEqual(['epoch_accuracy', 'epoch_loss']);
      // simple_value is a float32: compare with float32 rounding.
      expect(tt.epoch_loss).toBe(Math.fround(logs.loss));
      expect(tt.epoch_accuracy).toBe(Math.fround(logs.accuracy));
      expect(vv.epoch_loss).toBe(Math.fround(logs.val_loss));
      expect(vv.epoch_accuracy).toBe(Math.fround(logs.val_accuracy));
    });
  });

  test('a corrupted byte is caught by the independent reader', () => {
    const { name } = eventsIn(path.join(logdir, 'train'));
    const buf = Buffer.from(fs.readFileSync(path.join(logdir, 'train', name)));
    buf[buf.length - 6] ^= 0xff;
    expect(() => readRecords(buf)).toThrow(/bad payload CRC/);
  });

  // Skipped when /usr/bin/python3 lacks tensorboard (not packaged in Debian 12); the reader above covers the format.
  (hasPythonTensorboard() ? test : test.skip)('cross-check with TensorBoard\'s own reader (/usr/bin/python3 tensorboard)', () => {
    const script = [
      'import sys',
      'from tensorboard.backend.event_processing.event_file_loader import EventFileLoader',
      'for ev in EventFileLoader(sys.argv[1]).Load():',
      '  for v in ev.summary.value: print(ev.step, v.tag, v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0])',
    ].join('\n');
    const dir = path.join(logdir, 'validation');
    const out = execFileSync('/usr/bin/python3', ['-c', script, path.join(dir, fs.readdirSync(dir)[0])], { encoding: 'utf8' });
    expect(out.trim().split('\n').length).toBe(2 * history.length);
  });
});
