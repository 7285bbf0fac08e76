// Loads the one native addon (local build or prebuilt binary) and explains failures.
import * as path from 'path';
import * as os from 'os';

/** Where the package lives (the folder holding package.json). */
export const packageRoot = path.resolve(__dirname, '..');

/** Builds the explanation shown when the addon cannot be loaded. */
export function loadFailureMessage(root: string, cause: unknown): string {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const napi = process.versions.napi ?? 'unknown';
  const lines = [
    `carclass: could not load the native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}, Node-API ${napi}).`,
    `Looked in ${path.join(root, 'build', 'Release')} and ${path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)}.`,
    `Underlying error: ${reason}`,
  ];
  if (/lib(torch|c10|turbojpeg|jpeg|png16|openblas|blas)[^ ]*\.so/.test(reason)) {
    lines.push('A system library the addon links against is missing.');
  } else if (/No native build was found|Cannot find module/.test(reason)) {
    lines.push('No prebuilt binary fits this platform and no local build exists.');
  }
  lines.push(
    'To fix it:',
    `  1. install the system libraries (LibTorch, libjpeg-turbo, libpng, OpenBLAS): sudo bash ${path.join(root, 'scripts', 'setup-system.sh')}`,
    '  2. if it still fails, build from source: npx carclass build   (or: npm rebuild carclass --foreground-scripts)',
  );
  return lines.join('\n');
}

/** Loads the addon from `root` with node-gyp-build; throws an Error carrying the explanation. */
export function loadAddon(root: string = packageRoot): any {
  // OpenMP threads that spin at barriers starve the loader's decode threads (and vice versa) on a
  // machine with few cores: a small model's step measured 36x slower with 2 spinning threads under
  // load. Passive waiting must be in the environment before libgomp is loaded with the addon.
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'PASSIVE';
  // Debian 13's LibTorch 2.x links OpenMPI, which loads UCX; UCX then patches mmap/brk in place for its
  // memory events while Node's threads allocate, and the build matrix saw two processes crash in malloc
  // that way. carclass never uses MPI or UCX: their memory hooks stay off (read when they load).
  if (process.env.UCX_MEM_EVENTS === undefined) process.env.UCX_MEM_EVENTS = 'no';
  if (process.env.UCX_MEMTYPE_CACHE === undefined) process.env.UCX_MEMTYPE_CACHE = 'n';
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nodeGypBuild = require('node-gyp-build');
    return nodeGypBuild(root);
  } catch (cause) {
    const err = new Error(loadFailureMessage(root, cause));
    (err as any).cause = cause;
    throw err;
  }
}

let cached: any;
/** The loaded addon, loaded once on first use; also applies the thread default. */
export function native(): any {
  if (!cached) {
    cached = loadAddon();
    cached.setThreads(defaultThreads());
  }
  return cached;
}

/** Threads: CARCLASS_THREADS, else the available cores (LibTorch's own default here is 1). */
export function defaultThreads(): number {
  const env = process.env.CARCLASS_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`Expected positive integer for CARCLASS_THREADS but received ${JSON.stringify(env)}`);
    }
    return n;
  }
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
