#!/usr/bin/env node
// Builds the addon, strips it and places prebuilds/<platform>-<arch>/carclass.node,
// so the packed tarball loads with `npm install --ignore-scripts`.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
execFileSync(process.execPath, [path.join(__dirname, 'build-native.js')], { stdio: 'inherit' });
const built = path.join(root, 'build', 'Release', 'carclass.node');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
fs.mkdirSync(dir, { recursive: true });
const target = path.join(dir, 'carclass.node');
fs.copyFileSync(built, target);
try {
  execFileSync('strip', ['--strip-unneeded', target], { stdio: 'inherit' });
} catch (e) {
  console.warn(`prebuild: strip failed (${e.message}); keeping the unstripped binary`);
}
console.log(`prebuild: ${path.relative(root, target)} (${(fs.statSync(target).size / 1e6).toFixed(1)} MB)`);
