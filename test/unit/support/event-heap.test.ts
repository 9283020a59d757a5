// The simulators' shared event queue (test/support/event-heap.ts): pops in (at, seq) order, ties by push order.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { EventHeap } from '../../support/event-heap.js';
import { seededRng } from '../../support/rng.js';

test('pops events in (at, seq) order, whatever order they were pushed in', () => {
  const rng = seededRng(7);
  const heap = new EventHeap<{ at: number; seq: number }>();
  const pushed: Array<{ at: number; seq: number }> = [];
  for (let seq = 0; seq < 500; seq++) {
    const e = { at: rng.int(40), seq }; // many equal `at`s: the tie-break matters
    pushed.push(e);
    heap.push(e);
  }
  assert.equal(heap.size, 500);
  const popped: Array<{ at: number; seq: number }> = [];
  while (heap.size > 0) {
    const top = heap.peek();
    const e = heap.pop()!;
    assert.equal(e, top);
    popped.push(e);
  }
  assert.deepEqual(popped, [...pushed].sort((a, b) => a.at - b.at || a.seq - b.seq));
  assert.equal(heap.pop(), undefined);
});
