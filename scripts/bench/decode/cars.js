// The six sample cars for the decode benches (shared/data/cars-sample, sorted by name).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '../../..');

function carFiles() {
  const dir = [process.env.CARCLASS_SHARED_DATA, path.resolve(root, '../shared/data'), '/work/shared/data']
    .filter(Boolean).map((d) => path.join(d, 'cars-sample')).find((d) => fs.existsSync(d));
  if (!dir) throw new Error('shared/data not found: set CARCLASS_SHARED_DATA');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(dir, f));
}

module.exports = { carFiles };
