// Loads Keras .h5 weights into a model by layer name, validating every shape first.
import { readKerasWeights, KerasWeightsFile } from './h5';
import { KerasWeightsModel, LayerInfo, NamedTensor, WeightSpecEntry, kindOf, specByLayer } from './model-contract';
import { rejectUnknownKeys, booleanOption, invalid, firstAndMore } from '../validate';

export interface LoadKerasWeightsOptions {
  /** Load the weights that match and skip the rest (reported) instead of failing. */
  allowPartial?: boolean;
  /** Model layers that may be absent from the file without error, e.g. a new head: names or patterns. */
  expectMissing?: (string | RegExp)[];
  /** File layers the model does not have are skipped without error (a with-top file into a no-top model). */
  ignoreUnexpected?: boolean;
  /** Receives the "skipped" summary when allowPartial skipped something; defaults to console.warn. */
  onSkip?: (message: string) => void;
}

export interface ShapeMismatch {
  weight: string;
  fileShape: number[];
  modelShape: number[];
}

export interface KerasImportReport {
  file: string;
  format: 'keras2' | 'keras3';
  /** Weight keys (`layer/kind`) set on the model. */
  loaded: string[];
  /** Model layers (or `layer/kind` weights) absent from the file. */
  missing: string[];
  /** File layers (or `layer/kind` weights) the model does not have. */
  unexpected: string[];
  /** File layers skipped because of `ignoreUnexpected`. */
  ignored: string[];
  misshaped: ShapeMismatch[];
  /** Human-readable summary of what was skipped; empty when everything loaded. */
  skippedMessage: string;
}

const OPTION_KEYS = ['allowPartial', 'expectMissing', 'ignoreUnexpected', 'onSkip'] as const;

/** Keras 3's naming.to_snake_case, used for the `.weights.h5` store paths (`Conv2D` -> `conv2d`). */
export function kerasSnakeCase(className: string): string {
  return className
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** Keras 3 addresses layers by class name and position (`conv2d`, `conv2d_1`, ...): map those to layer names. */
export function keras3LayerPaths(layers: LayerInfo[]): Map<string, string> {
  const used = new Map<string, number>();
  const out = new Map<string, string>();
  for (const layer of layers) {
    const base = kerasSnakeCase(layer.type);
    const seen = used.get(base);
    const storeName = seen === undefined ? base : `${base}_${seen + 1}`;
    used.set(base, seen === undefined ? 0 : seen + 1);
    out.set(storeName, layer.name);
  }
  return out;
}

const shapeText = (shape: number[]) => `[${shape.join(', ')}]`;
const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

interface FileWeight { shape: number[]; data: Float32Array }

/** Puts the file's weights under model layer names and kinds: `layer -> kind -> tensor`. */
function fileWeightsByLayer(file: KerasWeightsFile, model: KerasWeightsModel, byLayer: Map<string, WeightSpecEntry[]>) {
  const out = new Map<string, Map<string, FileWeight>>();
  if (file.format === 'keras2') {
    for (const layer of file.layers) out.set(layer.name, new Map(layer.weights.map((w) => [w.kind, { shape: w.shape, data: w.data }])));
    return out;
  }
  // Keras 3 stores variables by position in the layer's Keras weight order, which the spec follows.
  const paths = keras3LayerPaths(model.layers());
  for (const layer of file.layers) {
    const modelName = paths.get(layer.name) ?? layer.name;
    const expected = byLayer.get(modelName);
    const kinds = expected && expected.length === layer.weights.length ? expected.map(kindOf) : layer.weights.map((w) => w.kind);
    out.set(modelName, new Map(layer.weights.map((w, i) => [kinds[i], { shape: w.shape, data: w.data }])));
  }
  return out;
}

/** The first 20 names and "and N more": a wrong file can mismatch hundreds of layers. */
function listLine(title: string, items: string[]): string {
  return `  ${title} (${items.length}): ${firstAndMore(items, (s) => s, 20)}`;
}

/**
 * Reads a Keras weights file and sets the model's weights matched by layer name (never by position).
 * Missing, unexpected and mis-shaped layers are collected and reported in one error, unless `allowPartial`.
 */
export async function loadKerasWeights(model: KerasWeightsModel, file: string, options: LoadKerasWeightsOptions = {}): Promise<KerasImportReport> {
  if (options === null || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('loadKerasWeights', options, OPTION_KEYS);
  const allowPartial = options.allowPartial === undefined ? false : booleanOption('allowPartial', options.allowPartial);
  const ignoreUnexpected = options.ignoreUnexpected === undefined ? false : booleanOption('ignoreUnexpected', options.ignoreUnexpected);
  const expectMissing = options.expectMissing ?? [];
  if (!Array.isArray(expectMissing) || !expectMissing.every((p) => typeof p === 'string' || p instanceof RegExp)) {
    throw invalid('expectMissing', 'array of layer names or regular expressions', expectMissing);
  }
  if (options.onSkip !== undefined && typeof options.onSkip !== 'function') throw invalid('onSkip', 'function', options.onSkip);
  const isExpectedMissing = (layer: string) => expectMissing.some((p) => (typeof p === 'string' ? p === layer : p.test(layer)));

  const contents = await readKerasWeights(file);
  const byLayer = specByLayer(model.weightSpec());
  const fromFile = fileWeightsByLayer(contents, model, byLayer);

  const matched: Record<string, NamedTensor> = {};
  const missing: string[] = [];
  const unexpected: string[] = [];
  const misshaped: ShapeMismatch[] = [];
  const ignored: string[] = [];
  for (const [layer, entries] of byLayer) {
    const stored = fromFile.get(layer);
    if (!stored) {
      if (!isExpectedMissing(layer)) missing.push(layer);
      continue;
    }
    for (const entry of entries) {
      const kind = kindOf(entry);
      const weight = stored.get(kind);
      if (!weight) missing.push(`${layer}/${kind}`);
      else if (!sameShape(weight.shape, entry.shape)) misshaped.push({ weight: `${layer}/${kind}`, fileShape: weight.shape, modelShape: entry.shape });
      else matched[`${layer}/${kind}`] = { shape: entry.shape.slice(), data: weight.data };
    }
    const known = new Set(entries.map(kindOf));
    for (const kind of stored.keys()) if (!known.has(kind)) unexpected.push(`${layer}/${kind}`);
  }
  for (const layer of fromFile.keys()) {
    if (byLayer.has(layer)) continue;
    if (ignoreUnexpected) ignored.push(layer);
    else unexpected.push(layer);
  }

  const problems = missing.length + unexpected.length + misshaped.length;
  const lines: string[] = [];
  if (missing.length) lines.push(listLine('in the model but missing from the file', missing));
  if (unexpected.length) lines.push(listLine('in the file but not in the model', unexpected));
  if (misshaped.length) lines.push(listLine('shape mismatch (file vs model)', misshaped.map((m) => `${m.weight}: ${shapeText(m.fileShape)} vs ${shapeText(m.modelShape)}`)));
  if (problems > 0 && !allowPartial) {
    throw new Error(
      `Cannot load Keras weights from ${file} (${contents.format} layout): ${problems} problem${problems === 1 ? '' : 's'}; nothing was loaded.\n` +
        `${lines.join('\n')}\nUse allowPartial (--allow-partial) to load the weights that match, or expectMissing for layers that are new (e.g. a head).`,
    );
  }
  const totalWeights = [...byLayer.values()].reduce((n, entries) => n + entries.length, 0);
  const loadedKeys = Object.keys(matched);
  await model.setWeights(matched, { allowPartial: loadedKeys.length < totalWeights });
  let skippedMessage = '';
  if (problems > 0) {
    skippedMessage = `Loaded ${loadedKeys.length} of ${totalWeights} weights from ${file}; skipped ${problems}:\n${lines.join('\n')}`;
    (options.onSkip ?? console.warn)(skippedMessage);
  }
  return { file, format: contents.format, loaded: loadedKeys, missing, unexpected, ignored, misshaped, skippedMessage };
}
