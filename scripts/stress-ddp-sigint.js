#!/usr/bin/env node
// Stress check of SIGINT under `carclass train --nproc-per-node 2`: N runs on a generated demo set, each
// interrupted at a random moment after its first epoch; every run must exit 130 (interrupted and saved).
// A rank that leaves a collective the other is still in shows as exit 134 (Gloo terminate) or a hang.
// Usage: node scripts/stress-ddp-sigint.js [runs=10]   (needs the addon and the compiled TS: npm run compile)
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const root = path.resolve(__dirname, '..');
const { generateDemoDataset } = require(path.join(root, 'dist', 'demo'));

(async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-sigint-'));
  const data = path.join(work, 'data');
  await generateDemoDataset(data, { classes: 8, perClass: 4, width: 48, height: 32, seed: 11 });
  const runs = Number(process.argv[2] || 10);
  const codes = {};
  for (let i = 0; i < runs; i++) {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'carclass.js'), 'train', data, '--out', path.join(work, `run-${i}`), '--label-type', 'model',
      '--arch', 'resnet-tiny', '--size', '32x48', '--batch-size', '2', '--epochs', '500', '--no-tensorboard', '--no-early-stopping',
      '--nproc-per-node', '2', '--dist-timeout', '8'], { env: { ...process.env, CARCLASS_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const until = Date.now() + 60000;
    while (!/val_loss/.test(out) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, Math.random() * 300));
    child.kill('SIGINT');
    const kill = setTimeout(() => child.kill('SIGKILL'), 60000);
    const code = await new Promise((r) => child.on('exit', (c, s) => r(c ?? s)));
    clearTimeout(kill);
    codes[code] = (codes[code] || 0) + 1;
    console.log(`run ${i + 1}/${runs}: exit ${code}`);
    if (code !== 130) console.log(err.split('\n').slice(-8).join('\n'));
  }
  fs.rmSync(work, { recursive: true, force: true });
  console.log(`exit codes: ${JSON.stringify(codes)}`);
  process.exitCode = codes[130] === runs ? 0 : 1;
})();
