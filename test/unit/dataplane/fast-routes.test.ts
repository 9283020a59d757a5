// buildFastRoutes: the native relay's copy of the routes (core/ports.ts FastRoutes) says exactly what
// the RouteTable says: next hop per destination, children per broadcast origin, sorted for the native
// binary search, and nothing for peers without a route.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { buildFastRoutes } from '../../../src/dataplane/fast-routes.js';
import type { RouteTable } from '../../../src/dataplane/forwarder.js';

// Seen from C in the line A – C – B, plus D known but unreachable.
const A = 0x0a, B = 0x0b, C = 0x0c, D = 0x0d;
const lineAtC: RouteTable = {
  unicastNextHop: (dst) => ({ [A]: A, [B]: B } as Record<number, number>)[dst],
  broadcastNextHops: (origin) => ({ [A]: [B], [B]: [A], [C]: [A, B] } as Record<number, number[]>)[origin] ?? [],
  peers: () => [D, B, A],
};
const plain = (r: ReturnType<typeof buildFastRoutes>) => ({
  dsts: [...r.dsts], hops: [...r.hops], origins: [...r.origins], first: [...r.first], kids: [...r.kids],
});

test('next hops and broadcast children of every peer, sorted by peer', () => {
  assert.deepEqual(plain(buildFastRoutes(lineAtC, C)), {
    dsts: [A, B],
    hops: [A, B],
    origins: [A, B, C, D],
    first: [0, 1, 2, 4, 4],
    kids: [B, A, A, B],
  });
});

test('without a peer list only our own tree is published (no relays)', () => {
  const { peers: _, ...noPeers } = lineAtC;
  assert.deepEqual(plain(buildFastRoutes(noPeers, C)), { dsts: [], hops: [], origins: [C], first: [0, 2], kids: [A, B] });
});

test('a relayed destination maps to its next hop, not itself', () => {
  const viaB: RouteTable = { unicastNextHop: (d) => (d === D ? B : d === B ? B : undefined), broadcastNextHops: () => [], peers: () => [B, D] };
  const r = buildFastRoutes(viaB, A);
  assert.deepEqual([...r.dsts], [B, D]);
  assert.deepEqual([...r.hops], [B, B]);
});
