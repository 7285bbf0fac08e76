// Classification metrics with Keras (loss, accuracy, top-k) and scikit-learn (precision/recall/F1, zero_division=0) semantics.
import { invalid, positiveInt, rejectUnknownKeys } from '../validate';

export interface ClassMetrics {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface AveragedMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ConfusedPair {
  trueLabel: number;
  predictedLabel: number;
  trueName: string;
  predictedName: string;
  count: number;
  /** count / support of the true class. */
  rate: number;
}

export interface ClassificationMetrics {
  count: number;
  numClasses: number;
  /** Categorical cross-entropy (Keras: probabilities renormalized, clipped to [1e-7, 1 - 1e-7]); null without probabilities. */
  loss: number | null;
  accuracy: number;
  /** Fraction whose true class is among the k highest scores (ties count as in, like tf.math.in_top_k); null without probabilities. */
  topK: number | null;
  k: number;
  perClass: ClassMetrics[];
  /** Unweighted mean over the classes present in the labels or the predictions (scikit-learn's default label set). */
  macro: AveragedMetrics;
  /** Support-weighted mean over the same classes. */
  weighted: AveragedMetrics;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  mostConfused: ConfusedPair[];
  predicted: number[];
}

export interface ComputeMetricsInput {
  /** True class indices, length N. */
  labels: ArrayLike<number>;
  /** Row-major [N, K] class probabilities; or give `predicted`. */
  probabilities?: Float32Array | Float64Array | number[];
  /** Predicted class indices, length N (used when probabilities are absent). */
  predicted?: ArrayLike<number>;
  numClasses: number;
  /** Class names for the per-class rows; default the indices. */
  classes?: readonly string[];
  /** k of the top-k accuracy. Default 5. */
  k?: number;
  /** How many most-confused pairs to list. Default 10. */
  topPairs?: number;
}

const EPSILON = 1e-7; // Keras backend epsilon

function checkIndex(name: string, value: number, numClasses: number): number {
  if (!Number.isInteger(value) || value < 0 || value >= numClasses) throw invalid(name, `integer in [0, ${numClasses - 1}]`, value);
  return value;
}

/** `loss 0.1234 - accuracy 0.9000 - top-5 0.9900`, Keras style; top-k only with more than k classes (else it is always 1). */
export function metricsLine(m: ClassificationMetrics): string {
  const f = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4));
  return `loss ${f(m.loss)} - accuracy ${f(m.accuracy)}${m.numClasses > m.k ? ` - top-${m.k} ${f(m.topK)}` : ''}`;
}

export function computeMetrics(input: ComputeMetricsInput): ClassificationMetrics {
  if (!input || typeof input !== 'object') throw invalid('input', 'object', input);
  rejectUnknownKeys('computeMetrics', input, ['labels', 'probabilities', 'predicted', 'numClasses', 'classes', 'k', 'topPairs']);
  const K = positiveInt('numClasses', input.numClasses);
  const k = positiveInt('k', input.k ?? 5);
  const topPairs = positiveInt('topPairs', input.topPairs ?? 10);
  const { labels, probabilities } = input;
  if (!labels || typeof labels.length !== 'number') throw invalid('labels', 'array of class indices', labels);
  const N = labels.length;
  if (N === 0) throw new Error('Cannot compute metrics: no samples');
  const names = input.classes ? [...input.classes] : Array.from({ length: K }, (_, c) => String(c));
  if (names.length !== K) throw invalid('classes', `${K} names (numClasses)`, names.length);

  const predicted: number[] = new Array(N);
  let loss: number | null = null;
  let topK: number | null = null;
  if (probabilities !== undefined) {
    if (probabilities.length !== N * K) throw invalid('probabilities', `length N*K = ${N * K}`, `length ${probabilities.length}`);
    let lossSum = 0;
    let inTop = 0;
    for (let i = 0; i < N; i++) {
      const y = checkIndex(`labels[${i}]`, labels[i], K);
      const row = i * K;
      let best = 0;
      let sum = 0;
      for (let c = 0; c < K; c++) {
        const p = probabilities[row + c];
        sum += p;
        if (p > probabilities[row + best]) best = c; // first maximum wins, like argmax
      }
      predicted[i] = best;
      const pTrue = Math.min(Math.max(probabilities[row + y] / sum, EPSILON), 1 - EPSILON);
      lossSum -= Math.log(pTrue);
      let higher = 0;
      for (let c = 0; c < K; c++) if (probabilities[row + c] > probabilities[row + y]) higher++;
      if (higher < k) inTop++;
    }
    loss = lossSum / N;
    topK = inTop / N;
  } else {
    const given = input.predicted;
    if (!given || given.length !== N) throw invalid('predicted', `array of ${N} class indices (or give probabilities)`, given === undefined ? undefined : `length ${given.length}`);
    for (let i = 0; i < N; i++) {
      checkIndex(`labels[${i}]`, labels[i], K);
      predicted[i] = checkIndex(`predicted[${i}]`, given[i], K);
    }
  }

  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  let correct = 0;
  for (let i = 0; i < N; i++) {
    confusion[labels[i]][predicted[i]]++;
    if (labels[i] === predicted[i]) correct++;
  }
  const perClass: ClassMetrics[] = [];
  const present: number[] = [];
  for (let c = 0; c < K; c++) {
    const tp = confusion[c][c];
    let support = 0;
    let predictedCount = 0;
    for (let j = 0; j < K; j++) {
      support += confusion[c][j];
      predictedCount += confusion[j][c];
    }
    const precision = predictedCount > 0 ? tp / predictedCount : 0;
    const recall = support > 0 ? tp / support : 0;
    const denominator = support + predictedCount; // 2tp + fp + fn
    perClass.push({ name: names[c], precision, recall, f1: denominator > 0 ? (2 * tp) / denominator : 0, support });
    if (support > 0 || predictedCount > 0) present.push(c);
  }
  const average = (weighted: boolean): AveragedMetrics => {
    let total = 0;
    const acc = { precision: 0, recall: 0, f1: 0 };
    for (const c of present) {
      const w = weighted ? perClass[c].support : 1;
      total += w;
      acc.precision += w * perClass[c].precision;
      acc.recall += w * perClass[c].recall;
      acc.f1 += w * perClass[c].f1;
    }
    const div = total > 0 ? total : 1;
    return { precision: acc.precision / div, recall: acc.recall / div, f1: acc.f1 / div, support: N };
  };

  const pairs: ConfusedPair[] = [];
  for (let t = 0; t < K; t++) {
    for (let p = 0; p < K; p++) {
      if (t !== p && confusion[t][p] > 0) {
        pairs.push({ trueLabel: t, predictedLabel: p, trueName: names[t], predictedName: names[p], count: confusion[t][p], rate: confusion[t][p] / perClass[t].support });
      }
    }
  }
  pairs.sort((a, b) => b.count - a.count || a.trueLabel - b.trueLabel || a.predictedLabel - b.predictedLabel);

  return {
    count: N,
    numClasses: K,
    loss,
    accuracy: correct / N,
    topK,
    k,
    perClass,
    macro: average(false),
    weighted: average(true),
    confusion,
    mostConfused: pairs.slice(0, topPairs),
    predicted,
  };
}
