import { formatEta, formatMetric, formatTimePerStep, ProgressBar } from '../lib/train/callbacks';

/** A stream that records writes; `isTTY` toggles the auto mode. */
function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, isTTY, write: (c: string) => { chunks.push(c); return true; }, text: () => chunks.join('') };
}

/** A manual clock in milliseconds. */
function fakeClock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

describe('ProgressBar', () => {
  test('TTY: Epoch header, in-place redraws with \\r, final line with elapsed time and 4-decimal metrics', () => {
    const stream = fakeStream(true);
    const clock = fakeClock();
    const bar = new ProgressBar({ stream, now: clock.now, intervalMs: 0 });
    expect(bar.mode).toBe('tty');
    bar.epochBegin(2, 20, 469);
    for (let step = 1; step <= 469; step++) {
      clock.advance(25.6);
      bar.update(step, { loss: 0.0951, accuracy: 0.9712 });
    }
    bar.epochEnd({ loss: 0.0951, accuracy: 0.9712, val_loss: 0.065, val_accuracy: 0.9801 });
    const text = stream.text();
    expect(text.startsWith('Epoch 3/20\n\r')).toBe(true);
    const final = text.trimEnd().split('\r').pop() as string;
    // 469 steps x 25.6 ms = 12.0 s elapsed, 26 ms/step (rounded like Keras's %.0f).
    expect(final.trimEnd()).toBe('469/469 ━━━━━━━━━━━━━━━━━━━━ 12s 26ms/step - accuracy: 0.9712 - loss: 0.0951 - val_accuracy: 0.9801 - val_loss: 0.0650');
    expect(text.endsWith('\n')).toBe(true);
    // Mid-epoch redraws show the ETA: at step 1, 468 steps x 25.6 ms remain -> 12s.
    const firstRedraw = stream.chunks[1];
    expect(firstRedraw).toMatch(/^\r  1\/469 ─{20} 12s 26ms\/step - accuracy: 0.9712 - loss: 0.0951$/);
    const half = stream.chunks.find((c) => c.startsWith('\r235/469')) as string;
    expect(half).toContain('━'.repeat(10) + '─'.repeat(10));
    expect(text.split('\n').length).toBe(3); // header, one progress line, trailing newline
  });

  test('TTY: a message during an epoch starts a fresh line; redraws are throttled by intervalMs', () => {
    const stream = fakeStream(true);
    const clock = fakeClock();
    const bar = new ProgressBar({ stream, now: clock.now }); // 50 ms interval
    bar.epochBegin(0, 1, 10);
    for (let step = 1; step < 10; step++) { clock.advance(10); bar.update(step, { loss: 1 }); }
    const redraws = stream.chunks.filter((c) => c.startsWith('\r')).length;
    expect(redraws).toBeLessThanOrEqual(3); // 90 ms of updates at most every 50 ms
    bar.message('Epoch 1: val_loss improved from inf to 1.00000, saving model to m.ckpt');
    expect(stream.text()).toMatch(/\nEpoch 1: val_loss improved/);
  });

  test('plain with plainIntervalMs 0: no carriage returns, only the final line per epoch', () => {
    const stream = fakeStream(false);
    const clock = fakeClock();
    const bar = new ProgressBar({ stream, now: clock.now, plainIntervalMs: 0 });
    expect(bar.mode).toBe('plain');
    for (let epoch = 0; epoch < 2; epoch++) {
      bar.epochBegin(epoch, 2, 50);
      for (let step = 1; step <= 50; step++) { clock.advance(2000); bar.update(step, { loss: 1 / (step + epoch) }); }
      bar.epochEnd({ val_loss: 0.00012345 });
    }
    const lines = stream.text().trimEnd().split('\n');
    expect(stream.text()).not.toContain('\r');
    expect(lines.length).toBe(4);
    expect(lines[0]).toBe('Epoch 1/2');
    // 50 x 2 s = 100 s elapsed, 2s/step; tiny values switch to scientific notation like Keras.
    expect(lines[1]).toBe('50/50 ━━━━━━━━━━━━━━━━━━━━ 100s 2s/step - loss: 0.0200 - val_loss: 1.2345e-4');
    expect(lines[2]).toBe('Epoch 2/2');
  });

  test('plain (not a TTY) by default: a progress line about every 10 s, not one per step and not only at the end', () => {
    const stream = fakeStream(false);
    const clock = fakeClock();
    const bar = new ProgressBar({ stream, now: clock.now });
    bar.epochBegin(0, 1, 200);
    // 200 steps of 1.5 s = 300 s: lines at 10.5 s, 21 s, ... (every 7th step), none per step.
    for (let step = 1; step <= 200; step++) { clock.advance(1500); bar.update(step, { loss: 0.5 }); }
    bar.epochEnd({});
    const lines = stream.text().trimEnd().split('\n');
    expect(stream.text()).not.toContain('\r');
    const mid = lines.slice(1, -1);
    expect(mid.map((l) => Number(l.split('/')[0]))).toEqual(Array.from({ length: 28 }, (_, i) => 7 * (i + 1)));
    // 10.5 s elapsed, 1.5 s/step (shown rounded, as Keras does), 193 steps left -> 290 s.
    expect(mid[0]).toBe(`  7/200 ${'─'.repeat(20)} 4:50 2s/step - loss: 0.5000`);
    expect(lines[lines.length - 1]).toMatch(/^200\/200 ━{20} 300s 2s\/step - loss: 0\.5000$/);
    // Fast steps: still one line per ~10 s, not thousands.
    const fast = fakeStream(false);
    const c2 = fakeClock();
    const b2 = new ProgressBar({ stream: fast, now: c2.now });
    b2.epochBegin(0, 1, 100000);
    for (let step = 1; step <= 100000; step++) { c2.advance(1); b2.update(step, {}); }
    expect(fast.text().trimEnd().split('\n').length).toBe(1 + 9); // header + lines at 10 s, 20 s, ... 90 s
    expect(() => new ProgressBar({ plainIntervalMs: -1 })).toThrow(/plainIntervalMs/);
  });

  test('a resumed epoch starts its bar at the step reached and times only the steps it runs', () => {
    const stream = fakeStream(true);
    const clock = fakeClock();
    const bar = new ProgressBar({ stream, now: clock.now, intervalMs: 0 });
    bar.epochBegin(0, 3, 10, 6);
    clock.advance(4000);
    bar.update(7, { loss: 1 });
    // 1 step run in 4 s: 4s/step, 3 steps left -> 12s; the bar is 70 % full.
    expect(stream.chunks[1]).toBe(`\r 7/10 ${'━'.repeat(14)}${'─'.repeat(6)} 12s 4s/step - loss: 1.0000`);
  });

  test('plain with plainEveryPercent prints intermediate lines; quiet prints nothing', () => {
    const stream = fakeStream(false);
    const bar = new ProgressBar({ stream, mode: 'plain', plainEveryPercent: 25, now: fakeClock().now });
    bar.epochBegin(0, 1, 8);
    for (let step = 1; step <= 8; step++) bar.update(step, {});
    bar.epochEnd({});
    const lines = stream.text().trimEnd().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['Epoch', '2/8', '4/8', '6/8', '8/8']);
    const quiet = fakeStream(true);
    const q = new ProgressBar({ stream: quiet, mode: 'quiet' });
    q.epochBegin(0, 1, 2);
    q.update(1, { loss: 1 });
    q.epochEnd({ loss: 1 });
    q.message('hello');
    expect(quiet.chunks).toEqual([]);
  });

  test('formatting helpers follow Keras', () => {
    expect(formatTimePerStep(0.025)).toBe('25ms/step');
    expect(formatTimePerStep(2.4)).toBe('2s/step');
    expect(formatTimePerStep(0.0000123)).toBe('12us/step');
    expect(formatEta(12.2)).toBe('12s');
    expect(formatEta(125)).toBe('2:05');
    expect(formatEta(3725)).toBe('1:02:05');
    expect(formatMetric(0.09514)).toBe('0.0951');
    expect(formatMetric(0)).toBe('0.0000');
    expect(() => new ProgressBar({ mode: 'fancy' as 'tty' })).toThrow(/Expected one of auto, tty, plain, quiet for mode/);
  });
});
