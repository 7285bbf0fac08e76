import { isReferenceBlas, doctorReport, cudaLines } from '../lib/cli/doctor';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { versions } from '../lib/runtime';

describe('doctor', () => {
  test('the reference BLAS is recognised from the library, whatever the GEMM rate', () => {
    expect(isReferenceBlas(['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0'])).toBe(true);
    expect(isReferenceBlas(['/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3', '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so'])).toBe(false);
    expect(isReferenceBlas(['/opt/intel/mkl/lib/libmkl_rt.so'])).toBe(false);
    expect(isReferenceBlas([])).toBe(false);
  });

  test('versions name the LibTorch build and cuDNN', () => {
    const v = versions();
    expect(v.torchBuild).toMatch(/^(CPU|CUDA \d+\.\d+)$/);
    expect(Number.isInteger(v.cudnn)).toBe(true);
    if (v.torchBuild === 'CPU') expect(v.cuda.available).toBe(false);
  });

  test('report prints the torch build and does not flag OpenBLAS as reference', async () => {
    const r = await doctorReport();
    expect(r.lines[0]).toMatch(/torch \S+ \((CPU|CUDA [\d.]+)/);
    expect(r.warnings.join('\n')).not.toMatch(/reference implementation/);
    // OpenBLAS's own pool follows carclass's thread count (one-thread workers do not each take every core).
    expect(r.lines.find((l) => l.startsWith('BLAS: '))).toMatch(new RegExp(`openblas.*\\(${versions().threads} threads?\\)$`));
    // Debian's LibTorch has oneDNN: the 1x1 detour is on and checked.
    const conv = r.lines.find((l) => l.startsWith('1x1 convolutions on one thread'));
    expect(conv).toMatch(/^1x1 convolutions on one thread: oneDNN \(agrees with PyTorch's convolution within \d\.\de-\d+\)$/);
    expect(r.warnings.join('\n')).not.toMatch(/oneDNN 1x1/);
  });

  test('CARCLASS_THREADS=1 also leaves OpenBLAS one thread', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'carclass.js'), 'doctor'], { encoding: 'utf8', env: { ...process.env, CARCLASS_THREADS: '1' } });
    expect(r.stdout).toMatch(/^threads: 1 /m);
    expect(r.stdout).toMatch(/^BLAS: .*openblas.* \(1 thread\)$/m);
  }, 60000);

  test('GPU lines name each device with its memory and compute capability, and NCCL', () => {
    const devices = [
      { index: 0, name: 'NVIDIA H200', memoryGiB: 139.8099, capability: '9.0' },
      { index: 1, name: 'cuda:1', memoryGiB: 0, capability: '' },
    ];
    expect(cudaLines({ torchBuild: 'CUDA 13.0', nccl: '2.27.3', cuda: { available: true, devices } })).toEqual([
      'CUDA: 2 device(s), NCCL 2.27.3', '  cuda:0 NVIDIA H200 (139.8 GiB, compute 9.0)', '  cuda:1 cuda:1',
    ]);
    expect(cudaLines({ torchBuild: 'CPU', nccl: '', cuda: { available: false, devices: [] } })).toEqual(['CUDA: not available (CPU build of LibTorch)']);
    expect(cudaLines({ torchBuild: 'CUDA 12.4', nccl: '2.21.5', cuda: { available: false, devices: [] } })).toEqual(
      ['CUDA: not available (CUDA 12.4 build, no GPU visible)']);
  });

  test('this build reports NCCL only with CUDA, and devices with their memory', () => {
    const v = versions();
    if (v.torchBuild === 'CPU') expect(v.nccl).toBe('');
    else expect(v.nccl).toMatch(/^(\d+\.\d+\.\d+)?$/);
    for (const d of v.cuda.devices) {
      expect(d.name.length).toBeGreaterThan(0);
      expect(d.memoryGiB).toBeGreaterThanOrEqual(0);
    }
  });
});
