// Data-parallel training and sharded inference on PyTorch's c10d (native/distributed): the process
// group from the torchrun environment, rank 0's weights broadcast to every replica, gradients
// averaged in buckets during backward, metrics summed across ranks, and one writer (rank 0).
import { native } from '../native';
import { invalid, rejectUnknownKeys, nonNegativeInt, positiveInt, numberIn, oneOf } from '../validate';
import { distributedEnv, distTimeoutFromEnv, DistributedEnv } from './env';

export { distributedEnv, distTimeoutFromEnv, DEFAULT_DIST_TIMEOUT_SECONDS, DIST_TIMEOUT_ENV } from './env';
export type { DistributedEnv } from './env';

export type DistributedBackend = 'auto' | 'gloo' | 'nccl';

export interface InitDistributedOptions {
  /** Defaults: the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). */
  rank?: number;
  worldSize?: number;
  localRank?: number;
  masterAddr?: string;
  masterPort?: number;
  /** Seconds a rendezvous or collective may wait before failing with the name of the stalled rank (default 120, or CARCLASS_DIST_TIMEOUT). */
  timeoutSeconds?: number;
  /** 'auto' (default): nccl on CUDA builds that have it, else gloo. */
  backend?: DistributedBackend;
}

export interface AttachOptions {
  /** Gradient bucket size in MiB (default 25, as PyTorch DDP). */
  bucketMegabytes?: number;
  /** All-reduce each bucket as soon as its gradients are in (default true); false waits for the end of backward. */
  overlap?: boolean;
}

export interface GradientSyncStats {
  steps: number;
  buckets: number;
  /** Summed over steps: backward time (with all-reduces running beside it when overlapping). */
  backwardSeconds: number;
  /** Summed over steps: time spent after backward waiting for the all-reduces (what overlap did not hide). */
  exposedSeconds: number;
  /** Summed over steps: from the first bucket's launch to the last one's completion. */
  commSeconds: number;
  bytesPerStep: number;
}

/** What a model needs to be synchronised (lib/model's Model satisfies it). */
export interface DistributedModel {
  /** @internal runs `fn` with the native model once queued calls have finished */
  withNative<T>(fn: (nativeModel: unknown) => Promise<T> | T): Promise<T>;
}

const INIT_KEYS = ['rank', 'worldSize', 'localRank', 'masterAddr', 'masterPort', 'timeoutSeconds', 'backend'];

/** The c10d backends this build can use. */
export function distributedBackends(): { gloo: boolean; nccl: boolean } {
  return native().distributedBackends();
}

/**
 * Joins the process group: rank 0 hosts the rendezvous store at masterAddr:masterPort, every rank
 * waits (up to the timeout, then names the missing ranks) for the others. Resolves once all joined.
 */
export async function initDistributed(options: InitDistributedOptions = {}): Promise<Distributed> {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'object', options);
  rejectUnknownKeys('initDistributed', options, INIT_KEYS);
  const env: Partial<DistributedEnv> = options.worldSize === undefined ? distributedEnv() ?? {} : {};
  const worldSize = positiveInt('worldSize', options.worldSize ?? env.worldSize ?? 1);
  const rank = nonNegativeInt('rank', options.rank ?? env.rank ?? 0);
  if (rank >= worldSize) throw new RangeError(`rank ${rank} is outside [0, worldSize ${worldSize})`);
  const localRank = nonNegativeInt('localRank', options.localRank ?? env.localRank ?? rank);
  const masterAddr = options.masterAddr ?? env.masterAddr ?? '127.0.0.1';
  if (typeof masterAddr !== 'string' || !masterAddr) throw invalid('masterAddr', 'host name or address', masterAddr);
  const masterPort = options.masterPort ?? env.masterPort;
  if (masterPort === undefined) throw new TypeError('initDistributed needs masterPort (or MASTER_PORT in the environment)');
  if (!Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) throw invalid('masterPort', 'TCP port (1-65535)', masterPort);
  const timeoutSeconds = numberIn('timeoutSeconds', options.timeoutSeconds ?? distTimeoutFromEnv(), 0.1, 86400);
  const backend = oneOf('backend', options.backend ?? 'auto', ['auto', 'gloo', 'nccl'] as const);
  const agentStore = distributedEnv()?.agentStore ?? false;
  const handle = await native().initDistributed({ rank, worldSize, localRank, masterAddr, masterPort, timeoutSeconds, backend, agentStore });
  return new Distributed(handle);
}

/** Joins the group the environment describes (torchrun, `carclass ... --nproc-per-node`), or null outside one. */
export async function initDistributedFromEnv(options: Pick<InitDistributedOptions, 'timeoutSeconds' | 'backend'> = {}): Promise<Distributed | null> {
  const env = distributedEnv();
  if (!env || env.worldSize < 2) return null;
  return initDistributed({ rank: env.rank, worldSize: env.worldSize, localRank: env.localRank, masterAddr: env.masterAddr, masterPort: env.masterPort, ...options });
}

export class Distributed {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly backend: 'gloo' | 'nccl';
  /** Where this rank's model belongs: 'cpu' with Gloo, 'cuda:LOCAL_RANK' with NCCL. */
  readonly device: string;
  readonly timeoutSeconds: number;

  /** @internal use initDistributed() */
  constructor(private readonly handle: any) {
    const info = handle.info();
    this.rank = info.rank;
    this.worldSize = info.worldSize;
    this.localRank = info.localRank;
    this.backend = info.backend;
    this.device = info.device;
    this.timeoutSeconds = info.timeoutSeconds;
  }

  /** The device this rank's model must use: cuda:LOCAL_RANK with NCCL; undefined with Gloo (the model's own choice). */
  get modelDevice(): string | undefined {
    return this.backend === 'nccl' ? this.device : undefined;
  }

  /** Rank 0: the one process that writes files and prints progress. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Element-wise sums over all ranks (every rank gets the result). */
  async allreduceSum(values: ArrayLike<number>, what = 'all-reduce'): Promise<Float64Array> {
    return this.handle.allreduceSum(Float64Array.from(values), what);
  }

  /** Every rank's JSON-serialisable `value`, in rank order. */
  async allgather<T>(value: T, what = 'all-gather'): Promise<T[]> {
    const parts: Uint8Array[] = await this.handle.allgatherBytes(new Uint8Array(Buffer.from(JSON.stringify(value) ?? 'null')), what);
    return parts.map((p) => JSON.parse(Buffer.from(p).toString('utf8')) as T);
  }

  /** Every rank's bytes, in rank order. */
  async allgatherBytes(bytes: Uint8Array, what = 'all-gather'): Promise<Uint8Array[]> {
    return this.handle.allgatherBytes(bytes, what);
  }

  /**
   * Fails on every rank alike when some rank's `fields` differ from rank 0's (a different class list,
   * input size, arch...): the message lists each field and the ranks that disagree.
   */
  async checkSameConfig(fields: Record<string, unknown>, what = 'configuration'): Promise<void> {
    const all = await this.allgather(fields, `${what} check`);
    const problems: string[] = [];
    const keys = new Set(all.flatMap((f) => Object.keys(f ?? {})));
    for (const key of keys) {
      const ref = JSON.stringify(all[0]?.[key]);
      const differ = all.map((f, r) => [r, JSON.stringify(f?.[key])] as const).filter(([, v]) => v !== ref);
      if (differ.length) problems.push(`${key}: rank 0 has ${clip(ref)} but ${differ.map(([r, v]) => `rank ${r} has ${clip(v)}`).join(', ')}`);
    }
    if (problems.length) throw new Error(`distributed ${what} differs across ranks (every rank must be started with the same settings and data): ${problems.join('; ')}`);
  }

  /** Copies rank 0's weights, BN statistics and Adam state to every rank. */
  broadcastModel(model: DistributedModel, bucketMegabytes = 25): Promise<void> {
    return model.withNative((m) => this.handle.broadcastModel(m, bucketMegabytes));
  }

  /** From now on trainOnBatch averages gradients over all ranks (bucketed, overlapped with backward). */
  attach(model: DistributedModel, options: AttachOptions = {}): Promise<void> {
    rejectUnknownKeys('attach', options, ['bucketMegabytes', 'overlap']);
    const o = { bucketMegabytes: numberIn('bucketMegabytes', options.bucketMegabytes ?? 25, 0.001, 4096), overlap: options.overlap ?? true };
    return model.withNative((m) => this.handle.attachModel(m, o));
  }

  /** Back to single-process steps. */
  detach(model: DistributedModel): Promise<void> {
    return model.withNative((m) => this.handle.detachModel(m));
  }

  /** Debug check: throws on every rank when the weights/Adam state of some rank differ from rank 0's (names them). */
  checkReplicas(model: DistributedModel, when = ''): Promise<void> {
    return model.withNative((m) => this.handle.checkReplicas(m, when));
  }

  syncStats(model: DistributedModel): Promise<GradientSyncStats> {
    return model.withNative((m) => this.handle.syncStats(m));
  }

  resetSyncStats(model: DistributedModel): Promise<void> {
    return model.withNative((m) => this.handle.resetSyncStats(m));
  }

  barrier(): Promise<void> {
    return this.handle.barrier();
  }

  /** Leaves this rank's reason for stopping where the other ranks look when their collectives fail. */
  reportFailure(message: string): void {
    this.handle.reportFailure(message);
  }

  /** Leaves the group; `graceful` waits for every rank first (a barrier). */
  close(graceful = true): Promise<void> {
    return this.handle.close(graceful);
  }

  /** This rank's contiguous block of `count` items: [start, end). Blocks concatenated in rank order give back the input order. */
  block(count: number): { start: number; end: number } {
    return blockOf(count, this.rank, this.worldSize);
  }
}

export function blockOf(count: number, rank: number, worldSize: number): { start: number; end: number } {
  return { start: Math.floor((count * rank) / worldSize), end: Math.floor((count * (rank + 1)) / worldSize) };
}

function clip(s: string | undefined): string {
  const t = s ?? 'nothing';
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}
