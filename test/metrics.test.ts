import { computeMetrics } from '../lib/report';

// Six samples, three classes; expected values worked out by hand below.
const labels = [0, 0, 0, 1, 1, 2];
const probabilities = Float32Array.from([
  0.7, 0.2, 0.1, // pred 0, true 0
  0.2, 0.5, 0.3, // pred 1, true 0
  0.6, 0.3, 0.1, // pred 0, true 0
  0.1, 0.8, 0.1, // pred 1, true 1
  0.3, 0.3, 0.4, // pred 2, true 1
  0.5, 0.25, 0.25, // pred 0, true 2
]);

describe('computeMetrics', () => {
  const m = computeMetrics({ labels, probabilities, numClasses: 3, classes: ['a', 'b', 'c'], k: 2 });

  test('confusion matrix, accuracy, loss', () => {
    expect(m.confusion).toEqual([[2, 1, 0], [0, 1, 1], [1, 0, 0]]);
    expect(m.predicted).toEqual([0, 1, 0, 1, 2, 0]);
    expect(m.accuracy).toBeCloseTo(3 / 6, 12);
    // Mean categorical cross-entropy of the true-class probabilities (float32 inputs: tolerance 1e-6).
    const expectedLoss = -(Math.log(0.7) + Math.log(0.2) + Math.log(0.6) + Math.log(0.8) + Math.log(0.3) + Math.log(0.25)) / 6;
    expect(m.loss as number).toBeCloseTo(expectedLoss, 6);
  });

  test('top-k counts ties at the boundary as in (tf.math.in_top_k)', () => {
    // k=2: only sample 1 (true prob 0.2 behind 0.5 and 0.3) misses. Sample 5's 0.25 ties with class 1 and counts.
    expect(m.topK).toBeCloseTo(5 / 6, 12);
    const top1 = computeMetrics({ labels, probabilities, numClasses: 3, k: 1 });
    expect(top1.topK).toBeCloseTo(3 / 6, 12);
    // Default k is 5 (all 3 classes are in the top 5).
    expect(computeMetrics({ labels, probabilities, numClasses: 3 }).topK).toBe(1);
  });

  test('per-class precision/recall/F1/support and macro/weighted averages (sklearn, zero_division=0)', () => {
    // a: tp 2, predicted 3, support 3 -> P 2/3, R 2/3, F1 2/3. b: tp 1, predicted 2, support 2 -> 1/2 each.
    // c: tp 0, predicted 1, support 1 -> 0 each.
    const expected = [[2 / 3, 2 / 3, 2 / 3, 3], [0.5, 0.5, 0.5, 2], [0, 0, 0, 1]];
    m.perClass.forEach((c, i) => {
      expect(c.precision).toBeCloseTo(expected[i][0], 12);
      expect(c.recall).toBeCloseTo(expected[i][1], 12);
      expect(c.f1).toBeCloseTo(expected[i][2], 12);
      expect(c.support).toBe(expected[i][3]);
    });
    expect(m.perClass.map((c) => c.name)).toEqual(['a', 'b', 'c']);
    // macro = mean over classes = (2/3 + 1/2 + 0) / 3 = 7/18; weighted = (3*2/3 + 2*1/2 + 1*0) / 6 = 1/2.
    for (const key of ['precision', 'recall', 'f1'] as const) {
      expect(m.macro[key]).toBeCloseTo(7 / 18, 12);
      expect(m.weighted[key]).toBeCloseTo(0.5, 12);
    }
    expect(m.macro.support).toBe(6);
  });

  test('most-confused pairs sorted by count, then true and predicted index', () => {
    expect(m.mostConfused.map((p) => [p.trueName, p.predictedName, p.count, p.rate])).toEqual([
      ['a', 'b', 1, 1 / 3], ['b', 'c', 1, 1 / 2], ['c', 'a', 1, 1],
    ]);
    const many = computeMetrics({ labels: [0, 0, 0, 1, 2, 2], predicted: [1, 1, 2, 0, 0, 0], numClasses: 3, topPairs: 2 });
    expect(many.mostConfused.map((p) => [p.trueLabel, p.predictedLabel, p.count])).toEqual([[0, 1, 2], [2, 0, 2]]);
  });

  test('predicted indices instead of probabilities; absent classes get zeros and stay out of the macro average', () => {
    const p = computeMetrics({ labels, predicted: m.predicted, numClasses: 4 });
    expect(p.loss).toBeNull();
    expect(p.topK).toBeNull();
    expect(p.accuracy).toBeCloseTo(0.5, 12);
    expect(p.perClass[3]).toEqual({ name: '3', precision: 0, recall: 0, f1: 0, support: 0 });
    expect(p.macro.f1).toBeCloseTo(7 / 18, 12); // sklearn's default label set: classes seen in y_true or y_pred
  });

  test('errors name the input', () => {
    expect(() => computeMetrics({ labels, probabilities: probabilities.subarray(0, 6), numClasses: 3 })).toThrow(/length N\*K = 18/);
    expect(() => computeMetrics({ labels: [0, 3], predicted: [0, 0], numClasses: 3 })).toThrow(/labels\[1\]/);
    expect(() => computeMetrics({ labels: [0], predicted: [5], numClasses: 3 })).toThrow(/predicted\[0\]/);
    expect(() => computeMetrics({ labels: [0], numClasses: 3 })).toThrow(/or give probabilities/);
    expect(() => computeMetrics({ labels: [], predicted: [], numClasses: 3 })).toThrow(/no samples/);
    expect(() => computeMetrics({ labels: [0], predicted: [0], numClasses: 2, classes: ['x'] })).toThrow(/classes/);
  });
});
