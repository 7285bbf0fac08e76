// The TF Serving REST API over a deterministic fake backend (nearest colour classifier), so answers are predictable.
import * as http from 'http';
import sharp from 'sharp';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  createServer, createColourBackend, installShutdown, ModelServer, ServingBackend,
  parseServeArgs, serveCommand, parseExplainArgs, explainCommand, labelFromFileName, backendFromModel,
} from '../lib/serve';

const H = 16;
const W = 16;
const CLASSES = [
  { label: 'Red_Roadster', rgb: [200, 40, 40] as [number, number, number] },
  { label: 'Green_Hatchback', rgb: [40, 170, 60] as [number, number, number] },
  { label: 'Blue_Sedan', rgb: [40, 60, 200] as [number, number, number] },
  { label: 'White_Van', rgb: [235, 235, 235] as [number, number, number] },
];
const SHARPNESS = 4;

/** Reference of the fake model, written independently: softmax(-sharpness * |mean - prototype|^2) in [-1, 1] colour space. */
function expectedProbabilities(image: number[][][]): number[] {
  const mean = [0, 1, 2].map((c) => image.flat().reduce((sum, pixel) => sum + pixel[c], 0) / (H * W));
  const logits = CLASSES.map(({ rgb }) => -SHARPNESS * rgb.reduce((sum, v, c) => sum + (mean[c] - (v / 127.5 - 1)) ** 2, 0));
  const exps = logits.map((l) => Math.exp(l - Math.max(...logits)));
  return exps.map((e) => e / exps.reduce((a, b) => a + b, 0));
}

/** A [H][W][3] preprocessed image near colour `rgb` with a deterministic texture. */
function arrayImage(rgb: number[], seed: number): number[][][] {
  return Array.from({ length: H }, (_, y) => Array.from({ length: W }, (_, x) =>
    rgb.map((v, c) => Math.max(0, Math.min(255, v + ((x * 7 + y * 13 + c * 5 + seed * 11) % 31) - 15)) / 127.5 - 1)));
}

const good = () => arrayImage([200, 40, 40], 0);

async function jpegOf(rgb: number[], seed: number): Promise<Buffer> {
  const raw = Buffer.alloc(H * W * 3);
  arrayImage(rgb, seed).flat(2).forEach((v, i) => { raw[i] = Math.round((v + 1) * 127.5); });
  return sharp(raw, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** The test's own decode of a JPEG, independent of the server: sharp raw RGB, then x / 127.5 - 1. */
async function decodeForTest(jpeg: Buffer): Promise<number[][][]> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([W, H, 3]);
  return Array.from({ length: H }, (_, y) => Array.from({ length: W }, (_, x) => [0, 1, 2].map((c) => data[(y * W + x) * 3 + c] / 127.5 - 1)));
}

function expectClose(actual: number[][], expected: number[][], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => {
    expect(row.length).toBe(expected[i].length);
    row.forEach((v, k) => expect(Math.abs(v - expected[i][k])).toBeLessThanOrEqual(tolerance));
  });
}

function backend(overrides: Partial<ServingBackend> = {}): ServingBackend {
  return { ...createColourBackend({ height: H, width: W, classes: CLASSES, sharpness: SHARPNESS }), ...overrides };
}

async function started(b: ServingBackend, options: Parameters<typeof createServer>[1] = {}): Promise<{ server: ModelServer; url: string }> {
  const server = createServer(b, { port: 0, webDir: false, ...options });
  const { url } = await server.listen();
  return { server, url };
}

async function call(url: string, path: string, init: { method?: string; body?: string | object; headers?: Record<string, string> } = {}) {
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  const headers = body === undefined ? init.headers : { 'Content-Type': 'application/json', ...init.headers };
  const res = await fetch(url + path, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), body, headers });
  const text = await res.text();
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return { status: res.status, json: JSON.parse(text), headers: res.headers };
}

/** Raw HTTP for what fetch cannot do: chunked bodies without a length, slow senders. */
function rawRequest(url: string, path: string, write: (req: http.ClientRequest) => void): Promise<{ status: number; json: { error?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    write(req);
  });
}

describe('TF Serving REST API', () => {
  let server: ModelServer;
  let url: string;
  beforeAll(async () => ({ server, url } = await started(backend(), { maxBodyBytes: 1 << 20, maxInstances: 8 })));
  afterAll(() => server.close());

  test('the seed request shape gives the TF Serving response shape and the model probabilities', async () => {
    const images = [arrayImage([200, 40, 40], 1), arrayImage([40, 60, 200], 2), arrayImage([120, 120, 120], 3)];
    const { status, json } = await call(url, '/v1/models/carclass:predict', { body: { signature_name: 'serving_default', instances: images } });
    expect(status).toBe(200);
    expect(Object.keys(json)).toEqual(['predictions']);
    expect(json.predictions).toHaveLength(3);
    expectClose(json.predictions, images.map(expectedProbabilities), 1e-6);
    expect(json.predictions[0].indexOf(Math.max(...json.predictions[0]))).toBe(0);
    expect(json.predictions[1].indexOf(Math.max(...json.predictions[1]))).toBe(2);
  });

  test('the columnar "inputs" form answers "outputs", also with a named input', async () => {
    const images = [arrayImage([40, 170, 60], 4), arrayImage([235, 235, 235], 5)];
    for (const inputs of [images, { input_1: images }]) {
      const { status, json } = await call(url, '/v1/models/carclass:predict', { body: { inputs } });
      expect(status).toBe(200);
      expect(Object.keys(json)).toEqual(['outputs']);
      expectClose(json.outputs, images.map(expectedProbabilities), 1e-6);
    }
  });

  test('b64 JPEG instances give the same predictions as the same pixels sent preprocessed', async () => {
    const jpegs = await Promise.all([[200, 40, 40], [40, 60, 200], [90, 160, 90]].map((rgb, i) => jpegOf(rgb, i)));
    const arrays = await Promise.all(jpegs.map(decodeForTest));
    const viaB64 = await call(url, '/v1/models/carclass:predict', { body: { instances: jpegs.map((j) => ({ b64: j.toString('base64') })) } });
    const viaArray = await call(url, '/v1/models/carclass:predict', { body: { instances: arrays } });
    const named = await call(url, '/v1/models/carclass:predict', { body: { instances: jpegs.map((j) => ({ input_1: { b64: j.toString('base64') } })) } });
    const columnar = await call(url, '/v1/models/carclass:predict', { body: { inputs: jpegs.map((j) => ({ b64: j.toString('base64') })) } });
    expect([viaB64.status, viaArray.status, named.status, columnar.status]).toEqual([200, 200, 200, 200]);
    expectClose(viaB64.json.predictions, viaArray.json.predictions, 1e-6);
    expectClose(named.json.predictions, viaArray.json.predictions, 1e-6);
    expectClose(columnar.json.outputs, viaArray.json.predictions, 1e-6);
    expectClose(viaArray.json.predictions, arrays.map(expectedProbabilities), 1e-6);
  });

  test('status, version status and metadata look like TF Serving', async () => {
    const ok = { model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] };
    expect((await call(url, '/v1/models/carclass')).json).toEqual(ok);
    expect((await call(url, '/v1/models/carclass/versions/1')).json).toEqual(ok);
    const { json } = await call(url, '/v1/models/carclass/metadata');
    expect(json.model_spec).toEqual({ name: 'carclass', signature_name: '', version: '1' });
    const signature = json.metadata.signature_def.signature_def.serving_default;
    expect(signature.method_name).toBe('tensorflow/serving/predict');
    const sizes = (io: { tensor_shape: { dim: { size: string }[] } }) => io.tensor_shape.dim.map((d) => Number(d.size));
    expect(sizes(signature.inputs.input_1)).toEqual([-1, H, W, 3]);
    expect(sizes(signature.outputs.predictions)).toEqual([-1, CLASSES.length]);
    expect(json.metadata.classes).toEqual(CLASSES.map((c) => c.label));
  });

  test(':classify returns the top-k labels with probabilities, best first', async () => {
    const image = arrayImage([200, 40, 40], 6);
    const expected = expectedProbabilities(image);
    const { status, json } = await call(url, '/v1/models/carclass:classify', { body: { instances: [image], top_k: 2 } });
    expect(status).toBe(200);
    const order = expected.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]);
    expect(json.result[0].map((pair: [string, number]) => pair[0])).toEqual([CLASSES[order[0][1]].label, CLASSES[order[1][1]].label]);
    expect(Math.abs(json.result[0][0][1] - order[0][0])).toBeLessThan(1e-6);
    // Default k is 5, capped at the number of classes.
    expect((await call(url, '/v1/models/carclass:classify', { body: { instances: [image] } })).json.result[0]).toHaveLength(CLASSES.length);
  });

  test(':explain returns an HxW heatmap and a decodable overlay of the input size', async () => {
    // Left half red, right half blue: the heatmap for "Blue_Sedan" must be hot on the right.
    const image = Array.from({ length: H }, () => Array.from({ length: W }, (_, x) => (x < W / 2 ? [200, 40, 40] : [40, 60, 200]).map((v) => v / 127.5 - 1)));
    for (const format of ['png', 'jpeg']) {
      const { status, json } = await call(url, '/v1/models/carclass:explain', { body: { instances: [image], class_index: 2, format } });
      expect(status).toBe(200);
      const e = json.explanations[0];
      expect([e.class_index, e.label, e.height, e.width]).toEqual([2, 'Blue_Sedan', H, W]);
      expect(e.probability).toBeCloseTo(expectedProbabilities(image)[2], 5);
      expect(e.heatmap).toHaveLength(H);
      expect(e.heatmap[0]).toHaveLength(W);
      expect(e.heatmap[3][W - 1]).toBeCloseTo(1, 4);
      expect(e.heatmap[3][0]).toBeCloseTo(0, 4);
      expect(e.overlay.mime_type).toBe(`image/${format}`);
      const meta = await sharp(Buffer.from(e.overlay.b64, 'base64')).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual([format, W, H]);
    }
    // Without class_index: the top-1 class; heatmap: false leaves it out.
    const top = await call(url, '/v1/models/carclass:explain', { body: { instances: [{ b64: (await jpegOf([40, 170, 60], 7)).toString('base64') }], heatmap: false } });
    expect(top.json.explanations[0].label).toBe('Green_Hatchback');
    expect(top.json.explanations[0].heatmap).toBeUndefined();
  });

  const badCases: [string, string, { method?: string; body?: string | object }, number, RegExp][] = [
    ['malformed JSON', '/v1/models/carclass:predict', { body: '{"instances": [' }, 400, /Malformed JSON/],
    ['a NaN literal', '/v1/models/carclass:predict', { body: '{"instances": [[[[NaN, 0, 0]]]]}' }, 400, /Malformed JSON/],
    ['Infinity by overflow', '/v1/models/carclass:predict', { body: JSON.stringify({ instances: [good()] }).replace(/^(\{"instances":\[\[\[\[)[^,]+/, '$11e999') }, 400, /instances\[0\]\[0\]\[0\]\[0\]: expected a finite number but received Infinity/],
    ['a value beyond float32', '/v1/models/carclass:predict', { body: JSON.stringify({ instances: [good()] }).replace(/^(\{"instances":\[\[\[\[)[^,]+/, '$11e39') }, 400, /finite number/],
    ['null in a pixel', '/v1/models/carclass:predict', { body: JSON.stringify({ instances: [good()] }).replace(/^(\{"instances":\[\[\[\[)[^,]+/, '$1null') }, 400, /received null/],
    ['a JSON array body', '/v1/models/carclass:predict', { body: '[1, 2]' }, 400, /JSON object/],
    ['no instances', '/v1/models/carclass:predict', { body: { signature_name: 'serving_default' } }, 400, /exactly one of "instances"/],
    ['both forms', '/v1/models/carclass:predict', { body: { instances: [good()], inputs: [good()] } }, 400, /exactly one of/],
    ['empty instances', '/v1/models/carclass:predict', { body: { instances: [] } }, 400, /non-empty/],
    ['too few rows', '/v1/models/carclass:predict', { body: { instances: [good().slice(1)] } }, 400, /instances\[0\]: expected 16 rows/],
    ['wrong width', '/v1/models/carclass:predict', { body: { instances: [good().map((row) => row.slice(2))] } }, 400, /instances\[0\]\[0\]: expected 16 columns/],
    ['one channel', '/v1/models/carclass:predict', { body: { instances: [good().map((row) => row.map((p) => [p[0]]))] } }, 400, /expected 3 channels/],
    ['a flat vector', '/v1/models/carclass:predict', { body: { instances: [[0.1, 0.2, 0.3]] } }, 400, /expected 16 rows/],
    ['a string instance', '/v1/models/carclass:predict', { body: { instances: ['abc'] } }, 400, /received a string/],
    ['bad base64', '/v1/models/carclass:predict', { body: { instances: [{ b64: '@@@' }] } }, 400, /not a base64/],
    ['b64 that is not a JPEG', '/v1/models/carclass:predict', { body: { instances: [{ b64: Buffer.from('hello').toString('base64') }] } }, 400, /could not decode the image/],
    ['too many instances', '/v1/models/carclass:predict', { body: { instances: Array(9).fill(good()) } }, 400, /at most 8/],
    ['a bogus named input in instances', '/v1/models/carclass:predict', { body: { instances: [{ bogus: good() }] } }, 400, /instances\[0\]: JSON object: does not have named input: "bogus"/],
    ['a bogus named input in inputs', '/v1/models/carclass:predict', { body: { inputs: { bogus: [good()] } } }, 400, /does not have named input: "bogus"/],
    ['a nested signature_name', '/v1/models/carclass:predict', { body: { signature_name: { a: [1] }, instances: [good()] } }, 400, /signature_name but received an object/],
    ['a nested top_k', '/v1/models/carclass:classify', { body: { instances: [good()], top_k: [[3]] } }, 400, /for top_k but received an array/],
    ['a nested layer', '/v1/models/carclass:explain', { body: { instances: [good()], layer: { x: 1 } } }, 400, /for layer but received an object/],
    ['an unknown signature', '/v1/models/carclass:predict', { body: { signature_name: 'predict_images', instances: [good()] } }, 400, /signature/],
    ['a bad top_k', '/v1/models/carclass:classify', { body: { instances: [good()], top_k: 0 } }, 400, /Expected positive integer for top_k but received 0/],
    ['explain with two images', '/v1/models/carclass:explain', { body: { instances: [good(), good()] } }, 400, /exactly one image/],
    ['explain class out of range', '/v1/models/carclass:explain', { body: { instances: [good()], class_index: 4 } }, 400, /out of range/],
    ['explain bad format', '/v1/models/carclass:explain', { body: { instances: [good()], format: 'gif' } }, 400, /one of png, jpeg for format/],
    ['a huge declared body', '/v1/models/carclass:predict', { body: 'x'.repeat(3 << 20) }, 413, /exceeds the limit of 1048576 bytes/],
    ['an unknown model name', '/v1/models/resnet:predict', { body: { instances: [good()] } }, 404, /Servable not found.*resnet/],
    ['an unknown version', '/v1/models/carclass/versions/7:predict', { body: { instances: [good()] } }, 404, /Specific\(carclass, 7\)/],
    ['GET on :predict', '/v1/models/carclass:predict', { method: 'GET' }, 405, /Method GET not allowed/],
    ['DELETE on the status', '/v1/models/carclass', { method: 'DELETE' }, 405, /Method DELETE/],
    ['an unknown verb', '/v1/models/carclass:regress', { body: { instances: [good()] } }, 404, /Not found/],
    ['an unknown path', '/v2/whatever', { method: 'GET' }, 404, /Not found: \/v2\/whatever/],
    ['a malformed URL escape', '/v1/models/%E0', { method: 'GET' }, 400, /Malformed URL/],
    ['the page when none is served', '/', { method: 'GET' }, 404, /Not found/],
  ];

  test.each(badCases)('%s: a 4xx with a JSON error, and the server stays up', async (_what, path, init, status, message) => {
    const answer = await call(url, path, init);
    expect(answer.status).toBe(status);
    expect(answer.json.error).toMatch(message);
    if (status === 405) expect(answer.headers.get('allow')).toBeTruthy();
    expect((await call(url, '/v1/models/carclass')).status).toBe(200);
  });

  test('unknown top-level keys are ignored, as TF Serving does', async () => {
    const answer = await call(url, '/v1/models/carclass:predict', { body: { instances: [good()], top_k: 3, whatever: { a: 1 } } });
    expect(answer.status).toBe(200);
    expect(answer.json.predictions).toHaveLength(1);
  });

  test('a 10,000-deep nest in signature_name, layer or top_k is a 400 naming the field, not a 500', async () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    const instance = JSON.stringify([good()]);
    for (const [verb, key] of [['predict', 'signature_name'], ['explain', 'layer'], ['classify', 'top_k']]) {
      const answer = await call(url, `/v1/models/carclass:${verb}`, { body: `{"instances":${instance},"${key}":${deep}}` });
      expect(answer.status).toBe(400);
      expect(answer.json.error).toContain(key);
    }
  });

  test('error bodies echo bounded input: a 900 kB format, alpha or signature_name gives a short error', async () => {
    const big = 'L'.repeat(900_000); // just under this server's 1 MiB body limit
    for (const body of [{ instances: [good()], format: big }, { instances: [good()], alpha: big }]) {
      const res = await fetch(`${url}/v1/models/carclass:explain`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      const text = await res.text();
      expect(res.status).toBe(400);
      expect(text.length).toBeLessThan(4000);
    }
    const sig = await call(url, '/v1/models/carclass:predict', { body: { signature_name: big, instances: [good()] } });
    expect(sig.status).toBe(400);
    expect(JSON.stringify(sig.json).length).toBeLessThan(1000);
  });

  test('a body of 10^6 tiny b64 instances is refused quickly, naming the limit, without decoding them', async () => {
    let decodes = 0;
    const { server: s, url: u } = await started(backend({ decode: async (jpeg) => { decodes++; return backend().decode(jpeg); } }), { maxBodyBytes: 64 << 20, maxInstances: 8 });
    try {
      const body = `{"instances":[${Array(1_000_000).fill('{"b64":"AA=="}').join(',')}]}`;
      const t0 = Date.now();
      const answer = await call(u, '/v1/models/carclass:predict', { body });
      const ms = Date.now() - t0;
      if (process.env.SERVE_TIMING) console.log(`10^6 instances refused in ${ms} ms`);
      expect(answer.status).toBe(400);
      expect(answer.json.error).toMatch(/Too many instances: 1000000; this server accepts at most 8/);
      expect(decodes).toBe(0);
      expect(ms).toBeLessThan(2500); // measured 0.9 s here (3baada7: 4.1 s, it built a Buffer per instance first)
    } finally {
      await s.close();
    }
  });

  test('HEAD works where GET does: status and headers, no body', async () => {
    for (const path of ['/v1/models/carclass', '/v1/models/carclass/metadata']) {
      const get = await fetch(url + path);
      const head = await fetch(url + path, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toMatch(/application\/json/);
      expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'));
      expect(await head.text()).toBe('');
    }
    expect((await fetch(url + '/nope', { method: 'HEAD' })).status).toBe(404);
    const post = await call(url, '/v1/models/carclass:predict', { method: 'PUT', body: {} });
    expect(post.status).toBe(405);
  });

  test('POST needs Content-Type application/json: text/plain (a cross-origin simple request) gets 415 naming the type', async () => {
    const body = JSON.stringify({ instances: [good()] });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const res = await fetch(`${url}/v1/models/carclass:predict`, { method: 'POST', body: Buffer.from(body), headers: type ? { 'Content-Type': type } : {} });
      expect(res.status).toBe(415);
      expect(((await res.json()) as { error: string }).error).toMatch(/application\/json/);
    }
    const ok = await call(url, '/v1/models/carclass:predict', { body, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    expect(ok.status).toBe(200);
    // Without cors, no CORS headers even for the own origin.
    const host = new URL(url).host;
    const plain = await fetch(`${url}/v1/models/carclass`, { headers: { Origin: `http://${host}` } });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('cors: true allows only the server\'s own origin', async () => {
    const { server: s, url: u } = await started(backend(), { cors: true });
    try {
      const own = `http://${new URL(u).host}`;
      const pre = await fetch(`${u}/v1/models/carclass:predict`, { method: 'OPTIONS', headers: { Origin: own, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe(own);
      expect(pre.headers.get('access-control-allow-headers')).toMatch(/Content-Type/);
      const evil = await fetch(`${u}/v1/models/carclass:predict`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
      expect(evil.status).toBe(403);
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();
      const got = await fetch(`${u}/v1/models/carclass`, { headers: { Origin: 'http://evil.example' } });
      expect(got.headers.get('access-control-allow-origin')).toBeNull();
      expect(parseServeArgs(['--demo', '--cors']).cors).toBe(true);
    } finally {
      await s.close();
    }
  });

  test('declared pixels are bounded per request before any decode (413 naming the limit); decode stops after a failure', async () => {
    let decodes = 0;
    const counting = backend({ decode: async (jpeg, o) => { decodes++; return backend().decode(jpeg, o); } });
    const { server: s, url: u } = await started(counting, { maxDecodePixels: 1_000_000, maxInstances: 64 });
    try {
      const small = await jpegOf([200, 40, 40], 1);
      // The same JPEG with its frame header claiming 7000x7000 (a decode bomb).
      const bomb = Buffer.from(small);
      const sof = bomb.indexOf(Buffer.from([0xff, 0xc0]));
      expect(sof).toBeGreaterThan(0);
      bomb.writeUInt16BE(7000, sof + 5);
      bomb.writeUInt16BE(7000, sof + 7);
      const t0 = Date.now();
      const refused = await call(u, '/v1/models/carclass:predict', { body: { instances: Array(64).fill({ b64: bomb.toString('base64') }) } });
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(refused.status).toBe(413);
      expect(refused.json.error).toMatch(/more than 1000000 pixels.*maxDecodePixels.*7000x7000/);
      expect(decodes).toBe(0);
      const ok = await call(u, '/v1/models/carclass:predict', { body: { instances: Array(3).fill({ b64: small.toString('base64') }) } });
      expect(ok.status).toBe(200);
      expect(decodes).toBe(3);
      // 64 images of which the first is not a JPEG: the rest are not all decoded.
      decodes = 0;
      const bad = await call(u, '/v1/models/carclass:predict', { body: { instances: [{ b64: 'aGVsbG8=' }, ...Array(63).fill({ b64: small.toString('base64') })] } });
      expect(bad.status).toBe(400);
      expect(decodes).toBeLessThan(10);
    } finally {
      await s.close();
    }
  });

  test('Prometheus metrics at /monitoring/prometheus/metrics, and one log line per request unless quiet', async () => {
    const lines: string[] = [];
    const { server: s, url: u } = await started(backend(), { log: (l) => lines.push(l) });
    try {
      expect((await call(u, '/v1/models/carclass:predict', { body: { instances: [good(), good()] } })).status).toBe(200);
      expect((await call(u, '/v1/models/carclass:predict', { body: { instances: [{ b64: (await jpegOf([1, 2, 3], 0)).toString('base64') }] } })).status).toBe(200);
      expect((await call(u, '/v1/models/carclass:predict', { body: '{' })).status).toBe(400);
      const res = await fetch(`${u}/monitoring/prometheus/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toMatch(/^carclass_requests_total\{route="predict",code="200"\} 2$/m);
      expect(text).toMatch(/^carclass_requests_total\{route="predict",code="400"\} 1$/m);
      expect(text).toMatch(/^carclass_request_latency_seconds_bucket\{route="predict",le="\+Inf"\} 3$/m);
      expect(text).toMatch(/^# TYPE carclass_request_latency_seconds histogram$/m);
      expect(text).toMatch(/^carclass_batch_size_count 2$/m);
      expect(text).toMatch(/^carclass_batch_size_sum 3$/m);
      expect(text).toMatch(/^carclass_queue_depth 0$/m);
      expect(text).toMatch(/^carclass_decode_seconds_count 1$/m);
      const requestLines = lines.filter((l) => /"POST \/v1\/models\/carclass:predict"/.test(l));
      expect(requestLines).toHaveLength(3);
      expect(requestLines[2]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \S+ "POST \/v1\/models\/carclass:predict" 400 \d+ [\d.]+ms$/);
    } finally {
      await s.close();
    }
    const quietLines: string[] = [];
    const q = await started(backend(), { log: (l) => quietLines.push(l), quiet: true });
    await call(q.url, '/v1/models/carclass');
    await q.server.close();
    expect(quietLines.filter((l) => l.includes('"GET'))).toHaveLength(0);
    expect(parseServeArgs(['--demo', '--quiet', '--max-decode-pixels', '5']).quiet).toBe(true);
  });

  test('a huge chunked body without a length is cut at the limit with 413', async () => {
    const answer = await rawRequest(url, '/v1/models/carclass:predict', (req) => {
      req.on('error', () => undefined); // the server may close before the whole body is written
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 40; i++) req.write(chunk);
      req.end();
    });
    expect(answer.status).toBe(413);
    expect(answer.json.error).toMatch(/exceeds the limit/);
    expect((await call(url, '/v1/models/carclass')).status).toBe(200);
  });

  test('malformed HTTP gets a JSON 400, oversized headers 431, and the server stays up', async () => {
    const net = await import('net');
    const { port } = new URL(url);
    const reply = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('BROKEN\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => { text += d; }).on('close', () => resolve(text));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(reply).toMatch(/\{"error":"Bad HTTP request/);
    const huge = await fetch(`${url}/v1/models/carclass`, { headers: { 'x-padding': 'x'.repeat(64 * 1024) } }).catch((e) => e);
    expect(huge.status).toBe(431);
    expect((await call(url, '/v1/models/carclass')).status).toBe(200);
  });

  test('200 parallel requests are all answered correctly and merged into fewer engine batches', async () => {
    // An engine step takes time, as the real one does; requests arriving meanwhile are batched together.
    const inner = backend();
    const { server, url } = await started(backend({ predict: async (x, n) => { await new Promise((r) => setTimeout(r, 3)); return inner.predict(x, n); } }), { maxConcurrency: 200 });
    const before = server.stats();
    const colours = [[200, 40, 40], [40, 170, 60], [40, 60, 200], [235, 235, 235], [120, 90, 60]];
    const images = Array.from({ length: 200 }, (_, i) => arrayImage(colours[i % colours.length], i));
    const answers = await Promise.all(images.map((image) => call(url, '/v1/models/carclass:predict', { body: { instances: [image] } })));
    answers.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      expectClose(answer.json.predictions, [expectedProbabilities(images[i])], 1e-6);
    });
    const after = server.stats();
    expect(after.engineInstances - before.engineInstances).toBe(200);
    const batches = after.engineBatches - before.engineBatches;
    expect(batches).toBeLessThan(200);
    expect(after.largestBatch).toBeGreaterThan(1);
    expect(after.largestBatch).toBeLessThanOrEqual(32);
    await server.close();
  });
});

describe('limits, faults and shutdown', () => {
  test('only 127.0.0.1 by default, and option errors name the option', async () => {
    const server = createServer(backend(), { port: 0, webDir: false });
    expect((await server.listen()).host).toBe('127.0.0.1');
    await server.close();
    expect(() => createServer(backend(), { maxBatchSize: -1 })).toThrow('Expected positive integer for maxBatchSize but received -1 of type number');
    expect(() => createServer(backend(), { prot: 1 } as never)).toThrow(/Unknown option "prot"/);
  });

  test('requests larger than maxBatchSize are split across engine batches and answered in order', async () => {
    const { server, url } = await started(backend(), { maxBatchSize: 3 });
    const images = Array.from({ length: 8 }, (_, i) => arrayImage([i * 30, 255 - i * 30, 100], i));
    const { json } = await call(url, '/v1/models/carclass:predict', { body: { instances: images } });
    expectClose(json.predictions, images.map(expectedProbabilities), 1e-6);
    expect(server.stats().largestBatch).toBe(3);
    await server.close();
  });

  test('a body that does not arrive in time gets 408; an engine that does not answer in time gets 504', async () => {
    let release: () => void = () => undefined;
    const slow = backend({ predict: (x, n) => new Promise((resolve) => { release = () => resolve(new Float32Array(n * CLASSES.length)); }) });
    const { server, url } = await started(slow, { requestTimeoutMs: 300 });
    const slowSender = await rawRequest(url, '/v1/models/carclass:predict', (req) => req.write('{"instances": ['));
    expect(slowSender.status).toBe(408);
    expect(slowSender.json.error).toMatch(/did not arrive within 300 ms/);
    const stuck = await call(url, '/v1/models/carclass:predict', { body: { instances: [good()] } });
    expect(stuck.status).toBe(504);
    release();
    expect((await call(url, '/v1/models/carclass')).status).toBe(200);
    await server.close();
  });

  test('beyond maxConcurrency requests get 429 and later ones succeed again', async () => {
    const releases: (() => void)[] = [];
    const inner = backend();
    let gate = true;
    const gated = backend({ predict: (x, n) => (gate ? new Promise((resolve) => releases.push(() => resolve(inner.predict(x, n)))) : inner.predict(x, n)) });
    const { server, url } = await started(gated, { maxConcurrency: 2, maxBatchSize: 1 });
    const first = call(url, '/v1/models/carclass:predict', { body: { instances: [good()] } });
    const second = call(url, '/v1/models/carclass:predict', { body: { instances: [good()] } });
    while (releases.length < 1) await new Promise((r) => setTimeout(r, 5));
    const third = await call(url, '/v1/models/carclass:predict', { body: { instances: [good()] } });
    expect(third.status).toBe(429);
    expect(third.json.error).toMatch(/Too many requests in progress \(limit 2\)/);
    expect(third.headers.get('retry-after')).toBe('1');
    while (releases.length > 0 || server.stats().inFlight > 0) {
      releases.splice(0).forEach((release) => release());
      await new Promise((r) => setTimeout(r, 5));
    }
    expect([(await first).status, (await second).status]).toEqual([200, 200]);
    gate = false;
    expect((await call(url, '/v1/models/carclass:predict', { body: { instances: [good()] } })).status).toBe(200);
    await server.close();
  });

  test('Grad-CAM at a layer the model cannot explain is a 400 naming the layer', async () => {
    const picky = backend({ explain: async (x, o) => { if (o.layer) throw new Error(`no layer named ${o.layer}`); return backend().explain(x, o); } });
    const { server, url } = await started(picky);
    const answer = await call(url, '/v1/models/carclass:explain', { body: { instances: [good()], layer: 'conv9' } });
    expect(answer.status).toBe(400);
    expect(answer.json.error).toBe('Grad-CAM at layer "conv9" failed: no layer named conv9');
    expect((await call(url, '/v1/models/carclass:explain', { body: { instances: [good()] } })).status).toBe(200);
    await server.close();
  });

  test('an engine failure is a JSON 500 and the server keeps serving', async () => {
    let fail = true;
    const inner = backend();
    const flaky = backend({ predict: async (x, n) => { if (fail) throw new Error('engine exploded'); return inner.predict(x, n); } });
    const { server, url } = await started(flaky);
    const broken = await call(url, '/v1/models/carclass:predict', { body: { instances: [good()] } });
    expect(broken.status).toBe(500);
    expect(broken.json.error).toMatch(/engine exploded/);
    fail = false;
    expect((await call(url, '/v1/models/carclass:predict', { body: { instances: [good()] } })).status).toBe(200);
    await server.close();
  });

  test('clients trickling bodies do not count against maxConcurrency: others get 200, not 429', async () => {
    const { server: s, url: u } = await started(backend(), { maxConcurrency: 2 });
    const slow: http.ClientRequest[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const req = http.request(`${u}/v1/models/carclass:predict`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': '1000' } });
        req.on('error', () => undefined);
        req.write('{"instances": ');
        slow.push(req);
      }
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 3; i++) expect((await call(u, '/v1/models/carclass:predict', { body: { instances: [good()] } })).status).toBe(200);
    } finally {
      slow.forEach((req) => req.destroy());
      await s.close(200);
    }
  });

  test('close() answers every in-flight :explain, also on keep-alive connections', async () => {
    const inner = backend();
    const slowExplain = backend({ explain: async (x, o) => { await new Promise((r) => setTimeout(r, 20)); return inner.explain(x, o); } });
    const { server: s, url: u } = await started(slowExplain);
    const body = { instances: [{ b64: (await jpegOf([40, 60, 200], 3)).toString('base64') }], heatmap: false };
    const pending = Array.from({ length: 32 }, () => call(u, '/v1/models/carclass:explain', { body }).then((a) => a.status, (e: Error) => `reset: ${e.message}`));
    while (s.stats().requests < 32) await new Promise((r) => setTimeout(r, 2)); // every request has arrived
    const closed = s.close(10_000);
    expect(await Promise.all(pending)).toEqual(Array(32).fill(200));
    await closed;
  });

  test('SIGTERM closes the server gracefully: the request in progress is answered, then exit(0)', async () => {
    let release: () => void = () => undefined;
    const inner = backend();
    const gated = backend({ predict: (x, n) => new Promise((resolve) => { release = () => resolve(inner.predict(x, n)); }) });
    const { server, url } = await started(gated);
    const exits: number[] = [];
    const uninstall = installShutdown(server, { log: () => undefined, exit: (code) => exits.push(code) });
    try {
      const pending = call(url, '/v1/models/carclass:predict', { body: { instances: [good()] } });
      while (server.stats().inFlight === 0) await new Promise((r) => setTimeout(r, 5));
      process.emit('SIGTERM', 'SIGTERM');
      await new Promise((r) => setTimeout(r, 50));
      await expect(fetch(`${url}/v1/models/carclass`)).rejects.toThrow(); // no new connections
      release();
      expect((await pending).status).toBe(200);
      while (exits.length === 0) await new Promise((r) => setTimeout(r, 5));
      expect(exits).toEqual([0]);
    } finally {
      uninstall();
    }
  });
});


describe('CLI hooks: carclass serve / carclass explain', () => {
  test('parseServeArgs reads the checkpoint and flags, and names bad ones', () => {
    expect(parseServeArgs(['ckpt', '--port', '0', '--host=0.0.0.0', '--name', 'cars', '--max-batch-size', '8', '--samples', 'dir'])).toEqual(
      { checkpoint: 'ckpt', port: 0, host: '0.0.0.0', name: 'cars', maxBatchSize: 8, samplesDir: 'dir' });
    expect(parseServeArgs(['--demo'])).toEqual({ demo: true });
    expect(() => parseServeArgs(['ckpt', '--prot', '1'])).toThrow(/unknown option --prot/);
    expect(() => parseServeArgs(['ckpt', '--port'])).toThrow(/--port needs a value/);
    expect(() => parseServeArgs(['ckpt', '--port', 'abc'])).toThrow(/Expected integer for --port but received "abc"/);
    expect(() => parseServeArgs(['a', 'b'])).toThrow(/only one checkpoint/);
  });

  test('serveCommand --demo serves the colour backend, and a checkpoint without an engine is a clear error', async () => {
    const lines: string[] = [];
    const { server, url, stopHandlingSignals } = await serveCommand({ demo: true, port: 0, webDir: false }, undefined, (l) => lines.push(l));
    try {
      expect((await call(url, '/v1/models/carclass')).status).toBe(200);
      expect(lines.join('\n')).toMatch(/carclass serve: model "carclass" \(6 classes, input 64x64x3\) at http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      stopHandlingSignals();
      await server.close();
    }
    await expect(serveCommand({ checkpoint: 'model.ckpt', port: 0 })).rejects.toThrow(/no model engine; use --demo/);
  });

  test('explainCommand writes the overlay and the heatmap JSON; bad class and file are named', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-explain-'));
    try {
      const image = path.join(dir, 'car.jpg');
      fs.writeFileSync(image, await jpegOf([40, 60, 200], 3));
      const deps = { backend: backend() };
      const result = await explainCommand(image, { checkpoint: 'unused', heatmapOutput: path.join(dir, 'heat.json') }, deps);
      expect(result).toMatchObject({ label: 'Blue_Sedan', classIndex: 2, output: path.join(dir, 'car.gradcam.png') });
      expect((await sharp(result.output).metadata()).format).toBe('png');
      const heat = JSON.parse(fs.readFileSync(path.join(dir, 'heat.json'), 'utf8'));
      expect([heat.height, heat.width, heat.heatmap.length, heat.heatmap[0].length]).toEqual([H, W, H, W]);
      const red = await explainCommand(image, { checkpoint: 'unused', label: 'Red_Roadster', format: 'jpeg', output: path.join(dir, 'o.jpg') }, deps);
      expect([red.classIndex, (await sharp(red.output).metadata()).format]).toEqual([0, 'jpeg']);
      await expect(explainCommand(image, { checkpoint: 'unused', label: 'Tesla' }, deps)).rejects.toThrow(/Unknown class "Tesla"/);
      await expect(explainCommand(path.join(dir, 'missing.jpg'), { checkpoint: 'unused' }, deps)).rejects.toThrow(/Cannot read .*missing\.jpg/);
      fs.writeFileSync(path.join(dir, 'bad.jpg'), 'not a jpeg');
      await expect(explainCommand(path.join(dir, 'bad.jpg'), { checkpoint: 'unused' }, deps)).rejects.toThrow(/bad\.jpg: /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--samples: the page pictures come from a folder, labelled by file name, and only those are served', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-samples-'));
    try {
      const jpeg = await jpegOf([40, 60, 200], 1);
      fs.writeFileSync(path.join(dir, 'Blue_Sedan_2019_x_abc.jpg'), jpeg);
      fs.writeFileSync(path.join(dir, 'Unknown_Car_2019_x_abc.JPG'), jpeg);
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a picture');
      const { server, url } = await started(backend(), { samplesDir: dir });
      try {
        const { json } = await call(url, '/samples');
        expect(json.model).toBe('carclass');
        expect(json.classes).toEqual(CLASSES.map((c) => c.label));
        expect(json.samples).toEqual([
          { name: 'Blue_Sedan_2019_x_abc.jpg', label: 'Blue_Sedan', url: '/samples/Blue_Sedan_2019_x_abc.jpg' },
          { name: 'Unknown_Car_2019_x_abc.JPG', label: null, url: '/samples/Unknown_Car_2019_x_abc.JPG' },
        ]);
        const picture = await fetch(`${url}/samples/Blue_Sedan_2019_x_abc.jpg`);
        expect(picture.headers.get('content-type')).toBe('image/jpeg');
        expect(Buffer.from(await picture.arrayBuffer()).equals(jpeg)).toBe(true);
        expect((await call(url, '/samples/notes.txt')).status).toBe(404);
        expect((await call(url, '/samples/..%2Fetc%2Fpasswd')).status).toBe(404);
      } finally {
        await server.close();
      }
      await expect(createServer(backend(), { port: 0, samplesDir: path.join(dir, 'nowhere') }).listen()).rejects.toThrow(/Cannot read the samples folder .*nowhere/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('parseExplainArgs needs an image and a checkpoint', () => {
    expect(parseExplainArgs(['car.jpg', '--checkpoint', 'm', '--class', '3', '--format', 'jpeg', '-o', 'x.jpg'])).toEqual(
      { image: 'car.jpg', options: { checkpoint: 'm', classIndex: 3, format: 'jpeg', output: 'x.jpg' } });
    expect(() => parseExplainArgs(['--checkpoint', 'm'])).toThrow(/which image/);
    expect(() => parseExplainArgs(['car.jpg'])).toThrow(/--checkpoint <path> is required/);
    expect(() => parseExplainArgs(['car.jpg', '--checkpoint', 'm', '--class', '-1'])).toThrow(/non-negative integer for --class/);
  });

  test('sample labels come from dataset file names, longest class first', () => {
    const classes = ['Audi', 'Audi_A5', 'Mercedes-Benz_A Class', 'BMW_2-Series'];
    expect(labelFromFileName('Audi_A5_2013_43_18_210_20_4_73_54_182_24_FWD_4_2_Convertible_eUH.jpg', classes)).toBe('Audi_A5');
    expect(labelFromFileName('audi_Q7_2013_x.jpg', classes)).toBe('Audi');
    expect(labelFromFileName('Mercedes-Benz_A Class_2020_34_enw.jpg', classes)).toBe('Mercedes-Benz_A Class');
    expect(labelFromFileName('BMW_2-Series.jpg', classes)).toBe('BMW_2-Series');
    expect(labelFromFileName('Audio_x.jpg', classes)).toBeUndefined();
  });
});

describe('backendFromModel (the engine adapter)', () => {
  function fakeModel(extra: object = {}) {
    const calls: unknown[] = [];
    const model = {
      inputShape: [4, 6, 3] as [number, number, number], numClasses: 3, arch: 'resnet-tiny',
      predictOnBatch: async (input: { x: Float32Array; shape: number[] }) => { calls.push(['predict', input.shape]); return new Float32Array(input.shape[0] * 3); },
      gradCam: async (input: { x: Float32Array; shape: number[] }, o: object) => { calls.push(['gradCam', input.shape, o]); return { heatmap: new Float32Array(24), height: 4, width: 6, classIndex: 0, probability: 1 }; },
      ...extra,
    };
    return { model, calls };
  }
  const decodeImage = async (_input: Uint8Array, o: { size: [number, number]; resize: string; preprocess: string }) => {
    decodes.push(o);
    const n = o.size[0] * o.size[1] * 3;
    return { data: o.preprocess === 'none' ? new Uint8Array(n).fill(7) : new Float32Array(n).fill(0.5), shape: [...o.size, 3] };
  };
  let decodes: object[] = [];
  beforeEach(() => { decodes = []; });

  test('passes NHWC shapes to the engine and decodes with crop_or_pad and the model preprocessing', async () => {
    const { model, calls } = fakeModel({ classes: ['a', 'b', 'c'], preprocess: 'tf' });
    const b = backendFromModel(model, { decodeImage });
    expect([b.inputShape, b.classes]).toEqual([[4, 6, 3], ['a', 'b', 'c']]);
    await b.predict(new Float32Array(2 * 72), 2);
    await b.explain(new Float32Array(72), { classIndex: 1, layer: 'conv5_block3_3_conv' });
    expect(calls).toEqual([['predict', [2, 4, 6, 3]], ['gradCam', [1, 4, 6, 3], { classIndex: 1, layer: 'conv5_block3_3_conv' }]]);
    const plain = await b.decode(Buffer.from('jpeg'));
    expect([plain.pixels.length, plain.rgb]).toEqual([72, undefined]);
    expect(decodes).toEqual([{ size: [4, 6], resize: 'crop_or_pad', preprocess: 'tf' }]);
    const withRgb = await b.decode(Buffer.from('jpeg'), { rgb: true });
    expect(withRgb.rgb?.[0]).toBe(7);
    expect(decodes.slice(1)).toEqual([{ size: [4, 6], resize: 'crop_or_pad', preprocess: 'tf' }, { size: [4, 6], resize: 'crop_or_pad', preprocess: 'none' }]);
  });

  test('defaults: class_<i> names, caffe for VGG and tf otherwise; mismatches are clear errors', async () => {
    const vgg = backendFromModel(fakeModel({ arch: 'vgg16' }).model, { decodeImage });
    expect(vgg.classes).toEqual(['class_0', 'class_1', 'class_2']);
    await vgg.decode(Buffer.from('jpeg'));
    expect(decodes).toEqual([{ size: [4, 6], resize: 'crop_or_pad', preprocess: 'caffe' }]);
    expect(Array.from(vgg.toRgb!(Float32Array.from([-103.939, -116.779, -123.68])))).toEqual([0, 0, 0]);
    expect(Array.from(backendFromModel(fakeModel().model, { decodeImage }).toRgb!(Float32Array.from([-1, 0, 1])))).toEqual([0, 128, 255]);
    expect(() => backendFromModel(fakeModel({ classes: ['a'] }).model, { decodeImage })).toThrow('The model has 3 outputs but 1 class names');
    expect(() => backendFromModel(fakeModel({ preprocess: 'torch' }).model, { decodeImage })).toThrow(/Unknown preprocessing "torch"/);
  });
});
