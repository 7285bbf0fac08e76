// `carclass train <dir>`: flags and an optional JSON config file mapped onto train().
import * as fs from 'fs';
import { Command, UsageError, numberFlag } from './command';
import { train, TrainOptions, TrainResult } from '../train/train';

export const trainFlags = {
  config: { type: 'string' }, out: { type: 'string', short: 'o' }, manifest: { type: 'string' }, 'prefilter-manifest': { type: 'string' },
  'label-type': { type: 'string' }, 'top-n': { type: 'string' }, 'min-count': { type: 'string' }, seed: { type: 'string' },
  arch: { type: 'string' }, head: { type: 'string' }, size: { type: 'string' }, resize: { type: 'string' },
  weights: { type: 'string' }, 'allow-partial': { type: 'boolean' }, unfreeze: { type: 'string' },
  epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, schedule: { type: 'string' },
  'head-epochs': { type: 'string' }, 'head-lr': { type: 'string' }, 'class-weights': { type: 'string' },
  'no-augment': { type: 'boolean' }, 'augment-p': { type: 'string' }, patience: { type: 'string' }, monitor: { type: 'string' },
  'min-delta': { type: 'string' }, 'no-early-stopping': { type: 'boolean' }, threads: { type: 'string' }, 'loader-threads': { type: 'string' },
  device: { type: 'string' }, precision: { type: 'string' }, resume: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' },
  'no-tensorboard': { type: 'boolean' }, strict: { type: 'boolean' },
} as const;

export const trainHelp = [
  'Data:      <dir> | --manifest run/manifest.json   --prefilter-manifest m.jsonl   --label-type make|model   --top-n 300   --min-count N   --seed 1',
  'Model:     --arch resnet50v2|resnet-small|resnet-tiny|vgg16   --head gap|vgg   --size 212x320   --resize crop_or_pad|bilinear|nearest',
  '           --weights keras_notop.h5 [--allow-partial]   --unfreeze all|none|conv5,post (regular expressions)',
  'Training:  --epochs 20   --batch-size 32   --lr 1e-4   --schedule constant|cosine|plateau   --head-epochs N --head-lr 1e-3',
  '           --class-weights balanced|none   --no-augment | --augment-p 0.7   --patience 12 --monitor val_loss --min-delta 0 | --no-early-stopping',
  'Machine:   --threads N   --loader-threads N   --device auto|cpu|cuda|cuda:N   --precision fp32|bf16',
  'Run:       --out carclass-run   --resume   --quiet   --no-tensorboard   --strict (stop on a bad image instead of skipping it)',
  '           --config file.json: the same settings as train() options (flags win)',
];

/** Reads --config: a JSON object of train() options. */
export function readConfig(file: string): Partial<TrainOptions> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--config ${file}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`--config ${file}: expected a JSON object of train options`);
  return value as Partial<TrainOptions>;
}

function parseSize(value: unknown): [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)x(\d+)$/.exec(String(value));
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new UsageError(`Expected HEIGHTxWIDTH (e.g. 212x320) for --size but received ${JSON.stringify(value)}`);
  return [Number(m[1]), Number(m[2])];
}

/** Maps flags onto train() options; only flags that were given are set, so config values survive. */
export function trainOptionsFromFlags(v: Record<string, any>, positionals: string[]): Partial<TrainOptions> {
  const o: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => { if (value !== undefined) o[key] = value; };
  if (positionals.length > 1) throw new UsageError(`carclass train takes one folder but received ${positionals.length}: ${positionals.join(' ')}`);
  set('dir', positionals[0]);
  set('outDir', v.out);
  set('manifest', v.manifest);
  set('prefilterManifest', v['prefilter-manifest']);
  set('labelType', v['label-type']);
  set('topN', numberFlag('top-n', v['top-n'], { integer: true, min: 1 }));
  set('minCount', numberFlag('min-count', v['min-count'], { integer: true, min: 1 }));
  set('seed', numberFlag('seed', v.seed, { integer: true, min: 0 }));
  set('arch', v.arch);
  set('head', v.head);
  set('inputSize', parseSize(v.size));
  set('resize', v.resize);
  set('weights', v.weights);
  if (v['allow-partial']) o.allowPartial = true;
  if (v.unfreeze !== undefined) o.unfreeze = v.unfreeze === 'all' || v.unfreeze === 'none' ? v.unfreeze : String(v.unfreeze).split(',').filter(Boolean);
  set('epochs', numberFlag('epochs', v.epochs, { integer: true, min: 1 }));
  set('batchSize', numberFlag('batch-size', v['batch-size'], { integer: true, min: 1 }));
  set('learningRate', numberFlag('lr', v.lr, { min: 0 }));
  set('schedule', v.schedule);
  set('headEpochs', numberFlag('head-epochs', v['head-epochs'], { integer: true, min: 0 }));
  set('headLearningRate', numberFlag('head-lr', v['head-lr'], { min: 0 }));
  set('classWeights', v['class-weights']);
  if (v['no-augment']) o.augment = false;
  else if (v['augment-p'] !== undefined) o.augment = { p: numberFlag('augment-p', v['augment-p'], { min: 0, max: 1 }) };
  if (v['no-early-stopping']) o.earlyStopping = false;
  else if (v.patience !== undefined || v.monitor !== undefined || v['min-delta'] !== undefined) {
    const e: Record<string, unknown> = {};
    if (v.patience !== undefined) e.patience = numberFlag('patience', v.patience, { integer: true, min: 0 });
    if (v.monitor !== undefined) e.monitor = v.monitor;
    if (v['min-delta'] !== undefined) e.minDelta = numberFlag('min-delta', v['min-delta'], { min: 0 });
    o.earlyStopping = e;
  }
  set('threads', numberFlag('threads', v.threads, { integer: true, min: 1 }));
  set('loaderThreads', numberFlag('loader-threads', v['loader-threads'], { integer: true, min: 1 }));
  set('device', v.device);
  set('precision', v.precision);
  if (v.resume) o.resume = true;
  if (v.quiet) o.progress = 'quiet';
  if (v['no-tensorboard']) o.tensorboard = false;
  if (v.strict) o.onError = 'throw';
  return o as Partial<TrainOptions>;
}

/** Config, then flags, then defaults; option errors name the key, the expected and the received value. */
export function mergeTrainOptions(v: Record<string, any>, positionals: string[], defaults: Partial<TrainOptions> = {}): TrainOptions {
  const config = v.config ? readConfig(v.config) : {};
  const flags = trainOptionsFromFlags(v, positionals);
  if (config.earlyStopping && flags.earlyStopping && typeof config.earlyStopping === 'object' && typeof flags.earlyStopping === 'object') {
    flags.earlyStopping = { ...config.earlyStopping, ...flags.earlyStopping };
  }
  return { outDir: 'carclass-run', ...defaults, ...config, ...flags } as TrainOptions;
}

export function printTrainSummary(r: TrainResult): void {
  console.log(`\n${r.status === 'completed' ? 'Training finished' : r.status === 'early_stopped' ? 'Training stopped early' : `Training ${r.status}`}` +
    ` after ${r.epochsRun} epoch(s) in ${r.seconds.toFixed(1)} s${r.bestEpoch ? `; best epoch ${r.bestEpoch}` : ''}.`);
  if (r.test) console.log(`Test accuracy ${(r.test.accuracy * 100).toFixed(2)} % (top-5 ${((r.test.topK ?? NaN) * 100).toFixed(2)} %), loss ${(r.test.loss ?? NaN).toFixed(4)} on ${r.test.count} images.`);
  console.log(`Best checkpoint: ${r.checkpoints.best}`);
  if (r.report) console.log(`Reports: ${r.report.markdown} (and PNGs beside it)`);
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Trains a classifier on a folder of JPEGs named in the dataset format (split, class weights, early stopping, report).',
  usage: 'carclass train <dir> [--config file.json] [flags]',
  options: trainFlags,
  help: trainHelp,
  async run(values, positionals) {
    const options = mergeTrainOptions(values, positionals);
    if (!options.dir && !options.manifest && !options.resume) throw new UsageError('carclass train: give a folder of images, --manifest, or --resume --out <run>');
    const result = await train(options);
    printTrainSummary(result);
    return result.status === 'nan' ? 1 : result.status === 'interrupted' ? 130 : 0;
  },
};
