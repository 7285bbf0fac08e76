// Shared fixtures for the model tests: a generated 3-class colour task and small helpers.
import type { ArrayInput } from '../lib/model';
import { mulberry32 } from '../lib/data/random';

/** Deterministic PRNG (the project's mulberry32) so fixtures are reproducible. */
export function rng(seed: number): () => number {
  return mulberry32(seed >>> 0);
}

/** n images h x w: class k has channel k brighter than the others, plus noise; values in [-1, 1]. */
export function colourTask(n: number, h: number, w: number, seed: number, classes = 3): ArrayInput & { labels: Int32Array } {
  const r = rng(seed);
  const x = new Float32Array(n * h * w * 3);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(r() * classes);
    labels[i] = k;
    for (let p = 0; p < h * w; p++) {
      for (let c = 0; c < 3; c++) {
        x[(i * h * w + p) * 3 + c] = (c === k ? 0.4 : -0.4) + (r() - 0.5) * 1.0;
      }
    }
  }
  return { x, shape: [n, h, w, 3], labels };
}

export function randomInput(n: number, h: number, w: number, seed: number, classes: number): ArrayInput & { labels: Int32Array } {
  const r = rng(seed);
  const x = new Float32Array(n * h * w * 3).map(() => r() * 2 - 1);
  const labels = new Int32Array(n).map(() => Math.floor(r() * classes));
  return { x, shape: [n, h, w, 3], labels };
}

export function sliceInput(input: ArrayInput, start: number, end: number): ArrayInput {
  const per = input.shape[1] * input.shape[2] * input.shape[3];
  return {
    x: input.x.slice(start * per, end * per),
    shape: [end - start, input.shape[1], input.shape[2], input.shape[3]],
    labels: input.labels?.slice(start, end),
    sampleWeights: input.sampleWeights?.slice(start, end),
  };
}
