// The `carclass serve` and `carclass explain` commands, with the engine injected, so the CLI only parses and calls.
import * as fs from 'fs/promises';
import * as path from 'path';
import { backendFromModel, ServableModel, ServingBackend } from './backend';
import { createServer, installShutdown, ModelServer, ServerOptions } from './server';
import { createColourBackend } from './demo-backend';
import { renderOverlay, OverlayFormat } from './overlay';
import { invalid, nonNegativeInt, numberIn, oneOf, rejectUnknownKeys } from '../validate';

/** What the commands need from the engine and the image pipeline (lib/model, lib/image). */
export interface EngineDeps {
  loadModel(checkpoint: string): Promise<ServableModel>;
  decodeImage: Parameters<typeof backendFromModel>[1]['decodeImage'];
}

export interface ServeCommandOptions extends Omit<ServerOptions, 'log'> {
  /** Checkpoint to serve; omit with `demo: true`. */
  checkpoint?: string;
  /** Serve the colour demo backend instead of a model (no engine needed). */
  demo?: boolean;
}

/** `carclass serve`: loads the checkpoint, listens, and shuts down gracefully on SIGINT/SIGTERM (handlers removable). */
export async function serveCommand(
  options: ServeCommandOptions, deps?: EngineDeps, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<{ server: ModelServer; url: string; stopHandlingSignals: () => void }> {
  const { checkpoint, demo, ...serverOptions } = options;
  let backend: ServingBackend;
  if (demo) {
    backend = createColourBackend();
  } else {
    if (typeof checkpoint !== 'string' || checkpoint.length === 0) throw invalid('checkpoint', 'path of a checkpoint (or --demo)', checkpoint);
    if (!deps) throw new Error('carclass serve: this build has no model engine; use --demo to try the server');
    backend = backendFromModel(await deps.loadModel(checkpoint), { decodeImage: deps.decodeImage });
  }
  const server = createServer(backend, { ...serverOptions, log });
  const { url } = await server.listen();
  return { server, url, stopHandlingSignals: installShutdown(server, { log }) };
}

const SERVE_FLAGS: Record<string, [keyof ServeCommandOptions, 'string' | 'int' | 'number' | 'flag']> = {
  '--port': ['port', 'int'], '--host': ['host', 'string'], '--name': ['name', 'string'], '--samples': ['samplesDir', 'string'],
  '--max-batch-size': ['maxBatchSize', 'int'], '--max-wait-ms': ['maxWaitMs', 'number'], '--max-body-bytes': ['maxBodyBytes', 'int'],
  '--max-instances': ['maxInstances', 'int'], '--request-timeout-ms': ['requestTimeoutMs', 'int'], '--max-concurrency': ['maxConcurrency', 'int'],
  '--demo': ['demo', 'flag'], '--cors': ['cors', 'flag'], '--quiet': ['quiet', 'flag'],
  '--max-decode-pixels': ['maxDecodePixels', 'int'], '--max-decode-ms': ['maxDecodeMs', 'int'],
};

/** Parses `carclass serve <checkpoint> [--port 8501] [--host 127.0.0.1] [--name carclass] [--samples dir] [--demo] ...`. */
export function parseServeArgs(argv: readonly string[]): ServeCommandOptions {
  const options: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (!flag.startsWith('--')) {
      if (options.checkpoint !== undefined) throw new Error(`carclass serve: unexpected argument ${JSON.stringify(arg)}; only one checkpoint is served`);
      options.checkpoint = arg;
      continue;
    }
    const spec = SERVE_FLAGS[flag];
    if (!spec) throw new Error(`carclass serve: unknown option ${flag}; expected one of: ${Object.keys(SERVE_FLAGS).join(', ')}`);
    const [key, kind] = spec;
    if (kind === 'flag') {
      options[key] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`carclass serve: ${flag} needs a value`);
    options[key] = kind === 'string' ? value : Number(value);
    if (kind === 'int' && !Number.isInteger(options[key])) throw invalid(flag, 'integer', value);
    if (kind === 'number' && !Number.isFinite(options[key])) throw invalid(flag, 'number', value);
  }
  return options as ServeCommandOptions;
}

export interface ExplainCommandOptions {
  checkpoint: string;
  /** Class to explain (index or label); top-1 by default. */
  classIndex?: number;
  label?: string;
  layer?: string;
  /** Overlay file; default `<image>.gradcam.<format>` next to the image. */
  output?: string;
  format?: OverlayFormat;
  alpha?: number;
  /** Also write the raw heatmap as JSON ({height, width, heatmap: number[][]}) here. */
  heatmapOutput?: string;
}

export interface ExplainResult {
  classIndex: number;
  label: string;
  probability: number;
  output: string;
  heatmapOutput?: string;
}

/** `carclass explain <image> --checkpoint <path>`: Grad-CAM of one JPEG, written as an overlay image. */
export async function explainCommand(image: string, options: ExplainCommandOptions, deps: EngineDeps | { backend: ServingBackend }): Promise<ExplainResult> {
  rejectUnknownKeys('explain', options, ['checkpoint', 'classIndex', 'label', 'layer', 'output', 'format', 'alpha', 'heatmapOutput']);
  const format = oneOf('format', options.format ?? 'png', ['png', 'jpeg'] as const);
  const alpha = numberIn('alpha', options.alpha ?? 0.4, 0, 1);
  const backend = 'backend' in deps ? deps.backend : backendFromModel(await deps.loadModel(options.checkpoint), { decodeImage: deps.decodeImage });
  let classIndex = options.classIndex === undefined ? undefined : nonNegativeInt('classIndex', options.classIndex);
  if (options.label !== undefined) {
    classIndex = backend.classes.indexOf(options.label);
    if (classIndex < 0) throw new Error(`Unknown class ${JSON.stringify(options.label)}; the model's classes are: ${backend.classes.slice(0, 20).join(', ')}${backend.classes.length > 20 ? ', …' : ''}`);
  }
  if (classIndex !== undefined && classIndex >= backend.classes.length) throw invalid('classIndex', `class index below ${backend.classes.length}`, classIndex);
  let jpeg: Buffer;
  try {
    jpeg = await fs.readFile(image);
  } catch (error) {
    throw new Error(`Cannot read ${image}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const decoded = await backend.decode(jpeg, { rgb: true }).catch((error: Error) => { throw new Error(`${image}: ${error.message}`); });
  const explanation = await backend.explain(decoded.pixels, { classIndex, layer: options.layer });
  const [height, width] = backend.inputShape;
  const rgb = decoded.rgb ?? (backend.toRgb ? backend.toRgb(decoded.pixels) : new Uint8Array(height * width * 3).fill(128));
  const overlay = await renderOverlay(rgb, height, width, explanation.heatmap, explanation.height, explanation.width, { format, alpha });
  const output = options.output ?? path.join(path.dirname(image), `${path.basename(image, path.extname(image))}.gradcam.${format === 'jpeg' ? 'jpg' : 'png'}`);
  await fs.writeFile(output, overlay);
  if (options.heatmapOutput) {
    const { heatmap, height: hh, width: hw } = explanation;
    const rows = Array.from({ length: hh }, (_, y) => Array.from(heatmap.subarray(y * hw, (y + 1) * hw)));
    await fs.writeFile(options.heatmapOutput, JSON.stringify({ height: hh, width: hw, classIndex: explanation.classIndex, heatmap: rows }));
  }
  return { classIndex: explanation.classIndex, label: backend.classes[explanation.classIndex], probability: explanation.probability, output, heatmapOutput: options.heatmapOutput };
}

/** Parses `carclass explain <image> --checkpoint <path> [--class N | --label L] [--layer name] [--output file] [--format png|jpeg] [--alpha 0.4] [--heatmap file.json]`. */
export function parseExplainArgs(argv: readonly string[]): { image: string; options: ExplainCommandOptions } {
  let image: string | undefined;
  const options: Record<string, unknown> = {};
  const flags: Record<string, [keyof ExplainCommandOptions, 'string' | 'int' | 'number']> = {
    '--checkpoint': ['checkpoint', 'string'], '--class': ['classIndex', 'int'], '--label': ['label', 'string'], '--layer': ['layer', 'string'],
    '--output': ['output', 'string'], '-o': ['output', 'string'], '--format': ['format', 'string'], '--alpha': ['alpha', 'number'], '--heatmap': ['heatmapOutput', 'string'],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) {
      if (image !== undefined) throw new Error(`carclass explain: unexpected argument ${JSON.stringify(arg)}; one image at a time`);
      image = arg;
      continue;
    }
    const spec = flags[arg];
    if (!spec) throw new Error(`carclass explain: unknown option ${arg}; expected one of: ${Object.keys(flags).join(', ')}`);
    const value = argv[++i];
    if (value === undefined) throw new Error(`carclass explain: ${arg} needs a value`);
    options[spec[0]] = spec[1] === 'string' ? value : spec[1] === 'int' ? nonNegativeInt(arg, Number(value)) : Number(value);
  }
  if (image === undefined) throw new Error('carclass explain: which image? usage: carclass explain <image.jpg> --checkpoint <path>');
  if (typeof options.checkpoint !== 'string') throw new Error('carclass explain: --checkpoint <path> is required');
  return { image, options: options as unknown as ExplainCommandOptions };
}
