// report.md + report.json + confusion_matrix.json + PNG figures in one directory.
import * as fsp from 'fs/promises';
import * as path from 'path';
import { ClassificationMetrics } from './metrics';
import { confusionHeatmapSvg, GridImage, historySvg, HistoryInput, predictionGridPng, svgToPng } from './render';
import { invalid, rejectUnknownKeys } from '../validate';

export interface ReportInput {
  metrics: ClassificationMetrics;
  /** Per-epoch history (loss, val_loss, accuracy, val_accuracy); draws history.png when given. */
  history?: HistoryInput;
  /** Images with label and prediction; draws predictions.png when given. */
  gridImages?: GridImage[];
  title?: string;
  /** Heatmap colour range; default [0, largest count]. */
  clip?: [number, number];
  /** The run's settings (arch, size, label type, epochs, learning rate, ...), listed in report.md. */
  hyperparameters?: Record<string, unknown>;
  /** Free-form facts recorded in report.json and listed in report.md (dataset, model, timings...). */
  info?: Record<string, unknown>;
}

export interface ReportFiles {
  markdown: string;
  json: string;
  confusionJson: string;
  confusionPng: string;
  historyPng?: string;
  predictionsPng?: string;
}

function pct(x: number | null): string {
  return x === null ? 'n/a' : `${(x * 100).toFixed(2)} %`;
}

function fixed(x: number | null, digits = 4): string {
  return x === null ? 'n/a' : x.toFixed(digits);
}

/** Markdown table cell: pipes and newlines would break the row; angle brackets would become HTML. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function reportMarkdown(input: ReportInput, files: { history: boolean; predictions: boolean }): string {
  const m = input.metrics;
  const lines: string[] = [`# ${input.title ?? 'carclass evaluation report'}`, ''];
  if (input.info && Object.keys(input.info).length > 0) {
    for (const [key, value] of Object.entries(input.info)) lines.push(`- **${key}**: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
    lines.push('');
  }
  if (input.hyperparameters && Object.keys(input.hyperparameters).length > 0) {
    lines.push('## Hyperparameters', '', '| setting | value |', '|---|---|');
    for (const [key, value] of Object.entries(input.hyperparameters)) {
      if (value !== undefined) lines.push(`| ${cell(key)} | ${cell(typeof value === 'string' ? value : JSON.stringify(value))} |`);
    }
    lines.push('');
  }
  lines.push('## Summary', '', '| metric | value |', '|---|---|');
  lines.push(`| samples | ${m.count} |`, `| classes | ${m.numClasses} |`, `| loss | ${fixed(m.loss)} |`, `| accuracy | ${pct(m.accuracy)} |`);
  // With k classes or fewer every label is in the top k: the row would always read 100 %.
  if (m.numClasses > m.k) lines.push(`| top-${m.k} accuracy | ${pct(m.topK)} |`);
  lines.push(`| macro precision / recall / F1 | ${fixed(m.macro.precision)} / ${fixed(m.macro.recall)} / ${fixed(m.macro.f1)} |`);
  lines.push(`| weighted precision / recall / F1 | ${fixed(m.weighted.precision)} / ${fixed(m.weighted.recall)} / ${fixed(m.weighted.f1)} |`, '');
  lines.push('## Figures', '', '![confusion matrix](confusion_matrix.png)', '');
  if (files.history) lines.push('![training history](history.png)', '');
  if (files.predictions) lines.push('![predictions](predictions.png)', '');
  if (m.mostConfused.length > 0) {
    lines.push('## Most confused pairs', '', '| true | predicted | count | share of true class |', '|---|---|---:|---:|');
    for (const p of m.mostConfused) lines.push(`| ${cell(p.trueName)} | ${cell(p.predictedName)} | ${p.count} | ${pct(p.rate)} |`);
    lines.push('');
  }
  lines.push('## Per class', '', '| class | precision | recall | F1 | support |', '|---|---:|---:|---:|---:|');
  for (const c of m.perClass) lines.push(`| ${cell(c.name)} | ${fixed(c.precision)} | ${fixed(c.recall)} | ${fixed(c.f1)} | ${c.support} |`);
  lines.push(`| **macro avg** | ${fixed(m.macro.precision)} | ${fixed(m.macro.recall)} | ${fixed(m.macro.f1)} | ${m.macro.support} |`);
  lines.push(`| **weighted avg** | ${fixed(m.weighted.precision)} | ${fixed(m.weighted.recall)} | ${fixed(m.weighted.f1)} | ${m.weighted.support} |`, '');
  return lines.join('\n');
}

/** Writes the whole report into `dir` (created if needed) and returns the file paths. */
export async function writeReport(dir: string, input: ReportInput): Promise<ReportFiles> {
  if (typeof dir !== 'string' || dir.length === 0) throw invalid('dir', 'non-empty string', dir);
  if (!input || typeof input !== 'object' || !input.metrics) throw invalid('input.metrics', 'metrics from computeMetrics', input?.metrics);
  rejectUnknownKeys('writeReport', input, ['metrics', 'history', 'gridImages', 'title', 'clip', 'info', 'hyperparameters']);
  await fsp.mkdir(dir, { recursive: true });
  const m = input.metrics;
  const classes = m.perClass.map((c) => c.name);
  const files: ReportFiles = {
    markdown: path.join(dir, 'report.md'),
    json: path.join(dir, 'report.json'),
    confusionJson: path.join(dir, 'confusion_matrix.json'),
    confusionPng: path.join(dir, 'confusion_matrix.png'),
  };
  const heat = confusionHeatmapSvg(m.confusion, classes, { ...(input.clip ? { clip: input.clip } : {}), title: input.clip ? 'Confusion matrix (counts, colour clipped)' : 'Confusion matrix (counts)' });
  await fsp.writeFile(files.confusionPng, await svgToPng(heat.svg));
  await fsp.writeFile(files.confusionJson, JSON.stringify({ classes, matrix: m.confusion }) + '\n');
  const hasHistory = !!input.history && Object.values(input.history).some((v) => v.length > 0);
  if (hasHistory) {
    files.historyPng = path.join(dir, 'history.png');
    await fsp.writeFile(files.historyPng, await svgToPng(historySvg(input.history as HistoryInput).svg));
  }
  const hasGrid = !!input.gridImages && input.gridImages.length > 0;
  if (hasGrid) {
    files.predictionsPng = path.join(dir, 'predictions.png');
    await fsp.writeFile(files.predictionsPng, (await predictionGridPng(input.gridImages as GridImage[], { title: 'Test images: true label and prediction' })).png);
  }
  // The matrix lives in confusion_matrix.json; per-sample predictions are the caller's to keep.
  const { predicted: _predicted, confusion: _confusion, ...summary } = m;
  const json = {
    title: input.title ?? 'carclass evaluation report',
    info: input.info ?? {},
    hyperparameters: input.hyperparameters ?? {},
    metrics: summary,
    history: input.history ?? null,
    files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, path.basename(v as string)])),
  };
  await fsp.writeFile(files.json, JSON.stringify(json, null, 2) + '\n');
  await fsp.writeFile(files.markdown, reportMarkdown(input, { history: hasHistory, predictions: hasGrid }));
  return files;
}
