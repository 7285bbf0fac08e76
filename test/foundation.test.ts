// Addon loading, versions, threads and the CLI entry point.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { loadAddon, loadFailureMessage, versions, setThreads, defaultThreads } from '../lib';
import { tempDir } from './helpers';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'bin', 'carclass.js');

describe('addon loading', () => {
  test('an empty folder gives a message naming platform, Node-API, the cause and the fix', () => {
    const empty = tempDir('noaddon');
    let message = '';
    try {
      loadAddon(empty);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(`${process.platform}-${process.arch}`);
    expect(message).toContain(`Node-API ${process.versions.napi}`);
    expect(message).toMatch(/Underlying error: .*(No native build was found|ENOENT|Cannot find)/);
    expect(message).toContain('scripts/setup-system.sh');
    expect(message).toContain('npx carclass build');
    expect(message).toContain('npm rebuild carclass');
  });

  test('a missing shared library is named as such', () => {
    const msg = loadFailureMessage('/x', new Error('libtorch_cpu.so: cannot open shared object file: No such file or directory'));
    expect(msg).toContain('libtorch_cpu.so: cannot open shared object file');
    expect(msg).toContain('A system library the addon links against is missing');
  });
});

describe('versions and threads', () => {
  test('versions() names torch, libjpeg-turbo, Node-API and CUDA', () => {
    const v = versions();
    expect(v.carclass).toBe(require('../package.json').version);
    expect(v.torch).toMatch(/^\d+\.\d+\.\d+/);
    expect(v.libjpegTurbo).toMatch(/^\d+\.\d+\.\d+$/);
    expect(v.napi).toBe(Number(process.versions.napi));
    expect(typeof v.cuda.available).toBe('boolean');
    expect(Array.isArray(v.cuda.devices)).toBe(true);
    expect(v.threads).toBeGreaterThanOrEqual(1);
  });

  test('threads default to the available cores and can be set', () => {
    const prev = versions().threads;
    expect(prev).toBe(defaultThreads());
    expect(setThreads(1)).toBe(1);
    expect(versions().threads).toBe(1);
    expect(() => setThreads(0)).toThrow('Expected positive integer for threads but received 0 of type number');
    setThreads(prev);
  });

  test('CARCLASS_THREADS overrides the default; a bad value is a clear error', () => {
    const run = (env: string) => spawnSync(process.execPath, [cli, '--version'], { env: { ...process.env, CARCLASS_THREADS: env }, encoding: 'utf8' });
    const ok = run('1');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout).threads).toBe(1);
    const bad = run('many');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('Expected positive integer for CARCLASS_THREADS but received "many"');
  });
});

describe('cli', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  test('doctor reports GEMM speed, BLAS and threads', () => {
    const r = run('doctor', '--json');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    const gemm = report.lines.find((l: string) => l.startsWith('matrix product'));
    expect(Number(/([\d.]+) GFLOP\/s/.exec(gemm)![1])).toBeGreaterThan(0);
    expect(report.lines.some((l: string) => l.startsWith('threads:'))).toBe(true);
  });

  test('unknown command and unknown flag exit with code 2 and name the culprit', () => {
    const a = run('frobnicate');
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('unknown command "frobnicate"');
    const b = run('doctor', '--bogus');
    expect(b.status).toBe(2);
    expect(b.stderr).toContain("'--bogus'");
  });
});
