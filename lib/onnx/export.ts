// Writes a model as an ONNX file (opset 17, IR 8): architecture and weights in one file, inference mode.
// Input `input` NHWC float32 [N, H, W, 3], already preprocessed (as TF Serving instances are), N dynamic.
// Output `probabilities` [N, numClasses]. Ops: Transpose, Pad, Conv, BatchNormalization, Relu, MaxPool, Add,
// Max, GlobalAveragePool, Flatten, Gemm, Softmax (includePreprocessing adds Cast, Div, Sub, Gather). Dropout is left out (inference). BatchNormalization is kept
// unfolded, so every weight is written exactly as the model holds it (conv kernels permuted HWIO -> OIHW).
import * as path from 'path';
import { modelProto, TensorDataType, AttributeType } from './proto';
import { rejectUnknownKeys, invalid } from '../validate';
import { writeFileAtomic } from '../atomic-file';
import { defaultPreprocess, CAFFE_MEAN_BGR } from '../model';
import type { LayerInfo, Weights } from '../model';

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
export const ONNX_INPUT = 'input';
/** The input name with includePreprocessing. */
export const ONNX_IMAGE_INPUT = 'image';
export const ONNX_OUTPUT = 'probabilities';
/** Keras' (and carclass's) BatchNormalization epsilon. */
const BN_EPSILON = 1.001e-5;

/** What exportOnnx reads from a model (a carclass Model satisfies it). */
export interface OnnxExportableModel {
  arch: string;
  head: string;
  numClasses: number;
  inputShape: readonly [number, number, number] | readonly number[];
  classes?: readonly string[];
  preprocess?: string;
  extra?: Record<string, unknown>;
  layers(): LayerInfo[];
  getWeights(): Promise<Weights>;
}

export interface ExportOnnxOptions {
  /** Class names in output order; defaults to `model.classes`, else class_0, class_1, ... */
  classes?: readonly string[];
  /** Resize method recorded in the metadata; defaults to the checkpoint's (`model.extra.resize`), else crop_or_pad. */
  resize?: string;
  /** Preprocessing recorded in the metadata; defaults to `model.preprocess`, else the arch's default (tf / caffe). */
  preprocess?: string;
  /**
   * Take uint8 RGB pixels instead: input `image` uint8 [N, H, W, 3] (already resized to the input size), with
   * the preprocessing (tf: x / 127.5 - 1; caffe: RGB -> BGR, x - mean) inside the graph.
   */
  includePreprocessing?: boolean;
}

export interface OnnxExportResult {
  path: string;
  opset: number;
  nodes: number;
  initializers: number;
  ops: string[];
  bytes: number;
}

interface Attr { name: string; type: number; i?: number; f?: number; ints?: number[] }
interface Node { name: string; opType: string; input: string[]; output: string[]; attribute: Attr[] }
interface Initializer { name: string; dims: number[]; dataType: number; rawData: Uint8Array }


const ints = (name: string, v: number[]): Attr => ({ name, type: AttributeType.INTS, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: AttributeType.INT, i: v });
const float = (name: string, v: number): Attr => ({ name, type: AttributeType.FLOAT, f: v });

function floatBytes(data: Float32Array): Uint8Array {
  // Float32Array is little-endian on every platform Node runs on; copy to own the bytes.
  return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

/** Keras conv kernel [kh, kw, in, out] -> ONNX [out, in, kh, kw]; a pure permutation, so bit-exact. */
export function hwioToOihw(data: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, ci, co] = shape;
  const out = new Float32Array(data.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + h) * kw + w] = data[((h * kw + w) * ci + i) * co + o];
  return out;
}

/** The inverse of hwioToOihw, for comparing exported weights with the model's. */
export function oihwToHwio(data: Float32Array, shape: readonly number[]): Float32Array {
  const [co, ci, kh, kw] = shape;
  const out = new Float32Array(data.length);
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let h = 0; h < kh; h++)
        for (let w = 0; w < kw; w++) out[((h * kw + w) * ci + i) * co + o] = data[((o * ci + i) * kh + h) * kw + w];
  return out;
}

/** MaxPooling2D kernel and stride: the layer config is not exposed, so they follow network.cc by layer name. */
function maxPoolConfig(layer: LayerInfo, inShape: number[]): { kernel: number; stride: number } {
  if (layer.name === 'pool1_pool') return { kernel: 3, stride: 2 };
  if (/^max_pooling2d(_\d+)?$/.test(layer.name)) return { kernel: 1, stride: 2 }; // ResNetV2 block shortcut
  if (/^block\d_pool$/.test(layer.name)) return { kernel: 2, stride: 2 }; // VGG16
  throw new Error(`Cannot export to ONNX: unknown max pooling layer ${layer.name} (input [${inShape}])`);
}

/** Conv stride and symmetric padding from the kernel size and the input/output shapes (valid or Keras "same", stride 1). */
function convConfig(layer: LayerInfo, inShape: number[], k: number): { stride: number; pad: number } {
  const [ih, iw] = inShape;
  const [oh, ow] = layer.outputShape;
  for (const pad of [0, Math.floor(k / 2)])
    for (const stride of [1, 2])
      if (Math.floor((ih + 2 * pad - k) / stride) + 1 === oh && Math.floor((iw + 2 * pad - k) / stride) + 1 === ow) return { stride, pad };
  throw new Error(`Cannot export to ONNX: conv ${layer.name} maps [${inShape}] to [${layer.outputShape}] with a ${k}x${k} kernel in no known way`);
}

/** Builds the ONNX model object (before encoding) for `model`. */
export async function buildOnnxModel(model: OnnxExportableModel, options: ExportOnnxOptions = {}): Promise<{ message: any; ops: string[] }> {
  const resize = options.resize ?? (typeof model.extra?.resize === 'string' ? (model.extra.resize as string) : 'crop_or_pad');
  const preprocess = options.preprocess ?? model.preprocess ?? defaultPreprocess(model.arch);
  const layers = model.layers();
  const weights = await model.getWeights();
  const byName = new Map(layers.map((l) => [l.name, l]));
  const [height, width, channels] = model.inputShape;
  const nodes: Node[] = [];
  const inits: Initializer[] = [];
  const addInit = (name: string, dims: number[], data: Float32Array) => inits.push({ name, dims, dataType: TensorDataType.FLOAT, rawData: floatBytes(data) });
  const weight = (layer: string, kind: string) => {
    const w = weights[`${layer}/${kind}`];
    if (!w) throw new Error(`Cannot export to ONNX: getWeights() has no ${layer}/${kind}`);
    return w;
  };
  const out = new Map<string, string>(); // Keras layer -> ONNX tensor holding its output
  const readers = new Map<string, LayerInfo[]>();
  for (const l of layers) for (const i of l.inputs) readers.set(i, [...(readers.get(i) ?? []), l]);
  const pendingPad = new Map<string, { src: string; ph: number; pw: number }>();
  const shapeOf = (name: string) => {
    const l = byName.get(name);
    if (!l) throw new Error(`Cannot export to ONNX: unknown layer ${name}`);
    return l.outputShape;
  };
  // Layout of each tensor: the conv part runs NCHW; flatten needs Keras' H, W, C order.
  const last = layers[layers.length - 1];
  for (const layer of layers) {
    const src = layer.inputs.map((i) => {
      const t = out.get(i);
      if (t === undefined) throw new Error(`Cannot export to ONNX: ${layer.name} reads ${i} before it is written`);
      return t;
    });
    const name = layer.name;
    const node = (opType: string, input: string[], attribute: Attr[] = [], output = name, nodeName = name) => {
      nodes.push({ name: nodeName, opType, input, output: [output], attribute });
      return output;
    };
    switch (layer.type) {
      case 'InputLayer': {
        let input = ONNX_INPUT;
        if (options.includePreprocessing) {
          // The same float32 operations as carclass's decoder: float(x) / 127.5 - 1, or float(x[BGR]) - mean.
          input = node('Cast', [ONNX_IMAGE_INPUT], [int('to', TensorDataType.FLOAT)], 'pixels', 'cast_pixels');
          if (preprocess === 'tf') {
            addInit('preprocess/divisor', [], new Float32Array([127.5]));
            addInit('preprocess/one', [], new Float32Array([1]));
            node('Div', [input, 'preprocess/divisor'], [], 'pixels_scaled', 'preprocess_div');
            input = node('Sub', ['pixels_scaled', 'preprocess/one'], [], ONNX_INPUT, 'preprocess_sub');
          } else if (preprocess === 'caffe') {
            inits.push({ name: 'preprocess/bgr', dims: [3], dataType: TensorDataType.INT64, rawData: int64Bytes([2, 1, 0]) });
            addInit('preprocess/mean_bgr', [3], new Float32Array(CAFFE_MEAN_BGR));
            node('Gather', [input, 'preprocess/bgr'], [int('axis', 3)], 'pixels_bgr', 'preprocess_bgr');
            input = node('Sub', ['pixels_bgr', 'preprocess/mean_bgr'], [], ONNX_INPUT, 'preprocess_sub');
          } else if (preprocess !== 'none') {
            throw new Error(`Cannot export to ONNX with includePreprocessing: unknown preprocess ${preprocess}`);
          }
        }
        out.set(name, node('Transpose', [input], [ints('perm', [0, 3, 1, 2])], `${name}_nchw`));
        break;
      }
      case 'ZeroPadding2D': {
        const inShape = shapeOf(layer.inputs[0]);
        const ph = layer.outputShape[0] - inShape[0];
        const pw = layer.outputShape[1] - inShape[1];
        if (ph % 2 || pw % 2) throw new Error(`Cannot export to ONNX: ${name} pads asymmetrically`);
        if (readers.get(name)?.every((r) => r.type === 'MaxPooling2D')) {
          // Zero padding read by max pooling: ONNX Runtime's PadFusion folds a Pad into MaxPool's pads, which
          // pad with -inf, not 0. So pool with pads and then take max(., 0) on the windows that touch padding.
          pendingPad.set(name, { src: src[0], ph: ph / 2, pw: pw / 2 });
          out.set(name, src[0]);
          break;
        }
        const padsName = `${name}/pads`;
        inits.push({ name: padsName, dims: [8], dataType: TensorDataType.INT64, rawData: int64Bytes([0, 0, ph / 2, pw / 2, 0, 0, ph / 2, pw / 2]) });
        out.set(name, node('Pad', [src[0], padsName], [{ name: 'mode', type: AttributeType.STRING, s: 'constant' } as any]));
        break;
      }
      case 'Conv2D': {
        const kernel = weight(name, 'kernel');
        const [kh, kw, ci, co] = kernel.shape;
        if (kh !== kw) throw new Error(`Cannot export to ONNX: ${name} has a non-square kernel`);
        const { stride, pad } = convConfig(layer, shapeOf(layer.inputs[0]), kh);
        addInit(`${name}/kernel`, [co, ci, kh, kw], hwioToOihw(kernel.data, kernel.shape));
        const input = [src[0], `${name}/kernel`];
        if (weights[`${name}/bias`]) {
          addInit(`${name}/bias`, [co], weight(name, 'bias').data);
          input.push(`${name}/bias`);
        }
        const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', [stride, stride]), ints('pads', [pad, pad, pad, pad]), ints('dilations', [1, 1]), int('group', 1)];
        // VGG16 convs carry Keras activation="relu"; ResNetV2 convs are linear.
        if (model.arch === 'vgg16') {
          node('Conv', input, attrs, `${name}_linear`, `${name}_conv`);
          out.set(name, node('Relu', [`${name}_linear`]));
        } else {
          out.set(name, node('Conv', input, attrs));
        }
        break;
      }
      case 'BatchNormalization': {
        const kinds = ['gamma', 'beta', 'moving_mean', 'moving_variance'];
        for (const kind of kinds) addInit(`${name}/${kind}`, [layer.outputShape[2]], weight(name, kind).data);
        out.set(name, node('BatchNormalization', [src[0], ...kinds.map((k) => `${name}/${k}`)], [float('epsilon', BN_EPSILON)]));
        break;
      }
      case 'Activation':
        out.set(name, node('Relu', [src[0]]));
        break;
      case 'MaxPooling2D': {
        const { kernel, stride } = maxPoolConfig(layer, shapeOf(layer.inputs[0]));
        const padded = pendingPad.get(layer.inputs[0]);
        if (!padded) {
          out.set(name, node('MaxPool', [src[0]], [ints('kernel_shape', [kernel, kernel]), ints('strides', [stride, stride]), ints('pads', [0, 0, 0, 0])]));
          break;
        }
        const { ph, pw } = padded;
        const [ih, iw] = shapeOf(byName.get(layer.inputs[0])!.inputs[0]);
        const [oh, ow] = layer.outputShape;
        node('MaxPool', [src[0]], [ints('kernel_shape', [kernel, kernel]), ints('strides', [stride, stride]), ints('pads', [ph, pw, ph, pw])], `${name}_unpadded`, `${name}_pool`);
        // 0 where an output window reaches into the zero padding, -inf elsewhere: Max gives zero-padding semantics.
        const mask = new Float32Array(oh * ow);
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++) {
            const r0 = i * stride - ph, c0 = j * stride - pw;
            const touches = r0 < 0 || c0 < 0 || r0 + kernel > ih || c0 + kernel > iw;
            mask[i * ow + j] = touches ? 0 : -Infinity;
          }
        addInit(`${name}/zero_padding_mask`, [1, 1, oh, ow], mask);
        out.set(name, node('Max', [`${name}_unpadded`, `${name}/zero_padding_mask`]));
        break;
      }
      case 'Add':
        out.set(name, node('Add', src));
        break;
      case 'GlobalAveragePooling2D':
        node('GlobalAveragePool', [src[0]], [], `${name}_nc11`, `${name}_pool`);
        out.set(name, node('Flatten', [`${name}_nc11`], [int('axis', 1)]));
        break;
      case 'Flatten':
        // Keras flattens in H, W, C order: back to NHWC first.
        node('Transpose', [src[0]], [ints('perm', [0, 2, 3, 1])], `${name}_nhwc`, `${name}_nhwc`);
        out.set(name, node('Flatten', [`${name}_nhwc`], [int('axis', 1)]));
        break;
      case 'Dense': {
        const kernel = weight(name, 'kernel'); // Keras [in, out] is Gemm's B as is
        addInit(`${name}/kernel`, kernel.shape, kernel.data);
        addInit(`${name}/bias`, [kernel.shape[1]], weight(name, 'bias').data);
        const gemm = [src[0], `${name}/kernel`, `${name}/bias`];
        if (layer === last) {
          node('Gemm', gemm, [], `${name}_logits`, `${name}_gemm`);
          out.set(name, node('Softmax', [`${name}_logits`], [int('axis', 1)], ONNX_OUTPUT, `${name}_softmax`));
        } else {
          node('Gemm', gemm, [], `${name}_linear`, `${name}_gemm`);
          out.set(name, node('Relu', [`${name}_linear`]));
        }
        break;
      }
      case 'Dropout':
        out.set(name, src[0]); // identity at inference
        break;
      default:
        throw new Error(`Cannot export to ONNX: layer ${name} has unsupported type ${layer.type}`);
    }
  }
  if (out.get(last.name) !== ONNX_OUTPUT) throw new Error(`Cannot export to ONNX: the last layer ${last.name} is not the softmax Dense`);

  const classes = options.classes ?? model.classes ?? Array.from({ length: model.numClasses }, (_, i) => `class_${i}`);
  if (!Array.isArray(classes) || classes.length !== model.numClasses || !classes.every((c) => typeof c === 'string')) {
    throw invalid('classes', `array of ${model.numClasses} strings`, classes);
  }
  const metadata: Record<string, string> = {
    classes: JSON.stringify(classes),
    input_size: JSON.stringify([height, width]),
    input_layout: 'NHWC',
    resize,
    preprocess,
    preprocessing: preprocess === 'tf' ? 'RGB x/127.5 - 1' : preprocess === 'caffe' ? `BGR x - [${CAFFE_MEAN_BGR.join(', ')}]` : 'none (RGB 0..255)',
    arch: model.arch,
    head: model.head,
    input_name: options.includePreprocessing ? ONNX_IMAGE_INPUT : ONNX_INPUT,
    preprocessing_in_graph: options.includePreprocessing ? 'true' : 'false',
  };
  const tensorType = (dims: (number | string)[], elemType: number = TensorDataType.FLOAT) => ({
    tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } },
  });
  const message = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'carclass',
    producerVersion: packageVersion(),
    docString: `carclass ${model.arch} with head ${model.head}: NHWC float32 preprocessed input -> softmax probabilities`,
    graph: {
      name: `carclass_${model.arch}_${model.head}`,
      node: nodes.map((n) => ({ ...n, attribute: n.attribute.map(encodeAttr) })),
      initializer: inits,
      input: options.includePreprocessing
        ? [{ name: ONNX_IMAGE_INPUT, type: tensorType(['N', height, width, channels], TensorDataType.UINT8) }]
        : [{ name: ONNX_INPUT, type: tensorType(['N', height, width, channels]) }],
      output: [{ name: ONNX_OUTPUT, type: tensorType(['N', model.numClasses]) }],
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  return { message, ops: [...new Set(nodes.map((n) => n.opType))].sort() };
}

function encodeAttr(a: Attr & { s?: string }): any {
  if (a.type === AttributeType.STRING) return { name: a.name, type: a.type, s: Buffer.from(a.s ?? '', 'utf8') };
  return a;
}

function int64Bytes(values: number[]): Uint8Array {
  const b = new BigInt64Array(values.map((v) => BigInt(v)));
  return new Uint8Array(b.buffer);
}

function packageVersion(): string {
  try {
    return require('../../package.json').version as string;
  } catch {
    return '';
  }
}

/**
 * Exports `model` as an ONNX file: opset 17, NHWC float32 input `input` [N, H, W, 3] (preprocessed as the
 * metadata says), output `probabilities` [N, numClasses]. Metadata props: classes (JSON), input_size
 * ([height, width] JSON), resize, preprocess, preprocessing, arch, head, input_layout.
 */
export async function exportOnnx(model: OnnxExportableModel, file: string, options: ExportOnnxOptions = {}): Promise<OnnxExportResult> {
  if (typeof file !== 'string' || file === '') throw invalid('path', 'non-empty string', file);
  if (options === null || typeof options !== 'object') throw invalid('options', 'object', options);
  rejectUnknownKeys('exportOnnx', options, ['classes', 'resize', 'preprocess', 'includePreprocessing']);
  if (options.includePreprocessing !== undefined && typeof options.includePreprocessing !== 'boolean') throw invalid('includePreprocessing', 'boolean', options.includePreprocessing);
  for (const key of ['resize', 'preprocess'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'string') throw invalid(key, 'string', options[key]);
  }
  const { message, ops } = await buildOnnxModel(model, options);
  const type = modelProto();
  const err = type.verify(message);
  if (err) throw new Error(`Cannot export to ONNX: ${err}`);
  const bytes = type.encode(type.fromObject(message)).finish();
  await writeFileAtomic(file, bytes);
  return { path: path.resolve(file), opset: ONNX_OPSET, nodes: message.graph.node.length, initializers: message.graph.initializer.length, ops, bytes: bytes.length };
}
