// `carclass doctor`: versions, threads, BLAS speed, CUDA devices.
import * as fs from 'fs';
import * as os from 'os';
import { native } from '../native';
import { Command } from './command';
import { versions, measureGemm, Versions } from '../runtime';

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

/** True when the only BLAS found is the reference one (Debian's libblas), about 25x slower than OpenBLAS. */
export function isReferenceBlas(libraries: string[]): boolean {
  return libraries.some((b) => /\/blas\/libblas\.so|\/libblas\.so/.test(b)) && !libraries.some((b) => /openblas|mkl|blis/.test(b));
}

/** One line per GPU: index, name, memory and compute capability where the build can read them. */
export function cudaLines(v: Pick<Versions, 'cuda' | 'nccl' | 'torchBuild'>): string[] {
  if (!v.cuda.available) return [`CUDA: not available (${v.torchBuild === 'CPU' ? 'CPU build of LibTorch' : `${v.torchBuild} build, no GPU visible`})`];
  const lines = [`CUDA: ${v.cuda.devices.length} device(s)${v.nccl ? `, NCCL ${v.nccl}` : ''}`];
  for (const d of v.cuda.devices) {
    const facts = [d.memoryGiB > 0 ? `${d.memoryGiB.toFixed(1)} GiB` : '', d.capability ? `compute ${d.capability}` : ''].filter(Boolean);
    lines.push(`  cuda:${d.index} ${d.name}${facts.length ? ` (${facts.join(', ')})` : ''}`);
  }
  return lines;
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
    `carclass ${v.carclass}  torch ${v.torch} (${v.torchBuild}${v.cudnn ? `, cuDNN ${v.cudnn}` : ''})  libjpeg-turbo ${v.libjpegTurbo}  Node-API ${v.napi}  Node ${process.versions.node}`,
    `threads: ${v.threads} (available cores: ${cores}${process.env.CARCLASS_THREADS ? `, CARCLASS_THREADS=${process.env.CARCLASS_THREADS}` : ''})`,
  ];
  if (v.threads < cores && !process.env.CARCLASS_THREADS) warnings.push(`only ${v.threads} of ${cores} cores in use; set CARCLASS_THREADS or the threads option`);
  const gflops = await measureGemm(512, 7);
  const blas = loadedBlasLibraries();
  lines.push(`matrix product 512x512 float32: ${gflops.toFixed(1)} GFLOP/s`);
  const blasThreads: number = native().versions().blasThreads ?? 0;
  lines.push(`BLAS: ${blas.length ? blas.join(', ') : 'not found in process maps'}${blasThreads ? ` (${blasThreads} thread${blasThreads > 1 ? 's' : ''})` : ''}`);
  // Decided from the library mapped in, not from the rate: a busy machine gives any BLAS a low figure.
  if (isReferenceBlas(blas)) {
    warnings.push(`BLAS is the slow reference implementation (${blas.join(', ')}; ${gflops.toFixed(1)} GFLOP/s). Install OpenBLAS: sudo apt-get install libopenblas0-pthread`);
  }
  // The 1x1-convolution detour (one thread, batch < 16): checked against PyTorch's own convolution here.
  const conv = await native().conv1x1Check(4, 64, 32, 13, 17, 2, 1, true);
  const convError = Math.max(conv.output, conv.inputGrad, conv.weightGrad, conv.biasGrad);
  lines.push(conv.active ? `1x1 convolutions on one thread: oneDNN (agrees with PyTorch's convolution within ${convError.toExponential(1)})`
    : `1x1 convolutions on one thread: PyTorch's own path (${process.env.CARCLASS_CONV1X1_ONEDNN === '0' ? 'CARCLASS_CONV1X1_ONEDNN=0' : 'this LibTorch has no oneDNN'})`);
  if (conv.active && !(convError < 1e-4)) warnings.push(`the oneDNN 1x1 convolution differs from PyTorch's by ${convError}; set CARCLASS_CONV1X1_ONEDNN=0`);
  lines.push(...cudaLines(v));
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
