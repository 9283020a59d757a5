import { test } from 'vitest';
import assert from 'node:assert/strict';
import { LogLimiter } from '../../../src/core/log-limiter.js';
import { FakeClock } from '../../support/fake-clock.js';

test('one line per key per window; the next one carries how many were suppressed', () => {
  const clock = new FakeClock();
  const lim = new LogLimiter(clock, 60_000);
  assert.deepEqual(lim.fields('refused', { remote: 'a' }), { remote: 'a' });
  for (let i = 0; i < 99; i++) assert.equal(lim.fields('refused', { remote: 'a' }), undefined);
  clock.advance(59_999);
  assert.equal(lim.allow('refused'), undefined);
  clock.advance(1);
  assert.deepEqual(lim.fields('refused', { remote: 'b' }), { remote: 'b', suppressed: 100 });
  assert.equal(lim.allow('refused'), undefined);
  clock.advance(60_000);
  assert.equal(lim.allow('refused'), 1);
  assert.equal(lim.suppressedTotal, 101);
});

test('keys are independent', () => {
  const clock = new FakeClock();
  const lim = new LogLimiter(clock, 1_000);
  assert.equal(lim.allow('a'), 0);
  assert.equal(lim.allow('b'), 0);
  assert.equal(lim.allow('a'), undefined);
  assert.equal(lim.allow('b'), undefined);
});

test('the number of keys is bounded: the oldest window is forgotten first', () => {
  const clock = new FakeClock();
  const lim = new LogLimiter(clock, 60_000, 3);
  for (const k of ['a', 'b', 'c']) assert.equal(lim.allow(k), 0);
  assert.equal(lim.allow('d'), 0); // forgets 'a'
  assert.equal(lim.allow('a'), 0, 'a was forgotten, so it is logged again');
  assert.equal(lim.allow('c'), undefined, 'c is still limited');
});
