// A BMP writer that knows nothing of the decoder: BITMAPINFOHEADER, V5 or OS/2 core headers, bit-field masks,
// palettes, rows padded to 4 bytes, bottom-up by default. `node test/helpers/bmp-fixtures.js DIR` writes seeds
// for the native fuzzers.
'use strict';
const fs = require('fs');
const path = require('path');

/**
 * spec: { width, height, bpp: 4|8|16|24|32, pixel(x, y) -> palette index | raw 16/32-bit value | [r, g, b] (24-bit),
 *         palette?: [[r, g, b], ...], masks?: [r, g, b, a], topDown?, header?: 12|40|124 }
 */
function writeBmp(spec) {
  const header = spec.header || (spec.masks ? 124 : 40);
  const stride = Math.ceil((spec.width * spec.bpp) / 32) * 4;
  const masksAfter = spec.masks && header === 40 ? 12 : 0;
  const entry = header === 12 ? 3 : 4;
  const paletteBytes = (spec.palette ? spec.palette.length : 0) * entry;
  const offset = 14 + header + masksAfter + paletteBytes;
  const out = Buffer.alloc(offset + stride * spec.height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(offset, 10);
  out.writeUInt32LE(header, 14);
  if (header === 12) {
    out.writeUInt16LE(spec.width, 18);
    out.writeUInt16LE(spec.height, 20);
    out.writeUInt16LE(1, 22);
    out.writeUInt16LE(spec.bpp, 24);
  } else {
    out.writeInt32LE(spec.width, 18);
    out.writeInt32LE(spec.topDown ? -spec.height : spec.height, 22);
    out.writeUInt16LE(1, 26);
    out.writeUInt16LE(spec.bpp, 28);
    out.writeUInt32LE(spec.masks ? 3 : 0, 30);
    out.writeUInt32LE(spec.palette ? spec.palette.length : 0, 46);
    // BITMAPINFOHEADER: R, G, B masks right after it; V5: R, G, B, A masks inside it, at the same offset.
    if (spec.masks) spec.masks.slice(0, header === 40 ? 3 : 4).forEach((m, i) => out.writeUInt32LE(m >>> 0, 54 + 4 * i));
  }
  (spec.palette || []).forEach(([r, g, b], i) => out.set(entry === 3 ? [b, g, r] : [b, g, r, 0], 14 + header + masksAfter + i * entry));
  for (let y = 0; y < spec.height; y++) {
    const row = offset + (spec.topDown ? y : spec.height - 1 - y) * stride;
    for (let x = 0; x < spec.width; x++) {
      const v = spec.pixel(x, y);
      if (spec.bpp === 24) out.set([v[2], v[1], v[0]], row + x * 3);
      else if (spec.bpp === 32) out.writeUInt32LE(v >>> 0, row + x * 4);
      else if (spec.bpp === 16) out.writeUInt16LE(v, row + x * 2);
      else if (spec.bpp === 8) out[row + x] = v;
      else out[row + (x >> 1)] |= v << (x % 2 ? 0 : 4);
    }
  }
  return out;
}

/** Seeds: every layout the decoder reads, small. */
function bmpSeeds() {
  const rgb = (x, y) => [(x * 40 + y) & 255, (y * 50 + 3) & 255, (x * y * 9 + 7) & 255];
  const palette = Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 9, (i * 77) & 255]);
  return {
    'rgb24': writeBmp({ width: 7, height: 5, bpp: 24, pixel: rgb }),
    'rgb24-topdown': writeBmp({ width: 6, height: 4, bpp: 24, pixel: rgb, topDown: true }),
    'rgb24-core': writeBmp({ width: 5, height: 3, bpp: 24, pixel: rgb, header: 12 }),
    'p8': writeBmp({ width: 9, height: 4, bpp: 8, pixel: (x, y) => (x + y) % 16, palette }),
    'p4': writeBmp({ width: 9, height: 4, bpp: 4, pixel: (x, y) => (x * y) % 16, palette }),
    'rgb555': writeBmp({ width: 5, height: 5, bpp: 16, pixel: (x, y) => (x * 1234 + y * 77) & 0x7fff }),
    'rgb565': writeBmp({ width: 5, height: 5, bpp: 16, pixel: (x, y) => (x * 4321 + y) & 0xffff, masks: [0xf800, 0x07e0, 0x001f, 0], header: 40 }),
    'argb32-v5': writeBmp({ width: 4, height: 6, bpp: 32, pixel: (x, y) => ((x * 60) << 24 | y * 40 << 16 | x * 3 << 8 | 9) >>> 0, masks: [0xff0000, 0xff00, 0xff, 0xff000000] }),
  };
}

module.exports = { writeBmp, bmpSeeds };

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node test/helpers/bmp-fixtures.js DIR');
    process.exit(2);
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(bmpSeeds())) fs.writeFileSync(path.join(dir, `${name}.bmp`), bytes);
}
