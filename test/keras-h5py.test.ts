// Independence check: files written by h5py (the library Keras itself uses) read identically in carclass,
// and files carclass writes read back in h5py the way Keras's load_weights reads them.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readKerasWeights } from '../lib/keras/h5';
import { loadKerasWeights } from '../lib/keras/import';
import { exportKerasWeights } from '../lib/keras/export';
import { FakeKerasModel, RESNETISH_LAYERS, fixedValue } from './helpers/fake-keras-model';

const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import h5py, numpy; print(h5py.__version__)'], { encoding: 'utf8' });
const h5pyMissing = probe.error ? `${PYTHON} cannot run (${probe.error.message})` : probe.status !== 0 ? `h5py is not importable by ${PYTHON}: ${probe.stderr.trim().split('\n').pop()}` : '';
if (h5pyMissing) {
  // eslint-disable-next-line no-console
  console.log(`keras-h5py tests skipped: ${h5pyMissing}. Install Debian python3-h5py to run them.`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-h5py-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function python(script: string, args: string[]): any {
  const file = path.join(tmp, `script-${Math.random().toString(36).slice(2)}.py`);
  fs.writeFileSync(file, script);
  const run = spawnSync(PYTHON, [file, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`python failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

// Writes the file exactly the way Keras 2's save_weights_to_hdf5_group does (byte-string name arrays,
// an empty list for weightless layers, datasets at <layer>/<weight_name>), in a mix of dtypes, and prints
// the float32 values each dataset holds as the reference.
const WRITE_KERAS2 = `
import sys, json, h5py, numpy as np
path = sys.argv[1]
layers = [
  ("input_1", []),
  ("conv1_pad", []),
  ("conv1_conv", [("kernel", (7, 7, 3, 4), "<f4"), ("bias", (4,), "<f4")]),
  ("pool1_pad", []),
  ("conv2_block1_preact_bn", [("gamma", (4,), "<f2"), ("beta", (4,), ">f4"), ("moving_mean", (4,), "<f8"), ("moving_variance", (4,), "<f4")]),
  ("conv2_block1_preact_relu", []),
  ("conv2_block1_1_conv", [("kernel", (1, 1, 4, 2), "<f4")]),
  ("post_bn", [("moving_mean", (2,), "<f4"), ("moving_variance", (2,), "<f4")]),
  ("avg_pool", []),
  ("predictions", [("kernel", (2, 5), "<f4"), ("bias", (5,), "<f4")]),
]
reference = {}
with h5py.File(path, "w") as f:
    f.attrs["layer_names"] = [name.encode("utf8") for name, _ in layers]
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = b"2.4.0"
    for li, (name, weights) in enumerate(layers):
        g = f.create_group(name)
        names = [("%s/%s:0" % (name, kind)).encode("utf8") for kind, _, _ in weights]
        g.attrs["weight_names"] = names
        for kind, shape, dtype in weights:
            n = int(np.prod(shape))
            values = (np.sin(np.arange(n, dtype=np.float64) * 0.37 + li) * 3.0).reshape(shape)
            ds = g.create_dataset("%s/%s:0" % (name, kind), data=values.astype(dtype))
            reference["%s/%s" % (name, kind)] = {"shape": list(shape), "values": ds[()].astype(np.float32).ravel(order="C").tolist()}
print(json.dumps(reference))
`;

// Reads a carclass export the way Keras 2 load_weights_from_hdf5_group does and dumps what it would assign.
const READ_LIKE_KERAS = `
import sys, json, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    keras_version = f.attrs["keras_version"].decode("utf8")   # Keras 2.2 decodes unconditionally
    backend = f.attrs["backend"].decode("utf8")
    layer_names = [n.decode("utf8") for n in f.attrs["layer_names"]]
    out = {"keras_version": keras_version, "backend": backend, "layer_names": layer_names, "weights": {}, "weighted_layers": []}
    for name in layer_names:
        g = f[name]
        weight_names = [n.decode("utf8") for n in g.attrs["weight_names"]]
        if weight_names:
            out["weighted_layers"].append(name)
        for wn in weight_names:
            arr = np.asarray(g[wn])
            out["weights"][wn] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "values": arr.ravel().tolist()}
print(json.dumps(out))
`;

(h5pyMissing ? describe.skip : describe)('h5py interop', () => {
  test('a Keras 2 file written by h5py reads identically (float16, big-endian and float64 datasets included)', async () => {
    const file = path.join(tmp, 'from-h5py.h5');
    const reference: Record<string, { shape: number[]; values: number[] }> = python(WRITE_KERAS2, [file]);
    const read = await readKerasWeights(file);
    expect(read.format).toBe('keras2');
    expect(read.kerasVersion).toBe('2.4.0');
    expect(read.layerNames).toEqual(RESNETISH_LAYERS.map((l) => l.name).map((n) => (n === 'pool1_pool' ? 'pool1_pad' : n)));
    const flat: Record<string, { shape: number[]; values: number[] }> = {};
    for (const layer of read.layers) for (const w of layer.weights) flat[`${layer.name}/${w.kind}`] = { shape: w.shape, values: Array.from(w.data) };
    expect(Object.keys(flat).sort()).toEqual(Object.keys(reference).sort());
    for (const key of Object.keys(reference)) {
      expect(flat[key].shape).toEqual(reference[key].shape);
      expect(flat[key].values).toEqual(reference[key].values); // bit-exact after the same float32 conversion
    }

    // And into a model by layer name, with a 7x7 stem this time.
    const layers = RESNETISH_LAYERS.map((l) => (l.name === 'conv1_conv' ? { ...l, weights: [['kernel', [7, 7, 3, 4]], ['bias', [4]]] as [string, number[]][] } : l));
    const model = new FakeKerasModel(layers);
    const report = await loadKerasWeights(model, file);
    expect(report.loaded).toHaveLength(11);
    const kernel = model.values.get('conv1_conv/kernel')!;
    // HWIO element [6][5][2][3], computed from the reference formula, not from the file.
    const flatIndex = ((6 * 7 + 5) * 3 + 2) * 4 + 3;
    expect(kernel.data[flatIndex]).toBe(Math.fround(Math.sin(flatIndex * 0.37 + 2) * 3));
    expect(model.values.get('conv2_block1_preact_bn/gamma')!.data[1]).toBeCloseTo(Math.sin(0.37 + 4) * 3, 2); // float16 source
  });

  test('a carclass export reads in h5py as Keras load_weights would read it', async () => {
    const model = new FakeKerasModel();
    for (const [key, value] of model.values) for (let i = 0; i < value.data.length; i++) value.data[i] = fixedValue(key, i);
    const file = path.join(tmp, 'to-h5py.h5');
    await exportKerasWeights(model, file);
    const seen = python(READ_LIKE_KERAS, [file]);
    expect(seen.backend).toBe('tensorflow');
    expect(seen.keras_version).toMatch(/^2\./);
    expect(seen.layer_names).toEqual(RESNETISH_LAYERS.map((l) => l.name));
    expect(seen.weighted_layers).toEqual(['conv1_conv', 'conv2_block1_preact_bn', 'conv2_block1_1_conv', 'post_bn', 'predictions']);
    expect(Object.keys(seen.weights).filter((k) => k.startsWith('conv2_block1_preact_bn/'))).toEqual([
      'conv2_block1_preact_bn/gamma:0', 'conv2_block1_preact_bn/beta:0', 'conv2_block1_preact_bn/moving_mean:0', 'conv2_block1_preact_bn/moving_variance:0',
    ]);
    for (const entry of model.weightSpec()) {
      const got = seen.weights[`${entry.name}:0`];
      expect(got.shape).toEqual(entry.shape);
      expect(got.dtype).toBe('float32');
      expect(got.values).toEqual(Array.from(model.values.get(entry.name)!.data));
    }
  });
});
