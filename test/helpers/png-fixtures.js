// A small PNG writer, independent of libpng, for decoder fixtures: every colour type and bit depth,
// palettes with tRNS, all five row filters, Adam7 interlacing, IDAT split over several chunks.
// It also gives the pixels tf.io.decode_png(channels=3) returns for each file (alpha dropped,
// 16-bit -> high byte, low-bit gray scaled by bit replication), computed from the samples written.
// `node test/helpers/png-fixtures.js DIR` writes the fixtures (seeds for the native fuzzers).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Packs one row of samples (channels per pixel, MSB first below 8 bits, big endian at 16). */
function packRow(samples, bitDepth) {
  if (bitDepth === 16) {
    const out = Buffer.alloc(samples.length * 2);
    samples.forEach((v, i) => out.writeUInt16BE(v, i * 2));
    return out;
  }
  if (bitDepth === 8) return Buffer.from(samples);
  const out = Buffer.alloc(Math.ceil((samples.length * bitDepth) / 8));
  samples.forEach((v, i) => {
    const bit = i * bitDepth;
    out[bit >> 3] |= v << (8 - bitDepth - (bit & 7));
  });
  return out;
}

/** Filters packed rows, cycling through filter types 0-4 so the decoder's every unfilter runs. */
function filterRows(rows, bytesPerPixel, firstFilter) {
  const parts = [];
  let previous = null;
  rows.forEach((row, y) => {
    const type = (firstFilter + y) % 5;
    const out = Buffer.alloc(row.length + 1);
    out[0] = type;
    for (let i = 0; i < row.length; i++) {
      const a = i >= bytesPerPixel ? row[i - bytesPerPixel] : 0;
      const b = previous ? previous[i] : 0;
      const c = previous && i >= bytesPerPixel ? previous[i - bytesPerPixel] : 0;
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][type];
      out[i + 1] = (row[i] - predictor) & 0xff;
    }
    parts.push(out);
    previous = row;
  });
  return parts;
}

/**
 * samples: width*height*channels integers (palette index for colour type 3).
 * Options: palette [[r,g,b],...], trns (Buffer of the tRNS chunk's data), interlace, idatSize, extraChunks.
 */
function encodePng({ width, height, bitDepth, colorType, samples, palette, trns, interlace = false, idatSize = 64, firstFilter = 0 }) {
  const channels = CHANNELS[colorType];
  const bytesPerPixel = Math.max(1, (channels * bitDepth) >> 3);
  const rowOf = (xs, y) => xs.flatMap((x) => samples.slice((y * width + x) * channels, (y * width + x + 1) * channels));
  const raw = [];
  const passes = interlace ? ADAM7 : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes) {
    const xs = [];
    for (let x = x0; x < width; x += dx) xs.push(x);
    const rows = [];
    for (let y = y0; y < height; y += dy) if (xs.length) rows.push(packRow(rowOf(xs, y), bitDepth));
    raw.push(...filterRows(rows, bytesPerPixel, firstFilter));
  }
  const compressed = zlib.deflateSync(Buffer.concat(raw));
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  ihdr[12] = interlace ? 1 : 0;
  const chunks = [chunk('IHDR', ihdr)];
  if (palette) chunks.push(chunk('PLTE', Buffer.from(palette.flat())));
  if (trns) chunks.push(chunk('tRNS', trns));
  chunks.push(chunk('tEXt', Buffer.from('Comment\0carclass fixture', 'latin1')));
  for (let i = 0; i < compressed.length; i += idatSize) chunks.push(chunk('IDAT', compressed.subarray(i, i + idatSize)));
  chunks.push(chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

/** What tf.io.decode_png(channels=3) gives for these samples, packed RGB. */
function expectedRgb({ width, height, bitDepth, colorType, samples, palette }) {
  const channels = CHANNELS[colorType];
  const to8 = (v) => (bitDepth === 16 ? v >> 8 : bitDepth === 8 ? v : (v * 255) / ((1 << bitDepth) - 1));
  const out = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const s = samples.slice(p * channels, (p + 1) * channels);
    const rgb = colorType === 3 ? palette[s[0]] : colorType === 0 || colorType === 4 ? [s[0], s[0], s[0]].map(to8) : s.slice(0, 3).map(to8);
    out.set(rgb, p * 3);
  }
  return out;
}

function lcg(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

/** The fixture set: name -> { png, rgb, width, height, ... }. Sizes are odd so interlace passes are ragged. */
function pngFixtures() {
  const cases = [];
  const add = (name, spec) => {
    const random = lcg(name.length * 7919 + spec.bitDepth * 31 + spec.colorType);
    const channels = CHANNELS[spec.colorType];
    const max = spec.colorType === 3 ? spec.palette.length - 1 : (1 << spec.bitDepth) - 1;
    const samples = spec.samples ?? Array.from({ length: spec.width * spec.height * channels }, () => random() % (max + 1));
    const full = { ...spec, samples };
    cases.push({ name, ...full, png: encodePng(full), rgb: expectedRgb(full) });
  };
  const palette = Array.from({ length: 13 }, (_, i) => [(i * 53) & 255, (i * 97 + 11) & 255, (255 - i * 19) & 255]);
  for (const interlace of [false, true]) {
    const tag = interlace ? '-adam7' : '';
    add(`rgb8${tag}`, { width: 13, height: 11, bitDepth: 8, colorType: 2, interlace });
    add(`rgb16${tag}`, { width: 9, height: 7, bitDepth: 16, colorType: 2, interlace });
    add(`rgba8${tag}`, { width: 10, height: 9, bitDepth: 8, colorType: 6, interlace });
    add(`rgba16${tag}`, { width: 7, height: 5, bitDepth: 16, colorType: 6, interlace });
    add(`gray8${tag}`, { width: 12, height: 10, bitDepth: 8, colorType: 0, interlace });
    add(`gray16${tag}`, { width: 6, height: 9, bitDepth: 16, colorType: 0, interlace });
    for (const bits of [1, 2, 4]) add(`gray${bits}${tag}`, { width: 11, height: 6, bitDepth: bits, colorType: 0, interlace });
    add(`graya8${tag}`, { width: 9, height: 9, bitDepth: 8, colorType: 4, interlace });
    add(`graya16${tag}`, { width: 5, height: 8, bitDepth: 16, colorType: 4, interlace });
    for (const bits of [2, 4, 8]) add(`palette${bits}${tag}`, { width: 14, height: 5, bitDepth: bits, colorType: 3, palette: palette.slice(0, Math.min(13, 1 << bits)), interlace });
    add(`palette8-trns${tag}`, { width: 8, height: 8, bitDepth: 8, colorType: 3, palette, trns: Buffer.from([0, 128, 255, 7]), interlace });
    add(`gray8-trns${tag}`, { width: 8, height: 4, bitDepth: 8, colorType: 0, trns: Buffer.from([0, 17]), interlace });
  }
  add('palette1', { width: 17, height: 3, bitDepth: 1, colorType: 3, palette: palette.slice(0, 2) });
  add('one-pixel-adam7', { width: 1, height: 1, bitDepth: 8, colorType: 2, interlace: true });
  return cases;
}

module.exports = { encodePng, expectedRgb, pngFixtures, crc32, chunk };

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node test/helpers/png-fixtures.js DIR');
    process.exit(2);
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const c of pngFixtures()) fs.writeFileSync(path.join(dir, `${c.name}.png`), c.png);
}
