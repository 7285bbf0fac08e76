// The serving backend: what the HTTP server needs from a model, so the server can be tested without the engine.
import { defaultPreprocess, CAFFE_MEAN_BGR } from '../model';

/** Options of one Grad-CAM explanation. */
export interface ExplainOptions {
  /** Class to explain; the top-1 class when omitted. */
  classIndex?: number;
  /** Target layer; the engine's default (`conv5_block3_3_conv`) when omitted. */
  layer?: string;
}

/** A Grad-CAM heatmap: `height * width` values, min-max normalised to 0..1, row-major. */
export interface Explanation {
  heatmap: Float32Array;
  height: number;
  width: number;
  classIndex: number;
  probability: number;
}

/** A decoded request image: preprocessed model input and, when asked for, the RGB pixels it came from (both inputShape-sized). */
export interface DecodedRequestImage {
  pixels: Float32Array;
  rgb?: Uint8Array;
}

/** An example picture offered by the web page; `label` (a class name) enables the "beat the AI" game. */
export interface SampleImage {
  name: string;
  label?: string;
  jpeg: Buffer;
}

export interface ServingBackend {
  /** Shown in logs and the status page. */
  name?: string;
  /** [height, width, 3]. */
  inputShape: readonly [number, number, number];
  /** Class labels, index = output position. */
  classes: readonly string[];
  /** Probabilities [n, K] for n NHWC images of inputShape. */
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  /** Decodes one JPEG with the training pipeline (crop_or_pad + preprocessing); `rgb: true` also returns the RGB pixels (for overlays). */
  decode(jpeg: Buffer, options?: { rgb?: boolean }): Promise<DecodedRequestImage>;
  /** Grad-CAM for one preprocessed image. */
  explain(x: Float32Array, options: ExplainOptions): Promise<Explanation>;
  /** Example pictures for the web page (optional). */
  samples?(): Promise<SampleImage[]>;
  /** Undoes the preprocessing (for overlays of array inputs); the overlay uses a grey image when absent. */
  toRgb?(x: Float32Array): Uint8Array;
}

/** The parts of the engine's Model (lib/model) that serving uses. */
export interface ServableModel {
  inputShape: readonly number[];
  numClasses: number;
  arch?: string;
  /** From the checkpoint; `class_<i>` names when absent. */
  classes?: readonly string[];
  /** From the checkpoint; by architecture when absent (vgg16: caffe, ResNetV2: tf). */
  preprocess?: string;
  predictOnBatch(input: { x: Float32Array; shape: [number, number, number, number] }): Promise<Float32Array>;
  gradCam(input: { x: Float32Array; shape: [number, number, number, number] }, options: ExplainOptions): Promise<Explanation>;
}

type DecodeImage = (input: Uint8Array, options: { size: [number, number]; resize: 'crop_or_pad'; preprocess: 'tf' | 'caffe' | 'none' }) =>
  Promise<{ data: Float32Array | Uint8Array; shape: number[] }>;


/** Inverse of the model's preprocessing, rounded and clamped to uint8 RGB. */
export function deprocess(x: Float32Array, preprocess: 'tf' | 'caffe'): Uint8Array {
  const rgb = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i += 3) {
    for (let c = 0; c < 3; c++) {
      // caffe stores BGR minus the mean; tf stores RGB scaled to [-1, 1].
      const v = preprocess === 'tf' ? (x[i + c] + 1) * 127.5 : x[i + 2 - c] + CAFFE_MEAN_BGR[2 - c];
      rgb[i + c] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return rgb;
}

/** Serves an engine Model; `decodeImage` is the native image pipeline (lib/image). */
export function backendFromModel(model: ServableModel, { decodeImage }: { decodeImage: DecodeImage }): ServingBackend {
  const [height, width, channels] = model.inputShape;
  if (model.inputShape.length !== 3 || channels !== 3) throw new Error(`Expected an RGB model input [h, w, 3] but the model has ${JSON.stringify(model.inputShape)}`);
  const classes = model.classes ?? Array.from({ length: model.numClasses }, (_, i) => `class_${i}`);
  if (classes.length !== model.numClasses) throw new Error(`The model has ${model.numClasses} outputs but ${classes.length} class names`);
  const preprocess = model.preprocess ?? defaultPreprocess(model.arch);
  if (preprocess !== 'tf' && preprocess !== 'caffe') throw new Error(`Unknown preprocessing ${JSON.stringify(preprocess)} in the model; expected tf or caffe`);
  const size: [number, number] = [height, width];
  return {
    name: 'engine',
    inputShape: [height, width, 3],
    classes,
    predict: (x, n) => model.predictOnBatch({ x, shape: [n, height, width, 3] }),
    async decode(jpeg, options = {}) {
      const [pixels, rgb] = await Promise.all([
        decodeImage(jpeg, { size, resize: 'crop_or_pad', preprocess }),
        options.rgb ? decodeImage(jpeg, { size, resize: 'crop_or_pad', preprocess: 'none' }) : undefined,
      ]);
      return { pixels: pixels.data as Float32Array, rgb: rgb?.data as Uint8Array | undefined };
    },
    explain: (x, options) => model.gradCam({ x, shape: [1, height, width, 3] }, options),
    toRgb: (x) => deprocess(x, preprocess),
  };
}
