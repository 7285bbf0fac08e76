import { constantSchedule, cosineSchedule, pythonFloatRepr, ReduceLROnPlateau } from '../lib/train/callbacks';

describe('learning-rate schedules', () => {
  test('constant', () => {
    const s = constantSchedule(1e-4);
    expect([s(0), s(100)]).toEqual([1e-4, 1e-4]);
    expect(() => constantSchedule(0)).toThrow(/Expected positive number for lr but received 0/);
  });

  test('cosine decay (Keras CosineDecay) with alpha and linear warm-up', () => {
    const s = cosineSchedule({ lr: 1, decaySteps: 10, alpha: 0.1 });
    // lr * ((1 - alpha) * 0.5 * (1 + cos(pi * t / 10)) + alpha)
    expect(s(0)).toBeCloseTo(1, 12);
    expect(s(5)).toBeCloseTo(0.9 * 0.5 + 0.1, 12);
    expect(s(10)).toBeCloseTo(0.1, 12);
    expect(s(25)).toBeCloseTo(0.1, 12); // clipped after decaySteps
    const w = cosineSchedule({ lr: 1, decaySteps: 10, warmupSteps: 4, warmupFrom: 0 });
    expect(w(0)).toBe(0);
    expect(w(2)).toBeCloseTo(0.5, 12);
    expect(w(4)).toBeCloseTo(1, 12);
    expect(w(9)).toBeCloseTo(0.5, 12);
    expect(() => cosineSchedule({ lr: 1, decaySteps: 10, alpha: 2 })).toThrow(/alpha/);
  });

  test('ReduceLROnPlateau follows Keras: patience, cooldown, min_lr, messages', () => {
    // factor 0.5, patience 2, cooldown 1, min_delta 0, min_lr 0.02, starting lr 0.1. Walking Keras's on_epoch_end:
    // e0 best=1.0; e1 wait 1; e2 wait 2 -> 0.05 (cooldown 1); e3 cooldown ends (wait 0) then wait 1;
    // e4 wait 2 -> 0.025; e5 0.5 improves; e6 wait 1; e7 wait 2 -> max(0.0125, 0.02) = 0.02;
    // e8 cooldown, wait 1; e9 wait 2 but float32(lr) is not above float32(min_lr): no change.
    const values = [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9];
    const logged: string[] = [];
    const plateau = new ReduceLROnPlateau({ factor: 0.5, patience: 2, cooldown: 1, minDelta: 0, minLr: 0.02, log: (m) => logged.push(m) });
    let lr = 0.1;
    const rates: number[] = [];
    values.forEach((v, epoch) => { lr = plateau.onEpochEnd(epoch, { val_loss: v }, lr).lr; rates.push(lr); });
    expect(rates).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02]);
    expect(logged).toEqual([
      'Epoch 3: ReduceLROnPlateau reducing learning rate to 0.05.',
      'Epoch 5: ReduceLROnPlateau reducing learning rate to 0.025.',
      'Epoch 8: ReduceLROnPlateau reducing learning rate to 0.02.',
    ]);
    expect(() => new ReduceLROnPlateau({ factor: 1 })).toThrow(/Expected number below 1 for factor but received 1/);
  });

  test('accuracy is maximized in auto mode', () => {
    const plateau = new ReduceLROnPlateau({ monitor: 'val_accuracy', patience: 1, minDelta: 0 });
    expect(plateau.onEpochEnd(0, { val_accuracy: 0.5 }, 1).reduced).toBe(false);
    expect(plateau.onEpochEnd(1, { val_accuracy: 0.6 }, 1).reduced).toBe(false);
    expect(plateau.onEpochEnd(2, { val_accuracy: 0.55 }, 1)).toEqual({ lr: 0.1, reduced: true, message: 'Epoch 3: ReduceLROnPlateau reducing learning rate to 0.1.' });
  });

  test('rates print like Python floats', () => {
    expect(pythonFloatRepr(1e-5)).toBe('1e-05');
    // Expected strings printed by Python 3 repr() for the same expressions.
    expect(pythonFloatRepr(3e-5 * 0.7)).toBe('2.1e-05');
    expect(pythonFloatRepr(2.5e-7)).toBe('2.5e-07');
    expect(pythonFloatRepr(1e20)).toBe('1e+20');
    expect(pythonFloatRepr(1.5e16)).toBe('1.5e+16');
    expect(pythonFloatRepr(0.1 + 0.2)).toBe('0.30000000000000004');
    expect(pythonFloatRepr(0.001)).toBe('0.001');
    expect(pythonFloatRepr(1)).toBe('1.0');
  });
});
