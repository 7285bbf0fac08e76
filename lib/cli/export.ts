// `carclass export <checkpoint> --out model.h5`: Keras .h5 weights + classes JSON (default), or
// `--format onnx --out cars.onnx`: one ONNX file with the architecture, weights and metadata.
import { Command, UsageError } from './command';
import { exportKerasWeights } from '../keras/export';
import { exportOnnx } from '../onnx/export';
import { loadCheckpoint } from './predict';

export const exportCommand: Command = {
  name: 'export',
  summary: 'Writes a checkpoint as Keras .h5 weights plus classes JSON (default), or with --format onnx as one ONNX file (opset 17).',
  usage: 'carclass export <checkpoint> --out model.h5 | carclass export <checkpoint> --format onnx --out cars.onnx [--include-preprocessing]',
  options: { out: { type: 'string', short: 'o' }, format: { type: 'string' }, 'include-preprocessing': { type: 'boolean' } },
  help: ['--format keras|onnx   keras (default): .h5 weights + classes JSON; onnx: one .onnx file (opset 17)', '--include-preprocessing   onnx: uint8 input `image` [N,H,W,3] with tf/caffe preprocessing in the graph'],
  async run(v, positionals) {
    if (positionals.length !== 1) throw new UsageError('carclass export: give exactly one checkpoint');
    const format = (v.format as string | undefined) ?? 'keras';
    if (format !== 'keras' && format !== 'h5' && format !== 'onnx') throw new UsageError(`carclass export: --format must be keras (default) or onnx, not ${format}`);
    if (!v.out) throw new UsageError(`carclass export: --out <file.${format === 'onnx' ? 'onnx' : 'h5'}> is required`);
    const model = await loadCheckpoint(positionals[0]);
    if (format === 'onnx') {
      const r = await exportOnnx(model, v.out as string, { classes: model.classes, includePreprocessing: v['include-preprocessing'] === true });
      console.log(`Wrote ${r.path} (ONNX opset ${r.opset}, ${r.nodes} nodes, ${r.initializers} initializers; ops ${r.ops.join(', ')})`);
      return 0;
    }
    const r = await exportKerasWeights(model as any, v.out as string, { classes: model.classes });
    console.log(`Wrote ${r.weightsPath} (${r.layers} layers, ${r.weights} weights)${r.classesPath ? ` and ${r.classesPath}` : ''}`);
    return 0;
  },
};
