// Parses TF Serving REST request bodies (row "instances" and columnar "inputs" forms) into model input items.
import { badRequest, echo, scalarField } from './errors';

/** The model's one input, as the metadata names it. */
export const INPUT_NAME = 'input_1';

/** One image of a request: already preprocessed floats, or JPEG bytes to decode. */
export type InputItem = { kind: 'tensor'; value: unknown; where: string } | { kind: 'jpeg'; bytes: Buffer; where: string };

export interface ParsedRequest {
  /** 'instances' answers {"predictions"}, 'inputs' answers {"outputs"}, as TF Serving does. */
  format: 'instances' | 'inputs';
  items: InputItem[];
  /** The remaining body fields (extension options such as top_k). */
  options: Record<string, unknown>;
}

// Larger magnitudes become Infinity in float32.
const FLOAT32_MAX = 3.4028234663852886e38;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function jpegFrom(value: Record<string, unknown>, where: string): InputItem {
  const keys = Object.keys(value);
  if (keys.length !== 1 || typeof value.b64 !== 'string') {
    throw badRequest(`${where}: expected {"b64": "<base64 JPEG>"} but received an object with keys ${JSON.stringify(keys)}`);
  }
  const text = value.b64.replace(/\s+/g, '');
  if (text.length === 0 || !BASE64.test(text)) throw badRequest(`${where}.b64: not a base64 string`);
  return { kind: 'jpeg', bytes: Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64'), where };
}

/** One instance: a [H][W][3] array, {"b64": ...}, or a named input {"<input>": one of those}. */
function itemFrom(value: unknown, where: string, allowNamed: boolean): InputItem {
  if (Array.isArray(value)) return { kind: 'tensor', value, where };
  if (isPlainObject(value)) {
    if ('b64' in value) return jpegFrom(value, where);
    const keys = Object.keys(value);
    if (allowNamed && keys.length === 1) {
      if (keys[0] !== INPUT_NAME) throw badRequest(`${where}: JSON object: does not have named input: ${echo(keys[0])}; the only input is "${INPUT_NAME}"`);
      return itemFrom(value[keys[0]], `${where}.${keys[0]}`, false);
    }
    throw badRequest(`${where}: expected a [height][width][3] array or {"b64": "<base64 JPEG>"} but received an object with keys ${JSON.stringify(keys)}`);
  }
  throw badRequest(`${where}: expected a [height][width][3] array or {"b64": "<base64 JPEG>"} but received ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return typeof value === 'string' ? `a string` : `${String(value)} of type ${typeof value}`;
}

/** Splits a parsed JSON body into items; `extraKeys` are the options the endpoint accepts besides the TF Serving ones. */
export function parseRequest(body: unknown, extraKeys: readonly string[], maxInstances = Infinity): ParsedRequest {
  if (!isPlainObject(body)) throw badRequest(`Expected a JSON object with "instances" or "inputs" but received ${describe(body)}`);
  // Unknown top-level keys are ignored, as TF Serving does.
  const signature = body.signature_name;
  if (signature !== undefined) scalarField('signature_name', signature);
  if (signature !== undefined && signature !== 'serving_default' && signature !== '') {
    throw badRequest(`Serving signature name: ${echo(signature)} not found in signature def; the only signature is "serving_default"`);
  }
  const options: Record<string, unknown> = {};
  for (const key of extraKeys) {
    if (key in body) {
      scalarField(key, body[key]);
      options[key] = body[key];
    }
  }
  const tooMany = (n: number) => {
    if (n > maxInstances) throw badRequest(`Too many instances: ${n}; this server accepts at most ${maxInstances} per request`);
  };

  if ('instances' in body === 'inputs' in body) throw badRequest('Expected exactly one of "instances" (row format) or "inputs" (columnar format)');
  if ('instances' in body) {
    const instances = body.instances;
    if (!Array.isArray(instances) || instances.length === 0) throw badRequest(`"instances" must be a non-empty array but received ${describe(instances)}`);
    tooMany(instances.length);
    return { format: 'instances', items: instances.map((value, i) => itemFrom(value, `instances[${i}]`, true)), options };
  }
  let inputs = body.inputs;
  let where = 'inputs';
  // Columnar with a named input: {"inputs": {"input_1": [...]}}.
  if (isPlainObject(inputs) && !('b64' in inputs) && Object.keys(inputs).length === 1) {
    const key = Object.keys(inputs)[0];
    if (key !== INPUT_NAME) throw badRequest(`inputs: JSON object: does not have named input: ${echo(key)}; the only input is "${INPUT_NAME}"`);
    where = `inputs.${key}`;
    inputs = inputs[key];
  }
  if (isPlainObject(inputs) && 'b64' in inputs) return { format: 'inputs', items: [jpegFrom(inputs, where)], options };
  if (!Array.isArray(inputs) || inputs.length === 0) throw badRequest(`"${where}" must be a non-empty [n][height][width][3] array or a list of {"b64": ...} but received ${describe(inputs)}`);
  tooMany(inputs.length);
  return { format: 'inputs', items: inputs.map((value, i) => itemFrom(value, `${where}[${i}]`, false)), options };
}

/** Copies a [H][W][3] nested array of finite numbers into `out` at `offset`, naming the first bad element. */
export function copyTensor(value: unknown, shape: readonly [number, number, number], out: Float32Array, offset: number, where: string): void {
  const [height, width, channels] = shape;
  const expected = `[${height}][${width}][${channels}]`;
  const fail = (path: string, what: string): never => {
    throw badRequest(`${where}${path}: ${what}; each instance must be a ${expected} array of finite numbers (the model input shape)`);
  };
  if (!Array.isArray(value) || value.length !== height) fail('', `expected ${height} rows but received ${describe(value)}`);
  let k = offset;
  for (let y = 0; y < height; y++) {
    const row = (value as unknown[])[y];
    if (!Array.isArray(row) || row.length !== width) fail(`[${y}]`, `expected ${width} columns but received ${describe(row)}`);
    for (let x = 0; x < width; x++) {
      const pixel = (row as unknown[])[x];
      if (!Array.isArray(pixel) || pixel.length !== channels) fail(`[${y}][${x}]`, `expected ${channels} channels but received ${describe(pixel)}`);
      for (let c = 0; c < channels; c++) {
        const v = (pixel as unknown[])[c];
        if (typeof v !== 'number' || !(Math.abs(v) <= FLOAT32_MAX)) fail(`[${y}][${x}][${c}]`, `expected a finite number but received ${describe(v)}`);
        out[k++] = v as number;
      }
    }
  }
}
