// Versions, threads and the doctor checks.
import { native, defaultThreads } from './native';

export interface Versions {
  carclass: string;
  torch: string;
  /** LibTorch's build: 'CPU' or 'CUDA 12.4'. */
  torchBuild: string;
  /** cuDNN version as LibTorch reports it (e.g. 90100), 0 without cuDNN. */
  cudnn: number;
  libjpegTurbo: string;
  napi: number;
  /** NCCL's version ('2.21.5') in a CUDA LibTorch built with it, else ''. */
  nccl: string;
  cuda: { available: boolean; devices: CudaDevice[] };
  threads: number;
}

export interface CudaDevice {
  index: number;
  /** 'NVIDIA H200' (a CUDA build reads it from the CUDA runtime), else 'cuda:N'. */
  name: string;
  /** Total device memory, 0 when unknown. */
  memoryGiB: number;
  /** Compute capability '9.0', '' when unknown. */
  capability: string;
}

export function versions(): Versions {
  const v = native().versions();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pkg = require('../package.json');
  return { carclass: pkg.version, torch: v.torch, torchBuild: v.torchBuild, cudnn: v.cudnn, libjpegTurbo: v.libjpegTurbo, nccl: v.nccl ?? '', napi: Number(process.versions.napi), cuda: v.cuda, threads: v.threads };
}

/** Sets LibTorch's thread count; returns the count now in force. */
export function setThreads(threads: number = defaultThreads()): number {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new TypeError(`Expected positive integer for threads but received ${threads} of type ${typeof threads}`);
  }
  return native().setThreads(threads);
}

/** Median GFLOP/s of a float32 n x n matrix product: tells a fast BLAS from the reference one. */
export function measureGemm(n = 512, repeats = 5): Promise<number> {
  return native().gemmGflops(n, repeats);
}
