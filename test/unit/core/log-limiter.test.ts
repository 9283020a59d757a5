import { test } from 'vitest';
import assert from 'node:assert/strict';
import { LogLimiter, messageShape } from '../../../src/core/log-limiter.js';
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

test('messageShape: what a stranger chooses (lengths, names, versions, quoted text) does not make a new key', () => {
  const shapes = new Set([
    'hello length 4294967295 exceeds the limit of 4096 bytes',
    'hello length 70000 exceeds the limit of 4096 bytes',
    'first message length 2000 exceeds the limit of 1024 bytes',
    'first message length 99999 exceeds the limit of 1024 bytes',
    'invalid preamble: version range [0,0] must satisfy 1 ≤ min ≤ max',
    'invalid preamble: version range [9,1] must satisfy 1 ≤ min ≤ max',
    'invalid hello: nickname "\\u0001evil \\"quoted\\" text" must be 1..255 printable characters',
    'invalid hello: nickname "another" must be 1..255 printable characters',
    'local "3a:00:ec:35:0b:77(h1)" and remote "3a:00:ec:35:0b:77(x)" peer names collision',
    'local "3a:00:ec:35:0b:77(h1)" and remote "3a:00:ec:35:0b:77(yy)" peer names collision',
    'peer 02:00:00:00:00:01 refused',
    'peer ab:cd:ef:01:23:45 refused',
  ].map(messageShape));
  assert.equal(shapes.size, 6, [...shapes].join('\n'));
  assert.ok(messageShape('x'.repeat(1000)).length <= 160);
  assert.equal(messageShape('authentication failed (password mismatch?)'), 'authentication failed (password mismatch?)');
});
