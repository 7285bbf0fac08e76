import { balancedClassWeights } from '../lib/data';

describe('balancedClassWeights', () => {
  test('follows sklearn balanced: n / (K * count_c)', () => {
    // labels: class 0 x6, class 1 x3, class 2 x1 -> n=10, K=3
    const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2];
    const w = balancedClassWeights(labels, 3);
    expect(w[0]).toBeCloseTo(10 / (3 * 6), 12);
    expect(w[1]).toBeCloseTo(10 / (3 * 3), 12);
    expect(w[2]).toBeCloseTo(10 / (3 * 1), 12);
    // Property of "balanced": sum_c count_c * w_c = n.
    expect(6 * w[0] + 3 * w[1] + 1 * w[2]).toBeCloseTo(10, 12);
  });

  test('balanced data gives all ones; typed arrays are accepted', () => {
    expect(balancedClassWeights(Int32Array.from([0, 1, 2, 3, 3, 2, 1, 0]), 4)).toEqual([1, 1, 1, 1]);
  });

  test('a class absent from the labels or a bad label is an error', () => {
    expect(() => balancedClassWeights([0, 0, 2], 3)).toThrow(/class 1 has no samples/);
    expect(() => balancedClassWeights([0, 3], 3)).toThrow(/labels\[1\]/);
    expect(() => balancedClassWeights([0], 0)).toThrow(/numClasses/);
  });
});
