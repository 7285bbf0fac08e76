// Report figures: SVG drawn here, rasterized to PNG by sharp (librsvg + fontconfig; DejaVu Sans on Debian).
import sharp from 'sharp';
import { invalid, positiveInt } from '../validate';

const FONT = "DejaVu Sans, Verdana, Arial, sans-serif";
const TRAIN_COLOR = '#1f77b4'; // matplotlib's first two colours, as in Keras history plots
const VAL_COLOR = '#ff7f0e';

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(content)}</text>`;
}

// DejaVu Sans advance widths (1/2048 em) for ASCII, to size titles and cut captions before they overflow.
const ADVANCE: Record<string, number> = Object.fromEntries([
  [' ', 651], ['a', 1255], ['b', 1300], ['c', 1126], ['d', 1300], ['e', 1260], ['f', 721], ['g', 1300], ['h', 1298], ['i', 569],
  ['j', 569], ['k', 1186], ['l', 569], ['m', 1995], ['n', 1298], ['o', 1253], ['p', 1300], ['q', 1300], ['r', 842], ['s', 1067],
  ['t', 803], ['u', 1298], ['v', 1212], ['w', 1675], ['x', 1212], ['y', 1212], ['z', 1075], ['A', 1401], ['B', 1405], ['C', 1430],
  ['D', 1577], ['E', 1294], ['F', 1178], ['G', 1587], ['H', 1540], ['I', 604], ['J', 604], ['K', 1343], ['L', 1141], ['M', 1767],
  ['N', 1532], ['O', 1612], ['P', 1235], ['Q', 1612], ['R', 1423], ['S', 1300], ['T', 1251], ['U', 1499], ['V', 1401], ['W', 2025],
  ['X', 1403], ['Y', 1251], ['Z', 1403], ['.', 651], [',', 651], [':', 690], ['(', 799], [')', 799], ['%', 1946], ['-', 739], ['_', 1024],
  ['/', 690], ['&', 1595], ["'", 563], ['…', 2048],
]);

/** Width in pixels of `s` in DejaVu Sans at `fontSize` (bold about 12 % wider); unknown characters count as wide ones. */
export function textWidth(s: string, fontSize: number, bold = false): number {
  let units = 0;
  for (const ch of s) units += ADVANCE[ch] ?? (ch >= '0' && ch <= '9' ? 1303 : 1700);
  return (units / 2048) * fontSize * (bold ? 1.12 : 1);
}

/** `s`, or its longest prefix with an ellipsis, that fits in `width` pixels. */
export function fitText(s: string, width: number, fontSize: number, bold = false): string {
  if (textWidth(s, fontSize, bold) <= width) return s;
  const chars = Array.from(s);
  while (chars.length > 0 && textWidth(chars.join('') + '…', fontSize, bold) > width) chars.pop();
  return chars.join('') + '…';
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

// Viridis at 9 stops; linear interpolation between them is visually indistinguishable from the full map.
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725']
  .map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));

export function viridis(t: number): string {
  const x = Math.min(Math.max(Number.isFinite(t) ? t : 0, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  const rgb = VIRIDIS[i].map((v, c) => Math.round(v + (VIRIDIS[i + 1][c] - v) * f));
  return `rgb(${rgb.join(',')})`;
}

export interface HeatmapOptions {
  /** Colour range [lo, hi]; values outside are clipped. Default [0, largest count], so the scale fits the counts. */
  clip?: [number, number];
  title?: string;
  /** Cell size in pixels; default fits the matrix in about 1000 px (2 to 48 px). */
  cellSize?: number;
}

/** Confusion-matrix heatmap: rows are true classes, columns predictions; labels drawn when cells are big enough to read. */
export function confusionHeatmapSvg(matrix: number[][], classes: readonly string[], options: HeatmapOptions = {}): { svg: string; width: number; height: number } {
  const K = matrix.length;
  if (K === 0 || matrix.some((row) => row.length !== K)) throw invalid('matrix', 'non-empty square matrix', `${K} rows`);
  if (classes.length !== K) throw invalid('classes', `${K} names`, classes.length);
  const cell = options.cellSize !== undefined ? positiveInt('cellSize', options.cellSize) : Math.max(2, Math.min(48, Math.floor(1000 / K)));
  let max = 0;
  for (const row of matrix) for (const v of row) max = Math.max(max, v);
  const [lo, hi] = options.clip ?? [0, Math.max(max, 1)];
  if (!(hi > lo)) throw invalid('clip', '[lo, hi] with hi > lo', options.clip);
  const showLabels = cell >= 9;
  const fontSize = Math.min(12, Math.max(7, cell - 2));
  const longest = Math.max(...classes.map((c) => c.length));
  const labelSpace = showLabels ? Math.min(240, Math.ceil(longest * fontSize * 0.62) + 8) : 8;
  const showCounts = cell >= 22 && K <= 40;
  const top = 40 + labelSpace;
  const left = 30 + labelSpace;
  const gridSize = K * cell;
  const barX = left + gridSize + 20;
  const title = options.title ?? 'Confusion matrix';
  // Wide enough for the title too (a few classes make a narrow grid).
  const width = Math.max(barX + 70, Math.ceil(textWidth(title, 16, true)) + 40);
  const height = top + gridSize + 40;
  const parts: string[] = [];
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(text(width / 2, 24, title, `font-size="16" font-weight="bold" text-anchor="middle"`));
  for (let t = 0; t < K; t++) {
    for (let p = 0; p < K; p++) {
      const v = matrix[t][p];
      const color = viridis((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo));
      parts.push(`<rect x="${left + p * cell}" y="${top + t * cell}" width="${cell}" height="${cell}" fill="${color}"/>`);
      if (showCounts && v !== 0) {
        const light = (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo) < 0.6;
        parts.push(text(left + p * cell + cell / 2, top + t * cell + cell / 2 + 4, String(v), `font-size="${Math.min(11, cell / 2)}" text-anchor="middle" fill="${light ? 'white' : 'black'}"`));
      }
    }
  }
  if (showLabels) {
    for (let c = 0; c < K; c++) {
      const y = top + c * cell + cell / 2 + fontSize / 3;
      parts.push(text(left - 4, y, classes[c], `font-size="${fontSize}" text-anchor="end"`));
      const x = left + c * cell + cell / 2 + fontSize / 3;
      parts.push(`<text x="${x.toFixed(1)}" y="${(top - 4).toFixed(1)}" font-size="${fontSize}" transform="rotate(-90 ${x.toFixed(1)} ${(top - 4).toFixed(1)})">${escapeXml(classes[c])}</text>`);
    }
  }
  parts.push(text(left + gridSize / 2, top + gridSize + 24, 'Predicted', `font-size="13" text-anchor="middle"`));
  parts.push(`<text x="14" y="${top + gridSize / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 14 ${top + gridSize / 2})">True</text>`);
  // Colour bar.
  const steps = 32;
  for (let i = 0; i < steps; i++) {
    const h = gridSize / steps;
    parts.push(`<rect x="${barX}" y="${(top + gridSize - (i + 1) * h).toFixed(2)}" width="16" height="${(h + 0.5).toFixed(2)}" fill="${viridis((i + 0.5) / steps)}"/>`);
  }
  const hiLabel = options.clip ? `≥${hi}` : String(hi);
  parts.push(text(barX + 22, top + 10, hiLabel, 'font-size="11"'));
  parts.push(text(barX + 22, top + gridSize, String(lo), 'font-size="11"'));
  return { svg: wrapSvg(width, height, parts), width, height };
}

function wrapSvg(width: number, height: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">${parts.join('')}</svg>`;
}

/** Round tick values covering [lo, hi]. */
function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) as number;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

export interface HistoryInput {
  /** Per-epoch values keyed like Keras history: loss, val_loss, accuracy, val_accuracy. */
  [metric: string]: number[];
}

function linePanel(x0: number, y0: number, w: number, h: number, title: string, train: number[] | undefined, val: number[] | undefined): string[] {
  const parts: string[] = [];
  const series = [train ?? [], val ?? []];
  const values = series.flat().filter(Number.isFinite);
  const epochs = Math.max(series[0].length, series[1].length, 1);
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.05;
  lo -= pad; hi += pad;
  const plotX = x0 + 56;
  const plotY = y0 + 30;
  const plotW = w - 70;
  const plotH = h - 110; // room for tick labels, axis title and legend
  const sx = (e: number) => plotX + (epochs === 1 ? plotW / 2 : ((e - 1) / (epochs - 1)) * plotW);
  const sy = (v: number) => plotY + plotH - ((v - lo) / (hi - lo)) * plotH;
  parts.push(text(x0 + w / 2, y0 + 18, title, 'font-size="15" font-weight="bold" text-anchor="middle"'));
  parts.push(`<rect x="${plotX}" y="${plotY}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  for (const t of niceTicks(lo, hi)) {
    const y = sy(t);
    parts.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`);
    parts.push(text(plotX - 6, y + 4, String(t), 'font-size="11" text-anchor="end"'));
  }
  const xTicks = niceTicks(1, Math.max(epochs, 2), Math.min(epochs, 8)).filter((e) => Number.isInteger(e) && e >= 1 && e <= epochs);
  for (const e of xTicks) {
    parts.push(`<line x1="${sx(e).toFixed(1)}" x2="${sx(e).toFixed(1)}" y1="${plotY + plotH}" y2="${plotY + plotH + 4}" stroke="#333"/>`);
    parts.push(text(sx(e), plotY + plotH + 17, String(e), 'font-size="11" text-anchor="middle"'));
  }
  parts.push(text(plotX + plotW / 2, plotY + plotH + 34, 'Epoch', 'font-size="12" text-anchor="middle"'));
  series.forEach((s, i) => {
    const color = i === 0 ? TRAIN_COLOR : VAL_COLOR;
    const points = s.map((v, e) => (Number.isFinite(v) ? `${sx(e + 1).toFixed(1)},${sy(v).toFixed(1)}` : null)).filter((p): p is string => p !== null);
    if (points.length > 1) parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of points) { const [px, py] = p.split(','); parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${color}"/>`); }
  });
  // Legend.
  const ly = plotY + plotH + 52;
  [['train', TRAIN_COLOR, train], ['validation', VAL_COLOR, val]].forEach(([label, color, data], i) => {
    if (!data) return;
    const lx = plotX + i * 120;
    parts.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    parts.push(text(lx + 30, ly + 4, label as string, 'font-size="12"'));
  });
  return parts;
}

/** Two panels, loss and accuracy, train against validation, like the usual Keras history plot. */
export function historySvg(history: HistoryInput, options: { width?: number; height?: number; title?: string } = {}): { svg: string; width: number; height: number } {
  const width = options.width ?? 1000;
  const height = options.height ?? 420;
  const titleSpace = options.title ? 30 : 0;
  const parts = [`<rect width="${width}" height="${height}" fill="white"/>`];
  if (options.title) parts.push(text(width / 2, 22, options.title, 'font-size="17" font-weight="bold" text-anchor="middle"'));
  parts.push(...linePanel(0, titleSpace, width / 2, height - titleSpace, 'Loss', history.loss, history.val_loss));
  parts.push(...linePanel(width / 2, titleSpace, width / 2, height - titleSpace, 'Accuracy', history.accuracy, history.val_accuracy));
  return { svg: wrapSvg(width, height, parts), width, height };
}

export interface GridImage {
  /** Interleaved RGB uint8, row-major, `width * height * 3` bytes. */
  rgb: Uint8Array;
  width: number;
  height: number;
  label: string;
  predicted: string;
  /** Probability of the predicted class, shown when given. */
  probability?: number;
}

/** Like the seed's show_batch_with_pred: a grid of images titled with label and prediction (green right, red wrong). */
export async function predictionGridPng(images: readonly GridImage[], options: { columns?: number; tileSize?: number; title?: string } = {}): Promise<{ png: Buffer; width: number; height: number }> {
  if (!Array.isArray(images) || images.length === 0) throw invalid('images', 'non-empty array', images);
  const columns = positiveInt('columns', options.columns ?? Math.min(5, images.length));
  const tile = positiveInt('tileSize', options.tileSize ?? 200);
  // Tiles take the first image's aspect ratio (car photos are landscape), capped to a square.
  const first = images[0];
  const tileH = Math.max(1, Math.round(tile * Math.min(1, first.height > 0 && first.width > 0 ? first.height / first.width : 1)));
  const captionH = 40;
  const titleH = options.title ? 34 : 0;
  const gap = 8;
  const rows = Math.ceil(images.length / columns);
  const width = columns * (tile + gap) + gap;
  const height = titleH + rows * (tileH + captionH + gap) + gap;
  const composites: sharp.OverlayOptions[] = [];
  const captions: string[] = [`<rect width="${width}" height="${height}" fill="white"/>`];
  if (options.title) captions.push(text(width / 2, 24, options.title, 'font-size="17" font-weight="bold" text-anchor="middle"'));
  // A caption too long at 12 px gets 10 px before anything is cut (the model name is at its end).
  const caption = (cx: number, cy: number, s: string, bold: boolean, attrs: string) => {
    const size = textWidth(s, 12, bold) <= tile - 8 ? 12 : 10;
    return text(cx, cy, fitText(s, tile - 8, size, bold), `font-size="${size}" text-anchor="middle"${bold ? ' font-weight="bold"' : ''} ${attrs}`);
  };
  for (let i = 0; i < images.length; i++) {
    const img = images[i];
    if (!(img.rgb instanceof Uint8Array) || img.rgb.length !== img.width * img.height * 3) {
      throw invalid(`images[${i}].rgb`, `Uint8Array of width*height*3 = ${img.width * img.height * 3} bytes`, img.rgb?.length);
    }
    const x = gap + (i % columns) * (tile + gap);
    const y = titleH + gap + Math.floor(i / columns) * (tileH + captionH + gap);
    const resized = await sharp(Buffer.from(img.rgb.buffer, img.rgb.byteOffset, img.rgb.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
      .resize(tile, tileH, { fit: 'contain', background: { r: 255, g: 255, b: 255 } })
      .png()
      .toBuffer();
    composites.push({ input: resized, left: x, top: y + captionH });
    const right = img.label === img.predicted;
    // The probability goes first so that a long class name, if cut, does not take it along.
    const prob = img.probability !== undefined ? ` ${(img.probability * 100).toFixed(0)}%` : '';
    captions.push(caption(x + tile / 2, y + 16, `true: ${img.label}`, false, ''));
    captions.push(caption(x + tile / 2, y + 33, `pred${prob}: ${img.predicted}`, true, `fill="${right ? '#1a7f37' : '#c62828'}"`));
  }
  const png = await sharp(Buffer.from(wrapSvg(width, height, captions))).composite(composites).png().toBuffer();
  return { png, width, height };
}
