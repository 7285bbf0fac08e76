// `carclass export <checkpoint> --out model.h5`: Keras .h5 weights + classes JSON.
import { Command, UsageError } from './command';
import { exportKerasWeights } from '../keras/export';
import { loadCheckpoint } from './predict';

export const exportCommand: Command = {
  name: 'export',
  summary: 'Writes a checkpoint as a Keras .h5 weights file (same layer names; Keras model.load_weights takes it) plus classes JSON.',
  usage: 'carclass export <checkpoint> --out model.h5',
  options: { out: { type: 'string', short: 'o' } },
  async run(v, positionals) {
    if (positionals.length !== 1) throw new UsageError('carclass export: give exactly one checkpoint');
    if (!v.out) throw new UsageError('carclass export: --out <file.h5> is required');
    const model = await loadCheckpoint(positionals[0]);
    const r = await exportKerasWeights(model as any, v.out as string, { classes: model.classes });
    console.log(`Wrote ${r.weightsPath} (${r.layers} layers, ${r.weights} weights)${r.classesPath ? ` and ${r.classesPath}` : ''}`);
    return 0;
  },
};
