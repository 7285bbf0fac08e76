// Parser for the car dataset's file names (REFERENCE section 1): 16 `_`-separated fields, a 3-letter id, .jpg (.jpeg, .png and .bmp accepted too).
import * as path from 'path';

export interface CarRecord {
  make: string;
  model: string | null;
  year: number | null;
  msrp: number | null;
  frontWheelSize: number | null;
  hp: number | null;
  displacement: number | null;
  engineType: number | null;
  width: number | null;
  height: number | null;
  length: number | null;
  gasMileage: number | null;
  drivetrain: string | null;
  passengerCapacity: number | null;
  passengerDoors: number | null;
  bodyStyle: string | null;
  id: string;
}

export type CarParseResult = { ok: true; record: CarRecord } | { ok: false; reason: string };

/** Field order in the name; `kind` says how the text is read. */
const FIELDS: ReadonlyArray<{ key: keyof CarRecord; kind: 'text' | 'number' }> = [
  { key: 'make', kind: 'text' },
  { key: 'model', kind: 'text' },
  { key: 'year', kind: 'number' },
  { key: 'msrp', kind: 'number' },
  { key: 'frontWheelSize', kind: 'number' },
  { key: 'hp', kind: 'number' },
  { key: 'displacement', kind: 'number' },
  { key: 'engineType', kind: 'number' },
  { key: 'width', kind: 'number' },
  { key: 'height', kind: 'number' },
  { key: 'length', kind: 'number' },
  { key: 'gasMileage', kind: 'number' },
  { key: 'drivetrain', kind: 'text' },
  { key: 'passengerCapacity', kind: 'number' },
  { key: 'passengerDoors', kind: 'number' },
  { key: 'bodyStyle', kind: 'text' },
];

export const CAR_FIELD_NAMES: readonly string[] = [...FIELDS.map((f) => f.key), 'id'];

const MISSING = 'nan';
const NUMBER = /^\d+(\.\d+)?$/;
const ID = /^[A-Za-z]{3}$/;
const EXTENSION = /\.(jpe?g|png|bmp)$/i;

/**
 * Parses a file name (a path is accepted; only its base name is read). Never guesses: any deviation from the
 * format gives `{ ok: false, reason }` naming the field and the text found.
 */
export function parseCarFilename(name: string): CarParseResult {
  if (typeof name !== 'string') return { ok: false, reason: `file name must be a string, received ${typeof name}` };
  const base = path.basename(name);
  if (!EXTENSION.test(base)) return { ok: false, reason: `extension is not .jpg, .jpeg, .png or .bmp in ${JSON.stringify(base)}` };
  const parts = base.replace(EXTENSION, '').split('_');
  if (parts.length !== FIELDS.length + 1) {
    return { ok: false, reason: `expected ${FIELDS.length + 1} "_"-separated fields (16 + id), found ${parts.length}` };
  }
  const record: Record<string, string | number | null> = {};
  for (let i = 0; i < FIELDS.length; i++) {
    const { key, kind } = FIELDS[i];
    const text = parts[i];
    if (text.length === 0 || text.trim() !== text) {
      return { ok: false, reason: `field ${key} (#${i + 1}) is empty or has surrounding spaces: ${JSON.stringify(text)}` };
    }
    if (text === MISSING) {
      if (key === 'make') return { ok: false, reason: 'field make (#1) is missing (nan); a label cannot be derived' };
      record[key] = null;
    } else if (kind === 'number') {
      if (!NUMBER.test(text)) return { ok: false, reason: `field ${key} (#${i + 1}) is not a number or nan: ${JSON.stringify(text)}` };
      record[key] = Number(text);
    } else {
      record[key] = text;
    }
  }
  const year = record.year as number | null;
  if (year !== null && (!Number.isInteger(year) || year < 1886 || year > 2100)) {
    return { ok: false, reason: `field year (#3) is not a plausible model year: ${JSON.stringify(parts[2])}` };
  }
  const id = parts[FIELDS.length];
  if (!ID.test(id)) return { ok: false, reason: `id (#17) must be 3 letters, found ${JSON.stringify(id)}` };
  record.id = id;
  return { ok: true, record: record as unknown as CarRecord };
}

/** Like parseCarFilename but throws an Error naming the file and the reason. */
export function parseCarFilenameOrThrow(name: string): CarRecord {
  const result = parseCarFilename(name);
  if (!result.ok) throw new Error(`Cannot parse car file name ${JSON.stringify(name)}: ${result.reason}`);
  return result.record;
}

export type LabelType = 'make' | 'model';

/** The class label of a record: `make`, or `make_model` for label type model; null when the model is nan. */
export function carLabel(record: CarRecord, labelType: LabelType): string | null {
  if (labelType === 'make') return record.make;
  return record.model === null ? null : `${record.make}_${record.model}`;
}
