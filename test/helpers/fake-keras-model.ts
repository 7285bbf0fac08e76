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
