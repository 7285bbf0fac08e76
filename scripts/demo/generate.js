#!/usr/bin/env node
// Writes the synthetic demo dataset (needs `npx tsc` first): node scripts/demo/generate.js DIR [perClass] [width] [height] [classes] [seed]
'use strict';
const { generateDemoDataset } = require('../../dist/demo');

const [dir, perClass = '300', width = '128', height = '96', classes = '10', seed = '1'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/demo/generate.js DIR [perClass] [width] [height] [classes] [seed]');
  process.exit(2);
}
const t0 = Date.now();
generateDemoDataset(dir, { perClass: +perClass, width: +width, height: +height, classes: +classes, seed: +seed }).then((r) => {
  console.log(`wrote ${r.files.length} images of ${r.classes.length} classes to ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
