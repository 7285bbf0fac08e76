// `carclass prefilter <dir> --weights <with-top .h5>`: drops non-car pictures with the ImageNet model.
import { Command, UsageError, numberFlag } from './command';
import { createModel } from '../model';
import { createLoader } from '../loader';
import { loadKerasWeights } from '../keras/import';
import { prefilter, CAR_THRESHOLD } from '../data/prefilter';
import { ProgressBar } from '../train/callbacks';
import { Distributed } from '../distributed';
import { withDistributed } from './distributed-run';

export const prefilterCommand: Command = {
  name: 'prefilter',
  summary: 'Keeps car pictures and drops the rest (interiors, details) with the 1000-class ImageNet ResNet50V2, as the seed did.',
  usage: 'carclass prefilter <dir> --weights resnet50v2_weights_tf_dim_ordering_tf_kernels.h5 [options]',
  options: {
    weights: { type: 'string' }, threshold: { type: 'string' }, method: { type: 'string' }, 'top-k': { type: 'string' },
    size: { type: 'string' }, resize: { type: 'string' }, 'batch-size': { type: 'string' }, threads: { type: 'string' },
    manifest: { type: 'string' }, 'move-to': { type: 'string' }, 'copy-to': { type: 'string' }, resume: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' }, arch: { type: 'string' },
  },
  help: [
    `--threshold ${CAR_THRESHOLD}   keep when the summed car probability exceeds it (method acc-prob)`,
    '--method acc-prob|top-k   --top-k 5   --size 224   --resize nearest|bilinear|crop_or_pad   --batch-size 32',
    '--manifest <file.jsonl> (default <dir>/prefilter-manifest.jsonl)   --resume   --move-to <dir> | --copy-to <dir> (dropped files; nothing is deleted)',
    'Then: carclass train <dir> --prefilter-manifest <dir>/prefilter-manifest.jsonl',
  ],
  async run(v, positionals) {
    if (positionals.length !== 1) throw new UsageError('carclass prefilter: give exactly one folder');
    if (!v.weights) throw new UsageError('carclass prefilter: --weights <ResNet50V2 with-top .h5> is required (see the README: Keras weights)');
    if (v['move-to'] && v['copy-to']) throw new UsageError('carclass prefilter: use --move-to or --copy-to, not both');
    return withDistributed((dist) => prefilterRun(v, positionals[0], dist));
  },
};

/** One process, or one rank of a launch: each rank classifies its batches, rank 0 writes and prints. */
async function prefilterRun(v: Record<string, unknown>, dir: string, dist: Distributed | null): Promise<number> {
  const size = numberFlag('size', v.size, { integer: true, min: 32 }) ?? 224;
  const arch = (v.arch as string | undefined) ?? 'resnet50v2';
  const device = dist?.modelDevice;
  const model = await createModel({ arch: arch as any, head: 'imagenet', inputShape: [size, size, 3], ...(device ? { device } : {}) });
  await loadKerasWeights(model, v.weights as string);
  const main = !dist || dist.isMain;
  const bar = new ProgressBar({ mode: v.quiet || !main ? 'quiet' : 'auto' });
  let begun = false;
  const summary = await prefilter({
    dir, model, createLoader: createLoader as any, ...(dist ? { distributed: dist } : {}),
    ...(v.threshold !== undefined ? { threshold: numberFlag('threshold', v.threshold, { min: 0, max: 1 }) } : {}),
    ...(v.method !== undefined ? { method: v.method as any } : {}),
    ...(v['top-k'] !== undefined ? { topK: numberFlag('top-k', v['top-k'], { integer: true, min: 1 }) } : {}),
    size, ...(v.resize !== undefined ? { resize: v.resize as any } : {}),
    ...(v['batch-size'] !== undefined ? { batchSize: numberFlag('batch-size', v['batch-size'], { integer: true, min: 1 }) } : {}),
    ...(v.threads !== undefined ? { threads: numberFlag('threads', v.threads, { integer: true, min: 1 }) } : {}),
    ...(v.manifest ? { manifestPath: v.manifest as string } : {}),
    ...(v['move-to'] ? { moveTo: v['move-to'] as string } : {}),
    ...(v['copy-to'] ? { copyTo: v['copy-to'] as string } : {}),
    ...(v.resume ? { resume: true } : {}),
    onProgress: (p) => {
      if (!begun) { bar.epochBegin(0, 1, p.total); begun = true; }
      bar.update(p.done, { kept: p.kept, dropped: p.dropped });
    },
  });
  if (begun) bar.epochEnd({ kept: summary.kept, dropped: summary.dropped });
  if (main) {
    console.log(`prefilter: ${summary.kept} kept, ${summary.dropped} dropped, ${summary.errors} unreadable` +
      `${summary.resumed ? `, ${summary.resumed} from an earlier run` : ''} (of ${summary.total}). Manifest: ${summary.manifestPath}`);
  }
  return summary.actionErrors ? 1 : 0;
}
