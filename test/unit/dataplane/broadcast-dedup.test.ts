// The duplicate filter's bounds: a window of recent numbers per origin, a cap on origins.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { BroadcastDedup, broadcastDst, isBroadcastDst, LEGACY_BROADCAST } from '../../../src/dataplane/broadcast-dedup.js';

test('a number is a duplicate only for the same origin, and only while it is in the window', () => {
  const d = new BroadcastDedup();
  assert.equal(d.duplicate(1, broadcastDst(5)), false);
  assert.equal(d.duplicate(1, broadcastDst(5)), true);
  assert.equal(d.duplicate(2, broadcastDst(5)), false, 'another origin');
  for (let i = 100; i < 100 + 256; i++) d.duplicate(1, broadcastDst(i));
  assert.equal(d.duplicate(1, broadcastDst(5)), false, 'pushed out of the window by 256 newer broadcasts');
});

test('origins are capped: a flood of origins cannot grow the memory without bound', () => {
  const d = new BroadcastDedup();
  for (let o = 0; o < 5000; o++) d.duplicate(o, broadcastDst(1));
  assert.equal(d.size, 1024);
  assert.equal(d.duplicate(4999, broadcastDst(1)), true, 'recent origins are kept');
  assert.equal(d.duplicate(0, broadcastDst(1)), false, 'the oldest were evicted');
});

test('which destinations are broadcasts', () => {
  assert.ok(isBroadcastDst(LEGACY_BROADCAST));
  assert.ok(isBroadcastDst(broadcastDst(0)));
  assert.ok(!isBroadcastDst(0x02_00_00_00_00_01), 'a peer name (unicast MAC) is not');
  assert.ok(!isBroadcastDst(0xfeffffffffff));
});
