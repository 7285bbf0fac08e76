// `carclass build`: compiles the addon from source (for platforms without a prebuilt binary).
import { spawnSync } from 'child_process';
import * as path from 'path';
import { Command } from './command';
import { packageRoot } from '../native';

export const buildCommand: Command = {
  name: 'build',
  summary: 'Builds the native addon from source with cmake-js (set LIBTORCH or Torch_DIR for another LibTorch, e.g. a CUDA build).',
  usage: 'carclass build',
  options: {},
  async run() {
    const r = spawnSync(process.execPath, [path.join(packageRoot, 'scripts', 'build-native.js')], { stdio: 'inherit' });
    return r.status ?? 1;
  },
};
