import { formatCheckpointPath, ModelCheckpoint } from '../lib/train/callbacks';

describe('ModelCheckpoint', () => {
  test('save-best-only decisions and Keras messages', async () => {
    const saved: Array<[string, number]> = [];
    const logged: string[] = [];
    const cp = new ModelCheckpoint({ filepath: '/m/best-{epoch:02d}.ckpt', saveBestOnly: true, save: (p, e) => { saved.push([p, e]); }, log: (m) => logged.push(m) });
    const r0 = await cp.onEpochEnd(0, { val_loss: 1.61234, loss: 2 });
    // Keras starts from best = inf and prints it as "inf".
    expect(r0.message).toBe('Epoch 1: val_loss improved from inf to 1.61234, saving model to /m/best-01.ckpt');
    const r4 = await cp.onEpochEnd(4, { val_loss: 1.583, loss: 1 });
    expect(r4.message).toBe('Epoch 5: val_loss improved from 1.61234 to 1.58300, saving model to /m/best-05.ckpt');
    const r5 = await cp.onEpochEnd(5, { val_loss: 1.583, loss: 1 });
    expect(r5).toEqual({ saved: false, filepath: '/m/best-06.ckpt', message: 'Epoch 6: val_loss did not improve from 1.58300' });
    expect(saved).toEqual([['/m/best-01.ckpt', 0], ['/m/best-05.ckpt', 4]]);
    expect(logged).toEqual([r0.message, r4.message, r5.message]);
  });

  test('every-epoch saving ("last"), max mode, initial threshold, async save awaited', async () => {
    let done = 0;
    const last = new ModelCheckpoint({ filepath: '/m/last.ckpt', save: async () => { await new Promise((r) => setTimeout(r, 5)); done++; } });
    const r = await last.onEpochEnd(2, { val_loss: 3 });
    expect(r.message).toBe('Epoch 3: saving model to /m/last.ckpt');
    expect(done).toBe(1);
    const acc = new ModelCheckpoint({ filepath: 'x', monitor: 'val_accuracy', saveBestOnly: true, initialValueThreshold: 0.9, save: () => undefined });
    expect((await acc.onEpochEnd(0, { val_accuracy: 0.85 })).saved).toBe(false);
    expect((await acc.onEpochEnd(1, { val_accuracy: 0.95 })).message).toBe('Epoch 2: val_accuracy improved from 0.90000 to 0.95000, saving model to x');
  });

  test('path placeholders follow Python format specs', () => {
    expect(formatCheckpointPath('w.{epoch:03d}-{val_loss:.2f}.pt', 8, { val_loss: 1.23456 })).toBe('w.009-1.23.pt');
    expect(formatCheckpointPath('{epoch}', 0, {})).toBe('1');
    expect(() => formatCheckpointPath('{val_acc:.2f}', 0, { val_loss: 1 })).toThrow(/no value for \{val_acc\}/);
  });

  test('options are validated', () => {
    expect(() => new ModelCheckpoint({ filepath: '', save: () => undefined })).toThrow(/filepath/);
    expect(() => new ModelCheckpoint({ filepath: 'a' } as never)).toThrow(/Expected function for save/);
    expect(() => new ModelCheckpoint({ filepath: 'a', save: () => undefined, saveBest: true } as never)).toThrow(/Unknown option "saveBest"/);
  });
});
