// `carclass train <dir>`: flags and an optional JSON config file mapped onto train().
import * as fs from 'fs';
import { Command, UsageError, numberFlag } from './command';
import * as path from 'path';
import { train, TrainOptions, TrainResult, MONITORS, configPath } from '../train/train';
import { ARCHS } from '../model';
import { distributedEnv } from '../distributed/env';

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
  'no-tensorboard': { type: 'boolean' }, strict: { type: 'boolean' }, overwrite: { type: 'boolean' }, 'drop-small-classes': { type: 'boolean' },
} as const;

export const trainHelp = [
  'Values shown are the defaults; a|b lists every accepted value; [min, max] is the accepted range.',
  'Data:      <dir> | --manifest run/manifest.json   --prefilter-manifest m.jsonl   --label-type make|model (default make)',
  '           --top-n 300 (>= 1; keep the N largest classes)   --min-count 1 (>= 1; drop classes with fewer files)   --seed 1 (>= 0)',
  '           --drop-small-classes (drop classes too small to split instead of stopping)',
  '           file names: make_model_year_..._id.jpg (the car dataset format; names that do not parse are listed in the manifest)',
  'Model:     --arch resnet50v2|resnet-small|resnet-tiny|vgg16 (default resnet50v2)   --head gap|vgg (default gap)',
  '           --size 212x320 (HEIGHTxWIDTH)   --resize crop_or_pad|bilinear|nearest (default crop_or_pad)',
  '           --weights keras_notop.h5 [--allow-partial]   --unfreeze all|none|conv5,post (regular expressions; default all)',
  'Training:  --epochs 20 (>= 1)   --batch-size 32 (>= 1)   --lr 1e-4 [1e-12, 10]   --schedule constant|cosine|plateau (default constant)',
  '           --head-epochs 0 (>= 0) --head-lr 1e-3 [1e-12, 10]   --class-weights balanced|none (default balanced)',
  '           --no-augment | --augment-p 0.7 [0, 1]   --patience 12 (>= 0) --monitor val_loss|val_accuracy|loss|accuracy (default val_loss)',
  '           --min-delta 0 (>= 0) | --no-early-stopping',
  'Machine:   --threads N (>= 1)   --loader-threads N (>= 1)   --device auto|cpu|cuda|cuda:N (default auto)   --precision fp32|bf16 (default fp32)',
  'Run:       --out carclass-run   --overwrite (replace an existing run there)   --quiet   --no-tensorboard',
  '           --resume (continue --out from its config.json and last checkpoint; only --epochs, --lr, --patience, --min-delta,',
  '           --no-early-stopping, --threads, --loader-threads, --device, --quiet, --no-tensorboard may be given with it)',
  '           --strict (stop on a bad image instead of skipping it)',
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
  set('learningRate', numberFlag('lr', v.lr, { min: 1e-12, max: 10 }));
  set('schedule', v.schedule);
  set('headEpochs', numberFlag('head-epochs', v['head-epochs'], { integer: true, min: 0 }));
  set('headLearningRate', numberFlag('head-lr', v['head-lr'], { min: 1e-12, max: 10 }));
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
  if (v['drop-small-classes']) o.onTooSmall = 'drop';
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

/** Option key -> the flag that sets it, for messages. */
const FLAG_OF: Record<string, string> = {
  dir: '<dir>', manifest: '--manifest', prefilterManifest: '--prefilter-manifest', labelType: '--label-type', topN: '--top-n', minCount: '--min-count',
  seed: '--seed', arch: '--arch', head: '--head', inputSize: '--size', resize: '--resize', weights: '--weights', allowPartial: '--allow-partial',
  unfreeze: '--unfreeze', epochs: '--epochs', batchSize: '--batch-size', learningRate: '--lr', schedule: '--schedule', headEpochs: '--head-epochs',
  headLearningRate: '--head-lr', classWeights: '--class-weights', augment: '--augment-p/--no-augment', earlyStopping: '--patience/--monitor/--min-delta',
  threads: '--threads', loaderThreads: '--loader-threads', device: '--device', precision: '--precision', progress: '--quiet', tensorboard: '--no-tensorboard',
  onError: '--strict', onTooSmall: '--drop-small-classes', ratios: 'ratios', preprocess: 'preprocess',
};

function enumCheck(flag: string, value: unknown, choices: readonly string[]): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !choices.includes(value)) throw new UsageError(`Expected one of ${choices.join(', ')} for ${flag} but received ${JSON.stringify(value)}`);
}

/** Checks every enumerated value (from flags or --config) before any data is scanned or any folder made. */
export function checkTrainEnums(o: Partial<TrainOptions>): void {
  enumCheck('--arch', o.arch, ARCHS);
  enumCheck('--label-type', o.labelType, ['make', 'model']);
  enumCheck('--head', o.head, ['gap', 'vgg']);
  enumCheck('--resize', o.resize, ['crop_or_pad', 'bilinear', 'nearest']);
  enumCheck('--schedule', o.schedule, ['constant', 'cosine', 'plateau']);
  enumCheck('--class-weights', o.classWeights, ['balanced', 'none']);
  enumCheck('--precision', o.precision, ['fp32', 'bf16']);
  if (o.earlyStopping && typeof o.earlyStopping === 'object') enumCheck('--monitor', o.earlyStopping.monitor, MONITORS);
}

/** Keys a resumed run may change; everything else comes from the run's config.json. */
const RESUME_MAY_CHANGE = new Set(['outDir', 'resume', 'epochs', 'learningRate', 'earlyStopping', 'threads', 'loaderThreads', 'device', 'progress', 'tensorboard', 'onError']);

function same(key: string, a: unknown, b: unknown): boolean {
  if ((key === 'dir' || key === 'manifest' || key === 'prefilterManifest' || key === 'weights') && typeof a === 'string' && typeof b === 'string') return path.resolve(a) === path.resolve(b);
  return JSON.stringify(a) === JSON.stringify(b);
}

function shown(key: string, value: unknown): string {
  if (key === 'inputSize' && Array.isArray(value)) return value.join('x');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `--resume --out <run>`: the recorded configuration, with the few changes a resume may make (said on stdout). */
export function resumeTrainOptions(v: Record<string, any>, positionals: string[]): TrainOptions {
  const config = v.config ? readConfig(v.config) : {};
  const given = { ...config, ...trainOptionsFromFlags(v, positionals) } as Record<string, any>;
  const outDir = path.resolve(given.outDir ?? 'carclass-run');
  const file = configPath(outDir);
  if (!fs.existsSync(file)) {
    if (!fs.existsSync(path.join(outDir, 'train-state.json'))) throw new UsageError(`carclass train --resume: ${outDir} is not a run folder (no config.json or train-state.json); give the run with --out <run>`);
    return mergeTrainOptions(v, positionals); // a run from before config.json: flags as given
  }
  const recorded = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, any>;
  for (const [key, value] of Object.entries(given)) {
    if (RESUME_MAY_CHANGE.has(key) || value === undefined) continue;
    if (!same(key, value, recorded[key])) {
      throw new UsageError(`carclass train --resume: ${FLAG_OF[key] ?? key} ${shown(key, value)} conflicts with the run in ${outDir}, which was trained with `
        + `${recorded[key] === undefined ? `no ${FLAG_OF[key] ?? key}` : `${FLAG_OF[key] ?? key} ${shown(key, recorded[key])}`}; leave it out to resume, or start a new run (another --out, or --overwrite)`);
    }
  }
  const merged: Record<string, any> = { ...recorded, outDir, resume: true };
  const changes: string[] = [];
  const change = (key: string, flag: string, value: unknown, before: unknown) => {
    if (value === undefined || same(key, value, before)) return;
    changes.push(`${flag} ${shown(key, value)} (was ${before === undefined ? 'unset' : shown(key, before)})`);
  };
  change('epochs', '--epochs', given.epochs, recorded.epochs);
  change('learningRate', '--lr', given.learningRate, recorded.learningRate);
  if (given.earlyStopping === false) {
    if (recorded.earlyStopping !== false) changes.push('--no-early-stopping (was on)');
    merged.earlyStopping = false;
  } else if (given.earlyStopping && typeof given.earlyStopping === 'object') {
    const before = recorded.earlyStopping && typeof recorded.earlyStopping === 'object' ? recorded.earlyStopping : {};
    const es = given.earlyStopping as Record<string, unknown>;
    if (es.monitor !== undefined && es.monitor !== (before.monitor ?? 'val_loss')) {
      throw new UsageError(`carclass train --resume: --monitor ${es.monitor} conflicts with the run in ${outDir}, which monitors ${before.monitor ?? 'val_loss'}`);
    }
    change('patience', '--patience', es.patience, before.patience ?? 12);
    change('minDelta', '--min-delta', es.minDelta, before.minDelta ?? 0);
    merged.earlyStopping = { ...before, ...es };
  }
  for (const key of ['epochs', 'learningRate', 'threads', 'loaderThreads', 'device', 'progress', 'tensorboard', 'onError']) if (given[key] !== undefined) merged[key] = given[key];
  if (merged.progress !== 'quiet') console.log(`Resuming ${outDir} with its recorded configuration${changes.length ? `; changed: ${changes.join(', ')}` : ''}`);
  return merged as TrainOptions;
}

/** Files a run writes; --overwrite removes them before starting again. */
const RUN_FILES = ['checkpoints', 'manifest.json', 'manifest.csv', 'config.json', 'train-state.json', 'training.csv', 'logs', 'report'];

function isRunFolder(dir: string): boolean {
  return ['checkpoints', 'manifest.json', 'train-state.json'].some((f) => fs.existsSync(path.join(dir, f)));
}

export function printTrainSummary(r: TrainResult): void {
  console.log(`\n${r.status === 'completed' ? 'Training finished' : r.status === 'early_stopped' ? 'Training stopped early' : `Training ${r.status}`}` +
    ` after ${r.epochsRun} epoch(s) in ${r.seconds.toFixed(1)} s${r.bestEpoch ? `; best epoch ${r.bestEpoch}` : ''}.`);
  if (r.test) console.log(`Test accuracy ${(r.test.accuracy * 100).toFixed(2)} % (top-5 ${((r.test.topK ?? NaN) * 100).toFixed(2)} %), loss ${(r.test.loss ?? NaN).toFixed(4)} on ${r.test.count} images.`);
  if (fs.existsSync(r.checkpoints.best)) console.log(`Best checkpoint: ${r.checkpoints.best}`);
  else if (fs.existsSync(r.checkpoints.last)) console.log(`No best checkpoint yet (no epoch finished validation); last checkpoint: ${r.checkpoints.last}`);
  else console.log('No checkpoint was written.');
  if (r.report) console.log(`Reports: ${r.report.markdown} (and PNGs beside it)`);
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Trains a classifier on a folder of JPEGs named in the dataset format (split, class weights, early stopping, report).',
  usage: 'carclass train <dir> [--config file.json] [flags]',
  options: trainFlags,
  help: trainHelp,
  async run(values, positionals) {
    if (values.resume && values.overwrite) throw new UsageError('carclass train: --resume continues a run and --overwrite replaces it; give one of them');
    const options = values.resume ? resumeTrainOptions(values, positionals) : mergeTrainOptions(values, positionals);
    checkTrainEnums(options);
    if (!options.dir && !options.manifest && !options.resume) throw new UsageError('carclass train: give a folder of images, --manifest, or --resume --out <run>');
    const outDir = path.resolve(options.outDir);
    // Under a data-parallel launch rank 0 alone touches the run folder.
    const main = (distributedEnv()?.rank ?? 0) === 0;
    if (!options.resume && isRunFolder(outDir)) {
      if (!values.overwrite) throw new UsageError(`carclass train: ${outDir} already holds a run; continue it with --resume --out ${options.outDir}, replace it with --overwrite, or choose another --out`);
      if (main) for (const f of RUN_FILES) fs.rmSync(path.join(outDir, f), { recursive: true, force: true });
    }
    const existed = fs.existsSync(outDir);
    let result: TrainResult;
    try {
      result = await train({ ...options, distributed: true });
    } catch (e) {
      // No half-made run folder: one this command created and that holds no checkpoint goes again.
      if (main && !existed && fs.existsSync(outDir) && !fs.existsSync(path.join(outDir, 'checkpoints', 'last'))) fs.rmSync(outDir, { recursive: true, force: true });
      throw e;
    }
    if (main) printTrainSummary(result);
    return result.status === 'nan' ? 1 : result.status === 'interrupted' ? 130 : 0;
  },
};
