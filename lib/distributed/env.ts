// The torchrun environment contract (also what a Kubeflow PyTorchJob sets): RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Each value is checked and named when wrong.

export interface DistributedEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** torchrun's agent hosts the store itself (TORCHELASTIC_USE_AGENT_STORE=True): rank 0 connects as a client. */
  agentStore: boolean;
}

/** Seconds every rendezvous and collective may wait before naming the rank that stalled (--dist-timeout). */
export const DEFAULT_DIST_TIMEOUT_SECONDS = 120;
export const DIST_TIMEOUT_ENV = 'CARCLASS_DIST_TIMEOUT';

function intVar(env: NodeJS.ProcessEnv, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') throw new Error(`distributed environment: ${name} is not set (the launcher sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT)`);
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`distributed environment: ${name}=${JSON.stringify(raw)} is not an integer in [${min}, ${max}]`);
  }
  return n;
}

/** The process's place in a distributed job, or null when WORLD_SIZE is unset (a plain single process). */
export function distributedEnv(env: NodeJS.ProcessEnv = process.env): DistributedEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') return null;
  const worldSize = intVar(env, 'WORLD_SIZE', 1);
  const rank = intVar(env, 'RANK', 0, worldSize - 1);
  const localWorldSize = env.LOCAL_WORLD_SIZE === undefined || env.LOCAL_WORLD_SIZE === '' ? worldSize : intVar(env, 'LOCAL_WORLD_SIZE', 1, worldSize);
  const localRank = env.LOCAL_RANK === undefined || env.LOCAL_RANK === '' ? rank % localWorldSize : intVar(env, 'LOCAL_RANK', 0, localWorldSize - 1);
  const masterAddr = env.MASTER_ADDR ?? '';
  if (worldSize > 1 && !masterAddr) throw new Error('distributed environment: MASTER_ADDR is not set (the host of rank 0)');
  const masterPort = worldSize > 1 ? intVar(env, 'MASTER_PORT', 1, 65535) : 0;
  return { rank, worldSize, localRank, localWorldSize, masterAddr: masterAddr || '127.0.0.1', masterPort, agentStore: /^(true|1)$/i.test(env.TORCHELASTIC_USE_AGENT_STORE ?? '') };
}

/** --dist-timeout as passed down by the launcher (or set by hand), else the default. */
export function distTimeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[DIST_TIMEOUT_ENV];
  if (raw === undefined || raw === '') return DEFAULT_DIST_TIMEOUT_SECONDS;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 86400) throw new Error(`${DIST_TIMEOUT_ENV}=${JSON.stringify(raw)} is not a number of seconds in (0, 86400]`);
  return n;
}
