import { EarlyStopping, EarlyStoppingOptions } from '../lib/train/callbacks';

/**
 * Drives EarlyStopping through a scripted metric sequence like Keras fit() does: on_train_begin, on_epoch_end for each
 * epoch until stop_training, on_train_end. Weights are the string `w<epoch>` of the epoch that produced them.
 */
function run(values: number[], options: EarlyStoppingOptions<string>, monitor = 'val_loss') {
  let epochWeights = 'init';
  let restored: string | null = null;
  const logged: string[] = [];
  const es = new EarlyStopping<string>({ ...options, monitor, getWeights: () => epochWeights, setWeights: (w) => { restored = w; }, log: (m) => logged.push(m) });
  es.onTrainBegin();
  let ranEpochs = 0;
  for (let epoch = 0; epoch < values.length; epoch++) {
    epochWeights = `w${epoch}`;
    ranEpochs++;
    if (es.onEpochEnd(epoch, { [monitor]: values[epoch], loss: 9 }).stop) break;
  }
  const end = es.onTrainEnd();
  return { ranEpochs, stoppedEpoch: es.stoppedEpoch, bestEpoch: es.bestEpoch, restored, messages: end.messages, logged };
}

describe('EarlyStopping (Keras 3 semantics)', () => {
  test('the seed run: best val_loss at epoch 5, patience 12 -> stops after epoch 17, restores epoch 5', () => {
    // Epochs 0-4 improve down to 1.583; epochs 5-16 do not. Keras increments wait before checking, resets it on
    // improvement, and stops when wait >= patience: wait reaches 12 at 0-based epoch 16 -> "Epoch 17".
    const values = [2.4, 2.0, 1.8, 1.61234, 1.583, ...Array.from({ length: 20 }, (_, i) => 1.6 + i * 0.01)];
    const r = run(values, { patience: 12, restoreBestWeights: true });
    expect(r.ranEpochs).toBe(17);
    expect(r.stoppedEpoch).toBe(16);
    expect(r.bestEpoch).toBe(4);
    expect(r.restored).toBe('w4');
    expect(r.messages).toEqual(['Epoch 17: early stopping', 'Restoring model weights from the end of the best epoch: 5.']);
    expect(r.logged).toEqual(r.messages);
  });

  test('default patience is 12 and the default monitor is val_loss in min mode', () => {
    const es = new EarlyStopping();
    expect(es.patience).toBe(12);
    expect(es.monitor).toBe('val_loss');
    expect(es.direction).toBe('min');
  });

  test('patience 0 stops at the first epoch that does not improve', () => {
    // epoch 0 improves (best is None), epoch 1: wait=1 >= 0 and epoch > 0 -> stop.
    const r = run([1.0, 1.0, 0.5], { patience: 0 });
    expect(r.stoppedEpoch).toBe(1);
    expect(r.messages).toEqual(['Epoch 2: early stopping']); // no restore without restoreBestWeights
    expect(r.restored).toBeNull();
  });

  test('min_delta: changes smaller than min_delta are not improvements', () => {
    // min_delta 0.01, patience 2. Improvement means value + 0.01 < best:
    // e0 1.0 best; e1 0.995 no (wait 1); e2 0.985 yes (best .985, wait 0); e3 0.98 no (wait 1);
    // e4 0.97 yes (best .97); e5 0.965 no (wait 1); e6 0.962 no (wait 2 >= 2) -> stop at e6, best e4.
    const values = [1.0, 0.995, 0.985, 0.98, 0.97, 0.965, 0.962, 0.5];
    const r = run(values, { patience: 2, minDelta: 0.01, restoreBestWeights: true });
    expect(r.stoppedEpoch).toBe(6);
    expect(r.restored).toBe('w4');
    expect(r.messages).toEqual(['Epoch 7: early stopping', 'Restoring model weights from the end of the best epoch: 5.']);
    // Same values with min_delta 0 improve every epoch up to e6 and reach e7: no stop.
    const plain = run(values, { patience: 2, restoreBestWeights: true });
    expect(plain.stoppedEpoch).toBe(0);
    expect(plain.ranEpochs).toBe(8);
    // Keras restores the best weights at the end of training even without an early stop.
    expect(plain.messages).toEqual(['Restoring model weights from the end of the best epoch: 8.']);
    expect(plain.restored).toBe('w7');
    // A negative min_delta is taken as its absolute value, like Keras.
    expect(run(values, { patience: 2, minDelta: -0.01 }).stoppedEpoch).toBe(6);
  });

  test('mode: auto maximizes accuracy; forcing min reverses the decision', () => {
    // auto/max: e0 .5; e1 .6 best; e2..e4 wait 1,2,3 -> stop at e4 with patience 3, best e1.
    const values = [0.5, 0.6, 0.55, 0.58, 0.59, 0.7];
    const max = run(values, { patience: 3, restoreBestWeights: true }, 'val_accuracy');
    expect(max.stoppedEpoch).toBe(4);
    expect(max.restored).toBe('w1');
    expect(max.messages[1]).toBe('Restoring model weights from the end of the best epoch: 2.');
    // min: e0 .5 best; e1 .6, e2 .55, e3 .58 are all worse -> wait 3 at e3 -> stop, best e0.
    const min = run(values, { patience: 3, restoreBestWeights: true, mode: 'min' }, 'val_accuracy');
    expect(min.stoppedEpoch).toBe(3);
    expect(min.restored).toBe('w0');
    expect(min.messages).toEqual(['Epoch 4: early stopping', 'Restoring model weights from the end of the best epoch: 1.']);
    expect(new EarlyStopping({ monitor: 'val_top5_accuracy' }).direction).toBe('max');
    expect(() => new EarlyStopping({ monitor: 'val_widgets' })).toThrow(/cannot determine whether that metric should be maximized/);
  });

  test('start_from_epoch ignores the warm-up epochs', () => {
    // Epochs 0-2 ignored. e3 is the first monitored: best 1.0; e4 0.9 best; e5 0.95 wait 1 >= 1 -> stop at e5.
    const values = [0.1, 0.1, 0.1, 1.0, 0.9, 0.95, 0.96];
    const r = run(values, { patience: 1, startFromEpoch: 3, restoreBestWeights: true });
    expect(r.stoppedEpoch).toBe(5);
    expect(r.restored).toBe('w4');
    expect(r.messages).toEqual(['Epoch 6: early stopping', 'Restoring model weights from the end of the best epoch: 5.']);
    // Without warm-up: e0 0.1 best; e1 0.1 is not strictly better -> wait 1 -> stop at e1, best e0.
    const noWarmup = run(values, { patience: 1, restoreBestWeights: true });
    expect(noWarmup.stoppedEpoch).toBe(1);
    expect(noWarmup.restored).toBe('w0');
  });

  test('baseline: the wait resets only when the value also beats the baseline', () => {
    // baseline 0.5, patience 2. e0 0.9 improves (best None) but not the baseline: wait stays 1. e1 0.8 improves: wait 2
    // but Keras returns before checking patience on an improvement. e2 0.85 does not improve: wait 3 >= 2 -> stop.
    const r = run([0.9, 0.8, 0.85, 0.1], { patience: 2, baseline: 0.5, restoreBestWeights: true });
    expect(r.stoppedEpoch).toBe(2);
    expect(r.restored).toBe('w1');
    // Without the baseline the same sequence waits only 1 epoch at e2 and runs on.
    expect(run([0.9, 0.8, 0.85, 0.1], { patience: 2 }).stoppedEpoch).toBe(0);
    // Beating the baseline at e1 resets the wait: e2 wait 1, e3 wait 2 -> stop at e3.
    expect(run([0.9, 0.4, 0.45, 0.46, 0.1], { patience: 2, baseline: 0.5 }).stoppedEpoch).toBe(3);
  });

  test('restore without an improvement after the first epoch restores the first monitored epoch', () => {
    const r = run([1.0, 2.0, 3.0], { patience: 1, restoreBestWeights: true });
    expect(r.stoppedEpoch).toBe(1);
    expect(r.restored).toBe('w0');
  });

  test('a missing monitor value is ignored; decisions expose improved/captureWeights; state round-trips', () => {
    const es = new EarlyStopping({ patience: 1, restoreBestWeights: true });
    es.onTrainBegin();
    expect(es.onEpochEnd(0, { loss: 1 })).toEqual({ stop: false, improved: false, captureWeights: false });
    expect(es.onEpochEnd(1, { val_loss: 1 })).toEqual({ stop: false, improved: true, captureWeights: true });
    const saved = JSON.parse(JSON.stringify(es.state()));
    const resumed = new EarlyStopping({ patience: 1, restoreBestWeights: true });
    resumed.loadState(saved, true);
    expect(resumed.onEpochEnd(2, { val_loss: 2 })).toEqual({ stop: true, improved: false, captureWeights: false });
    expect(resumed.onTrainEnd().messages).toEqual(['Epoch 3: early stopping', 'Restoring model weights from the end of the best epoch: 2.']);
  });

  test('options are validated by name', () => {
    expect(() => new EarlyStopping({ patience: -1 })).toThrow(/Expected non-negative integer for patience but received -1/);
    expect(() => new EarlyStopping({ mode: 'up' as 'max' })).toThrow(/Expected one of auto, min, max for mode but received "up"/);
    expect(() => new EarlyStopping({ min_delta: 0.1 } as object)).toThrow(/Unknown option "min_delta" for EarlyStopping/);
    expect(() => new EarlyStopping({ baseline: NaN })).toThrow(/baseline/);
  });
});
