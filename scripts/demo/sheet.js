#!/usr/bin/env node
// Contact sheet of a generated demo dataset, one row per class: node scripts/demo/sheet.js DIR OUT.png [perRow] [zoom]
'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

async function main() {
  const [dir, out, perRowArg = '8', zoomArg = '2'] = process.argv.slice(2);
  if (!dir || !out) {
    console.error('usage: node scripts/demo/sheet.js DIR OUT.png [perRow] [zoom]');
    process.exit(2);
  }
  const perRow = Number(perRowArg), zoom = Number(zoomArg);
  const byClass = new Map();
  for (const f of fs.readdirSync(dir).filter((n) => /\.jpe?g$/i.test(n)).sort()) {
    const label = f.split('_').slice(0, 2).join('_');
    if (!byClass.has(label)) byClass.set(label, []);
    if (byClass.get(label).length < perRow) byClass.get(label).push(path.join(dir, f));
  }
  const first = await sharp([...byClass.values()][0][0]).metadata();
  const w = first.width * zoom, h = first.height * zoom, gap = 4, labelW = 230;
  const rows = [...byClass.entries()];
  const composites = [];
  rows.forEach(([label, files], r) => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW}" height="${h}"><text x="4" y="${h / 2}" font-family="sans-serif" font-size="13">${label.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text></svg>`;
    composites.push({ input: Buffer.from(svg), left: 0, top: r * (h + gap) });
    files.forEach((file, c) => composites.push({ file, left: labelW + c * (w + gap), top: r * (h + gap) }));
  });
  const resized = await Promise.all(composites.map(async (c) => (c.file ? { input: await sharp(c.file).resize(w, h, { kernel: 'nearest' }).toBuffer(), left: c.left, top: c.top } : c)));
  await sharp({ create: { width: labelW + perRow * (w + gap), height: rows.length * (h + gap), channels: 3, background: '#ffffff' } })
    .composite(resized).png().toFile(out);
  console.log(`wrote ${out}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
