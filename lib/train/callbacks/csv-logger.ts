// CSVLogger like Keras: header `epoch,<sorted metric keys>`, epochs from 0, append on resume.
import * as fs from 'fs';
import * as fsp from 'fs/promises';
import * as path from 'path';
import { Logs } from './monitor';
import { compareStrings } from '../../data/scan';

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Python-like number text: repr-style shortest round trip, and nan/inf spelled as Keras writes them. */
function formatValue(value: number | undefined): string {
  if (value === undefined) return 'NA';
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return String(value);
}

export class CSVLogger {
  readonly filename: string;
  readonly separator: string;
  private keys: string[] | null = null;
  private readonly append: boolean;

  /** With `append`, an existing file keeps its rows and its header's columns. */
  constructor(filename: string, options: { append?: boolean; separator?: string } = {}) {
    if (typeof filename !== 'string' || filename.length === 0) throw new TypeError('CSVLogger needs a file name');
    this.filename = filename;
    this.append = options.append ?? false;
    this.separator = options.separator ?? ',';
  }

  async onTrainBegin(): Promise<void> {
    await fsp.mkdir(path.dirname(path.resolve(this.filename)), { recursive: true });
    if (this.append && fs.existsSync(this.filename)) {
      const firstLine = (await fsp.readFile(this.filename, 'utf8')).split('\n')[0];
      if (firstLine.length > 0) this.keys = firstLine.split(this.separator).slice(1);
    } else {
      await fsp.writeFile(this.filename, '');
    }
  }

  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    const lines: string[] = [];
    if (this.keys === null) {
      this.keys = Object.keys(logs).sort(compareStrings);
      lines.push(['epoch', ...this.keys].map(csvField).join(this.separator));
    }
    lines.push([String(epoch), ...this.keys.map((k) => formatValue(logs[k]))].join(this.separator));
    await fsp.appendFile(this.filename, lines.join('\n') + '\n');
  }
}
