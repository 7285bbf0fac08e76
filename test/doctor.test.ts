import { isReferenceBlas, doctorReport } from '../lib/cli/doctor';
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
  });
});
