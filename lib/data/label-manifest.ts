// A label manifest: CSV (RFC 4180) or JSONL rows of file,label[,split]. Paths are relative to the manifest's folder.
// Every problem is collected and reported with its line number, so one run shows them all.
import * as fsp from 'fs/promises';
import * as path from 'path';
import { SplitName } from './split';
import { firstAndMore } from '../validate';

export interface LabelManifestRow {
  /** Absolute path. */
  file: string;
  name: string;
  split?: SplitName;
  /** 1-based line of the row in the manifest. */
  line: number;
}

export interface LabelManifest {
  file: string;
  /** The manifest's folder: relative paths are resolved against it. */
  root: string;
  rows: LabelManifestRow[];
}

interface RawRow {
  line: number;
  file: unknown;
  label: unknown;
  split?: unknown;
}

const FILE_COLUMNS = ['file', 'path', 'filename', 'image'];
const LABEL_COLUMNS = ['class', 'label']; // 'class' first: a run's manifest.csv has class (name) and label (index)
const SPLITS: Record<string, SplitName> = { train: 'train', val: 'val', validation: 'val', test: 'test' };

class ManifestProblems {
  readonly list: string[] = [];
  add(line: number, message: string): void {
    this.list.push(`line ${line}: ${message}`);
  }
}

/** RFC 4180 records with the line each starts on; quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string, problems: { add(line: number, message: string): void }): Array<{ line: number; fields: string[] }> {
  const records: Array<{ line: number; fields: string[] }> = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let field = '';
    let broken = false;
    for (;;) {
      if (text[i] === '"') {
        i++;
        let closed = false;
        while (i < n) {
          if (text[i] === '"') {
            if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
            i++;
            closed = true;
            break;
          }
          if (text[i] === '\n') line++;
          field += text[i++];
        }
        if (!closed) { problems.add(start, 'a quoted field is not closed before the end of the file'); return records; }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          problems.add(line, `unexpected ${JSON.stringify(text[i])} after a closing quote (a quote inside a field is written "")`);
          broken = true;
        }
      }
      while (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        if (text[i] === '"' && !broken) { problems.add(line, 'a quote inside an unquoted field (quote the whole field and write "" for a quote)'); broken = true; }
        field += text[i++];
      }
      fields.push(field);
      field = '';
      if (i < n && text[i] === ',') { i++; continue; }
      break;
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') i++;
    line++;
    const blank = fields.length === 1 && fields[0].trim() === '';
    if (!broken && !blank) records.push({ line: start, fields });
  }
  return records;
}

function columnOf(header: string[], names: string[]): number {
  for (const name of names) {
    const i = header.indexOf(name);
    if (i >= 0) return i;
  }
  return -1;
}

function csvRows(text: string, problems: ManifestProblems): RawRow[] {
  const records = parseCsv(text, problems);
  if (records.length === 0) return [];
  const header = records[0].fields.map((f) => f.trim().toLowerCase());
  const fileCol = columnOf(header, FILE_COLUMNS);
  const labelCol = columnOf(header, LABEL_COLUMNS);
  const hasHeader = fileCol >= 0 && labelCol >= 0;
  const splitCol = hasHeader ? header.indexOf('split') : -1;
  const rows: RawRow[] = [];
  for (const { line, fields } of hasHeader ? records.slice(1) : records) {
    if (!hasHeader && fields.length !== 2) {
      problems.add(line, `expected 2 fields (file,label) but found ${fields.length}; with more columns, start the file with a header row naming them (file,label[,split])`);
      continue;
    }
    if (hasHeader && fields.length !== header.length) {
      problems.add(line, `expected ${header.length} fields as in the header (${header.join(',')}) but found ${fields.length}`);
      continue;
    }
    rows.push({ line, file: fields[hasHeader ? fileCol : 0], label: fields[hasHeader ? labelCol : 1], ...(splitCol >= 0 ? { split: fields[splitCol] } : {}) });
  }
  return rows;
}

function jsonlRows(text: string, problems: ManifestProblems): RawRow[] {
  const rows: RawRow[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      problems.add(line, `not valid JSON (${(e as Error).message})`);
      return;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      problems.add(line, 'expected a JSON object like {"file": "a.jpg", "label": "cat"}');
      return;
    }
    const o = value as Record<string, unknown>;
    const fileKey = FILE_COLUMNS.find((k) => k in o);
    const labelKey = LABEL_COLUMNS.find((k) => k in o);
    if (!fileKey || !labelKey) {
      problems.add(line, `expected keys file and label, found ${JSON.stringify(Object.keys(o))}`);
      return;
    }
    rows.push({ line, file: o[fileKey], label: typeof o[labelKey] === 'number' ? String(o[labelKey]) : o[labelKey], ...('split' in o ? { split: o.split } : {}) });
  });
  return rows;
}

async function exists(file: string): Promise<'file' | 'missing' | 'not a regular file'> {
  const stat = await fsp.stat(file).catch(() => null);
  return !stat ? 'missing' : stat.isFile() ? 'file' : 'not a regular file';
}

/**
 * Reads a .csv or .jsonl manifest. CSV: `file,label` per line, an optional header row naming the columns
 * (file|path|filename|image, label|class, optional split), RFC 4180 quoting. JSONL: one {"file", "label"[, "split"]}
 * object per line. Empty files or labels, unknown splits, duplicate or missing files are errors naming their lines.
 */
export async function readLabelManifest(file: string): Promise<LabelManifest> {
  const target = path.resolve(file);
  const root = path.dirname(target);
  let text: string;
  try {
    text = await fsp.readFile(target, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`Cannot read label manifest ${target}: ${code === 'ENOENT' ? 'file not found' : (e as Error).message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // spreadsheet exports start with a BOM
  const problems = new ManifestProblems();
  const raw = /\.csv$/i.test(target) ? csvRows(text, problems) : jsonlRows(text, problems);
  const rows: LabelManifestRow[] = [];
  const firstLine = new Map<string, number>();
  for (const r of raw) {
    const fileText = typeof r.file === 'string' ? r.file.trim() : null;
    const name = typeof r.label === 'string' ? r.label.trim() : null;
    if (!fileText) { problems.add(r.line, `empty or missing file${typeof r.file === 'string' || r.file === undefined ? '' : ` (found ${JSON.stringify(r.file)})`}`); continue; }
    if (!name) { problems.add(r.line, `empty label for ${fileText}`); continue; }
    let split: SplitName | undefined;
    if (r.split !== undefined) {
      split = typeof r.split === 'string' ? SPLITS[r.split.trim().toLowerCase()] : undefined;
      if (!split) { problems.add(r.line, `split must be train, val (validation) or test, found ${JSON.stringify(r.split)}`); continue; }
    }
    const abs = path.resolve(root, fileText);
    const before = firstLine.get(abs);
    if (before !== undefined) { problems.add(r.line, `${fileText} is listed again (first on line ${before})`); continue; }
    firstLine.set(abs, r.line);
    rows.push({ file: abs, name, line: r.line, ...(split ? { split } : {}) });
  }
  const withSplit = rows.filter((r) => r.split !== undefined).length;
  if (withSplit > 0 && withSplit < rows.length) {
    const lines = rows.filter((r) => r.split === undefined).map((r) => r.line);
    problems.add(lines[0], `no split, while ${withSplit} other row(s) have one (lines ${firstAndMore(lines, String)}); give every row a split or none`);
  }
  // Stat in chunks: a manifest of 100k rows must not open 100k handles at once.
  for (let i = 0; i < rows.length; i += 256) {
    const chunk = rows.slice(i, i + 256);
    const states = await Promise.all(chunk.map((r) => exists(r.file)));
    chunk.forEach((r, k) => { if (states[k] !== 'file') problems.add(r.line, `${states[k] === 'missing' ? 'file not found' : 'not a regular file'}: ${r.file}`); });
  }
  if (problems.list.length > 0) {
    const sorted = problems.list.sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
    throw new Error(`Invalid label manifest ${target}: ${problems.list.length} problem(s): ${firstAndMore(sorted, (p) => p, 10)}`);
  }
  if (rows.length === 0) throw new Error(`Invalid label manifest ${target}: no rows (expected file,label lines)`);
  return { file: target, root, rows };
}
