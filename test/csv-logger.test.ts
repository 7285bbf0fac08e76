import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CSVLogger } from '../lib/train/callbacks';

function parseCsv(text: string): string[][] {
  return text.trimEnd().split('\n').map((line) => line.split(','));
}

describe('CSVLogger', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carclass-csv-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('header is epoch + sorted keys, epochs count from 0, values parse back as numbers', async () => {
    const file = path.join(dir, 'log', 'training.csv');
    const logger = new CSVLogger(file);
    await logger.onTrainBegin();
    const epochs = [
      { val_loss: 1.61234, loss: 2.5, accuracy: 0.25, val_accuracy: 0.3, learning_rate: 1e-4 },
      { val_loss: 1.583, loss: 1.75, accuracy: 0.5, val_accuracy: 0.45, learning_rate: 1e-4 },
    ];
    for (let e = 0; e < epochs.length; e++) await logger.onEpochEnd(e, epochs[e]);
    const rows = parseCsv(fs.readFileSync(file, 'utf8'));
    expect(rows[0]).toEqual(['epoch', 'accuracy', 'learning_rate', 'loss', 'val_accuracy', 'val_loss']);
    expect(rows.length).toBe(3);
    rows.slice(1).forEach((row, e) => {
      expect(Number(row[0])).toBe(e);
      const logs = epochs[e] as Record<string, number>;
      rows[0].slice(1).forEach((key, i) => expect(Number(row[i + 1])).toBe(logs[key]));
    });
  });

  test('append on resume keeps rows and the original columns; without append the file restarts', async () => {
    const file = path.join(dir, 'resume.csv');
    const first = new CSVLogger(file);
    await first.onTrainBegin();
    await first.onEpochEnd(0, { loss: 1, val_loss: 2 });
    await first.onEpochEnd(1, { loss: 0.5, val_loss: 1.5 });
    const resumed = new CSVLogger(file, { append: true });
    await resumed.onTrainBegin();
    await resumed.onEpochEnd(2, { val_loss: 1.25, loss: 0.25, extra: 7 });
    expect(parseCsv(fs.readFileSync(file, 'utf8'))).toEqual([
      ['epoch', 'loss', 'val_loss'], ['0', '1', '2'], ['1', '0.5', '1.5'], ['2', '0.25', '1.25'],
    ]);
    const fresh = new CSVLogger(file);
    await fresh.onTrainBegin();
    await fresh.onEpochEnd(0, { loss: NaN });
    expect(fs.readFileSync(file, 'utf8')).toBe('epoch,loss\n0,nan\n');
  });
});
