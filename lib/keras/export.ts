// Writes a model's weights as a Keras 2 .h5 file that Keras `model.load_weights()` accepts.
import * as path from 'path';
import { writeKerasWeights, KERAS_WEIGHT_KINDS, WriteLayer } from './h5';
import { KerasWeightsModel, kindOf, specByLayer } from './model-contract';
import { rejectUnknownKeys, invalid } from '../validate';
import { writeFileAtomic } from '../atomic-file';

export interface ExportKerasWeightsOptions {
  /** Class names in output order; defaults to `model.classes`. Written to the classes JSON when present. */
  classes?: readonly string[];
  /** Where to write the classes JSON; defaults to `classesPathFor(path)`. */
  classesPath?: string;
}

export interface KerasExportResult {
  weightsPath: string;
  /** Set when a classes JSON was written. */
  classesPath?: string;
  layers: number;
  weights: number;
}

/** `model.h5` -> `model.classes.json` (also for `.hdf5`, `.weights.h5`); other names get `.classes.json` appended. */
export function classesPathFor(weightsPath: string): string {
  const stripped = weightsPath.replace(/(\.weights)?\.(h5|hdf5)$/i, '');
  return `${stripped}.classes.json`;
}

const KIND_RANK = new Map<string, number>(KERAS_WEIGHT_KINDS.map((k, i) => [k, i]));

/**
 * Exports every weight under its Keras layer name: root `layer_names` (all layers, weightless ones included,
 * in Keras order, because Keras 2 `load_weights` without by_name matches weighted layers by position),
 * per layer `weight_names` in Keras weight order, datasets `<layer>/<layer>/<kind>:0`.
 */
export async function exportKerasWeights(model: KerasWeightsModel, file: string, options: ExportKerasWeightsOptions = {}): Promise<KerasExportResult> {
  if (typeof file !== 'string' || file === '') throw invalid('path', 'non-empty string', file);
  if (options === null || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('exportKerasWeights', options, ['classes', 'classesPath']);
  const classes = options.classes ?? model.classes;
  if (classes !== undefined && (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string'))) {
    throw invalid('classes', 'array of strings', classes);
  }
  if (options.classesPath !== undefined && (typeof options.classesPath !== 'string' || options.classesPath === '')) {
    throw invalid('classesPath', 'non-empty string', options.classesPath);
  }

  const byLayer = specByLayer(model.weightSpec());
  const values = await model.getWeights();
  const layerNames = model.layers().map((l) => l.name);
  const layers: WriteLayer[] = [];
  let count = 0;
  for (const [layer, entries] of byLayer) {
    if (!layerNames.includes(layer)) throw new Error(`Cannot export ${file}: weightSpec names layer ${layer}, which model.layers() does not list`);
    // Keras assigns a layer's weights by position: kernel, bias / gamma, beta, moving_mean, moving_variance.
    const ordered = entries
      .map((entry, index) => ({ entry, index, rank: KIND_RANK.get(kindOf(entry)) ?? KERAS_WEIGHT_KINDS.length }))
      .sort((a, b) => a.rank - b.rank || a.index - b.index);
    layers.push({
      name: layer,
      weights: ordered.map(({ entry }) => {
        const value = values[entry.name];
        if (!value) throw new Error(`Cannot export ${file}: getWeights() has no ${entry.name}`);
        const shapeMatches = value.shape.length === entry.shape.length && value.shape.every((v, i) => v === entry.shape[i]);
        if (!shapeMatches) throw new Error(`Cannot export ${file}: ${entry.name} has shape [${value.shape}] but weightSpec says [${entry.shape}]`);
        count++;
        return { kind: kindOf(entry), shape: value.shape, data: value.data };
      }),
    });
  }
  await writeKerasWeights(file, layers, { layerNames });
  const result: KerasExportResult = { weightsPath: path.resolve(file), layers: layerNames.length, weights: count };
  if (classes !== undefined) {
    const classesPath = path.resolve(options.classesPath ?? classesPathFor(file));
    await writeFileAtomic(classesPath, `${JSON.stringify({ classes }, null, 2)}\n`);
    result.classesPath = classesPath;
  }
  return result;
}
