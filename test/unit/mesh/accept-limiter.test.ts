// PendingHandshakes: the cap on inbound handshakes in progress, in total and per source address.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { PendingHandshakes } from '../../../src/mesh/accept-limiter.js';

test('pending handshakes: per-address cap, total cap, slots come back once per release', () => {
  const p = new PendingHandshakes({ max: 5, maxPerAddress: 3 });
  const a = [p.tryEnter('10.0.0.1'), p.tryEnter('10.0.0.1'), p.tryEnter('10.0.0.1')];
  assert.ok(a.every((r) => r !== undefined));
  assert.equal(p.tryEnter('10.0.0.1'), undefined, 'a fourth from the same address is refused');
  const b1 = p.tryEnter('10.0.0.2');
  const b2 = p.tryEnter('10.0.0.2');
  assert.ok(b1 && b2, 'another address still gets in while the first one is at its cap');
  assert.equal(p.tryEnter('10.0.0.3'), undefined, 'the total cap holds');
  assert.equal(p.pending, 5);
  assert.equal(p.refused, 2);
  a[0]!();
  a[0]!(); // idempotent: a double release must not free a second slot
  assert.equal(p.pending, 4);
  assert.ok(p.tryEnter('10.0.0.3'));
  assert.equal(p.tryEnter('10.0.0.4'), undefined);
  for (const r of [a[1]!, a[2]!, b1, b2]) r();
  assert.equal(p.pending, 1);
  assert.ok(p.tryEnter('10.0.0.1') && p.tryEnter('10.0.0.1') && p.tryEnter('10.0.0.1'), 'all of 10.0.0.1 slots are back');
});
