// One pass over a JSON body's bytes, before JSON.parse, that bounds what parsing would build: nesting depth, the
// number of instances, and arrays/objects against numbers. A body of a million `[]` or `{"b64":""}` is refused in
// tens of milliseconds instead of costing seconds of parsing and hundreds of MB of heap.
import { badRequest } from './errors';

export interface ScanLimits {
  maxInstances: number;
  /** Model input [height, width, channels]. */
  shape: readonly [number, number, number];
  /** Deepest nesting accepted (default 32; a request needs 6). */
  maxDepth?: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isNumberStart = (c: number) => c === 0x2d || (c >= 0x30 && c <= 0x39);
const isNumberPart = (c: number) => isNumberStart(c) || c === 0x2e || c === 0x2b || c === 0x65 || c === 0x45;
const INSTANCE_KEYS = ['instances', 'inputs'];
const MIN_CONTAINERS = 65_536;

/** The index of the quote that ends the string starting at `start` (memchr-fast on long base64 strings). */
function closingQuote(raw: Uint8Array, start: number): number {
  for (let at = start; ; at++) {
    at = raw.indexOf(QUOTE, at);
    if (at < 0) return raw.length;
    let backslashes = 0;
    while (at - 1 - backslashes >= start && raw[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/**
 * Throws a 400 naming the limit when the body nests deeper than maxDepth, has more than maxInstances instances, more
 * numbers than maxInstances images of the input shape hold, or more arrays and objects than its numbers need. Malformed JSON is left to
 * JSON.parse, which names the position.
 */
export function scanJson(raw: Uint8Array, limits: ScanLimits): void {
  const [height, width, channels] = limits.shape;
  const maxDepth = limits.maxDepth ?? 32;
  let depth = 0;
  let containers = 0;
  let numbers = 0;
  // The array that holds the instances: body.instances, body.inputs or body.inputs.<name>.
  let countDepth = -1;
  let instances = 0;
  let counting = false;
  let keyAtDepth1 = '';
  let inputsIsObject = false;
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    const c = raw[i];
    if (c === QUOTE) {
      const start = i + 1;
      i = closingQuote(raw, start);
      if (counting && depth === countDepth && instances === 0) instances = 1;
      if (depth === 1) keyAtDepth1 = i - start <= 16 ? Buffer.from(raw.buffer, raw.byteOffset + start, i - start).toString('latin1') : '';
      continue;
    }
    if (c === 0x5b || c === 0x7b) { // [ {
      if (counting && depth === countDepth && instances === 0) instances = 1;
      depth++;
      containers++;
      if (depth > maxDepth) throw badRequest(`The JSON body nests deeper than ${maxDepth} levels${keyAtDepth1 ? ` in ${JSON.stringify(keyAtDepth1)}` : ''} (a request needs at most 6)`);
      if (countDepth < 0 && depth === 2 && INSTANCE_KEYS.includes(keyAtDepth1)) {
        if (c === 0x5b) { countDepth = 2; counting = true; } else inputsIsObject = keyAtDepth1 === 'inputs';
      } else if (countDepth < 0 && depth === 3 && inputsIsObject && c === 0x5b) {
        countDepth = 3;
        counting = true;
      }
      continue;
    }
    if (c === 0x5d || c === 0x7d) { // ] }
      if (counting && depth === countDepth) counting = false;
      if (depth === 2) inputsIsObject = false;
      depth--;
      continue;
    }
    if (c === COMMA) {
      if (counting && depth === countDepth) instances++;
      continue;
    }
    if (isSpace(c) || c === 0x3a) continue; // :
    if (counting && depth === countDepth && instances === 0) instances = 1;
    if (isNumberStart(c)) {
      numbers++;
      while (i + 1 < n && isNumberPart(raw[i + 1])) i++;
    }
  }
  if (instances > limits.maxInstances) throw badRequest(`Too many instances: ${instances}; this server accepts at most ${limits.maxInstances} per request`);
  // Options such as alpha or top_k are a few numbers; everything else is pixels.
  const maxNumbers = limits.maxInstances * height * width * channels + 1024;
  if (numbers > maxNumbers) {
    throw badRequest(`The JSON body has ${numbers} numbers; ${limits.maxInstances} instances of [${height}][${width}][${channels}] (maxInstances) have at most ${maxNumbers - 1024}`);
  }
  // A [H][W][C] array has H*W + H + 1 arrays for H*W*C numbers; each b64 or named instance adds up to 2 objects. Below
  // MIN_CONTAINERS parsing is cheap (a few ms), and a wrongly shaped tensor gets JSON.parse's and the shape check's
  // precise message.
  const allowed = Math.max(MIN_CONTAINERS, Math.ceil((numbers / channels) * (1 + 1 / width + 1 / (height * width))) + 2 * Math.max(instances, 1) + 16);
  if (containers > allowed) {
    throw badRequest(`The JSON body has ${containers} arrays and objects for ${numbers} numbers; ${Math.max(instances, 1)} instance(s) of [${height}][${width}][${channels}] need at most ${allowed}`);
  }
}
