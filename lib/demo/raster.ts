// A tiny anti-aliased rasteriser for the synthetic demo: shapes are signed distance functions in
// pixel units, coverage = clamp(0.5 - distance), so edges get one pixel of analytic anti-aliasing.
import { mulberry32 } from '../data/random';

export type Rgb = readonly [number, number, number];
export type Point = readonly [number, number];

/** Seeded PRNG (mulberry32): deterministic, fast, good enough for drawing. Returns values in [0, 1). */
export type Rng = () => number;

/** The project's mulberry32 stream, for any integer seed (reduced to 32 bits). */
export function createRng(seed: number): Rng {
  return mulberry32(seed >>> 0);
}

/** Mixes several integers into one 32-bit seed, so each image has its own independent stream. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export const uniform = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng();
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
/** Approximately normal (Irwin-Hall of 4), mean 0, sd 1. */
export const gauss = (rng: Rng): number => (rng() + rng() + rng() + rng() - 2) * 1.7320508;

interface Bounds { x0: number; y0: number; x1: number; y1: number }
export interface Shape { sdf(x: number, y: number): number; bounds: Bounds }

function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax, dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 > 0 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
  const ex = px - ax - t * dx, ey = py - ay - t * dy;
  return Math.sqrt(ex * ex + ey * ey);
}

/** Polygon (any winding), optionally inflated by `round` pixels, which also rounds its corners. */
export function polygon(points: readonly Point[], round = 0): Shape {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const n = points.length;
  const xs = new Float64Array(n), ys = new Float64Array(n);
  points.forEach(([x, y], i) => {
    xs[i] = x; ys[i] = y;
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
  });
  return {
    bounds: { x0: x0 - round, y0: y0 - round, x1: x1 + round, y1: y1 + round },
    sdf(px, py) {
      // Flat arrays and squared distances: this is the hot loop of the whole generator.
      let best = Infinity;
      let inside = false;
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const xi = xs[i], yi = ys[i], xj = xs[j], yj = ys[j];
        const dx = xi - xj, dy = yi - yj;
        const len2 = dx * dx + dy * dy;
        let t = len2 > 0 ? ((px - xj) * dx + (py - yj) * dy) / len2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const ex = px - xj - t * dx, ey = py - yj - t * dy;
        const d2 = ex * ex + ey * ey;
        if (d2 < best) best = d2;
        if ((yi > py) !== (yj > py) && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
      }
      const d = Math.sqrt(best);
      return (inside ? -d : d) - round;
    },
  };
}

export function ellipse(cx: number, cy: number, rx: number, ry: number): Shape {
  const rMin = Math.min(rx, ry);
  return {
    bounds: { x0: cx - rx, y0: cy - ry, x1: cx + rx, y1: cy + ry },
    sdf(px, py) {
      const u = (px - cx) / rx, v = (py - cy) / ry;
      return (Math.sqrt(u * u + v * v) - 1) * rMin;
    },
  };
}

export const circle = (cx: number, cy: number, r: number): Shape => ellipse(cx, cy, r, r);

/** A thick line with round caps. */
export function capsule(ax: number, ay: number, bx: number, by: number, halfWidth: number): Shape {
  return {
    bounds: { x0: Math.min(ax, bx) - halfWidth, y0: Math.min(ay, by) - halfWidth, x1: Math.max(ax, bx) + halfWidth, y1: Math.max(ay, by) + halfWidth },
    sdf: (px, py) => segmentDistance(px, py, ax, ay, bx, by) - halfWidth,
  };
}

/** Float RGB canvas (0..255) with alpha-blended shape filling. */
/** A vertical gradient from `from` at row y0 to `to` at row y1 (clamped outside). */
export interface Gradient { from: Rgb; to: Rgb; y0: number; y1: number }

export class Canvas {
  readonly data: Float32Array;
  constructor(readonly width: number, readonly height: number) {
    this.data = new Float32Array(width * height * 3);
  }

  /** Fills with a colour, or with a colour computed per pixel (for gradients). */
  fill(shape: Shape, color: Rgb | Gradient | ((x: number, y: number) => Rgb), alpha = 1): void {
    const { width, height, data } = this;
    const b = shape.bounds;
    const xs = Math.max(0, Math.floor(b.x0 - 1)), xe = Math.min(width - 1, Math.ceil(b.x1 + 1));
    const ys = Math.max(0, Math.floor(b.y0 - 1)), ye = Math.min(height - 1, Math.ceil(b.y1 + 1));
    const perPixel = typeof color === 'function' ? color : null;
    const gradient = !perPixel && !Array.isArray(color) ? (color as Gradient) : null;
    let c = (perPixel || gradient ? [0, 0, 0] : color) as Rgb;
    for (let y = ys; y <= ye; y++) {
      if (gradient) {
        const t = Math.max(0, Math.min(1, (y - gradient.y0) / Math.max(1e-9, gradient.y1 - gradient.y0)));
        c = mix(gradient.from, gradient.to, t);
      }
      for (let x = xs; x <= xe; x++) {
        const cover = Math.min(1, Math.max(0, 0.5 - shape.sdf(x + 0.5, y + 0.5))) * alpha;
        if (cover <= 0) continue;
        if (perPixel) c = perPixel(x, y);
        const o = (y * width + x) * 3;
        data[o] += (c[0] - data[o]) * cover;
        data[o + 1] += (c[1] - data[o + 1]) * cover;
        data[o + 2] += (c[2] - data[o + 2]) * cover;
      }
    }
  }

  toRgb8(): Uint8Array {
    const out = new Uint8Array(this.data.length);
    for (let i = 0; i < out.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(this.data[i])));
    return out;
  }
}

export function hsl(h: number, s: number, l: number): Rgb {
  // h in degrees, s and l in [0, 1].
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [255 * f(0), 255 * f(8), 255 * f(4)];
}

export const mix = (a: Rgb, b: Rgb, t: number): Rgb => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
export const shade = (c: Rgb, f: number): Rgb => [c[0] * f, c[1] * f, c[2] * f];

/** A circle outline of radius `r` and half-width `halfWidth`. */
export function ring(cx: number, cy: number, r: number, halfWidth: number): Shape {
  const reach = r + halfWidth;
  return {
    bounds: { x0: cx - reach, y0: cy - reach, x1: cx + reach, y1: cy + reach },
    sdf(px, py) {
      const dx = px - cx, dy = py - cy;
      return Math.abs(Math.sqrt(dx * dx + dy * dy) - r) - halfWidth;
    },
  };
}

/** Axis-aligned box from (x0, y0) to (x1, y1) with corners rounded by `round` pixels. */
export function rect(x0: number, y0: number, x1: number, y1: number, round = 0): Shape {
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const hx = Math.abs(x1 - x0) / 2 - round, hy = Math.abs(y1 - y0) / 2 - round;
  return {
    bounds: { x0: Math.min(x0, x1), y0: Math.min(y0, y1), x1: Math.max(x0, x1), y1: Math.max(y0, y1) },
    sdf(px, py) {
      const qx = Math.abs(px - cx) - hx, qy = Math.abs(py - cy) - hy;
      const ox = Math.max(qx, 0), oy = Math.max(qy, 0);
      return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0) - round;
    },
  };
}
