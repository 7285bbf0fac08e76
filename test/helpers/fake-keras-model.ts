// A stand-in for the engine's model: Keras layer names, weights kept in Keras layout, strict setWeights.
import type { KerasWeightsModel, LayerInfo, NamedTensor, WeightSpecEntry } from '../../lib/keras/model-contract';

export interface FakeLayer {
  name: string;
  type: string;
  /** kind -> shape, in Keras weight order. */
  weights?: [string, number[]][];
}

/** A small ResNet50V2-style layer list: stem, one pre-activation block piece, BN without center/scale, top. */
export const RESNETISH_LAYERS: FakeLayer[] = [
  { name: 'input_1', type: 'InputLayer' },
  { name: 'conv1_pad', type: 'ZeroPadding2D' },
  { name: 'conv1_conv', type: 'Conv2D', weights: [['kernel', [3, 3, 3, 4]], ['bias', [4]]] },
  { name: 'pool1_pool', type: 'MaxPooling2D' },
  { name: 'conv2_block1_preact_bn', type: 'BatchNormalization', weights: [['gamma', [4]], ['beta', [4]], ['moving_mean', [4]], ['moving_variance', [4]]] },
  { name: 'conv2_block1_preact_relu', type: 'Activation' },
  { name: 'conv2_block1_1_conv', type: 'Conv2D', weights: [['kernel', [1, 1, 4, 2]]] },
  { name: 'post_bn', type: 'BatchNormalization', weights: [['moving_mean', [2]], ['moving_variance', [2]]] },
  { name: 'avg_pool', type: 'GlobalAveragePooling2D' },
  { name: 'predictions', type: 'Dense', weights: [['kernel', [2, 5]], ['bias', [5]]] },
];

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export class FakeKerasModel implements KerasWeightsModel {
  readonly values = new Map<string, NamedTensor>();
  setCalls: { keys: string[]; allowPartial: boolean }[] = [];
  classes?: string[];

  constructor(readonly layerList: FakeLayer[] = RESNETISH_LAYERS) {
    for (const entry of this.weightSpec()) this.values.set(entry.name, { shape: entry.shape, data: new Float32Array(size(entry.shape)) });
  }

  weightSpec(): WeightSpecEntry[] {
    return this.layerList.flatMap((l) => (l.weights ?? []).map(([kind, shape]) => ({ name: `${l.name}/${kind}`, shape, trainable: !kind.startsWith('moving_'), layer: l.name })));
  }

  layers(): LayerInfo[] {
    return this.layerList.map((l) => ({ name: l.name, type: l.type, outputShape: null, params: (l.weights ?? []).reduce((n, [, s]) => n + size(s), 0), trainable: true }));
  }

  async getWeights(): Promise<Record<string, NamedTensor>> {
    const out: Record<string, NamedTensor> = {};
    for (const [k, v] of this.values) out[k] = { shape: v.shape.slice(), data: v.data.slice() };
    return out;
  }

  async setWeights(weights: Record<string, NamedTensor>, options: { allowPartial?: boolean } = {}): Promise<void> {
    const allowPartial = options.allowPartial ?? false;
    for (const [k, v] of Object.entries(weights)) {
      const current = this.values.get(k);
      if (!current) throw new Error(`fake model: unknown weight ${k}`);
      if (current.shape.join() !== v.shape.join()) throw new Error(`fake model: bad shape for ${k}`);
      if (v.data.length !== size(v.shape)) throw new Error(`fake model: bad length for ${k}`);
    }
    if (!allowPartial && Object.keys(weights).length !== this.values.size) throw new Error('fake model: partial set without allowPartial');
    for (const [k, v] of Object.entries(weights)) this.values.set(k, { shape: v.shape.slice(), data: Float32Array.from(v.data) });
    this.setCalls.push({ keys: Object.keys(weights), allowPartial });
  }
}

/** Deterministic, distinct value for element `i` of weight `key`: reveals any transpose or mix-up. */
export function fixedValue(key: string, i: number): number {
  let h = 0;
  for (const c of key) h = (h * 31 + c.charCodeAt(0)) % 997;
  return h + i / 1024;
}

/**
 * The Keras ResNet50V2 layers (include_top=false, optionally the 1000-class top) with their weight shapes,
 * written from the Keras applications code (REFERENCE section 3), for scale tests against the real file size.
 */
export function resnet50v2Layers(includeTop = false): FakeLayer[] {
  const bn = (name: string, c: number): FakeLayer => ({ name, type: 'BatchNormalization', weights: [['gamma', [c]], ['beta', [c]], ['moving_mean', [c]], ['moving_variance', [c]]] });
  const conv = (name: string, k: number, cin: number, cout: number, bias: boolean): FakeLayer => ({
    name, type: 'Conv2D', weights: bias ? [['kernel', [k, k, cin, cout]], ['bias', [cout]]] : [['kernel', [k, k, cin, cout]]],
  });
  const plain = (name: string, type: string): FakeLayer => ({ name, type });
  const layers: FakeLayer[] = [plain('input_1', 'InputLayer'), plain('conv1_pad', 'ZeroPadding2D'), conv('conv1_conv', 7, 3, 64, true), plain('pool1_pad', 'ZeroPadding2D'), plain('pool1_pool', 'MaxPooling2D')];
  let channels = 64;
  let pools = 0;
  const stacks: [string, number, number, number][] = [['conv2', 64, 3, 2], ['conv3', 128, 4, 2], ['conv4', 256, 6, 2], ['conv5', 512, 3, 1]];
  for (const [stack, filters, blocks, lastStride] of stacks) {
    for (let b = 1; b <= blocks; b++) {
      const name = `${stack}_block${b}`;
      const stride = b === blocks ? lastStride : 1;
      layers.push(bn(`${name}_preact_bn`, channels), plain(`${name}_preact_relu`, 'Activation'));
      if (b === 1) layers.push(conv(`${name}_0_conv`, 1, channels, 4 * filters, true));
      else if (stride > 1) layers.push(plain(pools++ === 0 ? 'max_pooling2d' : `max_pooling2d_${pools - 1}`, 'MaxPooling2D'));
      layers.push(conv(`${name}_1_conv`, 1, channels, filters, false), bn(`${name}_1_bn`, filters), plain(`${name}_1_relu`, 'Activation'));
      layers.push(plain(`${name}_2_pad`, 'ZeroPadding2D'), conv(`${name}_2_conv`, 3, filters, filters, false), bn(`${name}_2_bn`, filters), plain(`${name}_2_relu`, 'Activation'));
      layers.push(conv(`${name}_3_conv`, 1, filters, 4 * filters, true), plain(`${name}_out`, 'Add'));
      channels = 4 * filters;
    }
  }
  layers.push(bn('post_bn', channels), plain('post_relu', 'Activation'));
  if (includeTop) layers.push(plain('avg_pool', 'GlobalAveragePooling2D'), { name: 'predictions', type: 'Dense', weights: [['kernel', [2048, 1000]], ['bias', [1000]]] });
  return layers;
}
