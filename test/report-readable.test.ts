// Reports people can read: a colour scale that fits the counts, titles and captions inside the picture,
// a prediction grid that shows mistakes first across classes, and the run's hyperparameters in report.md.
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { computeMetrics, confusionHeatmapSvg, metricsLine, predictionGridPng, viridis, writeReport, GridImage } from '../lib/report';
import { textWidth, fitText } from '../lib/report/render';
import { gridSelection, Predictions } from '../lib/train/evaluate';
import { tempDir } from './helpers';

const readPng = (file: string | Buffer) => PNG.sync.read(typeof file === 'string' ? fs.readFileSync(file) : file);
const isInk = (png: PNG, x: number, y: number) => {
  const o = (png.width * y + x) * 4;
  return png.data[o] < 200 || png.data[o + 1] < 200 || png.data[o + 2] < 200;
};
/** Leftmost and rightmost columns holding ink in rows [y0, y1). */
function inkColumns(png: PNG, y0: number, y1: number, x0 = 0, x1 = png.width): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (isInk(png, x, y)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  return [lo, hi];
}

test('the default colour scale spans the counts instead of saturating at 5', async () => {
  const matrix = [[220, 15, 0], [20, 180, 30], [0, 15, 200]];
  const { svg } = confusionHeatmapSvg(matrix, ['a', 'b', 'c']);
  const fills = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="\d+" height="\d+" fill="(rgb\([^)]*\))"/g)].map((m) => m[1]);
  expect(fills).toHaveLength(9);
  // Row-major cells: 220 is the top of the scale, 15 sits low on it, 0 at the bottom.
  expect(fills[0]).toBe(viridis(1));
  expect(fills[1]).toBe(viridis(15 / 220));
  expect(fills[2]).toBe(viridis(0));
  expect(new Set(fills).size).toBe(7); // 220, 15, 0, 20, 180, 30, 200: seven counts, seven colours
  expect(svg).toContain('>220</text>'); // the colour bar's top label is the largest count
});

test('writeReport: the heatmap title fits for two classes; no clip by default', async () => {
  const dir = tempDir('report-title');
  const metrics = computeMetrics({ labels: [0, 0, 1, 1, 1], predicted: [0, 1, 1, 1, 0], numClasses: 2, classes: ['a', 'b'] });
  const files = await writeReport(dir, { metrics });
  const png = readPng(files.confusionPng);
  const [lo, hi] = inkColumns(png, 6, 32);
  expect(lo).toBeGreaterThan(4);
  expect(hi).toBeLessThan(png.width - 5);
  expect(hi - lo).toBeGreaterThan(100); // the title is there
  const json = JSON.parse(fs.readFileSync(files.json, 'utf8'));
  expect(json.files.confusionPng).toBe('confusion_matrix.png');
});

test('prediction grid: mistakes first, one class after another, then correct ones across classes', () => {
  // 3 classes, files grouped by class (as a test split often is); rows 1, 4, 5 and 7 are wrong.
  const labels = [0, 0, 0, 1, 1, 1, 2, 2, 2];
  const predicted = [0, 1, 0, 1, 0, 2, 2, 1, 2];
  const probabilities = new Float32Array(9 * 3);
  predicted.forEach((p, i) => { probabilities[i * 3 + p] = 0.9; });
  const predictions: Predictions = { files: labels.map((_, i) => `f${i}.jpg`), indices: labels.map((_, i) => i), probabilities, numClasses: 3, top: [], errors: [] };
  expect(gridSelection(predictions, labels, 16)).toEqual([1, 4, 7, 5, 0, 3, 6, 2, 8]);
  expect(gridSelection(predictions, labels, 5)).toEqual([1, 4, 7, 5, 0]);
  // indices map rows back to the label list (files that failed to decode are missing from the rows).
  const skipped: Predictions = { ...predictions, files: ['f3.jpg', 'f0.jpg'], indices: [3, 0], probabilities: new Float32Array([0, 0.9, 0, 0, 0.9, 0]) };
  expect(gridSelection(skipped, labels, 4)).toEqual([1, 0]);
});

test('captions never run past their tile, however long the labels', async () => {
  const rgb = new Uint8Array(64 * 48 * 3).fill(255);
  const long = 'WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW_mmmmmmmm Model 2019';
  const images: GridImage[] = [0, 1, 2].map((i) => ({ rgb, width: 64, height: 48, label: long, predicted: i === 1 ? long : 'M'.repeat(40), probability: 0.42 }));
  const { png: buf } = await predictionGridPng(images, { columns: 3, tileSize: 200 });
  const png = readPng(buf);
  // Tiles start at 8, 216, 424 (200 px + 8 px gap); the caption band is the 40 px above each image.
  for (let c = 0; c < 3; c++) {
    const x0 = 8 + c * 208;
    const [lo, hi] = inkColumns(png, 8, 48, Math.max(0, x0 - 4), Math.min(png.width, x0 + 204));
    expect(lo).toBeGreaterThanOrEqual(x0);
    expect(hi).toBeLessThan(x0 + 200);
  }
  for (let c = 0; c < 2; c++) { // the gaps between tiles stay white
    const [lo] = inkColumns(png, 8, 48, 8 + c * 208 + 200, 8 + (c + 1) * 208);
    expect(lo).toBe(Infinity);
  }
});

test('textWidth is close to what librsvg draws, so fitted text fits', async () => {
  for (const [s, bold] of [['pred: Mercedes-Benz_GLE Class (87%)', true], ['true: Volkswagen_Golf', false], ['Confusion matrix (counts)', true]] as const) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="30"><rect width="600" height="30" fill="white"/><text x="0" y="20" font-size="12" font-family="DejaVu Sans" ${bold ? 'font-weight="bold"' : ''}>${s}</text></svg>`;
    const png = readPng(await sharp(Buffer.from(svg)).png().toBuffer());
    const [lo, hi] = inkColumns(png, 0, 30);
    const drawn = hi - lo + 1;
    expect(Math.abs(textWidth(s, 12, bold) - drawn) / drawn).toBeLessThan(0.12);
  }
  expect(fitText('short', 100, 12)).toBe('short');
  const cut = fitText('a very long caption that cannot fit', 80, 12);
  expect(cut.endsWith('…')).toBe(true);
  expect(textWidth(cut, 12)).toBeLessThanOrEqual(80);
});

test('report.md lists hyperparameters and shows top-5 only with more than 5 classes', async () => {
  const dir = tempDir('report-md');
  const few = computeMetrics({ labels: [0, 1, 2, 3], predicted: [0, 1, 2, 0], numClasses: 4, classes: ['a', 'b', 'c', 'd'] });
  const files = await writeReport(dir, { metrics: few, hyperparameters: { arch: 'resnet-tiny', labelType: 'model', inputSize: [96, 128], learningRate: 0.001, augment: { p: 0.7 } } });
  const md = fs.readFileSync(files.markdown, 'utf8');
  expect(md).toContain('## Hyperparameters');
  expect(md).toContain('| arch | resnet-tiny |');
  expect(md).toContain('| labelType | model |');
  expect(md).toContain('| inputSize | [96,128] |');
  expect(md).toContain('| augment | {"p":0.7} |');
  expect(md).not.toMatch(/top-\d+ accuracy/);
  expect(JSON.parse(fs.readFileSync(files.json, 'utf8')).hyperparameters.learningRate).toBe(0.001);
  const labels = Array.from({ length: 24 }, (_, i) => i % 8);
  const many = computeMetrics({ labels, predicted: labels.map((l, i) => (i % 5 === 0 ? (l + 1) % 8 : l)), numClasses: 8, classes: 'abcdefgh'.split('') });
  const md8 = fs.readFileSync((await writeReport(path.join(dir, 'eight'), { metrics: many })).markdown, 'utf8');
  expect(md8).toContain('| top-5 accuracy | n/a |'); // no probabilities given, but the row is there
});

test('metricsLine (train, evaluate): top-k only when there are more than k classes', () => {
  const probs = (rows: number[][]) => Float32Array.from(rows.flat());
  const three = computeMetrics({ labels: [0, 1, 2], probabilities: probs([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2]]), numClasses: 3 });
  // loss = -(ln 0.8 + ln 0.7 + ln 0.2) / 3
  expect(metricsLine(three)).toBe(`loss ${(-(Math.log(0.8) + Math.log(0.7) + Math.log(0.2)) / 3).toFixed(4)} - accuracy 0.6667`);
  const six = computeMetrics({ labels: [0, 5], probabilities: probs([[0.5, 0.1, 0.1, 0.1, 0.1, 0.1], [0.3, 0.2, 0.2, 0.15, 0.1, 0.05]]), numClasses: 6 });
  expect(metricsLine(six)).toMatch(/ - accuracy 0\.5000 - top-5 0\.5000$/); // class 5 is the 6th most probable for the second image
});
