// `carclass predict` and `carclass evaluate`: ordered, unshuffled passes with a trained checkpoint.
import * as fs from 'fs';
import * as path from 'path';
import { Command, UsageError, numberFlag } from './command';
import { loadModel, Model } from '../model';
import { scanImages, prepareFromManifest, parseCarFilename, carLabel, DatasetLabelType, labelByFolder } from '../data';
import { predictFiles, evaluateFiles, gridImages, passOptionsForModel, PassOptions } from '../train/evaluate';
import { writeReport, metricsLine } from '../report';
import { Distributed } from '../distributed';
import { withDistributed } from './distributed-run';

/** The input pipeline a checkpoint was trained with (size, resize, preprocessing). */
export const passOptionsFor: (model: Model, batchSize?: number, threads?: number) => PassOptions = passOptionsForModel;

/** `--cache-dir DIR`: base features of these files are read from (and, the first time, written to) that folder. */
function withFeatureCache(opts: PassOptions, v: Record<string, unknown>): PassOptions {
  const dir = v['cache-dir'];
  if (dir === undefined) return opts;
  if (typeof dir !== 'string' || !dir) throw new UsageError('Expected a folder for --cache-dir');
  return { ...opts, featureCache: dir };
}

const CACHE_HELP = '--cache-dir DIR (keep the base features of these images there: a repeated pass over the same images and base reads them)';

export async function loadCheckpoint(file: unknown, dist: Distributed | null = null): Promise<Model> {
  if (typeof file !== 'string' || !file) throw new UsageError('Expected a checkpoint path for --checkpoint (a folder written by carclass train, e.g. run/checkpoints/best)');
  const device = dist?.modelDevice;
  const model = await loadModel(file, device ? { device } : {});
  if (!model.classes || model.classes.length !== model.numClasses) throw new Error(`Checkpoint ${file} has no class names; re-save it with classes`);
  return model;
}

async function expandInputs(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of inputs) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new UsageError(`No such file or folder: ${p}`);
    }
    if (st.isDirectory()) files.push(...(await scanImages(p)));
    else files.push(path.resolve(p));
  }
  if (!files.length) throw new UsageError(`No images (.jpg/.jpeg/.png/.bmp) in ${inputs.join(', ')}`);
  return files;
}

export const predictCommand: Command = {
  name: 'predict',
  summary: 'Predicts the class of images (files or folders) with a trained checkpoint, in input order.',
  usage: 'carclass predict <files|dirs...> --checkpoint <path> [--top 5] [--json] [--batch-size 32]',
  options: { checkpoint: { type: 'string', short: 'c' }, top: { type: 'string' }, json: { type: 'boolean' }, 'batch-size': { type: 'string' }, threads: { type: 'string' },
    'cache-dir': { type: 'string' } },
  help: ['--checkpoint run/checkpoints/best (required)   --top 5 (>= 1)   --json   --batch-size 32 (>= 1)   --threads N (>= 1)', CACHE_HELP],
  async run(v, positionals) {
    if (!positionals.length) throw new UsageError('carclass predict: give at least one image or folder');
    return withDistributed((dist) => predictRun(v, positionals, dist));
  },
};

async function predictRun(v: Record<string, unknown>, positionals: string[], dist: Distributed | null): Promise<number> {
  const top = numberFlag('top', v.top, { integer: true, min: 1 }) ?? 5;
  const model = await loadCheckpoint(v.checkpoint, dist);
  const files = await expandInputs(positionals);
  const opts = withFeatureCache(passOptionsFor(model, numberFlag('batch-size', v['batch-size'], { integer: true, min: 1 }) ?? 32, numberFlag('threads', v.threads, { integer: true, min: 1 })), v);
  const p = await predictFiles(model, files, { ...opts, topK: top, distributed: dist });
  if (dist && !dist.isMain) return p.errors.length ? 1 : 0;
  const rows = p.files.map((file, i) => ({ file, top: p.top[i].map((t) => ({ label: t.label, probability: t.probability })) }));
  if (v.json) {
    console.log(JSON.stringify({ predictions: rows, errors: p.errors }, null, 2));
  } else {
    for (const r of rows) console.log(`${r.file}\t${r.top.map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join('\t')}`);
    for (const e of p.errors) console.error(`skipped ${e.file}: ${e.reason}`);
  }
  return p.errors.length ? 1 : 0;
}

/** `carclass evaluate <dir>`: every image of the folder whose file name gives one of the checkpoint's classes. */
async function evaluateFolder(dir: string, v: Record<string, unknown>, dist: Distributed | null): Promise<number> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`carclass evaluate: no such folder: ${dir}`);
  const model = await loadCheckpoint(v.checkpoint, dist);
  const classes = model.classes!;
  const labelType = ((model.extra?.labelType as DatasetLabelType | undefined) ?? 'make');
  if (labelType === 'manifest') throw new UsageError(`carclass evaluate: ${v.checkpoint} was trained from a label manifest, so ${dir} has no labels to read; evaluate with --manifest <run>/manifest.json --split test`);
  const files: string[] = [], labels: number[] = [];
  let unparsed = 0, unknown = 0;
  // Labels as the checkpoint was trained: class folders, or car file names.
  const labelled = labelType === 'folder' ? (await labelByFolder(dir)).labelled
    : (await scanImages(dir)).map((file) => {
      const parsed = parseCarFilename(path.basename(file));
      return { file, name: parsed.ok ? carLabel(parsed.record, labelType) : null };
    });
  for (const { file, name } of labelled) {
    if (name === null) { unparsed++; continue; }
    const index = classes.indexOf(name);
    if (index < 0) { unknown++; continue; }
    files.push(file); labels.push(index);
  }
  const skipped = `${unparsed} file name(s) did not parse, ${unknown} image(s) of classes the checkpoint does not know`;
  if (!files.length) throw new Error(`carclass evaluate: no image in ${dir} has a label the checkpoint knows (${skipped})`);
  if ((unparsed || unknown) && (!dist || dist.isMain)) console.error(`carclass evaluate: skipped ${skipped}`);
  const opts = withFeatureCache(passOptionsFor(model, numberFlag('batch-size', v['batch-size'], { integer: true, min: 1 }) ?? 32), v);
  const { metrics, predictions } = await evaluateFiles(model, files, labels, classes, { ...opts, distributed: dist });
  if (dist && !dist.isMain) return 0;
  const out = (v.out as string | undefined) ?? path.resolve(`report-${path.basename(path.resolve(dir))}`);
  const grid = await gridImages(predictions, labels, classes, opts.size, 16);
  const written = await writeReport(out, { metrics, gridImages: grid, title: `carclass evaluate (${path.basename(path.resolve(dir))})`, info: { checkpoint: v.checkpoint, folder: path.resolve(dir), labelType } });
  console.log(`${dir}: ${metricsLine(metrics)} on ${metrics.count} images`);
  console.log(`Report: ${written.markdown}`);
  for (const e of predictions.errors) console.error(`skipped ${e.file}: ${e.reason}`);
  return 0;
}

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'Evaluates a checkpoint on a split of its manifest and writes report.md, report.json and the PNGs.',
  usage: 'carclass evaluate [<dir>] --checkpoint <path> [--manifest run/manifest.json] [--split test|val|train] [--out dir]',
  options: { checkpoint: { type: 'string', short: 'c' }, manifest: { type: 'string' }, split: { type: 'string' }, out: { type: 'string', short: 'o' }, 'batch-size': { type: 'string' },
    'cache-dir': { type: 'string' } },
  help: [
    '<dir>: evaluate every image of a folder, labelled by its file names (the car dataset format) as the checkpoint was trained',
    '--checkpoint run/checkpoints/best (required)   --manifest (default: the manifest the checkpoint was trained on)',
    '--split test|val|train (default test)   --out dir (default report-<split> beside the manifest)   --batch-size 32 (>= 1)',
    CACHE_HELP,
  ],
  async run(v, positionals) {
    if (positionals.length > 1) throw new UsageError(`carclass evaluate takes one folder but received ${positionals.length}: ${positionals.join(' ')}`);
    if (positionals.length && (v.manifest !== undefined || v.split !== undefined)) {
      throw new UsageError('carclass evaluate: give a folder or --manifest/--split, not both');
    }
    return withDistributed((dist) => positionals.length ? evaluateFolder(positionals[0], v, dist) : evaluateSplit(v, dist));
  },
};

async function evaluateSplit(v: Record<string, unknown>, dist: Distributed | null): Promise<number> {
  const model = await loadCheckpoint(v.checkpoint, dist);
  const manifestPath = (v.manifest as string | undefined) ?? (model.extra?.manifest as string | undefined);
  if (!manifestPath) throw new UsageError('carclass evaluate: the checkpoint names no manifest; pass --manifest');
  const split = (v.split as string | undefined) ?? 'test';
  if (!['train', 'val', 'test'].includes(split)) throw new UsageError(`Expected one of train, val, test for --split but received ${JSON.stringify(split)}`);
  const data = await prepareFromManifest(manifestPath);
  if (JSON.stringify(data.classes) !== JSON.stringify(model.classes)) throw new Error(`Manifest ${manifestPath} has other classes than checkpoint ${v.checkpoint}`);
  const samples = data.splits[split as 'train' | 'val' | 'test'];
  const files = samples.map((s) => s.file);
  const labels = samples.map((s) => s.label);
  const opts = withFeatureCache(passOptionsFor(model, numberFlag('batch-size', v['batch-size'], { integer: true, min: 1 }) ?? 32), v);
  const { metrics, predictions } = await evaluateFiles(model, files, labels, data.classes, { ...opts, distributed: dist });
  if (dist && !dist.isMain) return 0;
  const out = (v.out as string | undefined) ?? path.join(path.dirname(path.resolve(manifestPath)), `report-${split}`);
  const grid = await gridImages(predictions, labels, data.classes, opts.size, 16);
  const written = await writeReport(out, { metrics, gridImages: grid, title: `carclass evaluate (${split})`, info: { checkpoint: v.checkpoint, manifest: manifestPath, split } });
  console.log(`${split}: ${metricsLine(metrics)} on ${metrics.count} images`);
  console.log(`Report: ${written.markdown}`);
  for (const e of predictions.errors) console.error(`skipped ${e.file}: ${e.reason}`);
  return 0;
}
