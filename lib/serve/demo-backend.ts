// A small deterministic backend with no engine: a nearest-colour classifier over the image's mean colour.
// It serves demos of the web page and the tests and benchmark of the HTTP layer.
import sharp from 'sharp';
import { ServingBackend, Explanation, ExplainOptions, DecodedRequestImage } from './backend';
import { positiveInt, rejectUnknownKeys } from '../validate';

/** A class of the demo backend: its label and prototype colour (RGB 0..255). */
export interface ColourClass {
  label: string;
  rgb: [number, number, number];
}

export const DEFAULT_COLOUR_CLASSES: readonly ColourClass[] = [
  { label: 'Red_Roadster', rgb: [200, 40, 40] },
  { label: 'Green_Hatchback', rgb: [40, 170, 60] },
  { label: 'Blue_Sedan', rgb: [40, 60, 200] },
  { label: 'Yellow_Cab', rgb: [230, 210, 40] },
  { label: 'White_Van', rgb: [235, 235, 235] },
  { label: 'Black_Limousine', rgb: [25, 25, 25] },
];

export interface ColourBackendOptions {
  height?: number;
  width?: number;
  classes?: readonly ColourClass[];
  /** Softmax sharpness: logits are -sharpness * squared distance in [-1, 1] colour space (default 4). */
  sharpness?: number;
}

/** Preprocessed value of a uint8 channel (Keras "tf" mode). */
export const tfPreprocess = (v: number): number => v / 127.5 - 1;

/** Probabilities of the colour classifier for one mean colour (preprocessed), in class order. */
export function colourProbabilities(mean: readonly number[], prototypes: readonly (readonly number[])[], sharpness: number): Float64Array {
  const logits = prototypes.map((p) => -sharpness * ((mean[0] - p[0]) ** 2 + (mean[1] - p[1]) ** 2 + (mean[2] - p[2]) ** 2));
  const top = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return Float64Array.from(exps, (e) => e / sum);
}

/** A ServingBackend whose answers follow from the mean colour of the image; decode uses sharp with a "fill" resize. */
export function createColourBackend(options: ColourBackendOptions = {}): ServingBackend {
  rejectUnknownKeys('createColourBackend', options, ['height', 'width', 'classes', 'sharpness']);
  const height = positiveInt('height', options.height ?? 64);
  const width = positiveInt('width', options.width ?? 64);
  const classes = options.classes ?? DEFAULT_COLOUR_CLASSES;
  if (classes.length < 2) throw new Error('createColourBackend needs at least 2 classes');
  const sharpness = options.sharpness ?? 4;
  const prototypes = classes.map((c) => c.rgb.map(tfPreprocess));
  const pixelsPerImage = height * width;

  const meanColour = (x: Float32Array, offset: number): number[] => {
    const sum = [0, 0, 0];
    for (let i = 0; i < pixelsPerImage; i++) for (let c = 0; c < 3; c++) sum[c] += x[offset + 3 * i + c];
    return sum.map((s) => s / pixelsPerImage);
  };

  const predictSync = (x: Float32Array, n: number): Float32Array => {
    const out = new Float32Array(n * classes.length);
    for (let i = 0; i < n; i++) out.set(colourProbabilities(meanColour(x, i * pixelsPerImage * 3), prototypes, sharpness), i * classes.length);
    return out;
  };

  return {
    name: 'colour-demo',
    inputShape: [height, width, 3],
    classes: classes.map((c) => c.label),
    async predict(x, n) {
      if (x.length !== n * pixelsPerImage * 3) throw new Error(`Expected ${n * pixelsPerImage * 3} floats for ${n} images but received ${x.length}`);
      return predictSync(x, n);
    },
    async decode(jpeg: Buffer): Promise<DecodedRequestImage> {
      const { data, info } = await sharp(jpeg, { failOn: 'error' })
        .toColourspace('srgb').removeAlpha()
        .resize(width, height, { fit: 'fill' })
        .raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`Expected 3 channels after decode but received ${info.channels}`);
      const rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const pixels = new Float32Array(rgb.length);
      for (let i = 0; i < rgb.length; i++) pixels[i] = rgb[i] / 127.5 - 1; // tfPreprocess, inlined: this loop is hot
      return { rgb, pixels };
    },
    // Heat = closeness of each pixel to the class colour, min-max normalised like Grad-CAM.
    async explain(x: Float32Array, explainOptions: ExplainOptions): Promise<Explanation> {
      const probabilities = predictSync(x, 1);
      const classIndex = explainOptions.classIndex ?? probabilities.indexOf(Math.max(...probabilities));
      const p = prototypes[classIndex];
      const heatmap = new Float32Array(pixelsPerImage);
      for (let i = 0; i < pixelsPerImage; i++) {
        heatmap[i] = -((x[3 * i] - p[0]) ** 2 + (x[3 * i + 1] - p[1]) ** 2 + (x[3 * i + 2] - p[2]) ** 2);
      }
      let lo = Infinity, hi = -Infinity;
      for (const v of heatmap) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      for (let i = 0; i < heatmap.length; i++) heatmap[i] = hi > lo ? (heatmap[i] - lo) / (hi - lo) : 0;
      return { heatmap, height, width, classIndex, probability: probabilities[classIndex] };
    },
    toRgb: (x) => Uint8Array.from(x, (v) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)))),
    // One picture per class: the class colour with a grey "car" block, so heatmaps have something to show.
    async samples() {
      return Promise.all(classes.map(async (c) => {
        const sampleWidth = 320, sampleHeight = 212;
        const block = await sharp({ create: { width: 140, height: 70, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
        const jpeg = await sharp({ create: { width: sampleWidth, height: sampleHeight, channels: 3, background: { r: c.rgb[0], g: c.rgb[1], b: c.rgb[2] } } })
          .composite([{ input: block, left: 90, top: 100 }])
          .jpeg({ quality: 90 }).toBuffer();
        return { name: `${c.label}_demo.jpg`, label: c.label, jpeg };
      }));
    },
  };
}
