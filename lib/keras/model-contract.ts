// The slice of the model API the Keras import/export and the prefilter rely on.

export interface WeightSpecEntry {
  /** `<keras_layer_name>/<kind>`, e.g. `conv1_conv/kernel`. */
  name: string;
  shape: number[];
  trainable: boolean;
  layer: string;
}

/** A tensor in Keras layout: conv kernels HWIO, dense kernels [in, out]. */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export interface LayerInfo {
  name: string;
  /** Keras class name: Conv2D, BatchNormalization, Dense, ZeroPadding2D, ... */
  type: string;
  outputShape?: unknown;
  params?: number;
  trainable?: boolean;
}

export interface KerasWeightsModel {
  weightSpec(): WeightSpecEntry[];
  getWeights(): Record<string, NamedTensor> | Promise<Record<string, NamedTensor>>;
  setWeights(weights: Record<string, NamedTensor>, options?: { allowPartial?: boolean }): unknown;
  layers(): LayerInfo[];
  /** Class names in output order, when the model carries them. */
  classes?: readonly string[];
}

export interface PredictingModel {
  predictOnBatch(batch: any): Promise<Float32Array>;
}

/** Spec entries grouped by layer, in Keras layer order. */
export function specByLayer(spec: WeightSpecEntry[]): Map<string, WeightSpecEntry[]> {
  const byLayer = new Map<string, WeightSpecEntry[]>();
  for (const entry of spec) {
    const list = byLayer.get(entry.layer);
    if (list) list.push(entry);
    else byLayer.set(entry.layer, [entry]);
  }
  return byLayer;
}

/** `conv1_conv/kernel` -> `kernel` (the part after the layer name). */
export function kindOf(entry: WeightSpecEntry): string {
  return entry.name.startsWith(`${entry.layer}/`) ? entry.name.slice(entry.layer.length + 1) : entry.name.split('/').pop() ?? entry.name;
}
