// `carclass <command> --nproc-per-node G`: spawns G local workers with the torchrun environment,
// shows one log (rank 0's output as is, other ranks' lines prefixed with their rank), forwards
// SIGINT/SIGTERM, and stops the remaining workers when one fails and the others do not follow.
import { spawn, ChildProcess } from 'child_process';
import * as net from 'net';
import * as os from 'os';
import * as readline from 'readline';
import { DIST_TIMEOUT_ENV, DEFAULT_DIST_TIMEOUT_SECONDS } from './env';

export interface LaunchFlags {
  nprocPerNode?: number;
  nnodes: number;
  nodeRank: number;
  masterAddr?: string;
  masterPort?: number;
  timeoutSeconds?: number;
}

/** Flags every distributed-capable command takes; the launcher consumes them. */
export const LAUNCH_HELP = [
  'Data parallel: --nproc-per-node G (G worker processes on this machine; torchrun-compatible environment)',
  '           --nnodes 1 --node-rank 0 --master-addr 127.0.0.1 --master-port (default: a free port on one node)',
  `           --dist-timeout ${DEFAULT_DIST_TIMEOUT_SECONDS} (seconds a rank waits for the others before stopping with the name of the stalled rank)`,
  '           or run under torchrun --no-python / a PyTorchJob: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are read',
];

const FLAG_NAMES = ['nproc-per-node', 'nnodes', 'node-rank', 'master-addr', 'master-port', 'dist-timeout'] as const;

export class LaunchFlagError extends Error {}

function intFlag(flag: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new LaunchFlagError(`Expected an integer in [${min}, ${max}] for --${flag} but received ${JSON.stringify(raw)}`);
  return n;
}

/** Takes the launch flags out of `argv` (both `--flag v` and `--flag=v`); the rest goes to the worker command. */
export function takeLaunchFlags(argv: string[]): { flags: LaunchFlags; rest: string[] } {
  const flags: LaunchFlags = { nnodes: 1, nodeRank: 0 };
  const rest: string[] = [];
  let nodeRankGiven = false, nnodesGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    const name = m?.[1] as (typeof FLAG_NAMES)[number] | undefined;
    if (!m || !name || !FLAG_NAMES.includes(name)) { rest.push(argv[i]); continue; }
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new LaunchFlagError(`--${name} needs a value`);
      value = argv[++i];
    }
    switch (name) {
      case 'nproc-per-node': flags.nprocPerNode = intFlag(name, value, 1, 1024); break;
      case 'nnodes': flags.nnodes = intFlag(name, value, 1, 100000); nnodesGiven = true; break;
      case 'node-rank': flags.nodeRank = intFlag(name, value, 0, 99999); nodeRankGiven = true; break;
      case 'master-port': flags.masterPort = intFlag(name, value, 1, 65535); break;
      case 'master-addr':
        if (!value) throw new LaunchFlagError('--master-addr needs a host name or address');
        flags.masterAddr = value;
        break;
      case 'dist-timeout': {
        const n = Number(value);
        if (!Number.isFinite(n) || n <= 0 || n > 86400) throw new LaunchFlagError(`Expected seconds in (0, 86400] for --dist-timeout but received ${JSON.stringify(value)}`);
        flags.timeoutSeconds = n;
        break;
      }
    }
  }
  if (flags.nprocPerNode === undefined && (nnodesGiven || nodeRankGiven || flags.masterAddr || flags.masterPort)) {
    throw new LaunchFlagError('--nnodes, --node-rank, --master-addr and --master-port go with --nproc-per-node');
  }
  if (flags.nodeRank >= flags.nnodes) throw new LaunchFlagError(`--node-rank ${flags.nodeRank} must be below --nnodes ${flags.nnodes}`);
  if (flags.nnodes > 1 && (!flags.masterAddr || !flags.masterPort)) {
    throw new LaunchFlagError('with --nnodes > 1 give --master-addr (the host of node 0) and --master-port, the same on every node');
  }
  return { flags, rest };
}

/** A TCP port that was free a moment ago (the rendezvous binds it right after). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface LaunchOptions {
  flags: LaunchFlags;
  /** The worker: program and arguments (default: this node, bin/carclass.js, then `args`). */
  program?: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Where the launcher's own messages and the prefixed lines of ranks other than 0 go (default stderr). */
  log?: NodeJS.WritableStream;
}

function signalNumber(signal: NodeJS.Signals): number {
  return os.constants.signals[signal] ?? 1;
}

/** Runs the workers to the end; resolves to the exit code (the first failing rank's, else rank 0's). */
export async function launchWorkers(o: LaunchOptions): Promise<number> {
  const { flags } = o;
  const perNode = flags.nprocPerNode ?? 1;
  const world = perNode * flags.nnodes;
  const masterAddr = flags.masterAddr ?? '127.0.0.1';
  const masterPort = flags.masterPort ?? (await freePort());
  const timeout = flags.timeoutSeconds ?? DEFAULT_DIST_TIMEOUT_SECONDS;
  const log = o.log ?? process.stderr;
  const say = (s: string) => log.write(`carclass launcher: ${s}\n`);
  const base = { ...(o.env ?? process.env) };
  // Each worker gets its share of the cores unless threads were chosen.
  if (base.CARCLASS_THREADS === undefined) base.CARCLASS_THREADS = String(Math.max(1, Math.floor((os.availableParallelism?.() ?? os.cpus().length) / perNode)));
  const children: { rank: number; child: ChildProcess; exit?: { code: number | null; signal: NodeJS.Signals | null } }[] = [];
  let firstFailure: number | null = null;
  let stopTimer: NodeJS.Timeout | null = null;
  let killTimer: NodeJS.Timeout | null = null;

  let forwarded: NodeJS.Signals | null = null;
  const forward = (signal: NodeJS.Signals) => () => {
    forwarded = signal;
    say(`${signal}: passing it to ${children.filter((c) => !c.exit).length} worker(s)`);
    for (const c of children) if (!c.exit) c.child.kill(signal);
  };
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);

  const done = new Promise<number>((resolve) => {
    let remaining = perNode;
    for (let local = 0; local < perNode; local++) {
      const rank = flags.nodeRank * perNode + local;
      const env = {
        ...base, RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(local), LOCAL_WORLD_SIZE: String(perNode),
        GROUP_RANK: String(flags.nodeRank), MASTER_ADDR: masterAddr, MASTER_PORT: String(masterPort), [DIST_TIMEOUT_ENV]: String(timeout),
      };
      const program = o.program ?? process.execPath;
      const child = spawn(program, o.args, { env, stdio: rank === 0 ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
      const entry: (typeof children)[number] = { rank, child };
      children.push(entry);
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream) continue;
        readline.createInterface({ input: stream }).on('line', (line) => log.write(`[rank ${rank}] ${line}\n`));
      }
      child.on('error', (e) => say(`rank ${rank} could not start: ${e.message}`));
      child.on('exit', (code, signal) => {
        entry.exit = { code, signal };
        const failed = signal !== null || code !== 0;
        if (failed) {
          // After a forwarded signal, workers stopping (130 after saving checkpoints/last) is what was asked.
          if (!forwarded) say(`rank ${rank} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`);
          if (firstFailure === null) firstFailure = signal ? 128 + signalNumber(signal) : code ?? 1;
          // The others stop by themselves within the timeout (their collectives fail and name the rank);
          // whoever is still running after that is stopped.
          if (!stopTimer) {
            stopTimer = setTimeout(() => {
              const left = children.filter((c) => !c.exit);
              if (!left.length) return;
              say(`stopping rank(s) ${left.map((c) => c.rank).join(', ')}, still running ${timeout + 15} s after rank ${rank} failed`);
              for (const c of left) c.child.kill('SIGTERM');
              killTimer = setTimeout(() => { for (const c of children) if (!c.exit) c.child.kill('SIGKILL'); }, 10000);
            }, (timeout + 15) * 1000);
          }
        }
        if (--remaining === 0) {
          const zero = children.find((c) => c.rank === flags.nodeRank * perNode)!.exit!;
          resolve(firstFailure ?? (zero.signal ? 128 + signalNumber(zero.signal) : zero.code ?? 1));
        }
      });
    }
  });
  try {
    return await done;
  } finally {
    if (stopTimer) clearTimeout(stopTimer);
    if (killTimer) clearTimeout(killTimer);
    for (const [s, h] of handlers) process.removeListener(s, h);
  }
}
