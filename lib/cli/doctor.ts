// `carclass doctor`: versions, threads, BLAS speed, CUDA devices.
import * as fs from 'fs';
import * as os from 'os';
import { Command } from './command';
import { versions, measureGemm } from '../runtime';

/** Below this GEMM rate per thread the BLAS in use is almost surely the slow reference one. */
const SLOW_BLAS_GFLOPS_PER_THREAD = 8;

/** Names the BLAS libraries mapped into this process (after a GEMM has loaded them). */
export function loadedBlasLibraries(): string[] {
  try {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    const libs = new Set<string>();
    for (const line of maps.split('\n')) {
      const m = /(\/\S*(?:blas|mkl|blis)\S*\.so[.\d]*)/.exec(line);
      if (m) libs.add(fs.existsSync(m[1]) ? fs.realpathSync(m[1]) : m[1]);
    }
    return [...libs];
  } catch {
    return [];
  }
}

export interface DoctorReport {
  lines: string[];
  warnings: string[];
}

export async function doctorReport(): Promise<DoctorReport> {
  const v = versions();
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const warnings: string[] = [];
  const lines = [
    `carclass ${v.carclass}  torch ${v.torch}  libjpeg-turbo ${v.libjpegTurbo}  Node-API ${v.napi}  Node ${process.versions.node}`,
    `threads: ${v.threads} (available cores: ${cores}${process.env.CARCLASS_THREADS ? `, CARCLASS_THREADS=${process.env.CARCLASS_THREADS}` : ''})`,
  ];
  if (v.threads < cores && !process.env.CARCLASS_THREADS) warnings.push(`only ${v.threads} of ${cores} cores in use; set CARCLASS_THREADS or the threads option`);
  const gflops = await measureGemm(512, 7);
  const blas = loadedBlasLibraries();
  lines.push(`matrix product 512x512 float32: ${gflops.toFixed(1)} GFLOP/s`);
  lines.push(`BLAS: ${blas.length ? blas.join(', ') : 'not found in process maps'}`);
  const reference = blas.some((b) => /\/blas\/libblas\.so/.test(b)) && !blas.some((b) => /openblas|mkl|blis/.test(b));
  if (reference || gflops < SLOW_BLAS_GFLOPS_PER_THREAD * v.threads) {
    warnings.push(`BLAS looks like the slow reference implementation (${gflops.toFixed(1)} GFLOP/s). Install OpenBLAS: sudo apt-get install libopenblas0-pthread`);
  }
  lines.push(`CUDA: ${v.cuda.available ? v.cuda.devices.map((d) => d.name).join(', ') : 'not available (CPU build or no GPU)'}`);
  return { lines, warnings };
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'Checks the installation: library versions, thread count, BLAS speed and CUDA devices.',
  usage: 'carclass doctor [--json]',
  options: { json: { type: 'boolean' } },
  async run(values) {
    const report = await doctorReport();
    if (values.json) {
      console.log(JSON.stringify({ versions: versions(), ...report }, null, 2));
    } else {
      for (const l of report.lines) console.log(l);
      for (const w of report.warnings) console.log(`WARNING: ${w}`);
      if (!report.warnings.length) console.log('All checks passed.');
    }
    return 0;
  },
};
