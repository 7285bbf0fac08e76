#!/usr/bin/env node
// Builds the addon with cmake-js in Node-API mode (no Node headers download).
// Another LibTorch: LIBTORCH=/path/to/libtorch, or Torch_DIR=/path/share/cmake/Torch.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');
const os = require('os');

const root = path.resolve(__dirname, '..');
const args = ['compile', '--directory', root, '--config', 'Release'];
const parallel = process.env.CARCLASS_BUILD_JOBS || String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));
args.push('--parallel', parallel);
if (process.env.Torch_DIR) args.push(`--CDTorch_DIR=${process.env.Torch_DIR}`);
if (process.env.CARCLASS_NATIVE_TESTS) args.push('--CDCARCLASS_NATIVE_TESTS=ON');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, ...args], { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  console.error('\ncarclass: native build failed. Install the system packages first:\n' +
    '  sudo bash ' + path.join(root, 'scripts/setup-system.sh') + '\n' +
    'or point LIBTORCH / Torch_DIR at a LibTorch install.');
  process.exit(r.status || 1);
}
