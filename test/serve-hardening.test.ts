// Hardening of `carclass serve` against hostile clients: decode time per request, JSON bodies parsed off the event
// loop, gzip bodies and zip bombs, --samples confinement, and a SIGTERM that answers every request that arrived.
import * as http from 'http';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import sharp from 'sharp';
import {
  createServer, createColourBackend, installShutdown, loadSampleDir, parseServeArgs, backendFromModel, ModelServer, ServingBackend,
} from '../lib/serve';
import { scanJson } from '../lib/serve/json-scan';
import { BodyParser } from '../lib/serve/body-parser';
import { decodeImage } from '../lib/image';

const H = 16;
const W = 16;

function backend(overrides: Partial<ServingBackend> = {}): ServingBackend {
  return { ...createColourBackend({ height: H, width: W }), ...overrides };
}

async function started(b: ServingBackend, options: Parameters<typeof createServer>[1] = {}): Promise<{ server: ModelServer; url: string }> {
  const server = createServer(b, { port: 0, webDir: false, ...options });
  const { url } = await server.listen();
  return { server, url };
}

interface Answer { status: number; json: { error?: string; predictions?: number[][]; explanations?: unknown[] }; ms: number }

/** One POST on its own connection; `body` may be sent in parts (`later.part` once `later.when` resolves). */
function post(url: string, route: string, body: Buffer | string, headers: Record<string, string> = {}, later?: { part: Buffer | string; when: Promise<unknown> }): Promise<Answer> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const first = Buffer.from(body);
    const length = first.length + (later ? Buffer.byteLength(later.part) : 0);
    const req = http.request(url + route, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': String(length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()), ms: Date.now() - t0 }));
    });
    req.on('error', reject);
    if (!later) return req.end(first);
    req.write(first);
    void later.when.then(() => req.end(later.part));
  });
}

const image = (value: number) => Array.from({ length: H }, () => Array.from({ length: W }, () => [value, -value / 2, 0.25]));
const predictBody = (value: number, n = 1) => JSON.stringify({ instances: Array.from({ length: n }, () => image(value)) });

async function jpeg(rgb: [number, number, number], width = W, height = H): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).jpeg().toBuffer();
}

describe('bounded work per request', () => {
  test('maxDecodeMs: a request whose images take too long to decode stops decoding and gets 413 naming the limit', async () => {
    let decodes = 0;
    const inner = backend();
    const slow = backend({ decode: async (bytes, o) => { decodes++; await new Promise((r) => setTimeout(r, 60)); return inner.decode(bytes, o); } });
    const { server, url } = await started(slow, { maxDecodeMs: 150, maxInstances: 64 });
    try {
      const b64 = (await jpeg([40, 60, 200])).toString('base64');
      const refused = await post(url, '/v1/models/carclass:predict', JSON.stringify({ instances: Array(48).fill({ b64 }) }));
      expect(refused.status).toBe(413);
      expect(refused.json.error).toMatch(/took more than 150 ms \(the limit per request, maxDecodeMs\); stopped after \d+ of 48/);
      // 2 at a time: two or three rounds of 60 ms fit in 150 ms (fewer on a loaded machine), never all 48.
      expect(decodes).toBeGreaterThanOrEqual(2);
      expect(decodes).toBeLessThanOrEqual(12);
      decodes = 0;
      const ok = await post(url, '/v1/models/carclass:predict', JSON.stringify({ instances: Array(4).fill({ b64 }) }));
      expect(ok.status).toBe(200);
      expect(decodes).toBe(4);
      expect(() => createServer(backend(), { maxDecodeMs: 0 })).toThrow(/maxDecodeMs/);
      expect(parseServeArgs(['ckpt', '--max-decode-ms', '2500'])).toEqual({ checkpoint: 'ckpt', maxDecodeMs: 2500 });
    } finally {
      await server.close();
    }
  });

  test('with the real decoder, a request of decode bombs under maxDecodePixels does not delay a concurrent normal request by 2 s', async () => {
    const model = {
      inputShape: [224, 224, 3], numClasses: 3, classes: ['a', 'b', 'c'],
      predictOnBatch: async ({ shape }: { shape: number[] }) => new Float32Array(shape[0] * 3).fill(1 / 3),
      gradCam: async () => { throw new Error('not used'); },
    };
    const { server, url } = await started(backendFromModel(model, { decodeImage: decodeImage as Parameters<typeof backendFromModel>[1]['decodeImage'] }), { maxDecodePixels: 400_000_000 });
    try {
      const normal = await jpeg([9, 90, 200], 320, 240);
      // The same JPEG declaring 7000x7000: the decoder works through 49 megapixels of missing data before it fails.
      const bomb = Buffer.from(normal);
      const sof = bomb.indexOf(Buffer.from([0xff, 0xc0]));
      bomb.writeUInt16BE(7000, sof + 5);
      bomb.writeUInt16BE(7000, sof + 7);
      const one = JSON.stringify({ instances: [{ b64: normal.toString('base64') }] });
      expect((await post(url, '/v1/models/carclass:predict', one)).status).toBe(200); // loads the decoder
      const bombs = post(url, '/v1/models/carclass:predict', JSON.stringify({ instances: Array(8).fill({ b64: bomb.toString('base64') }) }));
      await new Promise((r) => setTimeout(r, 50));
      const answer = await post(url, '/v1/models/carclass:predict', one);
      // The bombs hold 2 of the 4 threads; nothing waits for one (requests beyond two would show here).
      const during = await (await fetch(`${url}/monitoring/prometheus/metrics`)).text();
      const refused = await bombs;
      expect(during).toMatch(/^carclass_decode_queue 0$/m);
      expect(during).toMatch(/^carclass_parse_queue 0$/m);
      const after = await (await fetch(`${url}/monitoring/prometheus/metrics`)).text();
      expect(after).toMatch(/^carclass_decode_queue 0$/m);
      if (process.env.SERVE_TIMING) console.log(`normal ${answer.ms} ms while the bombs took ${refused.ms} ms`);
      expect(answer.status).toBe(200);
      expect(answer.json.predictions?.[0]).toHaveLength(3);
      expect(answer.ms).toBeLessThan(2000);
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatch(/^instances\[\d\]: could not decode the image: corrupt JPEG data/);
    } finally {
      await server.close();
    }
  });

  test('scanJson refuses bodies that would be costly to parse, naming the limit, and passes every request form', () => {
    const limits = { maxInstances: 8, shape: [H, W, 3] as const };
    const scan = (text: string) => () => scanJson(Buffer.from(text), limits);
    expect(scan(`{"instances":[[${'[],'.repeat(100_000)}[]]]}`)).toThrow(/100004 arrays and objects for 0 numbers; 1 instance\(s\) of \[16\]\[16\]\[3\] need at most 65536/);
    expect(scan(`{"instances":[[${'[],'.repeat(60_000)}[]]]}`)).not.toThrow(); // cheap to parse: the shape check names the error
    expect(scan(`{"instances":[${'{"b64":"AA=="},'.repeat(20)}{"b64":"AA=="}]}`)).toThrow(/Too many instances: 21; this server accepts at most 8/);
    expect(scan(`{"inputs":{"input_1":[${'[],'.repeat(9)}[]]}}`)).toThrow(/Too many instances: 10/);
    expect(scan(`{"instances":[[${'0,'.repeat(8 * H * W * 3 + 1024)}0]]}`)).toThrow(/has 7169 numbers; 8 instances of \[16\]\[16\]\[3\] \(maxInstances\) have at most 6144/);
    expect(scan(`{"signature_name":${'['.repeat(40)}${']'.repeat(40)},"instances":[]}`)).toThrow(/nests deeper than 32 levels in "signature_name"/);
    // Ignored keys with arrays, strings holding brackets and commas, escapes: counted right.
    const ok = [
      predictBody(0.5, 8),
      JSON.stringify({ inputs: { input_1: Array(8).fill(image(0.1)) }, top_k: 3 }),
      JSON.stringify({ instances: [{ input_1: { b64: 'AA==' } }, { b64: 'AA==' }], note: 'a ] , [ \\" " string', extra: [1, 2, 3] }),
      JSON.stringify({ inputs: { b64: 'AA==' } }),
      JSON.stringify({ signature_name: 'serving_default', instances: Array(8).fill({ b64: 'A,A,[' }) }),
      `{"instances":[{"b64":"AA\\\\"}, {"b64":"\\"[,,,"}], "x": "\\\\\\"]"}`,
    ];
    for (const text of ok) expect(scan(text)).not.toThrow();
    for (const text of ok) expect(() => JSON.parse(text)).not.toThrow();
    // Escaped quotes and backslashes: exactly 2 instances, not more.
    const escapes = Buffer.from(ok[5]);
    expect(() => scanJson(escapes, { ...limits, maxInstances: 2 })).not.toThrow();
    expect(() => scanJson(escapes, { ...limits, maxInstances: 1 })).toThrow(/Too many instances: 2;/);
  });

  test('a 24 MiB body of `[],` is refused without stalling other clients or growing the heap', async () => {
    const { server, url } = await started(backend(), { maxBodyBytes: 32 << 20 });
    try {
      const small = predictBody(0.3);
      for (let i = 0; i < 5; i++) expect((await post(url, '/v1/models/carclass:predict', small)).status).toBe(200);
      const heapBefore = process.memoryUsage().heapUsed;
      const hostile = Buffer.from(`{"instances":[[${'[],'.repeat(8 << 20)}[]]]}`);
      let done = false;
      const latencies: number[] = [];
      const others = (async () => {
        while (!done) {
          const answer = await post(url, '/v1/models/carclass:predict', small);
          expect(answer.status).toBe(200);
          latencies.push(answer.ms);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const refused = await post(url, '/v1/models/carclass:predict', hostile);
      done = true;
      await others;
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatch(/8388612 arrays and objects for 0 numbers/);
      if (process.env.SERVE_TIMING) console.log(`hostile answered in ${refused.ms} ms; others: max ${Math.max(...latencies)} ms over ${latencies.length}`);
      // Before the parser moved off the event loop every other request waited for the whole JSON.parse (16-22 s here).
      expect(latencies.length).toBeGreaterThan(0);
      expect(Math.max(...latencies)).toBeLessThan(2000);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 << 20);
    } finally {
      await server.close();
    }
  });

  test('large bodies parsed in a worker give the same predictions and the same errors as small ones parsed in place', async () => {
    const { server, url } = await started(backend(), { maxBodyBytes: 32 << 20, maxInstances: 64 });
    try {
      const values = Array.from({ length: 40 }, (_, i) => i / 40 - 0.5);
      const large = JSON.stringify({ instances: values.map(image) }); // > 256 KiB: the worker
      expect(large.length).toBeGreaterThan(256 * 1024);
      const together = await post(url, '/v1/models/carclass:predict', large);
      expect(together.status).toBe(200);
      for (const i of [0, 17, 39]) {
        const alone = await post(url, '/v1/models/carclass:predict', predictBody(values[i]));
        expect(together.json.predictions?.[i]).toEqual(alone.json.predictions?.[0]);
      }
      const bad = values.map(image);
      bad[33][2][5][1] = 'x' as unknown as number;
      const refused = await post(url, '/v1/models/carclass:predict', JSON.stringify({ instances: bad }));
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatch(/^instances\[33\]\[2\]\[5\]\[1\]: expected a finite number but received a string/);
      const malformed = await post(url, '/v1/models/carclass:predict', large.replace('0.25', 'NaN'));
      expect(malformed.status).toBe(400);
      expect(malformed.json.error).toMatch(/Malformed JSON body: .*NaN and Infinity are not JSON/);
    } finally {
      await server.close();
    }
  });
});

describe('BodyParser (worker threads)', () => {
  const spec = { extraKeys: [], maxInstances: 64, shape: [H, W, 3] as const };
  const body = (n: number) => Buffer.from(predictBody(0.5, n));

  test('a parse that needs more than the heap limit, or takes longer than the time limit, is a 413; the worker is replaced', async () => {
    const tight = new BodyParser({ inlineBytes: 0, workers: 1, heapMb: 4 });
    try {
      // 32 instances of 64x64: about 13 MB of arrays once parsed.
      const big = Buffer.from(JSON.stringify({ instances: Array.from({ length: 32 }, () => Array.from({ length: 64 }, () => Array.from({ length: 64 }, () => [0.5, 0.25, 0]))) }));
      await expect(tight.parse(big, { ...spec, shape: [64, 64, 3] })).rejects.toMatchObject({ status: 413, message: 'The request body needs more than 4 MB to parse' });
    } finally {
      await tight.close();
    }
    const slow = new BodyParser({ inlineBytes: 0, workers: 1, timeoutMs: 1 });
    try {
      await expect(slow.parse(body(64), spec)).rejects.toMatchObject({ status: 413, message: 'The request body took more than 1 ms to parse' });
    } finally {
      await slow.close();
    }
    const parser = new BodyParser({ inlineBytes: 0, workers: 1 });
    try {
      // Errors come back as the same HttpError; the next body on the same worker parses.
      await expect(parser.parse(Buffer.from('{"instances": 3}'), spec)).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/"instances" must be a non-empty array/) });
      const parsed = await parser.parse(body(3), spec);
      expect(parsed.items.map((item) => item.kind)).toEqual(['pixels', 'pixels', 'pixels']);
      const first = parsed.items[0] as { data: Float32Array };
      expect(Object.prototype.toString.call(first.data)).toBe('[object Float32Array]'); // from the worker (another realm under jest)
      expect(first.data.length).toBe(H * W * 3);
      expect(Array.from(first.data.subarray(0, 3))).toEqual([0.5, -0.25, 0.25]);
      const jpegs = await parser.parse(Buffer.from(JSON.stringify({ instances: [{ b64: 'aGVsbG8=' }] })), spec);
      expect(Buffer.isBuffer((jpegs.items[0] as { bytes: Buffer }).bytes)).toBe(true);
      expect((jpegs.items[0] as { bytes: Buffer }).bytes.toString()).toBe('hello');
    } finally {
      await parser.close();
    }
    await expect(parser.parse(body(1), spec)).rejects.toMatchObject({ status: 503 });
  });
});

describe(':explain with top_k', () => {
  test('answers the classification too, equal to :classify, so a client sends its picture once', async () => {
    const { server, url } = await started(backend());
    try {
      const b64 = (await jpeg([230, 210, 40])).toString('base64');
      const classified = await post(url, '/v1/models/carclass:classify', JSON.stringify({ instances: [{ b64 }], top_k: 3 }));
      const explained = await post(url, '/v1/models/carclass:explain', JSON.stringify({ instances: [{ b64 }], top_k: 3, heatmap: false }));
      const [explanation] = explained.json.explanations as { top_k: [string, number][]; label: string }[];
      expect(explanation.top_k).toEqual((classified.json as unknown as { result: unknown[] }).result[0]);
      expect(explanation.top_k[0][0]).toBe('Yellow_Cab');
      expect(explanation.label).toBe('Yellow_Cab');
      const without = await post(url, '/v1/models/carclass:explain', JSON.stringify({ instances: [{ b64 }], heatmap: false }));
      expect(without.json.explanations?.[0]).not.toHaveProperty('top_k');
      const bad = await post(url, '/v1/models/carclass:explain', JSON.stringify({ instances: [{ b64 }], top_k: 0 }));
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/top_k/);
    } finally {
      await server.close();
    }
  });
});

describe('Content-Encoding', () => {
  let server: ModelServer;
  let url: string;
  beforeAll(async () => ({ server, url } = await started(backend(), { maxBodyBytes: 1 << 20 })));
  afterAll(() => server.close());

  test('gzip and deflate bodies are accepted and answer as the plain body does', async () => {
    const body = predictBody(0.7, 2);
    const plain = await post(url, '/v1/models/carclass:predict', body);
    expect(plain.status).toBe(200);
    for (const [encoding, packed] of [['gzip', zlib.gzipSync(body)], ['deflate', zlib.deflateSync(body)], ['GZip', zlib.gzipSync(body)]] as const) {
      const answer = await post(url, '/v1/models/carclass:predict', packed, { 'Content-Encoding': encoding });
      expect([encoding, answer.status]).toEqual([encoding, 200]);
      expect(answer.json.predictions).toEqual(plain.json.predictions);
    }
  });

  test('a zip bomb is cut at maxBodyBytes of decompressed data (413); bad gzip 400; unknown encodings 415', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(16 << 20, 0x20)); // 16 MiB of spaces in about 16 kB
    expect(bomb.length).toBeLessThan(30_000);
    const cut = await post(url, '/v1/models/carclass:predict', bomb, { 'Content-Encoding': 'gzip' });
    expect(cut.status).toBe(413);
    expect(cut.json.error).toMatch(/gzip request body decompresses to more than the limit of 1048576 bytes/);
    const broken = await post(url, '/v1/models/carclass:predict', Buffer.from('not gzip at all'), { 'Content-Encoding': 'gzip' });
    expect(broken.status).toBe(400);
    expect(broken.json.error).toMatch(/Could not decompress the gzip request body/);
    const unknown = await post(url, '/v1/models/carclass:predict', zlib.brotliCompressSync(predictBody(0.1)), { 'Content-Encoding': 'br' });
    expect(unknown.status).toBe(415);
    expect(unknown.json.error).toMatch(/Unsupported Content-Encoding "br"; send the body as identity, gzip or deflate/);
    expect((await post(url, '/v1/models/carclass:predict', predictBody(0.1))).status).toBe(200);
  });
});

describe('--samples folder', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const tmp = (prefix: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  test('symbolic links out of the folder, special files and files that do not decode are not served', async () => {
    const outside = tmp('carclass-outside-');
    const dir = tmp('carclass-samples-');
    const secret = path.join(outside, 'Blue_Sedan_secret.jpg');
    fs.writeFileSync(secret, await jpeg([40, 60, 200]));
    fs.writeFileSync(path.join(dir, 'Blue_Sedan_real.jpg'), await jpeg([40, 60, 200]));
    fs.symlinkSync(secret, path.join(dir, 'Blue_Sedan_escape.jpg'));
    fs.symlinkSync(path.join(dir, 'Blue_Sedan_real.jpg'), path.join(dir, 'Blue_Sedan_inside.jpg'));
    fs.symlinkSync(path.join(dir, 'nowhere.jpg'), path.join(dir, 'Blue_Sedan_dangling.jpg'));
    fs.writeFileSync(path.join(dir, 'Red_Roadster_text.jpg'), 'this is not a JPEG');
    fs.writeFileSync(path.join(dir, 'Red_Roadster_cut.jpg'), (await jpeg([200, 40, 40], 64, 64)).subarray(0, 40));
    fs.mkdirSync(path.join(dir, 'Red_Roadster_folder.jpg'));
    require('child_process').execFileSync('mkfifo', [path.join(dir, 'Red_Roadster_fifo.jpg')]);
    const { server, url } = await started(backend(), { samplesDir: dir });
    try {
      const list = await (await fetch(`${url}/samples`)).json() as { samples: { name: string }[] };
      expect(list.samples.map((s) => s.name)).toEqual(['Blue_Sedan_inside.jpg', 'Blue_Sedan_real.jpg']);
      expect((await fetch(`${url}/samples/Blue_Sedan_escape.jpg`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  test('samples are drawn across all classes, not the first ones by name', async () => {
    const dir = tmp('carclass-many-');
    const picture = await jpeg([128, 128, 128]);
    const classes = ['Audi_A4', 'BMW_X5', 'Volvo_XC90'];
    for (const label of classes) for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(dir, `${label}_2019_${String(i).padStart(2, '0')}.jpg`), picture);
    fs.writeFileSync(path.join(dir, 'Zzz_unknown.jpg'), picture);
    const samples = await loadSampleDir(dir, classes, 9);
    const counts = classes.map((label) => samples.filter((s) => s.label === label).length);
    expect(counts).toEqual([3, 3, 3]);
    expect(samples.map((s) => s.name).slice(0, 3)).toEqual(['Audi_A4_2019_00.jpg', 'Audi_A4_2019_01.jpg', 'Audi_A4_2019_02.jpg']);
    const all = await loadSampleDir(dir, classes, 1000);
    expect(all.length).toBe(91);
    expect(all.filter((s) => s.label === undefined).map((s) => s.name)).toEqual(['Zzz_unknown.jpg']);
  });
});

describe('shutdown', () => {
  test('SIGTERM answers every :explain and :predict that arrived, also those whose bodies were still arriving', async () => {
    const inner = backend();
    const slowExplain = backend({ explain: async (x, o) => { await new Promise((r) => setTimeout(r, 5)); return inner.explain(x, o); } });
    const { server, url } = await started(slowExplain);
    const exits: number[] = [];
    const uninstall = installShutdown(server, { log: () => undefined, exit: (code) => exits.push(code) });
    try {
      const b64 = (await jpeg([40, 60, 200])).toString('base64');
      const explain = JSON.stringify({ instances: [{ b64 }], heatmap: true });
      const predict = predictBody(0.2);
      // 16 complete requests, and 16 whose last bytes come after the signal, once the complete ones are answered (the
      // shutdown before 72d6c6a waited only for requests with a complete body, and reset these).
      const complete = Array.from({ length: 16 }, (_, i) => post(url, i % 2 ? '/v1/models/carclass:predict' : '/v1/models/carclass:explain', i % 2 ? predict : explain));
      const split = (text: string) => [text.slice(0, 100), text.slice(100)];
      const completeAnswered = Promise.allSettled(complete).then(() => new Promise((r) => setTimeout(r, 100)));
      const trickling = Array.from({ length: 16 }, (_, i) => {
        const [head, tail] = split(i % 2 ? predict : explain);
        return post(url, i % 2 ? '/v1/models/carclass:predict' : '/v1/models/carclass:explain', head, {}, { part: tail, when: completeAnswered });
      });
      while (server.stats().requests < 32) await new Promise((r) => setTimeout(r, 2)); // every request has arrived
      process.emit('SIGTERM', 'SIGTERM');
      const answers = await Promise.all([...complete, ...trickling].map((p) => p.then((a) => a.status, (e: Error) => `reset: ${e.message}`)));
      expect(answers).toEqual(Array(32).fill(200));
      while (exits.length === 0) await new Promise((r) => setTimeout(r, 5));
      expect(exits).toEqual([0]);
      await expect(fetch(`${url}/v1/models/carclass`)).rejects.toThrow(); // closed for new connections
    } finally {
      uninstall();
    }
  });
});
