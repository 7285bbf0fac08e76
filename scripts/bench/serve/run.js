#!/usr/bin/env node
// Benchmark of the REST server on the b64 JPEG path: requests/s and p50/p99 latency with autocannon at
// concurrency 1, 8 and 32. The server runs in a child process so the load generator does not share its event loop.
// Real engine when the library has one (a tiny checkpoint is created), else the colour demo backend; it says which.
//   npm run bench:serve [-- --duration 10 --fake --connections 1,8,32 --instances 1]
'use strict';
const { fork, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..', '..', '..');
const SIZE = [224, 224, 3];

function parseArgs(argv) {
  const args = { duration: 5, fake: false, connections: [1, 8, 32], instances: 1, maxBatchSize: 32, maxWaitMs: 5 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--fake') args.fake = true;
    else if (a === '--duration') args.duration = Number(argv[++i]);
    else if (a === '--connections') args.connections = argv[++i].split(',').map(Number);
    else if (a === '--instances') args.instances = Number(argv[++i]);
    else if (a === '--max-batch-size') args.maxBatchSize = Number(argv[++i]);
    else if (a === '--max-wait-ms') args.maxWaitMs = Number(argv[++i]);
    else if (a === '--child') args.child = true;
    else throw new Error(`Unknown argument ${a}; see the header of ${__filename}`);
  }
  return args;
}

/** The compiled library; compiles it first when dist/ is missing or older than lib/serve. */
function library() {
  const built = path.join(root, 'dist', 'serve', 'server.js');
  const newest = (dir) => fs.readdirSync(dir).reduce((t, f) => Math.max(t, fs.statSync(path.join(dir, f)).mtimeMs), 0);
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < newest(path.join(root, 'lib', 'serve'))) {
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('TypeScript build failed');
  }
  return require(path.join(root, 'dist'));
}

/** A backend over a tiny engine checkpoint, or undefined with the reason. */
async function realBackend(lib) {
  if (typeof lib.createModel !== 'function' || typeof lib.loadModel !== 'function' || typeof lib.decodeImage !== 'function') {
    return { reason: 'this build has no model engine (createModel/loadModel/decodeImage)' };
  }
  try {
    const classes = Array.from({ length: 10 }, (_, i) => `Make${i}_Model${i}`);
    const model = await lib.createModel({ arch: 'resnet-tiny', numClasses: classes.length, inputShape: SIZE, seed: 1 });
    const checkpoint = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-bench-serve-'));
    await model.save(checkpoint, { classes, preprocess: 'tf' });
    const loaded = await lib.loadModel(checkpoint);
    return { backend: lib.backendFromModel(loaded, { decodeImage: lib.decodeImage }), what: `engine, resnet-tiny ${SIZE.join('x')}, ${loaded.classes.length} classes` };
  } catch (error) {
    return { reason: `the engine failed: ${error.message}` };
  }
}

async function child(args) {
  const lib = library();
  let chosen = args.fake ? { reason: '--fake' } : await realBackend(lib);
  if (!chosen.backend) {
    chosen = { backend: lib.createColourBackend({ height: SIZE[0], width: SIZE[1] }), what: `colour demo backend (no engine: ${chosen.reason}), ${SIZE.join('x')}` };
  }
  const server = lib.createServer(chosen.backend, { port: 0, webDir: false, maxBatchSize: args.maxBatchSize, maxWaitMs: args.maxWaitMs, maxConcurrency: 1024 });
  const { url } = await server.listen();
  process.on('message', async (message) => {
    if (message === 'stats') process.send({ stats: server.stats() });
    if (message === 'close') {
      await server.close();
      process.exit(0);
    }
  });
  process.send({ url, what: chosen.what });
}

async function picture() {
  // The shared data sits next to the repository (or next to the worktrees' folder).
  const name = path.join('shared', 'data', 'cars-sample', 'BMW_2-Series_2014_32_17_240_20_4_69_55_174_23_RWD_4_2_2dr_OGt.jpg');
  const sample = [path.join(root, '..', name), path.join(root, '..', '..', name)].find((p) => fs.existsSync(p));
  if (sample) return { jpeg: fs.readFileSync(sample), what: `${path.basename(sample)}, 320 px wide` };
  const sharp = require('sharp');
  const jpeg = await sharp({ create: { width: 320, height: 212, channels: 3, background: { r: 90, g: 110, b: 160 } } }).jpeg({ quality: 75 }).toBuffer();
  return { jpeg, what: 'generated 320x212 JPEG' };
}

function ask(proc, message, key) {
  return new Promise((resolve) => {
    const onMessage = (m) => {
      if (m && m[key] !== undefined) {
        proc.off('message', onMessage);
        resolve(m);
      }
    };
    proc.on('message', onMessage);
    if (message) proc.send(message);
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return child(args);
  const autocannon = require('autocannon');
  const server = fork(__filename, [...process.argv.slice(2), '--child'], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  const { url, what } = await ask(server, undefined, 'url');
  const image = await picture();
  const body = JSON.stringify({ signature_name: 'serving_default', instances: Array(args.instances).fill({ b64: image.jpeg.toString('base64') }) });
  const endpoint = `${url}/v1/models/carclass:predict`;
  const check = await fetch(endpoint, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  if (check.status !== 200) throw new Error(`The server answered ${check.status}: ${await check.text()}`);
  console.log(`carclass bench:serve — backend: ${what}`);
  console.log(`POST :predict with ${args.instances} b64 JPEG instance(s) (${image.what}, ${body.length} bytes), ${args.duration} s per row, ` +
    `maxBatchSize ${args.maxBatchSize}, maxWaitMs ${args.maxWaitMs}, Node ${process.version}, ${os.cpus().length} CPUs\n`);
  const rows = [];
  for (const connections of args.connections) {
    // A short warm-up, not measured.
    await autocannon({ url: endpoint, method: 'POST', body, headers: { 'content-type': 'application/json' }, connections, duration: 1 });
    const mid = (await ask(server, 'stats', 'stats')).stats;
    const r = await autocannon({ url: endpoint, method: 'POST', body, headers: { 'content-type': 'application/json' }, connections, duration: args.duration });
    const after = (await ask(server, 'stats', 'stats')).stats;
    const batches = after.engineBatches - mid.engineBatches;
    rows.push({
      connections,
      rps: r.requests.average,
      imagesPerS: (r.requests.average * args.instances),
      p50: r.latency.p50,
      p99: r.latency.p99,
      meanBatch: batches ? (after.engineInstances - mid.engineInstances) / batches : 0,
      failures: r.non2xx + r.errors + r.timeouts,
    });
  }
  console.log('| concurrency | requests/s | images/s | p50 ms | p99 ms | mean engine batch | errors |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    console.log(`| ${row.connections} | ${row.rps.toFixed(1)} | ${row.imagesPerS.toFixed(1)} | ${row.p50} | ${row.p99} | ${row.meanBatch.toFixed(1)} | ${row.failures} |`);
  }
  server.send('close');
}

main().catch((error) => {
  console.error(`bench:serve failed: ${error.stack || error.message}`);
  process.exit(1);
});
