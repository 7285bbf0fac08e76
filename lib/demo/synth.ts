// Synthetic car dataset for `carclass demo`: procedurally drawn side views of 8-12 car classes over
// random scenes, written as JPEGs named in the dataset's 16-field format. Deterministic per seed.
import { promises as fs } from 'fs';
import * as path from 'path';
import { CarClassSpec, ColorFamily, DEMO_CLASSES, RimStyle, classLabel } from './classes';
import { Canvas, Rgb, Rng, capsule, circle, createRng, ellipse, gauss, hsl, mixSeed, pick, polygon, rect, ring, shade, uniform } from './raster';
import { invalid, positiveInt, rejectUnknownKeys } from '../validate';

export type { CarClassSpec } from './classes';
export type { Rng } from './raster';
export { createRng } from './raster';

const DARK: Rgb = [22, 22, 24];

function familyColor(rng: Rng, family: ColorFamily): Rgb {
  switch (family) {
    case 'silver': return hsl(uniform(rng, 190, 230), uniform(rng, 0.02, 0.1), uniform(rng, 0.62, 0.76));
    case 'black': return hsl(uniform(rng, 200, 240), uniform(rng, 0, 0.1), uniform(rng, 0.1, 0.18));
    case 'white': return hsl(uniform(rng, 30, 60), uniform(rng, 0, 0.15), uniform(rng, 0.86, 0.94));
    case 'red': return hsl(uniform(rng, 352, 368) % 360, uniform(rng, 0.7, 0.9), uniform(rng, 0.38, 0.5));
    case 'blue': return hsl(uniform(rng, 208, 230), uniform(rng, 0.55, 0.8), uniform(rng, 0.3, 0.45));
    case 'lightBlue': return hsl(uniform(rng, 185, 200), uniform(rng, 0.45, 0.65), uniform(rng, 0.62, 0.72));
    case 'yellow': return hsl(uniform(rng, 44, 54), uniform(rng, 0.8, 0.95), uniform(rng, 0.5, 0.6));
    case 'orange': return hsl(uniform(rng, 20, 32), uniform(rng, 0.8, 0.95), uniform(rng, 0.48, 0.56));
    case 'green': return hsl(uniform(rng, 120, 160), uniform(rng, 0.35, 0.6), uniform(rng, 0.22, 0.35));
    case 'olive': return hsl(uniform(rng, 65, 85), uniform(rng, 0.3, 0.45), uniform(rng, 0.28, 0.38));
    case 'beige': return hsl(uniform(rng, 35, 45), uniform(rng, 0.3, 0.45), uniform(rng, 0.66, 0.76));
  }
}

function drawBackground(canvas: Canvas, rng: Rng, horizon: number): void {
  const { width: w, height: h } = canvas;
  const skies: (() => [Rgb, Rgb])[] = [
    () => [hsl(uniform(rng, 200, 220), uniform(rng, 0.5, 0.7), uniform(rng, 0.45, 0.6)), hsl(uniform(rng, 190, 210), uniform(rng, 0.4, 0.6), uniform(rng, 0.75, 0.88))],
    () => { const g = uniform(rng, 0.55, 0.75); return [hsl(210, 0.06, g), hsl(210, 0.05, g + 0.12)]; },
    () => [hsl(uniform(rng, 250, 280), 0.3, uniform(rng, 0.3, 0.45)), hsl(uniform(rng, 15, 35), 0.7, uniform(rng, 0.6, 0.72))],
    () => [hsl(uniform(rng, 220, 240), 0.35, uniform(rng, 0.15, 0.25)), hsl(uniform(rng, 210, 230), 0.3, uniform(rng, 0.35, 0.45))],
  ];
  const grounds: (() => [Rgb, Rgb])[] = [
    () => { const g = uniform(rng, 0.25, 0.45); return [hsl(220, 0.05, g), hsl(220, 0.05, g - 0.12)]; },
    () => [hsl(uniform(rng, 85, 120), uniform(rng, 0.35, 0.55), uniform(rng, 0.35, 0.45)), hsl(uniform(rng, 85, 120), 0.45, uniform(rng, 0.2, 0.3))],
    () => [hsl(uniform(rng, 35, 45), uniform(rng, 0.35, 0.5), uniform(rng, 0.6, 0.72)), hsl(uniform(rng, 30, 40), 0.4, uniform(rng, 0.45, 0.55))],
    () => [hsl(uniform(rng, 20, 30), uniform(rng, 0.25, 0.4), uniform(rng, 0.35, 0.45)), hsl(25, 0.3, uniform(rng, 0.2, 0.28))],
  ];
  const [skyTop, skyLow] = pick(rng, skies)();
  const [groundFar, groundNear] = pick(rng, grounds)();
  canvas.fill(rect(-2, -2, w + 2, horizon), { from: skyTop, to: skyLow, y0: 0, y1: horizon });
  canvas.fill(rect(-2, horizon, w + 2, h + 2), { from: groundFar, to: groundNear, y0: horizon, y1: horizon + Math.max(1, h - horizon) });

  // Clutter: clouds, buildings, trees, poles, bushes and road marks, none of them car-like.
  const count = 2 + Math.floor(rng() * 8);
  for (let i = 0; i < count; i++) {
    const kind = Math.floor(rng() * 6);
    const x = uniform(rng, -0.1, 1.1) * w;
    const tint = hsl(uniform(rng, 0, 360), uniform(rng, 0.1, 0.6), uniform(rng, 0.25, 0.8));
    if (kind === 0) {
      const y = uniform(rng, 0.05, 0.9) * horizon, rx = uniform(rng, 0.06, 0.18) * w;
      canvas.fill(ellipse(x, y, rx, rx * uniform(rng, 0.25, 0.45)), [245, 245, 248], uniform(rng, 0.5, 0.9));
    } else if (kind === 1) {
      const bw = uniform(rng, 0.08, 0.25) * w, bh = uniform(rng, 0.15, 0.6) * horizon;
      canvas.fill(rect(x, horizon - bh, x + bw, horizon + 1), tint);
      const win = shade(tint, uniform(rng, 0.5, 1.3));
      for (let wy = horizon - bh + 3; wy < horizon - 4; wy += 6) for (let wx = x + 2; wx < x + bw - 3; wx += 5) canvas.fill(rect(wx, wy, wx + 2.5, wy + 3), win, 0.8);
    } else if (kind === 2) {
      const th = uniform(rng, 0.1, 0.3) * h, r = uniform(rng, 0.04, 0.1) * w, base = horizon + uniform(rng, -2, 6);
      canvas.fill(capsule(x, base, x, base - th, Math.max(1, r * 0.15)), [90, 65, 40]);
      canvas.fill(circle(x, base - th - r * 0.6, r), hsl(uniform(rng, 80, 140), uniform(rng, 0.3, 0.6), uniform(rng, 0.2, 0.4)));
    } else if (kind === 3) {
      const top = uniform(rng, 0.05, 0.5) * horizon;
      canvas.fill(capsule(x, horizon + 2, x, top, uniform(rng, 0.6, 1.4)), shade(tint, 0.6));
    } else if (kind === 4) {
      const y = uniform(rng, horizon, h), rx = uniform(rng, 0.04, 0.12) * w;
      canvas.fill(ellipse(x, y, rx, rx * uniform(rng, 0.3, 0.6)), tint, uniform(rng, 0.4, 0.9));
    } else {
      const y = uniform(rng, horizon + 0.3 * (h - horizon), h), len = uniform(rng, 0.05, 0.15) * w;
      const mark: Rgb = rng() < 0.5 ? [235, 235, 235] : [230, 200, 60];
      canvas.fill(rect(x, y, x + len, y + uniform(rng, 1, 2.5)), mark, uniform(rng, 0.5, 0.9));
    }
  }
}

function drawWheel(canvas: Canvas, rng: Rng, cx: number, cy: number, r: number, tyre: number, style: RimStyle, rimColor: Rgb): void {
  canvas.fill(circle(cx, cy, r), DARK);
  const rr = r * (1 - tyre);
  const angle = rng() * Math.PI * 2;
  const spokes = (n: number, width: number, color: Rgb) => {
    for (let k = 0; k < n; k++) {
      const a = angle + (k * 2 * Math.PI) / n;
      canvas.fill(capsule(cx, cy, cx + Math.cos(a) * rr * 0.92, cy + Math.sin(a) * rr * 0.92, width), color);
    }
  };
  switch (style) {
    case 'hubcap':
      canvas.fill(circle(cx, cy, rr), rimColor);
      canvas.fill(ring(cx, cy, rr * 0.6, Math.max(0.35, rr * 0.06)), shade(rimColor, 0.7));
      canvas.fill(circle(cx, cy, rr * 0.2), shade(rimColor, 0.8));
      break;
    case 'fiveSpoke':
    case 'multiSpoke': {
      // Five bold spokes on a dark disc, or ten thin ones on a grey disc.
      const bold = style === 'fiveSpoke';
      canvas.fill(circle(cx, cy, rr), bold ? [45, 45, 48] : [55, 55, 58]);
      spokes(bold ? 5 : 10, Math.max(bold ? 0.5 : 0.35, rr * (bold ? 0.17 : 0.07)), rimColor);
      canvas.fill(ring(cx, cy, rr * 0.95, Math.max(0.35, rr * (bold ? 0.08 : 0.06))), rimColor);
      canvas.fill(circle(cx, cy, rr * 0.24), rimColor);
      break;
    }
    case 'steel':
      canvas.fill(circle(cx, cy, rr), [70, 72, 75]);
      for (let k = 0; k < 6; k++) {
        const a = angle + (k * Math.PI) / 3;
        canvas.fill(circle(cx + Math.cos(a) * rr * 0.6, cy + Math.sin(a) * rr * 0.6, rr * 0.14), [30, 30, 30]);
      }
      canvas.fill(circle(cx, cy, rr * 0.3), [180, 180, 185]);
      break;
    case 'truck':
      canvas.fill(circle(cx, cy, rr), [150, 150, 155]);
      canvas.fill(circle(cx, cy, rr * 0.55), [40, 40, 42]);
      canvas.fill(circle(cx, cy, rr * 0.35), [200, 40, 35]);
      break;
    case 'offroad':
      // Knobbly tread: small blocks around the tyre.
      for (let k = 0; k < 14; k++) {
        const a = angle + (k * 2 * Math.PI) / 14;
        canvas.fill(circle(cx + Math.cos(a) * r * 0.97, cy + Math.sin(a) * r * 0.97, r * 0.1), DARK);
      }
      canvas.fill(circle(cx, cy, rr), [60, 60, 60]);
      canvas.fill(ring(cx, cy, rr * 0.7, Math.max(0.4, rr * 0.12)), [200, 200, 200]);
      canvas.fill(circle(cx, cy, rr * 0.25), [200, 200, 200]);
      break;
  }
}

/** Where and how the car sits in the picture. */
interface Placement { x0: number; ground: number; length: number; mirror: boolean }

function drawCarBody(canvas: Canvas, rng: Rng, spec: CarClassSpec, place: Placement): void {
  const { x0, ground, length: L, mirror } = place;
  const X = (u: number) => x0 + (mirror ? 1 - u : u) * L;
  const Y = (v: number) => ground - v * L;
  const pts = (p: readonly (readonly [number, number])[]) => p.map(([u, v]) => [X(u), Y(v)] as [number, number]);
  const topV = Math.max(...spec.body.map((p) => p[1]));
  const paint = familyColor(rng, pick(rng, spec.colors));
  const glass = hsl(uniform(rng, 200, 220), uniform(rng, 0.15, 0.35), uniform(rng, 0.18, 0.32));
  const rimColor = hsl(uniform(rng, 0, 360), uniform(rng, 0, 0.08), uniform(rng, 0.68, 0.85));
  const hair = Math.max(0.35, L * 0.004);

  // Ground shadow.
  canvas.fill(ellipse(X(0.5), ground, L * 0.56, Math.max(1.5, L * 0.035)), [10, 10, 12], 0.45);
  if (spec.extras.includes('spareWheel')) {
    const r = spec.wheelRadius * L * 0.9;
    drawWheel(canvas, rng, X(-0.01), Y(0.42), r, spec.tyre, 'offroad', rimColor);
  }
  // Body with a vertical light-to-dark gradient.
  const topY = Y(topV), bottomY = ground;
  canvas.fill(polygon(pts(spec.body), spec.bodyRound * L), { from: shade(paint, 1.15), to: shade(paint, 0.8), y0: topY, y1: bottomY });
  // Rocker panel and bumpers, darker.
  const minV = Math.min(...spec.body.map((p) => p[1]));
  canvas.fill(rect(Math.min(X(0.02), X(0.98)), Y(minV + 0.025), Math.max(X(0.02), X(0.98)), Y(minV) + 0.5), shade(paint, 0.55), 0.8);
  if (spec.extras.includes('openBed')) {
    const bedTop = spec.body.find((p) => p[0] === 0 && p[1] > 0.2)![1];
    canvas.fill(rect(Math.min(X(0.02), X(0.43)), Y(bedTop) - 0.2, Math.max(X(0.02), X(0.43)), Y(bedTop) + L * 0.02), [35, 35, 38]);
    canvas.fill(capsule(X(0.01), Y(bedTop), X(0.44), Y(bedTop), hair * 1.5), shade(paint, 1.2));
  }
  if (spec.extras.includes('stripe')) {
    canvas.fill(capsule(X(0.03), Y(0.13), X(0.97), Y(0.115), Math.max(0.6, L * 0.008)), rng() < 0.5 ? [245, 245, 245] : [20, 20, 20], 0.9);
  }
  if (spec.extras.includes('spoiler')) {
    canvas.fill(polygon(pts([[0, 0.2], [0.08, 0.2], [0.06, 0.185], [0.02, 0.185]]), L * 0.004), shade(paint, 0.5));
  }
  // Wheel arches cut into the body.
  for (const u of spec.wheels) canvas.fill(circle(X(u), Y(spec.wheelRadius), spec.wheelRadius * L * 1.16), [28, 28, 30]);
  // Glass with a diagonal highlight.
  for (const win of spec.windows) {
    const shape = polygon(pts(win), L * 0.003);
    canvas.fill(shape, glass);
    canvas.fill(shape, (x, y) => (((x + y) / (L * 0.08)) % 3 < 0.6 ? [230, 235, 245] : glass), 0.25);
  }
  for (const [u0, v0, u1, v1] of spec.pillars) canvas.fill(capsule(X(u0), Y(v0), X(u1), Y(v1), Math.max(0.6, L * 0.012)), shade(paint, 0.9));
  for (const [u0, v0, u1, v1] of spec.lines) canvas.fill(capsule(X(u0), Y(v0), X(u1), Y(v1), hair), shade(paint, 0.45), 0.8);
  if (spec.extras.includes('seats')) {
    canvas.fill(rect(Math.min(X(0.4), X(0.48)), Y(0.3), Math.max(X(0.4), X(0.48)), Y(0.19), L * 0.01), [60, 40, 35]);
    canvas.fill(circle(X(0.47), Y(0.33), L * 0.03), hsl(uniform(rng, 20, 35), 0.45, uniform(rng, 0.35, 0.7)));
    canvas.fill(rect(Math.min(X(0.2), X(0.28)), Y(0.28), Math.max(X(0.2), X(0.28)), Y(0.19), L * 0.01), [60, 40, 35]);
  }
  if (spec.extras.includes('roofRack')) {
    canvas.fill(capsule(X(0.1), Y(topV + 0.025), X(0.6), Y(topV + 0.025), Math.max(0.5, L * 0.006)), [40, 40, 42]);
    for (const u of [0.15, 0.55]) canvas.fill(capsule(X(u), Y(topV), X(u), Y(topV + 0.025), Math.max(0.5, L * 0.005)), [40, 40, 42]);
  }
  if (spec.extras.includes('ladder')) {
    canvas.fill(capsule(X(0.05), Y(topV + 0.03), X(0.7), Y(topV + 0.03), Math.max(0.5, L * 0.006)), [150, 150, 150]);
  }
  if (spec.extras.includes('busDoor')) {
    canvas.fill(rect(Math.min(X(0.84), X(0.88)), Y(0.45), Math.max(X(0.84), X(0.88)), Y(0.07)), glass, 0.85);
    canvas.fill(capsule(X(0.02), Y(0.26), X(0.98), Y(0.26), Math.max(0.6, L * 0.008)), shade(paint, 0.6));
  }
  if (spec.extras.includes('roofLight')) {
    canvas.fill(rect(Math.min(X(0.9), X(0.97)), Y(0.52), Math.max(X(0.9), X(0.97)), Y(0.495)), [250, 160, 40]);
  }
  if (spec.extras.includes('slidingDoor')) {
    canvas.fill(capsule(X(0.27), Y(0.3), X(0.5), Y(0.3), hair), [30, 30, 30], 0.8);
  }
  // Lights.
  const [hu, hv] = spec.headlight, [tu, tv] = spec.taillight;
  canvas.fill(ellipse(X(hu), Y(hv), Math.max(1, L * 0.022), Math.max(0.8, L * 0.014)), [250, 245, 215]);
  canvas.fill(ellipse(X(tu), Y(tv), Math.max(0.8, L * 0.012), Math.max(1, L * 0.022)), [210, 25, 25]);
  for (const u of spec.wheels) drawWheel(canvas, rng, X(u), Y(spec.wheelRadius), spec.wheelRadius * L, spec.tyre, spec.rim, rimColor);
}

/** Where the car was drawn in a picture (pixels), for tests and debugging. */
export interface CarPlacement {
  /** Horizontal centre of the car body. */
  centreX: number;
  /** Car length, rear to nose. */
  length: number;
  /** Row of the ground line the wheels stand on. */
  ground: number;
  /** True when the car faces left (drawn mirrored). */
  mirror: boolean;
  /** Centre of the headlight. */
  headlight: [number, number];
}

/** Like drawCar, and also says where the car is. */
export function renderCarScene(spec: CarClassSpec, rng: Rng, width: number, height: number): { rgb: Uint8Array; car: CarPlacement } {
  positiveInt('width', width);
  positiveInt('height', height);
  const canvas = new Canvas(width, height);
  const topV = Math.max(...spec.body.map((p) => p[1])) + 0.04;
  let length = width * uniform(rng, 0.5, 0.88);
  const ground = height * uniform(rng, 0.66, 0.95);
  length = Math.min(length, (ground - 2) / topV); // keep the roof inside the picture
  const x0 = uniform(rng, -0.04 * length, width - 0.96 * length);
  const horizon = Math.min(ground - 2, height * uniform(rng, 0.3, 0.68));
  drawBackground(canvas, rng, horizon);
  const mirror = rng() < 0.5;
  drawCarBody(canvas, rng, spec, { x0, ground, length, mirror });

  // Mild global colour jitter (brightness, contrast, per-channel gain) and sensor noise.
  const bright = uniform(rng, -15, 15), contrast = uniform(rng, 0.85, 1.15);
  const gains = [uniform(rng, 0.93, 1.07), uniform(rng, 0.93, 1.07), uniform(rng, 0.93, 1.07)];
  const noise = uniform(rng, 0, 7);
  const data = canvas.data;
  for (let i = 0; i < data.length; i++) data[i] = (data[i] - 128) * contrast * gains[i % 3] + 128 + bright + noise * gauss(rng);
  const [hu, hv] = spec.headlight;
  const car: CarPlacement = { centreX: x0 + length / 2, length, ground, mirror, headlight: [x0 + (mirror ? 1 - hu : hu) * length, ground - hv * length] };
  return { rgb: canvas.toRgb8(), car };
}

/**
 * Draws one picture of a car of class `spec`: random scene, scale, position, facing, colour jitter
 * and sensor noise. Returns packed RGB bytes, row-major, `width * height * 3` long.
 */
export function drawCar(spec: CarClassSpec, rng: Rng, width: number, height: number): Uint8Array {
  return renderCarScene(spec, rng, width, height).rgb;
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const intIn = (rng: Rng, [lo, hi]: readonly [number, number]) => lo + Math.floor(rng() * (hi - lo + 1));

/** A dataset file name for one picture of `spec`: 16 `_`-separated fields, a 3-letter id, `.jpg`. */
export function demoFileName(spec: CarClassSpec, rng: Rng): string {
  const m = spec.meta;
  const jitter = (x: number) => String(x + Math.floor(rng() * 3) - 1);
  const fields = [
    spec.make, spec.model, String(intIn(rng, m.years)), String(intIn(rng, m.msrp)), String(pick(rng, m.wheelInches)),
    String(intIn(rng, m.hp)), String(pick(rng, m.displacement)), String(pick(rng, m.cylinders)),
    jitter(m.width), jitter(m.height), jitter(m.length), rng() < 0.05 ? 'nan' : String(intIn(rng, m.mpg)),
    pick(rng, m.drivetrain), String(m.passengers), String(m.doors), m.bodyStyle,
  ];
  const id = LETTERS[Math.floor(rng() * 52)] + LETTERS[Math.floor(rng() * 52)] + LETTERS[Math.floor(rng() * 52)];
  return `${fields.join('_')}_${id}.jpg`;
}

/** Encodes packed RGB to JPEG bytes; the default uses sharp, the engine may pass its native encoder. */
export type JpegEncoder = (rgb: Uint8Array, width: number, height: number, quality: number) => Promise<Uint8Array>;

export const sharpJpegEncoder: JpegEncoder = async (rgb, width, height, quality) => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const sharp = require('sharp');
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
};

export interface DemoDatasetOptions {
  /** Number of classes, 8..12 (default 10). */
  classes?: number;
  /** Pictures per class (default 300). */
  perClass?: number;
  width?: number;
  height?: number;
  seed?: number;
  /** JPEG quality 1..100 (default 85). */
  quality?: number;
  encodeJpeg?: JpegEncoder;
}

export interface DemoDataset {
  /** Absolute paths, class by class, in generation order. */
  files: string[];
  /** Class labels (`make_model`), sorted. */
  classes: string[];
}

export const DEMO_DEFAULTS = { classes: 10, perClass: 300, width: 128, height: 96, seed: 1, quality: 85 } as const;
const OPTION_KEYS = ['classes', 'perClass', 'width', 'height', 'seed', 'quality', 'encodeJpeg'] as const;

/** The class specs used for a dataset of `count` classes (8..12). */
export function demoClassSpecs(count: number = DEMO_DEFAULTS.classes): CarClassSpec[] {
  if (!Number.isInteger(count) || count < 8 || count > DEMO_CLASSES.length) throw invalid('classes', `integer between 8 and ${DEMO_CLASSES.length}`, count);
  return DEMO_CLASSES.slice(0, count);
}

/**
 * Writes `classes * perClass` JPEGs into `dir` (created if missing) and returns their paths and the
 * sorted class labels. Same options and seed give the same file names and bytes.
 */
export async function generateDemoDataset(dir: string, options: DemoDatasetOptions = {}): Promise<DemoDataset> {
  if (typeof dir !== 'string' || dir.length === 0) throw invalid('dir', 'non-empty string', dir);
  if (options === null || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('generateDemoDataset', options, OPTION_KEYS);
  const specs = demoClassSpecs(options.classes ?? DEMO_DEFAULTS.classes);
  const perClass = positiveInt('perClass', options.perClass ?? DEMO_DEFAULTS.perClass);
  const width = positiveInt('width', options.width ?? DEMO_DEFAULTS.width);
  const height = positiveInt('height', options.height ?? DEMO_DEFAULTS.height);
  if (width < 32 || height < 24) throw invalid('width x height', 'at least 32 x 24', `${width} x ${height}`);
  const seed = options.seed ?? DEMO_DEFAULTS.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw invalid('seed', 'integer', seed);
  const quality = options.quality ?? DEMO_DEFAULTS.quality;
  if (typeof quality !== 'number' || !Number.isInteger(quality) || quality < 1 || quality > 100) throw invalid('quality', 'integer between 1 and 100', quality);
  const encode = options.encodeJpeg ?? sharpJpegEncoder;
  if (typeof encode !== 'function') throw invalid('encodeJpeg', 'function', encode);

  const root = path.resolve(dir);
  await fs.mkdir(root, { recursive: true });
  const files: string[] = [];
  const used = new Set<string>();
  // Drawing runs here while a few encodes and writes proceed on the thread pool.
  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined;
  for (let c = 0; c < specs.length; c++) {
    for (let i = 0; i < perClass; i++) {
      // One stream per picture: a picture does not depend on how many were drawn before it.
      const rng = createRng(mixSeed(seed, c, i));
      let name = demoFileName(specs[c], rng);
      while (used.has(name)) name = demoFileName(specs[c], rng);
      used.add(name);
      const rgb = drawCar(specs[c], rng, width, height);
      const file = path.join(root, name);
      files.push(file);
      const job: Promise<void> = encode(rgb, width, height, quality)
        .then((jpeg) => fs.writeFile(file, jpeg))
        .catch((e: unknown) => { failure ??= new Error(`demo dataset: could not write ${file}: ${e instanceof Error ? e.message : String(e)}`); })
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
      if (inFlight.size >= 4) await Promise.race(inFlight);
      if (failure) break;
    }
    if (failure) break;
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  return { files, classes: specs.map(classLabel).sort() };
}
