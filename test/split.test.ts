import { stratifiedSplit, Sample, SEED_RATIOS } from '../lib/data';
import { mulberry32, shuffleInPlace } from '../lib/data/random';

/** Imbalanced classes like the real data: counts from 3 to 500. */
const COUNTS = [500, 240, 97, 24, 13, 7, 4, 3];
const CLASSES = COUNTS.map((_, c) => `class${c}`);
function makeSamples(counts: number[]): Sample[] {
  const out: Sample[] = [];
  counts.forEach((n, c) => { for (let i = 0; i < n; i++) out.push({ file: `/img/c${c}/f${String(i).padStart(4, '0')}.jpg`, label: c }); });
  return out;
}

describe('stratifiedSplit', () => {
  const samples = makeSamples(COUNTS);

  test('stratified: every class appears in every split with near-ratio shares; no file lost or duplicated', () => {
    const r = stratifiedSplit(samples, { classes: CLASSES, seed: 42 });
    const all = [...r.train, ...r.val, ...r.test].map((s) => s.file);
    expect(new Set(all).size).toBe(samples.length);
    expect(all.length).toBe(samples.length);
    COUNTS.forEach((n, c) => {
      const per = [r.train, r.val, r.test].map((part) => part.filter((s) => s.label === c).length);
      expect(per.every((k) => k >= 1)).toBe(true);
      expect(per.reduce((a, b) => a + b)).toBe(n);
      // Per class, each split is within one file of its exact share (plus the 1-file minimum for tiny classes).
      per.forEach((k, s) => expect(Math.abs(k - n * SEED_RATIOS[s])).toBeLessThanOrEqual(n < 8 ? 1.5 : 1));
    });
    // Labels keep their files' classes.
    for (const s of r.train) expect(s.file.startsWith(`/img/c${s.label}/`)).toBe(true);
  });

  test('respects the overall ratios within 1 file per split', () => {
    const r = stratifiedSplit(samples, { classes: CLASSES, seed: 1, ratios: [0.5625, 0.1875, 0.25] });
    const n = samples.length; // 888
    expect(Math.abs(r.train.length - n * 0.5625)).toBeLessThanOrEqual(1);
    expect(Math.abs(r.val.length - n * 0.1875)).toBeLessThanOrEqual(1);
    expect(Math.abs(r.test.length - n * 0.25)).toBeLessThanOrEqual(1);
    const two = stratifiedSplit(samples, { classes: CLASSES, seed: 1, ratios: [0.8, 0.2] });
    expect(two.test).toEqual([]);
    expect(Math.abs(two.train.length - n * 0.8)).toBeLessThanOrEqual(1);
  });

  test('deterministic: same seed gives the same split whatever the input order; another seed differs', () => {
    const a = stratifiedSplit(samples, { classes: CLASSES, seed: 7 });
    const shuffled = shuffleInPlace(samples.slice(), mulberry32(99));
    const b = stratifiedSplit(shuffled, { classes: CLASSES, seed: 7 });
    expect(b).toEqual(a);
    const c = stratifiedSplit(samples, { classes: CLASSES, seed: 8 });
    expect(c.train.map((s) => s.file)).not.toEqual(a.train.map((s) => s.file));
    expect(c.train.length).toBe(a.train.length);
  });

  test('a class too small is an error naming the class and counts, or is dropped with a warning', () => {
    const small = makeSamples([10, 2, 0]);
    const names = ['Audi', 'Fiat', 'Lada'];
    expect(() => stratifiedSplit(small, { classes: names, seed: 0 }))
      .toThrow(/at least 3 files .*"Fiat" has 2, "Lada" has 0/);
    const warnings: string[] = [];
    const r = stratifiedSplit(small, { classes: names, seed: 0, onTooSmall: 'drop', warn: (m) => warnings.push(m) });
    expect(r.classes).toEqual(['Audi']);
    expect(r.dropped).toEqual([{ name: 'Fiat', count: 2 }, { name: 'Lada', count: 0 }]);
    expect(warnings).toEqual([expect.stringMatching(/Dropping class "Fiat": 2 file/), expect.stringMatching(/"Lada"/)]);
    expect([...r.train, ...r.val, ...r.test].every((s) => s.label === 0)).toBe(true);
    // Labels are renumbered when a class in the middle is dropped.
    const mid = stratifiedSplit(makeSamples([5, 1, 6]), { classes: ['a', 'b', 'c'], seed: 0, onTooSmall: 'drop', warn: () => undefined });
    expect(mid.classes).toEqual(['a', 'c']);
    expect(mid.train.filter((s) => s.file.startsWith('/img/c2/')).every((s) => s.label === 1)).toBe(true);
  });

  test('a class with exactly 3 files gets one in each split', () => {
    const r = stratifiedSplit(makeSamples([3]), { classes: ['x'], seed: 3 });
    expect([r.train.length, r.val.length, r.test.length]).toEqual([1, 1, 1]);
  });

  test('validates options', () => {
    expect(() => stratifiedSplit(samples, { classes: CLASSES, ratios: [0.5, 0.4] })).toThrow(/Expected 2 or 3 numbers in \(0, 1\) summing to 1 for ratios but received \[0.5,0.4\]/);
    expect(() => stratifiedSplit(samples, { classes: CLASSES, seed: -1 })).toThrow(/for seed but received -1/);
    expect(() => stratifiedSplit(samples, { classes: CLASSES, onTooSmall: 'skip' as 'drop' })).toThrow(/onTooSmall/);
    expect(() => stratifiedSplit([{ file: 'a.jpg', label: 9 }], { classes: CLASSES })).toThrow(/samples\[0\].label/);
    expect(() => stratifiedSplit(samples, { classes: CLASSES, shuffle: true } as object as { classes: string[] })).toThrow(/Unknown option "shuffle"/);
  });
});
