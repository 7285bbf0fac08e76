// Small seeded PRNG so splits and shuffles repeat exactly across runs and platforms.
import { invalid } from '../validate';

/** Validates a seed: an integer in [0, 2^32). */
export function checkSeed(name: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw invalid(name, 'integer between 0 and 4294967295', seed);
  }
  return seed;
}

/** mulberry32: 32-bit state, full period, good enough for shuffling; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = checkSeed('seed', seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform integer in [0, n). */
export function randomInt(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

/** Fisher-Yates shuffle in place; returns the same array. */
export function shuffleInPlace<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}
