// Nothing vanishes silently: files that got no label, classes that were dropped and images that could not
// be decoded are counted and named (first few) on the console, and listed in full in the run's manifest.json.
import * as path from 'path';
import { IMAGE_EXTENSIONS_TEXT, Manifest, SplitName } from '../data';
import { firstAndMore } from '../validate';

export interface UndecodableImage {
  file: string;
  split: SplitName;
  code: string;
  reason: string;
}

/** What a run left out, as TrainResult reports it. */
export interface DataReport {
  /** Files without a usable label (names that do not parse, files outside class folders, unknown val/test classes). */
  rejected: number;
  /** Classes left out (too few files, beyond topN, empty folders, too small to split). */
  droppedClasses: number;
  /** Images skipped because they could not be decoded, each once, with the split it belongs to. */
  undecodable: UndecodableImage[];
  /** Images in the test split, and how many of them were evaluated. */
  testImages: number;
  testEvaluated?: number;
}

function shortName(file: string, root: string): string {
  const rel = path.relative(root, file);
  return rel.startsWith('..') ? file : rel;
}

export class DataSummary {
  private readonly undecodable = new Map<string, UndecodableImage>();

  constructor(private readonly manifest: Manifest) {
    for (const u of manifest.undecodable ?? []) this.undecodable.set(u.file, u);
  }

  /** Loader errors of one split; a file failing in every epoch is listed once. */
  add(split: SplitName, errors: ReadonlyArray<{ file: string; code: string; reason: string }>): void {
    for (const e of errors) if (!this.undecodable.has(e.file)) this.undecodable.set(e.file, { file: e.file, split, code: e.code, reason: e.reason });
  }

  list(): UndecodableImage[] {
    return [...this.undecodable.values()];
  }

  /** Said once the data is known: rejected files and dropped classes (counts, first names). */
  dataLines(): string[] {
    const m = this.manifest;
    const lines: string[] = [];
    const rejected = m.rejected ?? [];
    if (rejected.length) {
      lines.push(`Rejected ${rejected.length} file(s) without a usable label: ${firstAndMore(rejected, (r) => `${shortName(r.file, m.root)} (${r.reason})`)}; all listed in manifest.json`);
    }
    if (m.ignored) lines.push(`Not read: ${ignoredText(m.ignored)}`);
    return lines;
  }

  /** The end-of-run summary: every kind of left-out input, with counts, even when zero. */
  summaryLines(): string[] {
    const m = this.manifest;
    const rejected = m.rejected ?? [];
    const dropped = m.dropped ?? [];
    const bad = this.list();
    const lines = [`Data left out: ${rejected.length} rejected file(s), ${dropped.length} dropped class(es), ${bad.length} undecodable image(s)${rejected.length + dropped.length + bad.length ? ' (all listed in manifest.json)' : ''}`];
    if (rejected.length) lines.push(`  rejected: ${firstAndMore(rejected, (r) => `${shortName(r.file, m.root)} (${r.reason})`)}`);
    if (dropped.length) lines.push(`  dropped classes: ${firstAndMore(dropped, (d) => `${JSON.stringify(d.name)} (${d.count} files, ${d.reason})`)}`);
    if (bad.length) lines.push(`  undecodable: ${firstAndMore(bad, (u) => `${shortName(u.file, m.root)} (${u.split}, ${u.code}: ${u.reason})`)}`);
    if (m.ignored) lines.push(`  not read: ${ignoredText(m.ignored)}`);
    return lines;
  }

  /** The manifest with the undecodable images recorded, for writing back. */
  manifestWithUndecodable(): Manifest {
    return { ...this.manifest, undecodable: this.list() };
  }

  report(testImages: number, testEvaluated?: number): DataReport {
    return {
      rejected: (this.manifest.rejected ?? []).length,
      droppedClasses: (this.manifest.dropped ?? []).length,
      undecodable: this.list(),
      testImages,
      ...(testEvaluated !== undefined ? { testEvaluated } : {}),
    };
  }
}

function ignoredText(ignored: NonNullable<Manifest['ignored']>): string {
  const kinds = Object.entries(ignored.byExtension);
  return `${ignored.count} file(s) that are not ${IMAGE_EXTENSIONS_TEXT} by extension: ${firstAndMore(kinds, ([ext, n]) => `${n} ${ext}`)}`;
}

/** "on 98 of 100 test images (2 undecodable: a.png, b.jpg)", or "on 100 test images" when all were evaluated. */
export function testCountText(evaluated: number, report: DataReport | undefined): string {
  if (!report || evaluated === report.testImages) return `on ${evaluated} test images`;
  const bad = report.undecodable.filter((u) => u.split === 'test');
  const why = bad.length === report.testImages - evaluated
    ? `${bad.length} undecodable: ${firstAndMore(bad, (u) => path.basename(u.file))}`
    : `${report.testImages - evaluated} not evaluated`;
  return `on ${evaluated} of ${report.testImages} test images (${why}; listed in manifest.json)`;
}
