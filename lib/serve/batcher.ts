// Dynamic batching: concurrent predictions are merged into engine batches of at most maxBatchSize,
// flushed when full, after maxWaitMs, as soon as the engine is free again, or at once when no other request is coming.

/** Runs engine work one call at a time, in arrival order (the engine holds one model state). */
export class EngineLane {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

interface Job {
  x: Float32Array;
  n: number;
  resolve(probabilities: Float32Array): void;
  reject(error: unknown): void;
}

export interface BatcherStats {
  engineBatches: number;
  engineInstances: number;
  largestBatch: number;
  queuedInstances: number;
}

export class Batcher {
  private queue: Job[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  readonly stats: BatcherStats = { engineBatches: 0, engineInstances: 0, largestBatch: 0, queuedInstances: 0 };

  constructor(
    private readonly predict: (x: Float32Array, n: number) => Promise<Float32Array>,
    private readonly lane: EngineLane,
    private readonly instanceSize: number,
    private readonly numClasses: number,
    private readonly maxBatchSize: number,
    private readonly maxWaitMs: number,
    /** Whether more requests are on their way (bodies being read or decoded); when none are, waiting is pointless. */
    private readonly othersComing: () => boolean = () => true,
  ) {}

  /** Probabilities [n, K] for n images; requests larger than maxBatchSize are split. */
  async submit(x: Float32Array, n: number): Promise<Float32Array> {
    const parts: Promise<Float32Array>[] = [];
    for (let start = 0; start < n; start += this.maxBatchSize) {
      const count = Math.min(this.maxBatchSize, n - start);
      const slice = x.subarray(start * this.instanceSize, (start + count) * this.instanceSize);
      parts.push(new Promise((resolve, reject) => this.enqueue({ x: slice, n: count, resolve, reject })));
    }
    const results = await Promise.all(parts);
    if (results.length === 1) return results[0];
    const out = new Float32Array(n * this.numClasses);
    let offset = 0;
    for (const part of results) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  private enqueue(job: Job): void {
    this.queue.push(job);
    this.queued += job.n;
    this.stats.queuedInstances = this.queued;
    if (this.queued >= this.maxBatchSize || (!this.busy && !this.othersComing())) this.flush();
    else if (this.timer === undefined && !this.busy) this.timer = setTimeout(() => this.flush(), this.maxWaitMs);
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    // While the engine runs, requests keep queueing; the batch that follows takes them all at once.
    if (this.busy || this.queue.length === 0) return;
    const jobs: Job[] = [];
    let total = 0;
    while (this.queue.length > 0 && total + this.queue[0].n <= this.maxBatchSize) {
      const job = this.queue.shift() as Job;
      jobs.push(job);
      total += job.n;
    }
    this.queued -= total;
    this.stats.queuedInstances = this.queued;
    this.busy = true;
    this.stats.engineBatches++;
    this.stats.engineInstances += total;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, total);
    const x = jobs.length === 1 ? jobs[0].x : concat(jobs, total * this.instanceSize);
    this.lane
      .run(() => this.predict(x, total))
      .then((probabilities) => {
        if (!(probabilities instanceof Float32Array) || probabilities.length !== total * this.numClasses) {
          throw new Error(`The engine returned ${probabilities?.length} values for ${total} images of ${this.numClasses} classes`);
        }
        let offset = 0;
        for (const job of jobs) {
          job.resolve(probabilities.subarray(offset, offset + job.n * this.numClasses));
          offset += job.n * this.numClasses;
        }
      })
      .catch((error) => jobs.forEach((job) => job.reject(error)))
      .finally(() => {
        this.busy = false;
        this.flush();
      });
  }
}

function concat(jobs: Job[], length: number): Float32Array {
  const x = new Float32Array(length);
  let offset = 0;
  for (const job of jobs) {
    x.set(job.x, offset);
    offset += job.x.length;
  }
  return x;
}
