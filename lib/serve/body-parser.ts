// Parses request bodies off the event loop: bodies up to `inlineBytes` are parsed in place (a few ms at worst), larger
// ones in a small pool of worker threads with a heap and a time limit, so one 32 MiB body of `[],` cannot stall the
// other clients or grow the server's heap.
import { Worker } from 'worker_threads';
import { HttpError } from './errors';
import { BodySpec, ParsedBody, ParseFailure, parseBody, toFailure } from './body';

export interface BodyParserOptions {
  /** Bodies up to this size are parsed on the event loop (default 256 KiB: about 25 ms for the worst JSON shape). */
  inlineBytes?: number;
  /** Worker threads for larger bodies (default 2). */
  workers?: number;
  /** Heap limit of a worker (default 768 MB); a body that needs more is a 413. */
  heapMb?: number;
  /** A body that takes longer to parse is a 413 and its worker is replaced (default 30 s). */
  timeoutMs?: number;
}

interface Job {
  raw: Uint8Array;
  spec: BodySpec;
  resolve(body: ParsedBody): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  job?: Job;
  timer?: NodeJS.Timeout;
}

// The worker loads body.js from this folder. Run from the TypeScript sources (the tests), it gets the modules transpiled
// by this thread instead (see transpiledSources).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('worker_threads');
if (workerData.sources) {
  require.extensions['.ts'] = (module, file) => {
    if (workerData.sources[file] === undefined) throw new Error('body-parser: ' + file + ' was not transpiled for the worker');
    module._compile(workerData.sources[file], file);
  };
}
const { parseBody, toFailure } = require(workerData.module);
parentPort.on('message', ({ raw, spec }) => {
  try {
    const body = parseBody(raw, spec);
    parentPort.postMessage({ body }, body.items.filter((item) => item.kind === 'pixels').map((item) => item.data.buffer));
  } catch (error) {
    parentPort.postMessage({ failure: toFailure(error) });
  }
});
`;

export class BodyParser {
  private readonly inlineBytes: number;
  private readonly heapMb: number;
  private readonly timeoutMs: number;
  private readonly slots: (Slot | undefined)[];
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(options: BodyParserOptions = {}) {
    this.inlineBytes = options.inlineBytes ?? 256 * 1024;
    this.heapMb = options.heapMb ?? 768;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.slots = new Array(options.workers ?? 2).fill(undefined);
    transpiledSources();
  }

  parse(raw: Uint8Array, spec: BodySpec): Promise<ParsedBody> {
    if (raw.byteLength <= this.inlineBytes) {
      try {
        return Promise.resolve(parseBody(raw, spec));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.closed) return Promise.reject(new HttpError(503, 'The server is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ raw, spec, resolve, reject });
      this.pump();
    });
  }

  /** Starts the workers now, so the first large body does not wait for a thread to load. */
  warm(): void {
    for (let i = 0; i < this.slots.length; i++) if (!this.slots[i] && !this.closed) this.spawn(i);
  }

  /** Bodies waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new HttpError(503, 'The server is shutting down'));
    await Promise.all(this.slots.map((slot, i) => {
      this.slots[i] = undefined;
      if (!slot) return undefined;
      clearTimeout(slot.timer);
      slot.job?.reject(new HttpError(503, 'The server is shutting down'));
      return slot.worker.terminate();
    }));
  }

  private pump(): void {
    for (let i = 0; i < this.slots.length && this.queue.length > 0; i++) {
      if (this.slots[i]?.job) continue;
      const slot = this.slots[i] ?? this.spawn(i);
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.timer = setTimeout(() => this.fail(i, new HttpError(413, `The request body took more than ${this.timeoutMs} ms to parse`)), this.timeoutMs);
      // The body's own ArrayBuffer moves to the worker; a view into a shared (pooled) buffer is copied.
      const whole = job.raw.byteOffset === 0 && job.raw.byteLength === job.raw.buffer.byteLength;
      slot.worker.postMessage({ raw: job.raw, spec: job.spec }, whole ? [job.raw.buffer as ArrayBuffer] : []);
    }
  }

  private spawn(i: number): Slot {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module: require.resolve('./body'), sources: transpiledSources() },
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    worker.unref();
    const slot: Slot = { worker };
    worker.on('message', (message: { body?: ParsedBody; failure?: ParseFailure }) => {
      const job = slot.job;
      clearTimeout(slot.timer);
      slot.job = undefined;
      if (job) {
        if (message.body) job.resolve(revive(message.body));
        else job.reject(new HttpError(message.failure?.status ?? 500, message.failure?.message ?? 'The body parser failed'));
      }
      this.pump();
    });
    worker.on('error', (error: NodeJS.ErrnoException) => {
      const tooBig = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.fail(i, tooBig ? new HttpError(413, `The request body needs more than ${this.heapMb} MB to parse`) : error, worker);
    });
    worker.on('exit', () => {
      if (this.slots[i] === slot) this.fail(i, new Error('The body parser thread exited'), worker);
    });
    this.slots[i] = slot;
    return slot;
  }

  /** Ends the job of slot i with `error` and replaces its worker (a timed-out parse cannot be interrupted otherwise). */
  private fail(i: number, error: Error, worker?: Worker): void {
    const slot = this.slots[i];
    if (!slot || (worker && slot.worker !== worker)) return;
    clearTimeout(slot.timer);
    this.slots[i] = undefined;
    slot.job?.reject(error);
    void slot.worker.terminate();
    if (!this.closed) this.pump();
  }
}

let sources: Record<string, string> | undefined;

/**
 * Run from TypeScript sources (ts-jest), the worker cannot load body.ts; the modules it needs (this folder's) are
 * transpiled here once per process. From the compiled package: undefined.
 */
function transpiledSources(): Record<string, string> | undefined {
  if (!__filename.endsWith('.ts')) return undefined;
  if (!sources) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const ts = require('typescript') as typeof import('typescript');
    const fs = require('fs') as typeof import('fs');
    const path = require('path') as typeof import('path');
    sources = {};
    // body.ts and what it imports from this folder.
    const pending = [path.join(__dirname, 'body.ts')];
    while (pending.length > 0) {
      const file = pending.pop() as string;
      if (sources[file] !== undefined) continue;
      const text = fs.readFileSync(file, 'utf8');
      sources[file] = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
      for (const [, name] of text.matchAll(/from '\.\/([\w-]+)'/g)) pending.push(path.join(__dirname, `${name}.ts`));
    }
  }
  return sources;
}

/** Buffers arrive from the worker as plain Uint8Arrays; the decoders take Buffers. */
function revive(body: ParsedBody): ParsedBody {
  for (const item of body.items) {
    if (item.kind === 'jpeg') item.bytes = Buffer.from(item.bytes.buffer, item.bytes.byteOffset, item.bytes.byteLength);
  }
  return body;
}
