// `carclass train <dir>`: flags and an optional JSON config file mapped onto train().
import * as fs from 'fs';
import { Command, UsageError, numberFlag } from './command';
import * as path from 'path';
import { train, TrainOptions, TrainResult, MONITORS, configPath, PATH_KEYS } from '../train/train';
import { LAYOUTS, SEED_RATIOS, isLabelManifestPath } from '../data';
import { testCountText } from '../train/data-summary';
import { ARCHS } from '../model';
import { versions } from '../runtime';
import { HEAD_AUGMENTS, CACHE_FEATURES_MODES, planStage1 } from '../train/feature-cache';
import { CACHE_DTYPES } from '../cache';
import { distributedEnv } from '../distributed/env';

export const trainFlags = {
  config: { type: 'string' }, out: { type: 'string', short: 'o' }, manifest: { type: 'string' }, 'prefilter-manifest': { type: 'string' },
  layout: { type: 'string' }, 'val-split': { type: 'string' }, 'test-split': { type: 'string' }, 'val-dir': { type: 'string' }, 'test-dir': { type: 'string' },
  'label-type': { type: 'string' }, 'top-n': { type: 'string' }, 'min-count': { type: 'string' }, seed: { type: 'string' },
  arch: { type: 'string' }, head: { type: 'string' }, size: { type: 'string' }, resize: { type: 'string' },
  weights: { type: 'string' }, 'allow-partial': { type: 'boolean' }, unfreeze: { type: 'string' },
  epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, schedule: { type: 'string' },
  'head-epochs': { type: 'string' }, 'head-lr': { type: 'string' }, 'class-weights': { type: 'string' },
  'no-augment': { type: 'boolean' }, 'augment-p': { type: 'string' }, augment: { type: 'string' }, 'head-augment': { type: 'string' },
  'cache-features': { type: 'string' }, 'cache-dir': { type: 'string' }, 'cache-dtype': { type: 'string' }, patience: { type: 'string' }, monitor: { type: 'string' },
  'min-delta': { type: 'string' }, 'no-early-stopping': { type: 'boolean' }, threads: { type: 'string' }, 'loader-threads': { type: 'string' },
  device: { type: 'string' }, precision: { type: 'string' }, resume: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' },
  'no-tensorboard': { type: 'boolean' }, strict: { type: 'boolean' }, overwrite: { type: 'boolean' }, 'drop-small-classes': { type: 'boolean' },
} as const;

export const trainHelp = [
  'Values shown are the defaults; a|b lists every accepted value; [min, max] is the accepted range.',
  'Data:      <dir> | --manifest run/manifest.json (repeat a run\'s split) | --manifest labels.csv|labels.jsonl (file,label[,split] rows)',
  '           --layout auto|filenames|folders|manifest (default auto: folders when <dir> holds only sub-folders and fewer',
  '           than half of its images have car file names; manifest for a .csv/.jsonl --manifest; filenames otherwise)',
  '           --val-split 0.1875 (0, 1)   --test-split 0.25 [0, 1) (sum < 1; per class, seeded)   --val-dir DIR  --test-dir DIR',
  '           --prefilter-manifest m.jsonl   --label-type make|model (file-name layout only; default make)',
  '           --top-n 300 (>= 1; keep the N largest classes)   --min-count 1 (>= 1; drop classes with fewer files)   --seed 1 (>= 0)',
  '           --drop-small-classes (drop classes too small to split instead of stopping)',
  'Layouts:   filenames: <dir>/**/Make_Model_Year_MSRP_FrontWheelSize_HP_Displacement_EngineType_Width_Height_Length_',
  '           GasMileage_Drivetrain_PassengerCapacity_PassengerDoors_BodyStyle_id.jpg: 16 "_"-separated fields, then a',
  '           3-letter id; numbers are digits, nan marks a missing value (never in Make); .jpg/.jpeg/.png/.bmp;',
  '           class = Make, or Make_Model with --label-type model.',
  '           e.g. Audi_A4_2016_35_17_220_20_4_72_56_186_29_AWD_5_4_Sedan_aBc.jpg. Names that do not parse are counted,',
  '           shown and listed in the run\'s manifest.json, never guessed.',
  '           folders: <dir>/<class>/**/<image> (Keras image_dataset_from_directory, torchvision ImageFolder; classes sorted).',
  '           manifest: CSV (optional header file,label[,split]; RFC 4180 quotes) or JSONL {"file","label"[,"split"]};',
  '           paths relative to the manifest\'s folder.',
  'Model:     --arch resnet50v2|resnet-small|resnet-tiny|vgg16 (default resnet50v2)   --head gap|vgg (default gap)',
  '           --size 212x320 (HEIGHTxWIDTH)   --resize crop_or_pad|bilinear|nearest (default crop_or_pad)',
  '           --weights keras_notop.h5 [--allow-partial]   --unfreeze all|none|conv5,post (regular expressions; default all)',
  'Training:  --epochs 20 (>= 1)   --batch-size 32 (>= 1)   --lr 1e-4 [1e-12, 10]   --schedule constant|cosine|plateau (default constant)',
  '           --head-epochs 0 (>= 0) --head-lr 1e-3 [1e-12, 10]   --class-weights balanced|none (default balanced)',
  '           --no-augment | --augment flip,brightness,contrast (any of them; default all) --augment-p 0.7 [0, 1]',
  '           --head-augment flip|none|same (stage 1 of --head-epochs; default flip: only the flip part of --augment)',
  'Cache:     --cache-features auto|on|off (default auto: frozen-base epochs train the head from the base\'s features, computed once;',
  '           exact with flip-only or no augmentation; on: an error when it cannot be used)   --cache-dir DIR (shared; default <out>/feature-cache)',
  '           --cache-dtype float32|float16 (default float32; float16 halves the disk use)',
  '           --patience 12 (>= 0) --monitor val_loss|val_accuracy|loss|accuracy (default val_loss)',
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
  set('layout', v.layout);
  set('valSplit', numberFlag('val-split', v['val-split'], { min: 0, max: 1 }));
  set('testSplit', numberFlag('test-split', v['test-split'], { min: 0, max: 1 }));
  set('valDir', v['val-dir']);
  set('testDir', v['test-dir']);
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
  else if (v['augment-p'] !== undefined || v.augment !== undefined) {
    o.augment = {
      ...(v['augment-p'] !== undefined ? { p: numberFlag('augment-p', v['augment-p'], { min: 0, max: 1 }) } : {}),
      ...(v.augment !== undefined ? augmentParts(String(v.augment)) : {}),
    };
  }
  set('headAugment', v['head-augment']);
  set('cacheFeatures', v['cache-features']);
  set('cacheDir', v['cache-dir']);
  set('cacheDtype', v['cache-dtype']);
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

const AUGMENT_PARTS = ['flip', 'brightness', 'contrast'] as const;

/** `--augment flip,contrast` -> { flip: true, brightness: false, contrast: true }. */
function augmentParts(list: string): Record<(typeof AUGMENT_PARTS)[number], boolean> {
  const given = list.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = given.filter((x) => !(AUGMENT_PARTS as readonly string[]).includes(x));
  if (bad.length || !given.length) throw new UsageError(`Expected a comma-separated list of ${AUGMENT_PARTS.join(', ')} for --augment but received ${JSON.stringify(list)} (no augmentation: --no-augment)`);
  return { flip: given.includes('flip'), brightness: given.includes('brightness'), contrast: given.includes('contrast') };
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
  dir: '<dir>', manifest: '--manifest', layout: '--layout', valSplit: '--val-split', testSplit: '--test-split', valDir: '--val-dir', testDir: '--test-dir', prefilterManifest: '--prefilter-manifest', labelType: '--label-type', topN: '--top-n', minCount: '--min-count',
  seed: '--seed', arch: '--arch', head: '--head', inputSize: '--size', resize: '--resize', weights: '--weights', allowPartial: '--allow-partial',
  unfreeze: '--unfreeze', epochs: '--epochs', batchSize: '--batch-size', learningRate: '--lr', schedule: '--schedule', headEpochs: '--head-epochs',
  headLearningRate: '--head-lr', classWeights: '--class-weights', augment: '--augment/--augment-p/--no-augment', headAugment: '--head-augment',
  cacheFeatures: '--cache-features', cacheDir: '--cache-dir', cacheDtype: '--cache-dtype', earlyStopping: '--patience/--monitor/--min-delta',
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
  enumCheck('--layout', o.layout, LAYOUTS);
  checkSplitFlags(o);
  enumCheck('--label-type', o.labelType, ['make', 'model']);
  enumCheck('--head', o.head, ['gap', 'vgg']);
  enumCheck('--resize', o.resize, ['crop_or_pad', 'bilinear', 'nearest']);
  enumCheck('--schedule', o.schedule, ['constant', 'cosine', 'plateau']);
  enumCheck('--class-weights', o.classWeights, ['balanced', 'none']);
  enumCheck('--precision', o.precision, ['fp32', 'bf16']);
  enumCheck('--head-augment', o.headAugment, HEAD_AUGMENTS);
  enumCheck('--cache-features', o.cacheFeatures, CACHE_FEATURES_MODES);
  enumCheck('--cache-dtype', o.cacheDtype, CACHE_DTYPES);
  if (o.earlyStopping && typeof o.earlyStopping === 'object') enumCheck('--monitor', o.earlyStopping.monitor, MONITORS);
  checkDevice(o.device);
}

/** --device: one of the accepted forms, and a CUDA device only where this LibTorch sees one (before any data is read). */
export function checkDevice(value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !/^(auto|cpu|cuda(:\d{1,3})?)$/.test(value)) {
    throw new UsageError(`Expected auto, cpu, cuda or cuda:N for --device but received ${JSON.stringify(value)}`);
  }
  if (!value.startsWith('cuda')) return;
  const v = versions();
  if (!v.cuda.available) {
    throw new Error(`--device ${value}: this LibTorch (${v.torch}, build ${v.torchBuild}) sees no CUDA device; use --device cpu or auto, or build against a CUDA LibTorch (README: GPU)`);
  }
  const index = value === 'cuda' ? 0 : Number(value.slice(5));
  if (index >= v.cuda.devices.length) {
    throw new Error(`--device ${value}: there are ${v.cuda.devices.length} CUDA device(s): ${v.cuda.devices.map((d) => d.name).join(', ')}`);
  }
}

/** --val-split/--test-split ranges and their clashes with --val-dir/--test-dir, in flag names, before any data is read. */
function checkSplitFlags(o: Partial<TrainOptions>): void {
  if (o.valSplit !== undefined && !(typeof o.valSplit === 'number' && o.valSplit > 0 && o.valSplit < 1)) throw new UsageError(`Expected a number in (0, 1) for --val-split but received ${JSON.stringify(o.valSplit)}`);
  if (o.testSplit !== undefined && !(typeof o.testSplit === 'number' && o.testSplit >= 0 && o.testSplit < 1)) throw new UsageError(`Expected a number in [0, 1) for --test-split but received ${JSON.stringify(o.testSplit)}`);
  if (o.valSplit !== undefined && o.valDir !== undefined) throw new UsageError('carclass train: give --val-split or --val-dir, not both');
  if (o.testSplit !== undefined && o.testDir !== undefined) throw new UsageError('carclass train: give --test-split or --test-dir, not both');
  const val = o.valDir !== undefined ? 0 : o.valSplit ?? SEED_RATIOS[1];
  const test = o.testDir !== undefined ? 0 : o.testSplit ?? SEED_RATIOS[2];
  if (val + test >= 1) throw new UsageError(`carclass train: --val-split ${val} + --test-split ${test} must be below 1 (images must be left to train on)`);
  if (o.manifest !== undefined && o.dir !== undefined) throw new UsageError(`carclass train: give a folder or --manifest ${o.manifest}, not both`);
  if (o.manifest !== undefined && !isLabelManifestPath(o.manifest)) {
    const given = (['layout', 'valSplit', 'testSplit', 'valDir', 'testDir'] as const).filter((k) => o[k] !== undefined).map((k) => FLAG_OF[k]);
    if (given.length) throw new UsageError(`carclass train: --manifest ${o.manifest} repeats a run's split as it was; ${given.join(', ')} cannot change it (a .csv/.jsonl label manifest can be split)`);
  }
}

/** --cache-features on with brightness/contrast in the frozen-base epochs is a usage error (exit 2) before any work. */
export function checkCachePlan(o: Partial<TrainOptions>): void {
  try {
    planStage1({ augment: o.augment ?? { p: 0.7 }, headEpochs: o.headEpochs ?? 0, headAugment: o.headAugment ?? 'flip', cacheFeatures: o.cacheFeatures ?? 'auto',
      unfreeze: o.unfreeze ?? 'all' }, o.epochs ?? 20);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Keys a resumed run may change; everything else comes from the run's config.json. */
const RESUME_MAY_CHANGE = new Set(['outDir', 'resume', 'epochs', 'learningRate', 'earlyStopping', 'threads', 'loaderThreads', 'device', 'progress', 'tensorboard', 'onError',
  'cacheFeatures', 'cacheDir']);

function same(key: string, a: unknown, b: unknown): boolean {
  if (PATH_KEYS.includes(key) && typeof a === 'string' && typeof b === 'string') return path.resolve(a) === path.resolve(b);
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
  for (const key of ['epochs', 'learningRate', 'threads', 'loaderThreads', 'device', 'progress', 'tensorboard', 'onError', 'cacheFeatures', 'cacheDir']) if (given[key] !== undefined) merged[key] = given[key];
  if (merged.progress !== 'quiet') console.log(`Resuming ${outDir} with its recorded configuration${changes.length ? `; changed: ${changes.join(', ')}` : ''}`);
  return merged as TrainOptions;
}

/** Files a run writes; --overwrite removes them before starting again. */
// The feature cache stays: it is keyed by everything that changes it, so a new run with the same base reuses it.
const RUN_FILES = ['checkpoints', 'manifest.json', 'manifest.csv', 'config.json', 'train-state.json', 'training.csv', 'logs', 'report'];

function isRunFolder(dir: string): boolean {
  return ['checkpoints', 'manifest.json', 'train-state.json'].some((f) => fs.existsSync(path.join(dir, f)));
}

export function printTrainSummary(r: TrainResult, quiet = false): void {
  console.log(`\n${r.status === 'completed' ? 'Training finished' : r.status === 'early_stopped' ? 'Training stopped early' : `Training ${r.status}`}` +
    ` after ${r.epochsRun} epoch(s) in ${r.seconds.toFixed(1)} s${r.bestEpoch ? `; best epoch ${r.bestEpoch}` : ''}.`);
  if (r.test) {
    const topK = r.test.numClasses > r.test.k ? ` (top-${r.test.k} ${((r.test.topK ?? NaN) * 100).toFixed(2)} %)` : '';
    console.log(`Test accuracy ${(r.test.accuracy * 100).toFixed(2)} %${topK}, loss ${(r.test.loss ?? NaN).toFixed(4)} ${testCountText(r.test.count, r.data)}.`);
  } else if (r.data && r.data.testImages === 0) console.log('No test split (--test-split 0 or an empty --test-dir): no test evaluation.');
  if (fs.existsSync(r.checkpoints.best)) console.log(`Best checkpoint: ${r.checkpoints.best}`);
  else if (fs.existsSync(r.checkpoints.last)) console.log(`No best checkpoint yet (no epoch finished validation); last checkpoint: ${r.checkpoints.last}`);
  else console.log('No checkpoint was written.');
  if (r.report) console.log(`Reports: ${r.report.markdown} (and PNGs beside it)`);
  // --quiet hides the run's log, not what it left out.
  if (quiet && r.data && r.data.rejected + r.data.droppedClasses + r.data.undecodable.length > 0) {
    console.log(`Left out: ${r.data.rejected} rejected file(s), ${r.data.droppedClasses} dropped class(es), ${r.data.undecodable.length} undecodable image(s); all listed in ${path.join(r.outDir, 'manifest.json')}`);
  }
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Trains a classifier on a folder of JPEG/PNG/BMP images (car file names or one folder per class) or a file,label manifest (split, class weights, early stopping, report).',
  usage: 'carclass train <dir> [--config file.json] [flags]',
  options: trainFlags,
  help: trainHelp,
  async run(values, positionals) {
    if (values.resume && values.overwrite) throw new UsageError('carclass train: --resume continues a run and --overwrite replaces it; give one of them');
    const options = values.resume ? resumeTrainOptions(values, positionals) : mergeTrainOptions(values, positionals);
    checkTrainEnums(options);
    checkCachePlan(options);
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
    if (main) printTrainSummary(result, options.progress === 'quiet');
    return result.status === 'nan' ? 1 : result.status === 'interrupted' ? 130 : 0;
  },
};
