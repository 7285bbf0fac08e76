// Turns a raw request body into the model's input items: JSON parsing, the TF Serving request forms and the copy of
// array instances into float32. Pure and synchronous, so it runs on the event loop for small bodies and in a worker
// thread (body-parser.ts) for large ones; only typed arrays and strings come back from a worker.
import { HttpError, badRequest } from './errors';
import { parseRequest, copyTensor } from './request';
import { scanJson } from './json-scan';

/** What an endpoint accepts: its own option keys, the instance limit, the model input [height, width, channels]. */
export interface BodySpec {
  extraKeys: readonly string[];
  maxInstances: number;
  shape: readonly [number, number, number];
}

/** One image of a request: preprocessed floats of the input shape (already checked), or JPEG bytes to decode. */
export type BodyItem = { kind: 'pixels'; data: Float32Array; where: string } | { kind: 'jpeg'; bytes: Buffer; where: string };

export interface ParsedBody {
  format: 'instances' | 'inputs';
  items: BodyItem[];
  options: Record<string, unknown>;
}

export function parseBody(raw: Uint8Array, spec: BodySpec): ParsedBody {
  scanJson(raw, spec);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch (error) {
    throw badRequest(`Malformed JSON body: ${error instanceof Error ? error.message : String(error)}${nonFiniteHint(raw)}`);
  }
  const request = parseRequest(body, spec.extraKeys, spec.maxInstances);
  const [height, width, channels] = spec.shape;
  const items = request.items.map((item): BodyItem => {
    if (item.kind === 'jpeg') return item;
    const data = new Float32Array(height * width * channels);
    copyTensor(item.value, spec.shape, data, 0, item.where);
    return { kind: 'pixels', data, where: item.where };
  });
  return { format: request.format, items, options: request.options };
}

/** TF Serving accepts the NaN and Infinity literals; say why they fail here instead of only "Unexpected token". */
function nonFiniteHint(raw: Uint8Array): string {
  const text = Buffer.from(raw.buffer, raw.byteOffset, Math.min(raw.byteLength, 1 << 20)).toString('latin1');
  return /[[,:]\s*-?(NaN|Infinity)\b/.test(text)
    ? ' (NaN and Infinity are not JSON; this server refuses non-finite inputs, which TF Serving would pass to the model)'
    : '';
}

/** An error as it crosses the worker boundary. */
export interface ParseFailure {
  status: number;
  message: string;
}

export function toFailure(error: unknown): ParseFailure {
  return error instanceof HttpError ? { status: error.status, message: error.message } : { status: 500, message: error instanceof Error ? error.message : String(error) };
}
