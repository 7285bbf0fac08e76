// A TF Serving-compatible REST server (node:http only) over a ServingBackend, with dynamic batching,
// request limits, Grad-CAM explanations and the web page.
import * as http from 'http';
import * as fs from 'fs/promises';
import * as path from 'path';
import * as zlib from 'zlib';
import { ServingBackend, SampleImage } from './backend';
import { Batcher, EngineLane } from './batcher';
import { HttpError, badRequest, echo, MAX_ERROR_CHARS } from './errors';
import { BodyItem, BodySpec, ParsedBody } from './body';
import { BodyParser } from './body-parser';
import { Slots } from './slots';
import { renderOverlay } from './overlay';
import { declaredSize } from './image-size';
import { ServerMetrics } from './metrics';
import { loadSampleDir } from './samples';
import { booleanOption, invalid, nonNegativeInt, numberIn, oneOf, positiveInt, rejectUnknownKeys } from '../validate';

export interface ServerOptions {
  /** Model name in the URLs (/v1/models/<name>); default "carclass". */
  name?: string;
  /** Default 127.0.0.1: only this machine can connect unless told otherwise. */
  host?: string;
  /** Default 8501 (TF Serving's REST port); 0 picks a free port. */
  port?: number;
  /** Largest engine batch (default 32). */
  maxBatchSize?: number;
  /** How long a lone request waits for company before its batch runs (default 5 ms). */
  maxWaitMs?: number;
  /** Largest request body in bytes (default 32 MiB, about 9 preprocessed 224x224 instances as JSON); larger gets 413. */
  maxBodyBytes?: number;
  /** Most images in one request (default 64); more gets 400 before anything is decoded. */
  maxInstances?: number;
  /**
   * Most pixels the b64 images of one request may declare in their headers, all together (default 200,000,000, e.g.
   * 64 12-megapixel photos would be refused, 16 accepted); more gets 413 before anything is decoded.
   */
  maxDecodePixels?: number;
  /**
   * Most time the b64 images of one request may take to decode, all together, counted from its first decode (waits for
   * a decoder thread included; default 10,000 ms); past it no further image of the request is decoded and the answer
   * is 413. Bounds the decoder time one request can take from the others.
   */
  maxDecodeMs?: number;
  /** Time to receive a body (408) and to answer (504), each (default 30 s). */
  requestTimeoutMs?: number;
  /** Most POST requests in progress at once, counted once their body has fully arrived (default 64); more gets 429. */
  maxConcurrency?: number;
  /** A folder of sample JPEGs for the web page; replaces the backend's samples. */
  samplesDir?: string;
  /** The web page's folder; false serves no page. */
  webDir?: string | false;
  /**
   * Answer CORS preflights and set Access-Control-Allow-Origin for the server's own origin only (http://<Host header>);
   * other origins get no CORS headers (default false: no CORS at all).
   */
  cors?: boolean;
  /** No per-request log line (default false; lines go to `log`, which is silent by default). */
  quiet?: boolean;
  /** One line per notable event (listening, shutdown, 5xx); silent by default. */
  log?: (line: string) => void;
}

export interface ServerStats {
  /** HTTP requests received. */
  requests: number;
  /** Requests answered 2xx / 4xx / 5xx. */
  ok: number;
  clientErrors: number;
  serverErrors: number;
  /** Images predicted (predict and classify). */
  instances: number;
  engineBatches: number;
  engineInstances: number;
  largestBatch: number;
  explanations: number;
  inFlight: number;
}

export interface ModelServer {
  listen(): Promise<{ port: number; host: string; url: string }>;
  /** Stops accepting, lets requests in progress finish (up to graceMs, default 10 s), then closes connections. */
  close(graceMs?: number): Promise<void>;
  stats(): ServerStats;
  /** The underlying node:http server. */
  readonly http: http.Server;
}

const SERVER_OPTIONS = ['name', 'host', 'port', 'maxBatchSize', 'maxWaitMs', 'maxBodyBytes', 'maxInstances', 'maxDecodePixels', 'maxDecodeMs', 'requestTimeoutMs', 'maxConcurrency', 'samplesDir', 'webDir', 'cors', 'quiet', 'log'] as const;
/**
 * Decoder threads (libuv's pool, UV_THREADPOOL_SIZE, default 4) shared by all requests in arrival order, and the
 * images of one request decoded at once: fewer than the threads, so a request of slow images (decode bombs under
 * maxDecodePixels) leaves threads for the others, and with each request holding at most DECODE_PARALLEL places in the
 * queue, requests take turns.
 */
const DECODE_THREADS = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);
const DECODE_PARALLEL = Math.max(1, Math.floor(DECODE_THREADS / 2));
const DEFAULT_WEB_DIR = path.resolve(__dirname, '..', '..', 'web');
const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
};
const MODEL_PATH = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+)|\/labels\/([^/:]+))?(\/metadata|:predict|:classify|:explain)?$/;

export function createServer(backend: ServingBackend, options: ServerOptions = {}): ModelServer {
  rejectUnknownKeys('createServer', options, SERVER_OPTIONS);
  const name = options.name ?? 'carclass';
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name)) throw invalid('name', 'model name of letters, digits, _ . -', name);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) throw invalid('host', 'host name or address', host);
  const port = options.port ?? 8501;
  if (nonNegativeInt('port', port) > 65535) throw invalid('port', 'port number 0..65535', port);
  const maxBatchSize = positiveInt('maxBatchSize', options.maxBatchSize ?? 32);
  const maxWaitMs = numberIn('maxWaitMs', options.maxWaitMs ?? 5, 0, 60_000);
  const maxBodyBytes = positiveInt('maxBodyBytes', options.maxBodyBytes ?? 32 * 1024 * 1024);
  const maxInstances = positiveInt('maxInstances', options.maxInstances ?? 64);
  const maxDecodePixels = positiveInt('maxDecodePixels', options.maxDecodePixels ?? 200_000_000);
  const maxDecodeMs = positiveInt('maxDecodeMs', options.maxDecodeMs ?? 10_000);
  const requestTimeoutMs = positiveInt('requestTimeoutMs', options.requestTimeoutMs ?? 30_000);
  const maxConcurrency = positiveInt('maxConcurrency', options.maxConcurrency ?? 64);
  const cors = booleanOption('cors', options.cors ?? false);
  const quiet = booleanOption('quiet', options.quiet ?? false);
  const webDir = options.webDir === undefined ? DEFAULT_WEB_DIR : options.webDir;
  const log = options.log ?? (() => undefined);

  const [height, width, channels] = backend.inputShape;
  const instanceSize = height * width * channels;
  const classes = backend.classes;
  const lane = new EngineLane();
  const decodeSlots = new Slots(DECODE_THREADS);
  // Requests admitted but not yet handed to the engine: a lone request need not wait maxWaitMs for company.
  let preparing = 0;
  const batcher = new Batcher((x, n) => {
    metrics.observeBatch(n);
    return backend.predict(x, n);
  }, lane, instanceSize, classes.length, maxBatchSize, maxWaitMs, () => preparing > 0);
  const counters = { requests: 0, ok: 0, clientErrors: 0, serverErrors: 0, instances: 0, explanations: 0, inFlight: 0 };
  const metrics = new ServerMetrics(() => batcher.stats.queuedInstances, () => counters.inFlight, () => decodeSlots.queued, () => bodies.queued);
  let samples: Promise<SampleImage[]> | undefined;
  const staticCache = new Map<string, Buffer>();

  const getSamples = (): Promise<SampleImage[]> => {
    // Only pictures the backend decodes are offered, so the page never shows a sample that fails.
    const decodes = (jpeg: Buffer) => backend.decode(jpeg).then(() => true, () => false);
    samples ??= options.samplesDir !== undefined ? loadSampleDir(options.samplesDir, classes, 48, decodes) : backend.samples ? backend.samples() : Promise.resolve([]);
    return samples;
  };

  /**
   * Decodes and copies every item into one NHWC batch; JPEGs also give their RGB pixels. The declared pixels of all b64
   * images are checked first; decodes run DECODE_PARALLEL at a time and stop once the request has failed, expired or
   * spent maxDecodeMs decoding.
   */
  async function toBatch(items: BodyItem[], withRgb = false, alive: () => boolean = () => true): Promise<{ x: Float32Array; rgb: (Uint8Array | undefined)[] }> {
    if (items.length > maxInstances) throw badRequest(`Too many instances: ${items.length}; this server accepts at most ${maxInstances} per request`);
    let pixels = 0;
    for (const item of items) {
      if (item.kind !== 'jpeg') continue;
      const size = declaredSize(item.bytes);
      if (size) pixels += size[0] * size[1];
      if (pixels > maxDecodePixels) {
        throw new HttpError(413, `The images of this request declare more than ${maxDecodePixels} pixels in all (the limit per request, maxDecodePixels); ${item.where} is ${size?.[0]}x${size?.[1]}`);
      }
    }
    const x = new Float32Array(items.length * instanceSize);
    const rgb: (Uint8Array | undefined)[] = new Array(items.length).fill(undefined);
    let next = 0;
    let failed = false;
    const decodeStart = Date.now();
    const overBudget = () => Date.now() - decodeStart > maxDecodeMs;
    const worker = async () => {
      while (next < items.length && !failed && alive() && !overBudget()) {
        const i = next++;
        const item = items[i];
        if (item.kind === 'pixels') {
          x.set(item.data, i * instanceSize);
          continue;
        }
        let decoded;
        try {
          decoded = await decodeSlots.run(async () => {
            if (!alive() || failed) return undefined;
            const t0 = process.hrtime.bigint();
            try {
              return await backend.decode(item.bytes, { rgb: withRgb });
            } finally {
              metrics.observeDecode(Number(process.hrtime.bigint() - t0) / 1e9);
            }
          });
        } catch (error) {
          throw badRequest(`${item.where}: could not decode the image: ${error instanceof Error ? error.message : String(error)}`);
        }
        if (!decoded || !alive()) return; // a request that died while it waited for a thread decodes and copies nothing more
        if (decoded.pixels.length !== instanceSize) throw new Error(`The backend decoded ${decoded.pixels.length} values, expected ${instanceSize}`);
        x.set(decoded.pixels, i * instanceSize);
        rgb[i] = decoded.rgb;
      }
    };
    await Promise.all(Array.from({ length: Math.min(DECODE_PARALLEL, items.length) }, () => worker().catch((error) => {
      failed = true;
      throw error;
    })));
    if (!alive()) throw new HttpError(504, `The request expired while its images were decoded`);
    if (next < items.length) {
      throw new HttpError(413, `Decoding the images of this request took more than ${maxDecodeMs} ms (the limit per request, maxDecodeMs); stopped after ${next} of ${items.length}`);
    }
    return { x, rgb };
  }

  const bodies = new BodyParser({ timeoutMs: requestTimeoutMs });
  const shape = [height, width, channels] as const;
  const parse = (raw: Buffer, extraKeys: BodySpec['extraKeys']): Promise<ParsedBody> => bodies.parse(raw, { extraKeys, maxInstances, shape });

  function topClasses(probabilities: number[], k: number): [string, number][] {
    return probabilities.map((score, index) => [classes[index], score] as [string, number]).sort((a, b) => b[1] - a[1]).slice(0, Math.min(k, classes.length));
  }

  function rows(probabilities: Float32Array, n: number): number[][] {
    const K = classes.length;
    return Array.from({ length: n }, (_, i) => Array.from(probabilities.subarray(i * K, (i + 1) * K)));
  }

  async function predict(raw: Buffer, prepared: () => void, alive: () => boolean): Promise<object> {
    const request = await parse(raw, []);
    const { x } = await toBatch(request.items, false, alive);
    prepared();
    const probabilities = await batcher.submit(x, request.items.length);
    counters.instances += request.items.length;
    const answer = rows(probabilities, request.items.length);
    return request.format === 'instances' ? { predictions: answer } : { outputs: answer };
  }

  async function classify(raw: Buffer, prepared: () => void, alive: () => boolean): Promise<object> {
    const request = await parse(raw, ['top_k']);
    const topK = request.options.top_k === undefined ? Math.min(5, classes.length) : positiveIntField('top_k', request.options.top_k);
    const { x } = await toBatch(request.items, false, alive);
    prepared();
    const probabilities = await batcher.submit(x, request.items.length);
    counters.instances += request.items.length;
    // TF Serving's classify answer: per example, [label, score] pairs (here the top k, best first).
    return { result: rows(probabilities, request.items.length).map((p) => topClasses(p, topK)) };
  }

  async function explain(raw: Buffer, prepared: () => void, alive: () => boolean): Promise<object> {
    const request = await parse(raw, ['class_index', 'layer', 'format', 'alpha', 'heatmap', 'top_k']);
    const o = request.options;
    if (request.items.length !== 1) throw badRequest(`:explain takes exactly one image but received ${request.items.length}`);
    const classIndex = o.class_index === undefined ? undefined : nonNegativeIntField('class_index', o.class_index);
    if (classIndex !== undefined && classIndex >= classes.length) throw badRequest(`class_index ${classIndex} is out of range: the model has ${classes.length} classes`);
    if (o.layer !== undefined && (typeof o.layer !== 'string' || o.layer.length === 0)) throw badRequest(`Expected a layer name for layer but received ${echo(o.layer)}`);
    const format = field(() => oneOf('format', o.format ?? 'png', ['png', 'jpeg'] as const));
    const alpha = field(() => numberIn('alpha', o.alpha ?? 0.4, 0, 1));
    const withHeatmap = field(() => booleanOption('heatmap', o.heatmap ?? true));
    const topK = o.top_k === undefined ? undefined : positiveIntField('top_k', o.top_k);
    const { x, rgb } = await toBatch(request.items, true, alive);
    prepared();
    // With top_k the answer also carries the classification, so a client (the page) sends its picture once.
    const top = topK === undefined ? undefined : await batcher.submit(x, 1).then((p) => topClasses(Array.from(p), topK));
    const layer = o.layer as string | undefined;
    const explanation = await lane.run(() => backend.explain(x, { classIndex, layer })).catch((error: Error) => {
      // A layer the client named that the model cannot explain is the client's fault.
      throw layer === undefined ? error : badRequest(`Grad-CAM at layer ${echo(layer)} failed: ${error.message}`);
    });
    counters.explanations++;
    const { heatmap, height: hh, width: hw } = explanation;
    if (heatmap.length !== hh * hw) throw new Error(`The backend returned a heatmap of ${heatmap.length} values for ${hh}x${hw}`);
    const pixels = rgb[0] ?? (backend.toRgb ? backend.toRgb(x) : new Uint8Array(instanceSize).fill(128));
    const overlay = await renderOverlay(pixels, height, width, heatmap, hh, hw, { alpha, format });
    const result: Record<string, unknown> = {
      class_index: explanation.classIndex,
      label: classes[explanation.classIndex],
      probability: explanation.probability,
      height: hh,
      width: hw,
      overlay: { mime_type: `image/${format}`, b64: overlay.toString('base64') },
    };
    if (top) result.top_k = top;
    if (withHeatmap) result.heatmap = Array.from({ length: hh }, (_, y) => Array.from(heatmap.subarray(y * hw, (y + 1) * hw), (v) => Math.round(v * 1e4) / 1e4));
    return { explanations: [result] };
  }

  function status(): object {
    return { model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] };
  }

  // The signature of a Keras model exported to SavedModel: input_1 [-1, H, W, 3] float, output [-1, K] probabilities.
  function metadata(): object {
    const dims = (sizes: number[]) => ({ dim: sizes.map((size) => ({ size: String(size), name: '' })), unknown_rank: false });
    return {
      model_spec: { name, signature_name: '', version: '1' },
      metadata: {
        signature_def: {
          signature_def: {
            serving_default: {
              inputs: { input_1: { dtype: 'DT_FLOAT', tensor_shape: dims([-1, height, width, channels]), name: 'serving_default_input_1:0' } },
              outputs: { predictions: { dtype: 'DT_FLOAT', tensor_shape: dims([-1, classes.length]), name: 'StatefulPartitionedCall:0' } },
              method_name: 'tensorflow/serving/predict',
            },
          },
        },
        classes: [...classes],
      },
    };
  }

  async function serveStatic(file: string, res: http.ServerResponse): Promise<void> {
    if (webDir === false || !/^[\w-]+\.[a-z]+$/.test(file) || !(path.extname(file) in STATIC_TYPES)) throw new HttpError(404, `Not found: /${file}`);
    let content = staticCache.get(file);
    if (content === undefined) {
      try {
        content = await fs.readFile(path.join(webDir, file));
      } catch {
        throw new HttpError(404, `Not found: /${file}`);
      }
      staticCache.set(file, content);
    }
    send(res, 200, content, STATIC_TYPES[path.extname(file)]);
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let pathname: string;
    try {
      pathname = decodeURIComponent((req.url ?? '/').split('?')[0]);
    } catch {
      throw badRequest(`Malformed URL: ${req.url}`);
    }
    const method = req.method ?? 'GET';
    // HEAD works wherever GET does (node:http sends the headers and drops the body).
    const only = (allowed: string) => {
      if (method === allowed || (allowed === 'GET' && method === 'HEAD')) return;
      const allow = allowed === 'GET' ? 'GET, HEAD' : allowed;
      throw new HttpError(405, `Method ${method} not allowed for ${pathname}; use ${allow}`, { Allow: allow });
    };
    if (cors && method === 'OPTIONS') {
      if (!sameOrigin(req)) throw new HttpError(403, `CORS is allowed only for this server's own origin, not ${echo(req.headers.origin ?? '')}`);
      res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, HEAD, POST', 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '600' });
      counters.ok++;
      res.end();
      return;
    }
    const model = MODEL_PATH.exec(pathname);
    if (model) {
      const [, modelName, version, label, action] = model;
      if (modelName !== name) throw new HttpError(404, `Servable not found for request: Latest(${modelName}); this server serves "${name}"`);
      if (version !== undefined && version !== '1') throw new HttpError(404, `Servable not found for request: Specific(${modelName}, ${version}); the only version is 1`);
      if (label !== undefined && label !== 'stable') throw new HttpError(404, `Unknown version label ${JSON.stringify(label)}; the only label is "stable"`);
      if (action === undefined || action === '/metadata') {
        only('GET');
        return sendJson(res, 200, action === undefined ? status() : metadata());
      }
      only('POST');
      const handler = action === ':predict' ? predict : action === ':classify' ? classify : explain;
      return handlePost(req, res, handler);
    }
    if (pathname === '/monitoring/prometheus/metrics') {
      only('GET');
      return send(res, 200, metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
    }
    if (pathname === '/samples') {
      only('GET');
      const list = (await getSamples()).map((s) => ({ name: s.name, label: s.label ?? null, url: `/samples/${encodeURIComponent(s.name)}` }));
      return sendJson(res, 200, { model: name, classes: [...classes], samples: list });
    }
    if (pathname.startsWith('/samples/')) {
      only('GET');
      const sample = (await getSamples()).find((s) => s.name === pathname.slice('/samples/'.length));
      if (!sample) throw new HttpError(404, `No sample named ${JSON.stringify(pathname.slice('/samples/'.length))}`);
      return send(res, 200, sample.jpeg, 'image/jpeg');
    }
    if (webDir !== false && (pathname === '/' || /^\/[\w-]+\.[a-z]+$/.test(pathname))) {
      only('GET');
      return serveStatic(pathname === '/' ? 'index.html' : pathname.slice(1), res);
    }
    throw new HttpError(404, `Not found: ${pathname}; the API is under /v1/models/${name}`);
  }

  async function handlePost(req: http.IncomingMessage, res: http.ServerResponse, handler: (raw: Buffer, prepared: () => void, alive: () => boolean) => Promise<object>): Promise<void> {
    // Only JSON bodies: a page on another origin cannot send a "simple" text/plain or form request.
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      throw new HttpError(415, `Unsupported Content-Type ${echo(req.headers['content-type'] ?? '(none)')}; POST bodies must be sent as Content-Type: application/json`);
    }
    // Only requests whose body has fully arrived count against maxConcurrency: slow senders do not crowd out the others.
    const raw = await readBody(req, maxBodyBytes, requestTimeoutMs);
    if (counters.inFlight >= maxConcurrency) throw new HttpError(429, `Too many requests in progress (limit ${maxConcurrency}); retry later`, { 'Retry-After': '1' });
    counters.inFlight++;
    preparing++;
    let isPrepared = false;
    const prepared = () => {
      if (!isPrepared) preparing--;
      isPrepared = true;
    };
    try {
      let timer: NodeJS.Timeout | undefined;
      let live = true;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          live = false;
          reject(new HttpError(504, `The model did not answer within ${requestTimeoutMs} ms`));
        }, requestTimeoutMs);
      });
      try {
        const work = handler(raw, prepared, () => live && !res.destroyed);
        work.catch(() => undefined); // a late failure after the deadline answered
        sendJson(res, 200, await Promise.race([work, deadline]));
      } finally {
        live = false;
        clearTimeout(timer);
      }
    } finally {
      prepared();
      counters.inFlight--;
    }
  }

  function send(res: http.ServerResponse, status: number, content: Buffer | string, type: string, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    if (status < 300) counters.ok++;
    else if (status < 500) counters.clientErrors++;
    else counters.serverErrors++;
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(content), 'X-Content-Type-Options': 'nosniff', ...headers });
    res.end(content);
  }

  function sendJson(res: http.ServerResponse, status: number, value: object, headers: Record<string, string> = {}): void {
    send(res, status, JSON.stringify(value), 'application/json', headers);
  }

  function sendError(req: http.IncomingMessage, res: http.ServerResponse, error: unknown): void {
    if (error instanceof HttpError) {
      const headers = { ...error.headers };
      // The body was not read to the end: close rather than parse its remainder as the next request.
      if (!req.complete) headers.Connection = 'close';
      sendJson(res, error.status, { error: bounded(error.message) }, headers);
      if (!req.complete) req.resume();
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    log(`carclass serve: 500 on ${req.method} ${req.url}: ${message}`);
    sendJson(res, 500, { error: bounded(`Internal error: ${message}`) });
  }

  /** The request comes from a page served by this server: Origin is http://<Host>. */
  function sameOrigin(req: http.IncomingMessage): boolean {
    return req.headers.origin !== undefined && req.headers.host !== undefined && req.headers.origin === `http://${req.headers.host}`;
  }

  // Requests from their arrival to their answer; close() waits for all of them, not only the admitted POSTs.
  let active = 0;
  let closing = false;
  const server = http.createServer((req, res) => {
    counters.requests++;
    active++;
    // While shutting down, every answer ends its connection, so keep-alive clients do not send more on it.
    if (closing) res.setHeader('Connection', 'close');
    const t0 = process.hrtime.bigint();
    res.once('close', () => {
      active--;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const status = res.headersSent ? res.statusCode : 0; // 0: the connection closed before an answer
      metrics.observeRequest(routeName(req.url ?? '/'), status, seconds);
      if (!quiet) {
        // <ISO time> <client> "<METHOD> <path>" <status> <response bytes> <ms>
        const target = (req.url ?? '/').slice(0, 200);
        log(`${new Date().toISOString()} ${req.socket.remoteAddress ?? '-'} "${req.method} ${target}" ${status} ${res.getHeader('content-length') ?? 0} ${(seconds * 1000).toFixed(1)}ms`);
      }
    });
    if (cors && sameOrigin(req)) {
      res.setHeader('Access-Control-Allow-Origin', req.headers.origin as string);
      res.setHeader('Vary', 'Origin');
    }
    route(req, res).catch((error) => sendError(req, res, error));
  });
  // Malformed HTTP (bad request line, oversized headers) also gets a JSON 400.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const [status, reason] = error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
    counters.clientErrors++;
    const body = JSON.stringify({ error: `Bad HTTP request: ${error.code ?? error.message}` });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  server.requestTimeout = requestTimeoutMs + 5_000;
  server.headersTimeout = Math.min(60_000, requestTimeoutMs + 5_000);

  return {
    http: server,
    async listen() {
      // A bad samples folder is a startup error, not a 500 on every page load.
      if (options.samplesDir !== undefined) {
        await getSamples().catch((error: Error) => {
          samples = undefined;
          throw new Error(`Cannot read the samples folder ${options.samplesDir}: ${error.message}`);
        });
      }
      bodies.warm();
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          const actual = typeof address === 'object' && address ? address.port : port;
          const shownHost = host.includes(':') ? `[${host}]` : host;
          const url = `http://${shownHost}:${actual}`;
          log(`carclass serve: model "${name}" (${classes.length} classes, input ${height}x${width}x${channels}) at ${url}/v1/models/${name}`);
          resolve({ port: actual, host, url });
        });
      });
    },
    async close(graceMs = 10_000) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const started = Date.now();
      // Every request that has arrived is answered (within graceMs); idle keep-alive connections close as they go idle.
      while ((active > 0 || counters.inFlight > 0) && Date.now() - started < graceMs) {
        await new Promise((r) => setTimeout(r, 20));
        server.closeIdleConnections();
      }
      server.closeAllConnections();
      await Promise.all([closed, bodies.close()]);
    },
    stats() {
      const { engineBatches, engineInstances, largestBatch } = batcher.stats;
      return { ...counters, engineBatches, engineInstances, largestBatch };
    },
  };
}

/** The metrics label of a URL: a fixed set, so clients cannot grow the label space. */
function routeName(url: string): string {
  const p = url.split('?')[0];
  const m = /:(predict|classify|explain)$/.exec(p);
  if (m) return m[1];
  if (p.startsWith('/v1/models/')) return p.endsWith('/metadata') ? 'metadata' : 'status';
  if (p === '/monitoring/prometheus/metrics') return 'metrics';
  if (p.startsWith('/samples')) return 'samples';
  if (p === '/' || /^\/[\w-]+\.[a-z]+$/.test(p)) return 'page';
  return 'other';
}

/** Error messages echo client input; none is longer than MAX_ERROR_CHARS. */
function bounded(message: string): string {
  return message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS)}... (truncated)` : message;
}

/** Validation errors in request fields are the client's fault: 400. */
function field<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw badRequest(error instanceof Error ? error.message : String(error));
  }
}
const positiveIntField = (name: string, value: unknown) => field(() => positiveInt(name, value));
const nonNegativeIntField = (name: string, value: unknown) => field(() => nonNegativeInt(name, value));

const DECOMPRESSORS: Record<string, (() => zlib.Gunzip | zlib.Inflate) | undefined> = {
  identity: undefined, gzip: () => zlib.createGunzip(), 'x-gzip': () => zlib.createGunzip(), deflate: () => zlib.createInflate(),
};

/**
 * Reads a body up to maxBytes (413 beyond, also from Content-Length) within timeoutMs (408). A gzip or deflate body
 * (Content-Encoding) is decompressed as it arrives and maxBytes bounds the decompressed size too, so a small
 * compressed body cannot expand without limit.
 */
function readBody(req: http.IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (!(encoding in DECOMPRESSORS)) {
    return Promise.reject(new HttpError(415, `Unsupported Content-Encoding ${echo(req.headers['content-encoding'])}; send the body as identity, gzip or deflate`));
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(new HttpError(413, `Request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes`));
  }
  const decompressor = DECOMPRESSORS[encoding]?.();
  const source: NodeJS.ReadableStream = decompressor ? req.pipe(decompressor) : req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let received = 0;
    const finish = (error?: HttpError) => {
      clearTimeout(timer);
      req.off('data', onRaw).off('error', onError).off('aborted', onAborted);
      source.off('data', onData).off('end', onEnd).off('error', onError);
      if (decompressor) {
        req.unpipe(decompressor);
        decompressor.destroy();
      }
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    };
    const onRaw = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) finish(new HttpError(413, `Request body exceeds the limit of ${maxBytes} bytes`));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) finish(new HttpError(413, decompressor ? `The ${encoding} request body decompresses to more than the limit of ${maxBytes} bytes` : `Request body exceeds the limit of ${maxBytes} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onError = (error: Error) => finish(new HttpError(400, decompressor && !(error as NodeJS.ErrnoException).code?.startsWith('ECONN')
      ? `Could not decompress the ${encoding} request body: ${error.message}` : `Could not read the request body: ${error.message}`));
    const onAborted = () => finish(new HttpError(400, 'The client aborted the request'));
    const timer = setTimeout(() => finish(new HttpError(408, `The request body did not arrive within ${timeoutMs} ms`)), timeoutMs);
    req.on('data', onRaw).on('error', onError).on('aborted', onAborted);
    source.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/**
 * Closes `server` gracefully on SIGINT/SIGTERM (a second signal exits at once), then exits with code 0.
 * Returns a function that removes the handlers.
 */
export function installShutdown(
  server: Pick<ModelServer, 'close'>,
  { log = (line: string) => process.stderr.write(`${line}\n`), exit = (code: number) => process.exit(code), graceMs = 10_000 }:
    { log?: (line: string) => void; exit?: (code: number) => void; graceMs?: number } = {},
): () => void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      log(`carclass serve: ${signal} again, exiting now`);
      return exit(130);
    }
    closing = true;
    log(`carclass serve: ${signal} received, finishing requests in progress and shutting down`);
    server.close(graceMs).then(() => exit(0), (error) => {
      log(`carclass serve: shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
      exit(1);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
