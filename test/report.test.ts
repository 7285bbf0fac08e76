import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { computeMetrics, confusionHeatmapSvg, GridImage, historySvg, predictionGridPng, writeReport } from '../lib/report';
import { sharedDataDir } from './shared-data';

function readPng(file: string | Buffer): PNG {
  return PNG.sync.read(typeof file === 'string' ? fs.readFileSync(file) : file);
}

function pixel(png: PNG, x: number, y: number): number[] {
  const o = (png.width * Math.round(y) + Math.round(x)) * 4;
  return [png.data[o], png.data[o + 1], png.data[o + 2]];
}

function solid(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) out.set(rgb, i * 3);
  return out;
}

describe('report figures and files', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-report-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const classes = ['Audi', 'BMW', 'Mercedes-Benz_A Class', 'Fiat <500> & co'];
  const labels = [0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 3];
  const predicted = [0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 3, 1];
  const metrics = computeMetrics({ labels, predicted, numClasses: 4, classes });

  test('writeReport writes report.md, report.json, confusion JSON and PNGs that decode at the expected sizes', async () => {
    const samplesDir = path.join(sharedDataDir(), 'cars-sample');
    const jpgs = fs.readdirSync(samplesDir).filter((n) => n.endsWith('.jpg')).slice(0, 3);
    const gridImages: GridImage[] = jpgs.map((name, i) => {
      const decoded = jpeg.decode(fs.readFileSync(path.join(samplesDir, name)), { useTArray: true, formatAsRGBA: false });
      return { rgb: decoded.data, width: decoded.width, height: decoded.height, label: name.split('_')[0], predicted: i === 0 ? 'Fiat' : name.split('_')[0], probability: 0.5 };
    });
    const history = { loss: [2, 1.5, 1.2], val_loss: [1.9, 1.6, 1.65], accuracy: [0.3, 0.5, 0.6], val_accuracy: [0.35, 0.45, 0.44] };
    const files = await writeReport(dir, { metrics, history, gridImages, title: 'Unit report', info: { dataset: 'unit' } });

    const heat = readPng(files.confusionPng);
    const svgSize = confusionHeatmapSvg(metrics.confusion, classes, { clip: [0, 5] });
    expect([heat.width, heat.height]).toEqual([svgSize.width, svgSize.height]);
    const hist = readPng(files.historyPng as string);
    expect([hist.width, hist.height]).toEqual([1000, 420]);
    const grid = readPng(files.predictionsPng as string);
    // 3 columns x 200 px tiles + 8 px gaps; tile height from the first image's aspect ratio; title 34 + caption 40.
    const tileH = Math.round(200 * gridImages[0].height / gridImages[0].width);
    expect([grid.width, grid.height]).toEqual([3 * 208 + 8, 34 + tileH + 40 + 8 + 8]);

    const json = JSON.parse(fs.readFileSync(files.json, 'utf8'));
    expect(json.metrics.accuracy).toBeCloseTo(10 / 12, 12);
    expect(json.metrics.perClass.map((c: { name: string }) => c.name)).toEqual(classes);
    expect(json.files.confusionPng).toBe('confusion_matrix.png');
    expect(JSON.parse(fs.readFileSync(files.confusionJson, 'utf8'))).toEqual({ classes, matrix: metrics.confusion });
    const md = fs.readFileSync(files.markdown, 'utf8');
    expect(md).toContain('# Unit report');
    expect(md).toContain('| accuracy | 83.33 % |');
    expect(md).toContain('| BMW | Audi | 1 | 50.00 % |');
    expect(md).toContain('![confusion matrix](confusion_matrix.png)');
    expect(md).toContain('| Fiat &lt;500&gt; & co |'); // no raw HTML in Markdown tables
  });

  test('heatmap colours: the clipped maximum is viridis yellow, zero is viridis purple', async () => {
    const matrix = [[9, 0], [2, 5]];
    const { svg, width } = confusionHeatmapSvg(matrix, ['x', 'y'], { clip: [0, 5], cellSize: 40 });
    const sharp = (await import('sharp')).default;
    const png = readPng(await sharp(Buffer.from(svg)).png().toBuffer());
    expect(png.width).toBe(width);
    // Find the grid by scanning the middle row of the first cell: cells are solid colour away from the count text.
    const yellow = [0xfd, 0xe7, 0x25];
    const purple = [0x44, 0x01, 0x54];
    const colours = new Set<string>();
    for (let y = 0; y < png.height; y++) for (let x = 0; x < png.width; x += 3) colours.add(pixel(png, x, y).join(','));
    expect(colours.has(yellow.join(','))).toBe(true); // 9 clipped to 5 and 5 itself
    expect(colours.has(purple.join(','))).toBe(true); // 0
  });

  test('prediction grid puts each image in its tile; history SVG escapes text', async () => {
    const images: GridImage[] = [
      { rgb: solid(40, 30, [255, 0, 0]), width: 40, height: 30, label: 'a', predicted: 'a' },
      { rgb: solid(40, 30, [0, 0, 255]), width: 40, height: 30, label: 'a', predicted: 'b' },
    ];
    const { png, width, height } = await predictionGridPng(images, { columns: 2, tileSize: 100 });
    const decoded = readPng(png);
    expect([decoded.width, decoded.height]).toEqual([width, height]);
    expect([width, height]).toEqual([2 * 108 + 8, 75 + 40 + 16]);
    // Tile centres: x = 8 + 50 and 8 + 108 + 50; y = 8 + 40 + 37.
    expect(pixel(decoded, 58, 85)).toEqual([255, 0, 0]);
    expect(pixel(decoded, 166, 85)).toEqual([0, 0, 255]);
    await expect(predictionGridPng([{ ...images[0], rgb: new Uint8Array(5) }])).rejects.toThrow(/images\[0\].rgb/);
    expect(historySvg({ loss: [1, 2] }, { title: 'a<b' }).svg).toContain('a&lt;b');
  });
});
