// Architectures against Keras (REFERENCE section 3): counts, names, order, shapes, weight layout.
import { createModel, Model } from '../lib/model';
import { colourTask } from './helpers-model';

describe('resnet50v2 is Keras ResNet50V2', () => {
  let top: Model;
  let gap: Model;
  beforeAll(async () => {
    top = await createModel({ arch: 'resnet50v2', head: 'imagenet', inputShape: [224, 224, 3] });
    gap = await createModel({ arch: 'resnet50v2', numClasses: 300, inputShape: [212, 320, 3], unfreeze: 'all' });
  });

  test('parameter counts with and without the 1000-class top', () => {
    expect(top.countParams().total).toBe(25_613_800);
    const layers = gap.layers();
    const base = layers.filter((l) => !l.head);
    expect(base.reduce((s, l) => s + l.params, 0)).toBe(23_564_800);
    const stats = gap.weightSpec().filter((w) => /moving_(mean|variance)$/.test(w.name));
    expect(stats.reduce((s, w) => s + w.shape[0], 0)).toBe(45_440);
    // head: 2048 * 300 + 300
    expect(gap.countParams().total).toBe(23_564_800 + 2048 * 300 + 300);
    expect(gap.countParams().nonTrainable).toBe(45_440);
  });

  test('190 base layers, 102 with weights, Keras names and order', () => {
    const base = gap.layers().filter((l) => !l.head);
    expect(base).toHaveLength(190);
    expect(base.filter((l) => l.params > 0)).toHaveLength(102);
    expect(base.slice(0, 8).map((l) => l.name)).toEqual([
      'input_1', 'conv1_pad', 'conv1_conv', 'pool1_pad', 'pool1_pool', 'conv2_block1_preact_bn', 'conv2_block1_preact_relu', 'conv2_block1_1_conv',
    ]);
    expect(base.slice(-4).map((l) => l.name)).toEqual(['conv5_block3_3_conv', 'conv5_block3_out', 'post_bn', 'post_relu']);
    // Keras puts the shortcut layer right before 3_conv
    const names = base.map((l) => l.name);
    expect(names.indexOf('conv2_block1_0_conv')).toBe(names.indexOf('conv2_block1_3_conv') - 1);
    expect(names.indexOf('max_pooling2d')).toBe(names.indexOf('conv2_block3_3_conv') - 1);
    expect(names).toContain('max_pooling2d_2');
    expect(top.layers().slice(-3).map((l) => l.name)).toEqual(['post_relu', 'avg_pool', 'predictions']);
    expect(gap.layers().slice(-2).map((l) => [l.name, l.type])).toEqual([['head_gap', 'GlobalAveragePooling2D'], ['head_pred', 'Dense']]);
  });

  test('feature map 7x10x2048 at 212x320 and 7x7x2048 at 224x224', () => {
    const find = (m: Model, n: string) => m.layers().find((l) => l.name === n)!;
    expect(find(gap, 'post_relu').outputShape).toEqual([7, 10, 2048]);
    expect(find(top, 'post_relu').outputShape).toEqual([7, 7, 2048]);
    expect(find(gap, 'conv1_conv').outputShape).toEqual([106, 160, 64]);
    expect(find(gap, 'pool1_pool').outputShape).toEqual([53, 80, 64]);
    expect(find(top, 'predictions').outputShape).toEqual([1000]);
    expect(gap.info().camLayer).toBe('conv5_block3_3_conv');
  });

  test('weights in Keras layout and order', () => {
    const spec = gap.weightSpec();
    expect(spec.slice(0, 6).map((w) => w.name)).toEqual([
      'conv1_conv/kernel', 'conv1_conv/bias', 'conv2_block1_preact_bn/gamma', 'conv2_block1_preact_bn/beta',
      'conv2_block1_preact_bn/moving_mean', 'conv2_block1_preact_bn/moving_variance',
    ]);
    expect(spec[0].shape).toEqual([7, 7, 3, 64]);
    const pred = spec.find((w) => w.name === 'head_pred/kernel')!;
    expect(pred.shape).toEqual([2048, 300]);
    expect(spec.find((w) => w.name === 'conv2_block1_preact_bn/moving_mean')!.trainable).toBe(false);
  });

  test('frozen by default: only the head trains', async () => {
    const m = await createModel({ arch: 'resnet50v2', numClasses: 10, inputShape: [224, 224, 3] });
    expect(m.countParams().trainable).toBe(2048 * 10 + 10);
    expect(m.layers().filter((l) => l.trainable).map((l) => l.name)).toEqual(['head_gap', 'head_pred']);
    await m.setTrainable(['conv5', 'post']);
    const trainable = m.layers().filter((l) => l.trainable).map((l) => l.name);
    expect(trainable.every((n) => /conv5|post|head/.test(n))).toBe(true);
    expect(trainable).toContain('post_bn');
  });

  test('summary is a Keras-like table', () => {
    const s = top.summary();
    expect(s).toContain('conv1_conv (Conv2D)');
    expect(s).toContain('(None, 112, 112, 64)');
    expect(s).toContain('Total params: 25,613,800');
  });
});

describe('other presets', () => {
  test('vgg16 has Keras names and 14,714,688 base parameters', async () => {
    const m = await createModel({ arch: 'vgg16', numClasses: 5, inputShape: [212, 320, 3], head: 'vgg' });
    const layers = m.layers();
    const base = layers.filter((l) => !l.head);
    expect(base.reduce((s, l) => s + l.params, 0)).toBe(14_714_688);
    expect(base.map((l) => l.name).slice(0, 4)).toEqual(['input_1', 'block1_conv1', 'block1_conv2', 'block1_pool']);
    expect(base[base.length - 1]).toMatchObject({ name: 'block5_pool', outputShape: [6, 10, 512] });
    expect(layers.filter((l) => l.head).map((l) => l.name)).toEqual(['head_flatten', 'head_fc_1', 'head_drop_1', 'head_fc_2', 'head_drop_2', 'head_pred']);
    expect(layers.find((l) => l.name === 'head_fc_1')!.params).toBe(6 * 10 * 512 * 1024 + 1024);
    expect(m.info().camLayer).toBe('block5_conv3');
  });

  test('resnet-tiny: one block per stack, narrow widths', async () => {
    const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [64, 64, 3] });
    const names = m.layers().map((l) => l.name);
    expect(names).toContain('conv5_block1_3_conv');
    expect(names).not.toContain('conv2_block2_preact_bn');
    expect(m.layers().find((l) => l.name === 'post_relu')!.outputShape).toEqual([2, 2, 512]);
    expect(m.info().camLayer).toBe('conv5_block1_3_conv');
    const f = await m.features(colourTask(2, 64, 64, 1));
    expect(f.dim).toBe(512);
    expect(f.data).toHaveLength(2 * 512);
  });

  test('dense kernels are [in, out]: predictions equal softmax(features @ kernel + bias)', async () => {
    const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [32, 32, 3], seed: 7 });
    const input = colourTask(4, 32, 32, 3);
    const w = await m.getWeights();
    const k = w['head_pred/kernel'];
    const b = w['head_pred/bias'];
    expect(k.shape).toEqual([512, 3]);
    for (let i = 0; i < b.data.length; i++) b.data[i] = 0.1 * (i + 1);
    await m.setWeights({ 'head_pred/bias': b }, { allowPartial: true });
    const f = await m.features(input);
    const p = await m.predictOnBatch(input);
    for (let n = 0; n < 4; n++) {
      const logits = [0, 1, 2].map((j) => {
        let s = b.data[j];
        for (let c = 0; c < 512; c++) s += f.data[n * 512 + c] * k.data[c * 3 + j];
        return s;
      });
      const mx = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - mx));
      const z = e.reduce((a, c) => a + c, 0);
      for (let j = 0; j < 3; j++) expect(p[n * 3 + j]).toBeCloseTo(e[j] / z, 5);
    }
  });
});

describe('option validation', () => {
  test('rejects bad options with named errors', async () => {
    await expect(createModel({ arch: 'resnet99' as any, numClasses: 2, inputShape: [64, 64, 3] })).rejects.toThrow(
      'Expected one of resnet50v2, resnet-small, resnet-tiny, vgg16 for arch but received "resnet99" of type string');
    await expect(createModel({ arch: 'resnet-tiny', numClasses: 0, inputShape: [64, 64, 3] })).rejects.toThrow('for numClasses');
    await expect(createModel({ arch: 'resnet-tiny', numClasses: 2, inputShape: [64, 64, 1] })).rejects.toThrow('for inputShape');
    await expect(createModel({ arch: 'resnet-tiny', numClasses: 2, inputShape: [64, 64, 3], colour: 1 } as any)).rejects.toThrow('Unknown option "colour"');
    await expect(createModel({ arch: 'resnet-tiny', numClasses: 2, inputShape: [64, 64, 3], unfreeze: ['('] })).rejects.toThrow('Invalid regular expression');
    await expect(createModel({ arch: 'resnet-tiny', numClasses: 2, inputShape: [64, 64, 3], device: 'gpu' })).rejects.toThrow('for device');
  });

  test('cuda without CUDA is a clear error; auto picks the CPU', async () => {
    const { versions } = await import('../lib/runtime');
    if (versions().cuda.available) return;
    await expect(createModel({ arch: 'resnet-tiny', numClasses: 2, inputShape: [32, 32, 3], device: 'cuda' })).rejects.toThrow(/CUDA is not available/);
    const m = await createModel({ arch: 'resnet-tiny', numClasses: 2, inputShape: [32, 32, 3], device: 'auto' });
    expect(m.device).toBe('cpu');
  });

  test('input shape mismatch names both shapes', async () => {
    const m = await createModel({ arch: 'resnet-tiny', numClasses: 3, inputShape: [32, 32, 3] });
    await expect(m.predictOnBatch(colourTask(1, 40, 32, 1))).rejects.toThrow('input shape [1, 40, 32, 3] does not match the model\'s inputShape [32, 32, 3]');
    await expect(m.trainOnBatch(colourTask(1, 32, 32, 1))).rejects.toThrow('compile()');
  });
});
