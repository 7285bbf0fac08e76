// The packed tarball installs with --ignore-scripts (npm 11's default for dependencies) and loads
// from prebuilds/, with no local build and no install script.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './helpers';

const root = path.resolve(__dirname, '..');

test('npm pack + npm install --ignore-scripts gives a working require("carclass")', () => {
  const dir = tempDir('pack');
  const out = execFileSync('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: root, encoding: 'utf8' });
  const tarball = path.join(dir, out.trim().split('\n').pop()!);
  expect(fs.existsSync(tarball)).toBe(true);
  const app = path.join(dir, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, stdio: 'pipe' });
  const installed = path.join(app, 'node_modules', 'carclass');
  expect(fs.existsSync(path.join(installed, 'prebuilds', `${process.platform}-${process.arch}`, 'carclass.node'))).toBe(true);
  expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
  const printed = execFileSync(process.execPath, ['-e', 'console.log(JSON.stringify(require("carclass").versions()))'], { cwd: app, encoding: 'utf8' });
  const v = JSON.parse(printed);
  expect(v.torch).toMatch(/^\d+\.\d+\.\d+/);
  expect(v.libjpegTurbo).toMatch(/^\d+\.\d+\.\d+$/);
  const bin = execFileSync(path.join(app, 'node_modules', '.bin', 'carclass'), ['--version'], { cwd: app, encoding: 'utf8' });
  expect(JSON.parse(bin).carclass).toBe(require('../package.json').version);
}, 300000);
