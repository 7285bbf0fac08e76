#!/usr/bin/env node
// Does one hostile body stall the other clients? A server (child process, colour demo backend 32x32) answers a steady
// stream of small :predict requests while hostile 32 MiB bodies arrive; prints the small requests' latency before and
// during, the hostile requests' answers and the server's peak RSS. Medians over --runs rounds.
//   node scripts/bench/serve/stall.js [--lib dist] [--runs 3] [--bodies 1] [--mib 32] [--kind rows|zeros|b64]
//   --lib points at another build's dist/ to compare (e.g. one compiled from an older commit).
//   rows:  {"instances":[[[],[],...]]}  one instance of millions of empty rows (the review's `[],` body)
//   zeros: {"instances":[[0,0,...]]}     millions of numbers in the wrong shape
//   b64:   {"instances":[{"b64":"AA=="},...]}  a million tiny instances
'use strict';
const { fork, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');

const root = path.resolve(__dirname, '..', '..', '..');

function parseArgs(argv) {
  const args = { lib: path.join(root, 'dist'), runs: 3, bodies: 1, mib: 32, kind: 'rows' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--lib') args.lib = path.resolve(argv[++i]);
    else if (a === '--runs') args.runs = Number(argv[++i]);
    else if (a === '--bodies') args.bodies = Number(argv[++i]);
    else if (a === '--mib') args.mib = Number(argv[++i]);
    else if (a === '--kind') args.kind = argv[++i];
    else if (a === '--child') args.child = true;
    else throw new Error(`Unknown argument ${a}; see the header of ${__filename}`);
  }
  return args;
}

async function child(args) {
  if (args.lib === path.join(root, 'dist')) {
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('TypeScript build failed');
  }
  const lib = require(args.lib);
  const server = lib.createServer(lib.createColourBackend({ height: 32, width: 32 }), { port: 0, webDir: false, maxBodyBytes: 64 << 20, requestTimeoutMs: 120_000 });
  const { port } = await server.listen();
  process.on('message', (m) => {
    if (m === 'rss') process.send({ peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) });
  });
  process.send({ port });
}

function post(port, body) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/models/carclass:predict', method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6, text: Buffer.concat(chunks).toString().slice(0, 120) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function hostileBody(kind, mib) {
  const bytes = mib * 1024 * 1024;
  if (kind === 'rows') return `{"instances":[[${'[],'.repeat(Math.floor((bytes - 20) / 3))}[]]]}`;
  if (kind === 'zeros') return `{"instances":[[${'0,'.repeat(Math.floor((bytes - 20) / 2))}0]]}`;
  if (kind === 'b64') return `{"instances":[${'{"b64":"AA=="},'.repeat(Math.floor((bytes - 40) / 15))}{"b64":"AA=="}]}`;
  throw new Error(`--kind rows|zeros|b64, not ${kind}`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

async function round(args, hostile, small) {
  const server = fork(__filename, ['--child', '--lib', args.lib], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise((resolve) => server.once('message', resolve));
  try {
    const before = [];
    for (let i = 0; i < 40; i++) before.push((await post(port, small)).ms);
    let done = false;
    const during = [];
    let failures = 0;
    const stream = (async () => {
      while (!done) {
        const t0 = Date.now();
        await post(port, small).then((a) => during.push(a.ms), () => { // a reset counts with the time it took
          failures++;
          during.push(Date.now() - t0);
        });
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const t0 = Date.now();
    const answers = await Promise.all(Array.from({ length: args.bodies }, () => post(port, hostile).catch((e) => ({ status: e.code, text: e.message }))));
    const hostileMs = Date.now() - t0;
    done = true;
    await stream;
    server.send('rss');
    const { peakRssMb } = await new Promise((resolve) => server.once('message', resolve));
    return { failures, beforeP50: median(before), duringP50: median(during), duringMax: Math.max(...during), duringP99: quantile(during, 0.99), hostileMs, peakRssMb, answer: `${answers[0].status} ${answers[0].text}` };
  } finally {
    server.kill();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return child(args);
  const small = JSON.stringify({ instances: [Array.from({ length: 32 }, () => Array.from({ length: 32 }, () => [0.5, -0.2, 0.1]))] });
  const hostile = hostileBody(args.kind, args.mib);
  const rounds = [];
  for (let r = 0; r < args.runs; r++) rounds.push(await round(args, hostile, small));
  const m = (key) => median(rounds.map((x) => x[key]));
  console.log(`lib ${path.relative(process.cwd(), args.lib) || '.'}, ${args.bodies} hostile ${args.kind} bod${args.bodies > 1 ? 'ies' : 'y'} of ${args.mib} MiB, medians of ${args.runs} rounds`);
  console.log(`| small request p50 before (ms) | p50 during | p99 during | max during | failed during | hostile answered after (ms) | server peak RSS (MB) |`);
  console.log(`| ${m('beforeP50').toFixed(1)} | ${m('duringP50').toFixed(1)} | ${m('duringP99').toFixed(1)} | ${m('duringMax').toFixed(1)} | ${m('failures')} | ${m('hostileMs')} | ${m('peakRssMb')} |`);
  console.log(`hostile answer: ${rounds[0].answer}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
