import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadH5wasm, readKerasWeights, kindFromWeightName } from '../lib/keras/h5';
import { loadKerasWeights, kerasSnakeCase, keras3LayerPaths } from '../lib/keras/import';
import { exportKerasWeights, classesPathFor } from '../lib/keras/export';
import { FakeKerasModel, FakeLayer, RESNETISH_LAYERS, fixedValue, resnet50v2Layers } from './helpers/fake-keras-model';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-keras-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Writes a Keras 2 layout file directly with h5wasm (not with carclass's writer). */
async function writeKeras2ByHand(file: string, layers: FakeLayer[], opts: { float64?: string[]; dropWeightNames?: string } = {}) {
  const h5 = await loadH5wasm();
  const f = new h5.File(file, 'w');
  const names = layers.map((l) => l.name);
  f.create_attribute('layer_names', names, [names.length], `A${Math.max(...names.map((n) => n.length))}`);
  f.create_attribute('backend', 'tensorflow', [], 'A10');
  f.create_attribute('keras_version', '2.2.4', [], 'A5');
  for (const layer of layers) {
    const g = f.create_group(layer.name);
    const weightNames = (layer.weights ?? []).map(([kind]) => `${layer.name}/${kind}:0`);
    if (layer.name !== opts.dropWeightNames) {
      if (weightNames.length) g.create_attribute('weight_names', weightNames, [weightNames.length], `A${Math.max(...weightNames.map((n) => n.length))}`);
      else g.create_attribute('weight_names', new Float64Array(0), [0]);
    }
    if (weightNames.length) {
      const inner = g.create_group(layer.name);
      for (const [kind, shape] of layer.weights ?? []) {
        const key = `${layer.name}/${kind}`;
        const values = Array.from({ length: size(shape) }, (_, i) => fixedValue(key, i));
        const data = opts.float64?.includes(key) ? Float64Array.from(values) : Float32Array.from(values);
        inner.create_dataset({ name: `${kind}:0`, data, shape, dtype: data instanceof Float64Array ? '<d' : '<f' });
      }
    }
  }
  f.close();
}

describe('reading Keras 2 weight files', () => {
  test('a hand-built Keras 2 file loads every weight into the right tensor, element by element', async () => {
    const file = path.join(tmp, 'hand.h5');
    await writeKeras2ByHand(file, RESNETISH_LAYERS, { float64: ['predictions/kernel'] });
    const read = await readKerasWeights(file);
    expect(read.format).toBe('keras2');
    expect(read.layerNames).toEqual(RESNETISH_LAYERS.map((l) => l.name));
    expect(read.layers.map((l) => l.name)).toEqual(['conv1_conv', 'conv2_block1_preact_bn', 'conv2_block1_1_conv', 'post_bn', 'predictions']);
    expect(read.backend).toBe('tensorflow');
    expect(read.kerasVersion).toBe('2.2.4');
    expect(read.layers[1].weights.map((w) => w.kind)).toEqual(['gamma', 'beta', 'moving_mean', 'moving_variance']);
    expect(read.layers[3].weights.map((w) => w.kind)).toEqual(['moving_mean', 'moving_variance']);

    const model = new FakeKerasModel();
    const report = await loadKerasWeights(model, file);
    expect(report.missing).toEqual([]);
    expect(report.loaded).toHaveLength(model.weightSpec().length);
    expect(model.setCalls).toEqual([{ keys: expect.any(Array), allowPartial: false }]);
    // HWIO conv kernel: element [h][w][i][o] sits at ((h*3 + w)*3 + i)*4 + o, as in the file.
    const kernel = model.values.get('conv1_conv/kernel')!;
    expect(kernel.shape).toEqual([3, 3, 3, 4]);
    for (const [h, w, i, o] of [[0, 0, 0, 0], [2, 1, 0, 3], [1, 2, 2, 1], [2, 2, 2, 3]]) {
      const flat = ((h * 3 + w) * 3 + i) * 4 + o;
      expect(kernel.data[flat]).toBe(Math.fround(fixedValue('conv1_conv/kernel', flat)));
    }
    // Every weight, including the float64 dense kernel converted to float32 and BN statistics.
    for (const entry of model.weightSpec()) {
      const got = model.values.get(entry.name)!;
      const want = Float32Array.from({ length: size(entry.shape) }, (_, i) => fixedValue(entry.name, i));
      expect(got.data).toEqual(want);
    }
    // Dense kernel stays (in, out): element [i][o] at i*5 + o.
    expect(model.values.get('predictions/kernel')!.data[1 * 5 + 3]).toBe(Math.fround(fixedValue('predictions/kernel', 8)));
  });

  test('weight names map to kinds', () => {
    expect(kindFromWeightName('conv1_conv/kernel:0')).toBe('kernel');
    expect(kindFromWeightName('conv2_block1_preact_bn/moving_variance:0')).toBe('moving_variance');
    expect(kindFromWeightName('batch_normalization/gamma')).toBe('gamma');
    expect(kindFromWeightName('bias')).toBe('bias');
  });

  test('chunked layer_names (layer_names0, layer_names1) are joined as Keras does', async () => {
    const h5 = await loadH5wasm();
    const file = path.join(tmp, 'chunked.h5');
    const f = new h5.File(file, 'w');
    f.create_attribute('layer_names0', ['dense_a'], [1], 'A7');
    f.create_attribute('layer_names1', ['dense_b'], [1], 'A7');
    for (const name of ['dense_a', 'dense_b']) {
      const g = f.create_group(name);
      g.create_attribute('weight_names', [`${name}/bias:0`], [1], `A${name.length + 7}`);
      g.create_group(name).create_dataset({ name: 'bias:0', data: new Float32Array([name === 'dense_a' ? 1 : 2]), shape: [1], dtype: '<f' });
    }
    f.close();
    const read = await readKerasWeights(file);
    expect(read.layers.map((l) => [l.name, l.weights[0].data[0]])).toEqual([['dense_a', 1], ['dense_b', 2]]);
  });

  test('a whole-model .h5 (weights under model_weights) is read too', async () => {
    const h5 = await loadH5wasm();
    const file = path.join(tmp, 'whole-model.h5');
    const f = new h5.File(file, 'w');
    f.create_attribute('model_config', '{}', [], 'A2');
    const mw = f.create_group('model_weights');
    mw.create_attribute('layer_names', ['head_pred'], [1], 'A9');
    const g = mw.create_group('head_pred');
    g.create_attribute('weight_names', ['head_pred/bias:0'], [1], 'A16');
    g.create_group('head_pred').create_dataset({ name: 'bias:0', data: new Float32Array([0.5, 0.25]), shape: [2], dtype: '<f' });
    f.close();
    const read = await readKerasWeights(file);
    expect(read.layers).toEqual([{ name: 'head_pred', weights: [{ kind: 'bias', storedName: 'head_pred/bias:0', shape: [2], data: new Float32Array([0.5, 0.25]) }] }]);
  });
});

describe('errors name the file and the reason', () => {
  test('missing file, empty file, non-HDF5 file', async () => {
    await expect(readKerasWeights(path.join(tmp, 'nope.h5'))).rejects.toThrow(/nope\.h5: file not found/);
    const empty = path.join(tmp, 'empty.h5');
    fs.writeFileSync(empty, '');
    await expect(readKerasWeights(empty)).rejects.toThrow(/empty\.h5: the file is empty/);
    const text = path.join(tmp, 'text.h5');
    fs.writeFileSync(text, 'this is not hdf5 at all, just text'.repeat(40));
    await expect(readKerasWeights(text)).rejects.toThrow(/text\.h5: not an HDF5 file/);
  });

  test('a truncated file (an interrupted download) is named as truncated', async () => {
    const whole = path.join(tmp, 'whole.h5');
    await writeKeras2ByHand(whole, RESNETISH_LAYERS);
    const cut = path.join(tmp, 'cut.h5');
    fs.writeFileSync(cut, fs.readFileSync(whole).subarray(0, 3000));
    await expect(readKerasWeights(cut)).rejects.toThrow(/cut\.h5: the file is truncated: it has 3000 bytes but its HDF5 superblock declares \d+/);
  });

  test('HDF5 without Keras attributes, and a layer without weight_names', async () => {
    const h5 = await loadH5wasm();
    const plain = path.join(tmp, 'plain.h5');
    const f = new h5.File(plain, 'w');
    f.create_group('something');
    f.close();
    await expect(readKerasWeights(plain)).rejects.toThrow(/plain\.h5: no Keras weights found: the root has no layer_names attribute.*groups: something/);
    const noNames = path.join(tmp, 'no-weight-names.h5');
    await writeKeras2ByHand(noNames, RESNETISH_LAYERS, { dropWeightNames: 'post_bn' });
    await expect(readKerasWeights(noNames)).rejects.toThrow(/no-weight-names\.h5: layer post_bn has no weight_names attribute/);
  });

  test('missing, unexpected and mis-shaped layers are all listed in one error, and nothing is loaded', async () => {
    const fileLayers: FakeLayer[] = RESNETISH_LAYERS.filter((l) => l.name !== 'conv2_block1_1_conv').map((l) =>
      l.name === 'predictions' ? { ...l, weights: [['kernel', [2, 7]], ['bias', [7]]] as [string, number[]][] } : l,
    );
    fileLayers.push({ name: 'extra_dense', type: 'Dense', weights: [['kernel', [2, 2]]] });
    const file = path.join(tmp, 'mismatch.h5');
    await writeKeras2ByHand(file, fileLayers);
    const model = new FakeKerasModel();
    let message = '';
    try {
      await loadKerasWeights(model, file);
    } catch (err: any) {
      message = err.message;
    }
    expect(message).toMatch(/mismatch\.h5/);
    expect(message).toMatch(/4 problems/);
    expect(message).toMatch(/missing from the file \(1\): conv2_block1_1_conv/);
    expect(message).toMatch(/not in the model \(1\): extra_dense/);
    expect(message).toMatch(/predictions\/kernel: \[2, 7\] vs \[2, 5\]/);
    expect(message).toMatch(/predictions\/bias: \[7\] vs \[5\]/);
    expect(message).toMatch(/allowPartial/);
    expect(model.setCalls).toEqual([]);
  });

  test('a BatchNormalization with a missing gamma is reported as layer/kind', async () => {
    const fileLayers = RESNETISH_LAYERS.map((l) => (l.name === 'conv2_block1_preact_bn' ? { ...l, weights: l.weights!.slice(1) } : l));
    const file = path.join(tmp, 'bn-no-gamma.h5');
    await writeKeras2ByHand(file, fileLayers);
    await expect(loadKerasWeights(new FakeKerasModel(), file)).rejects.toThrow(/missing from the file \(1\): conv2_block1_preact_bn\/gamma/);
  });

  test('options are validated', async () => {
    const model = new FakeKerasModel();
    await expect(loadKerasWeights(model, 'x.h5', { allowPartal: true } as any)).rejects.toThrow(/Unknown option "allowPartal"/);
    await expect(loadKerasWeights(model, 'x.h5', { allowPartial: 'yes' } as any)).rejects.toThrow(/Expected boolean for allowPartial/);
    await expect(exportKerasWeights(model, path.join(tmp, 'x.h5'), { classes: [1, 2] } as any)).rejects.toThrow(/Expected array of strings for classes/);
  });
});

describe('allowPartial, expectMissing, ignoreUnexpected', () => {
  let file = '';
  beforeAll(async () => {
    file = path.join(tmp, 'partial.h5');
    const fileLayers = RESNETISH_LAYERS.filter((l) => l.name !== 'post_bn').map((l) =>
      l.name === 'conv1_conv' ? { ...l, weights: [['kernel', [7, 7, 3, 4]], ['bias', [4]]] as [string, number[]][] } : l,
    );
    fileLayers.push({ name: 'not_in_model', type: 'Dense', weights: [['bias', [3]]] });
    await writeKeras2ByHand(file, fileLayers);
  });

  test('allowPartial loads what matches and says what it skipped', async () => {
    const model = new FakeKerasModel();
    const messages: string[] = [];
    const report = await loadKerasWeights(model, file, { allowPartial: true, onSkip: (m) => messages.push(m) });
    expect(report.missing).toEqual(['post_bn']);
    expect(report.unexpected).toEqual(['not_in_model']);
    expect(report.misshaped).toEqual([{ weight: 'conv1_conv/kernel', fileShape: [7, 7, 3, 4], modelShape: [3, 3, 3, 4] }]);
    expect(report.loaded.sort()).toEqual(model.weightSpec().map((e) => e.name).filter((n) => n !== 'conv1_conv/kernel' && !n.startsWith('post_bn/')).sort());
    expect(model.setCalls[0].allowPartial).toBe(true);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/Loaded 8 of 11 weights .*partial\.h5; skipped 3/);
    // Skipped weights keep their previous values; loaded ones hold the file's values.
    expect(model.values.get('conv1_conv/kernel')!.data.every((v) => v === 0)).toBe(true);
    expect(model.values.get('conv1_conv/bias')!.data[2]).toBe(Math.fround(fixedValue('conv1_conv/bias', 2)));
  });

  test('expectMissing and ignoreUnexpected accept a new head and a with-top file without allowPartial', async () => {
    const model = new FakeKerasModel(RESNETISH_LAYERS.filter((l) => l.name !== 'conv1_conv').concat([{ name: 'head_pred', type: 'Dense', weights: [['kernel', [2, 3]], ['bias', [3]]] }]));
    const report = await loadKerasWeights(model, file, { expectMissing: ['post_bn', /^head_/], ignoreUnexpected: true, onSkip: () => { throw new Error('should not be called'); } });
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.ignored.sort()).toEqual(['conv1_conv', 'not_in_model']);
    expect(report.loaded).toHaveLength(7);
    expect(model.setCalls[0].allowPartial).toBe(true);
  });
});

describe('export', () => {
  test('import(export(model)) is bit-exact, including -0, subnormals, NaN payloads and extremes', async () => {
    const source = new FakeKerasModel();
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    for (const [key, value] of source.values) {
      for (let i = 0; i < value.data.length; i++) value.data[i] = random() * 10;
      source.values.set(key, value);
    }
    const special = new Uint32Array(source.values.get('conv1_conv/kernel')!.data.buffer);
    special.set([0x80000000, 0x00000001, 0x7fc00001, 0x7f7fffff, 0xff800000, 0x00800000], 0);
    source.classes = ['audi_a5', 'bmw_x3', 'vw_golf', 'kia_rio', 'ford_ka'];
    const file = path.join(tmp, 'roundtrip.h5');
    const result = await exportKerasWeights(source, file);
    expect(result).toEqual({ weightsPath: file, classesPath: path.join(tmp, 'roundtrip.classes.json'), layers: 10, weights: 11 });
    expect(JSON.parse(fs.readFileSync(result.classesPath!, 'utf8'))).toEqual({ classes: source.classes });

    const read = await readKerasWeights(file);
    expect(read.layerNames).toEqual(RESNETISH_LAYERS.map((l) => l.name));
    expect(read.layers.find((l) => l.name === 'conv1_conv')!.weights.map((w) => w.storedName)).toEqual(['conv1_conv/kernel:0', 'conv1_conv/bias:0']);

    const target = new FakeKerasModel();
    await loadKerasWeights(target, file);
    for (const [key, value] of source.values) {
      const got = target.values.get(key)!;
      expect(got.shape).toEqual(value.shape);
      expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength).equals(Buffer.from(value.data.buffer, value.data.byteOffset, value.data.byteLength))).toBe(true);
    }
    expect(fs.readdirSync(tmp).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  test('weights are written in Keras order within a layer even when the spec lists them otherwise', async () => {
    const model = new FakeKerasModel([{ name: 'bn', type: 'BatchNormalization', weights: [['moving_variance', [1]], ['gamma', [1]], ['moving_mean', [1]], ['beta', [1]]] }]);
    const file = path.join(tmp, 'order.h5');
    await exportKerasWeights(model, file);
    const read = await readKerasWeights(file);
    expect(read.layers[0].weights.map((w) => w.kind)).toEqual(['gamma', 'beta', 'moving_mean', 'moving_variance']);
    expect(fs.existsSync(classesPathFor(file))).toBe(false);
  });

  test('classes path naming', () => {
    expect(classesPathFor('/a/model.h5')).toBe('/a/model.classes.json');
    expect(classesPathFor('/a/model.weights.h5')).toBe('/a/model.classes.json');
    expect(classesPathFor('/a/model.hdf5')).toBe('/a/model.classes.json');
    expect(classesPathFor('/a/model.bin')).toBe('/a/model.bin.classes.json');
  });
});

describe('Keras 3 .weights.h5 layout', () => {
  test('class-derived store paths map to layer names and variables load by position', async () => {
    expect(kerasSnakeCase('Conv2D')).toBe('conv2d');
    expect(kerasSnakeCase('BatchNormalization')).toBe('batch_normalization');
    expect(kerasSnakeCase('ZeroPadding2D')).toBe('zero_padding2d');
    expect(kerasSnakeCase('GlobalAveragePooling2D')).toBe('global_average_pooling2d');
    const model = new FakeKerasModel();
    const paths = keras3LayerPaths(model.layers());
    expect(paths.get('conv2d')).toBe('conv1_conv');
    expect(paths.get('conv2d_1')).toBe('conv2_block1_1_conv');
    expect(paths.get('batch_normalization_1')).toBe('post_bn');

    const h5 = await loadH5wasm();
    const file = path.join(tmp, 'model.weights.h5');
    const f = new h5.File(file, 'w');
    f.create_attribute('keras_version', '3.3.3', [], 'A5');
    const layersGroup = f.create_group('layers');
    for (const [storeName, layerName] of paths) {
      const vars = layersGroup.create_group(storeName).create_group('vars');
      const layer = RESNETISH_LAYERS.find((l) => l.name === layerName)!;
      (layer.weights ?? []).forEach(([kind, shape], i) => {
        vars.create_dataset({ name: String(i), data: Float32Array.from({ length: size(shape) }, (_, j) => fixedValue(`${layerName}/${kind}`, j)), shape, dtype: '<f' });
      });
    }
    f.close();
    const read = await readKerasWeights(file);
    expect(read.format).toBe('keras3');
    expect(read.layers.find((l) => l.name === 'batch_normalization')!.weights.map((w) => w.kind)).toEqual(['gamma', 'beta', 'moving_mean', 'moving_variance']);
    expect(read.layers.find((l) => l.name === 'batch_normalization_1')!.weights.map((w) => w.kind)).toEqual(['moving_mean', 'moving_variance']);
    await loadKerasWeights(model, file);
    for (const entry of model.weightSpec()) {
      expect(model.values.get(entry.name)!.data).toEqual(Float32Array.from({ length: size(entry.shape) }, (_, i) => fixedValue(entry.name, i)));
    }
  });
});

describe('at ResNet50V2 scale', () => {
  test('a full ResNet50V2 with its 1000-class top (25,613,800 values) round-trips bit-exact', async () => {
    const source = new FakeKerasModel(resnet50v2Layers(true));
    let total = 0;
    let state = 7;
    for (const value of source.values.values()) {
      for (let i = 0; i < value.data.length; i++) value.data[i] = ((state = (state * 48271) % 2147483647) / 2147483647) - 0.5;
      total += value.data.length;
    }
    expect(total).toBe(25613800);
    const file = path.join(tmp, 'resnet50v2-top.h5');
    const result = await exportKerasWeights(source, file);
    expect(result).toMatchObject({ layers: 192, weights: 272 });
    expect(fs.statSync(file).size).toBeGreaterThan(total * 4);
    const read = await readKerasWeights(file);
    expect(read.layerNames).toHaveLength(192);
    expect(read.layers).toHaveLength(103);
    const target = new FakeKerasModel(resnet50v2Layers(true));
    await loadKerasWeights(target, file);
    for (const [key, value] of source.values) expect(Buffer.compare(Buffer.from(target.values.get(key)!.data.buffer), Buffer.from(value.data.buffer))).toBe(0);
    fs.rmSync(file);
  });
});

// With the real engine (after integration): export, import into a fresh model, same weights bit for bit.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const lib = require('../lib');
(typeof lib.createModel === 'function' ? describe : describe.skip)('with the real model', () => {
  test('ResNet50V2 (no top): Keras layer counts, and import(export(model)) is bit-exact', async () => {
    // The seed's head (head_gap -> head_pred, 2 classes) on the Keras base.
    const make = () => lib.createModel({ arch: 'resnet50v2', numClasses: 2, inputShape: [224, 224, 3], head: 'gap' });
    const source = await make();
    const layers = source.layers();
    expect(layers.filter((l: any) => !l.head)).toHaveLength(190);
    const weighted = new Set(source.weightSpec().map((e: any) => e.layer));
    expect([...weighted].filter((n) => !String(n).startsWith('head_'))).toHaveLength(102);
    const file = path.join(tmp, 'real-notop.h5');
    await exportKerasWeights(source, file);
    const read = await readKerasWeights(file);
    expect(read.layerNames).toEqual(layers.map((l: any) => l.name));
    expect(read.layers.reduce((n, l) => n + l.weights.reduce((m, w) => m + w.data.length, 0), 0)).toBe(23564800 + 2048 * 2 + 2);
    const target = await make();
    await loadKerasWeights(target, file);
    const a = await source.getWeights();
    const b = await target.getWeights();
    for (const key of Object.keys(a)) expect(Buffer.compare(Buffer.from(a[key].data.buffer, a[key].data.byteOffset, a[key].data.byteLength), Buffer.from(b[key].data.buffer, b[key].data.byteOffset, b[key].data.byteLength))).toBe(0);
  }, 300000);
});
