import { test } from 'vitest';
import assert from 'node:assert/strict';
import { REPLAY_WINDOW_PACKETS } from '../../../src/core/defaults.js';
import { ReplayWindow } from '../../../src/crypto/replay-window.js';
import { seededRng } from '../../support/rng.js';

test('replay window: in order, duplicates, counter 0', () => {
  const w = new ReplayWindow();
  assert.equal(w.windowSize, REPLAY_WINDOW_PACKETS);
  assert.equal(w.accept(0), false, 'counter 0 is never valid');
  for (let c = 1; c <= 20_000; c++) assert.equal(w.accept(c), true, `counter ${c}`);
  assert.equal(w.accept(20_000), false, 'duplicate of the highest');
  assert.equal(w.accept(19_999), false, 'duplicate inside the window');
  assert.equal(w.accept(0), false);
  assert.equal(w.highestAccepted, 20_000);
});

test('replay window: out of order within the window, too old outside it', () => {
  const w = new ReplayWindow(8192);
  assert.equal(w.accept(10_000), true);
  assert.equal(w.accept(9_999), true);
  assert.equal(w.accept(10_000 - 8191), true, 'oldest counter still inside the window');
  assert.equal(w.accept(10_000 - 8191), false, '…but only once');
  assert.equal(w.accept(10_000 - 8192), false, 'one older is too old');
  assert.equal(w.accept(1), false, 'far too old');
  assert.equal(w.accept(10_005), true);
  assert.equal(w.accept(10_001), true);
  assert.equal(w.accept(10_003), true);
  assert.equal(w.accept(10_001), false);
  assert.equal(w.accept(10_002), true);
  assert.equal(w.accept(10_004), true);
});

test('replay window: big jumps clear old state; huge and invalid counters', () => {
  const w = new ReplayWindow(64);
  assert.equal(w.accept(5), true);
  assert.equal(w.accept(1_000_000), true, 'jump far ahead');
  assert.equal(w.accept(5), false, 'the old one is now too old');
  assert.equal(w.accept(1_000_000 - 63), true, 'slots recycled by the jump start empty');
  assert.equal(w.accept(1_000_000 - 5), true);
  assert.equal(w.accept(2 ** 40), true, 'beyond 32 bits');
  assert.equal(w.accept(2 ** 40 - 1), true);
  assert.equal(w.accept(2 ** 40 - 1), false);
  assert.equal(w.accept(2 ** 40 + 31), true, 'bit 31 of a block');
  assert.equal(w.accept(2 ** 40 + 31), false);
  assert.equal(w.accept(Number.MAX_SAFE_INTEGER), true);
  assert.equal(w.accept(Number.MAX_SAFE_INTEGER + 1), false, '≥ 2^53 is rejected');
  assert.equal(w.accept(1.5), false);
  assert.equal(w.accept(-1), false);
  assert.equal(w.accept(Number.NaN), false);
  w.reset();
  assert.equal(w.highestAccepted, 0);
  assert.equal(w.accept(5), true, 'reset forgets');
  assert.throws(() => new ReplayWindow(100), RangeError);
});

test('replay window: agrees with a naive reference model under random traffic', () => {
  const rng = seededRng(42);
  const size = 256;
  const w = new ReplayWindow(size);
  const seen = new Set<number>();
  let highest = 0;
  let base = 1;
  for (let i = 0; i < 50_000; i++) {
    const r = rng.float();
    if (r < 0.01) base += rng.int(5000); // occasional big jump
    const c = Math.max(0, base + rng.int(size * 2) - size);
    if (rng.float() < 0.7) base++;
    const expected = c > 0 && !seen.has(c) && !(highest - c >= size);
    assert.equal(w.accept(c), expected, `step ${i}, counter ${c}, highest ${highest}`);
    if (expected) {
      seen.add(c);
      highest = Math.max(highest, c);
    }
  }
});
