// Repeater: the next run is armed only after the previous one finished; stop() ends it, even mid-run.
import { expect, test } from 'vitest';
import { Repeater } from '../../../src/core/repeater.js';
import { FakeClock } from '../../support/fake-clock.js';

test('runs every ms after the previous run finished, never two at once; stop ends it', async () => {
  const clock = new FakeClock();
  let runs = 0;
  let release: (() => void) | undefined;
  const r = new Repeater(clock, 1000, () => {
    runs++;
    return new Promise<void>((res) => (release = res));
  });
  r.start();
  clock.advance(999);
  expect(runs).toBe(0);
  clock.advance(1);
  expect(runs).toBe(1);
  clock.advance(5000); // the first run has not finished: nothing new starts
  expect(runs).toBe(1);
  release!();
  await new Promise((res) => setImmediate(res));
  clock.advance(1000);
  expect(runs).toBe(2);
  r.stop(); // mid-run: it finishes and does not re-arm
  expect(r.stopped).toBe(true);
  release!();
  await new Promise((res) => setImmediate(res));
  clock.advance(10_000);
  expect(runs).toBe(2);
  r.start();
  clock.advance(10_000);
  expect(runs).toBe(2);
});
