// Shared by the ResNet50V2 benchmarks: the same shape, thread count and statistic everywhere.
'use strict';
const os = require('os');

const RESNET_BENCH = { batch: 16, height: 212, width: 320, classes: 300 };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function benchThreads() {
  return Number(process.env.CARCLASS_THREADS || (os.availableParallelism ? os.availableParallelism() : os.cpus().length));
}

module.exports = { RESNET_BENCH, median, benchThreads };
