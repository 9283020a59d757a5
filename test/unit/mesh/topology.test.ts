import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { peerNameFromNumber, type PeerName } from '../../../src/core/types.js';
import { decodeTopology, encodeTopology } from '../../../src/mesh/topology-codec.js';
import { Topology, type ConnectionSummary, type PeerEntry } from '../../../src/mesh/topology.js';
import { seededRng } from '../../support/rng.js';

const N = (i: number): PeerName => peerNameFromNumber(i);
const conn = (to: number, established = true): ConnectionSummary => ({
  name: N(to), address: `10.0.0.${to}:6783`, outbound: true, established, listenPort: 6783,
});
const entry = (i: number, version: number, conns: number[], uid = `u${i}`): PeerEntry => ({
  name: N(i), nickname: `h${i}`, uid, version, connections: conns.sort((a, b) => a - b).map((c) => conn(c)),
});
const topo = (i: number, conns: number[] = []): Topology => {
  const t = new Topology({ name: N(i), nickname: `h${i}`, uid: `u${i}` });
  t.setLocalConnections(conns.map((c) => conn(c)));
  return t;
};
const view = (t: Topology): string => JSON.stringify([...t.asMap().values()].sort((a, b) => (a.name < b.name ? -1 : 1)));
const ok = (t: Topology): void => assert.equal(t.checkInvariants(), undefined);

test('merge: newer version wins, older and equal are ignored; same data twice → undefined', () => {
  const t = topo(1, [2]);
  const d1 = t.mergeDelta([entry(2, 3, [1, 3]), entry(3, 1, [2])]);
  assert.deepEqual(d1?.updated.map((e) => e.name), [N(2), N(3)]);
  ok(t);
  assert.equal(t.mergeDelta([entry(2, 3, [1, 3]), entry(3, 1, [2])]), undefined, 'idempotent');
  assert.equal(t.mergeDelta([entry(2, 2, [1])]), undefined, 'older ignored');
  const d2 = t.mergeDelta([entry(2, 4, [1])]);
  assert.deepEqual(d2?.updated.map((e) => e.name), [N(2)]);
  assert.deepEqual(d2?.removed, [N(3)], 'peer 3 no longer reachable → garbage-collected');
  assert.equal(t.has(N(3)), false);
  ok(t);
});

test('merge: unreachable peers are dropped and never re-gossiped', () => {
  const t = topo(1, [2]);
  assert.equal(t.mergeDelta([entry(7, 1, [8]), entry(8, 1, [7])]), undefined);
  assert.equal(t.size, 1);
  ok(t);
});

test('merge is commutative and idempotent over random full-state views (state-based CRDT)', () => {
  const rng = seededRng(42);
  for (let round = 0; round < 50; round++) {
    // A random connected world of up to 8 peers, each at a random version; two observers saw
    // different versions of each entry. Every view is complete, so GC never depends on order.
    const n = 3 + rng.int(6);
    const adj = new Map<number, Set<number>>();
    for (let i = 1; i <= n; i++) adj.set(i, new Set());
    for (let i = 2; i <= n; i++) {
      const j = 1 + rng.int(i - 1);
      adj.get(i)!.add(j);
      adj.get(j)!.add(i);
    }
    const snapshot = (): PeerEntry[] => [...adj].map(([i, s]) => entry(i, 1 + rng.int(5), [...s], `u${i}x${rng.int(2)}`));
    const a = snapshot().filter((e) => e.name !== N(1));
    const b = snapshot().filter((e) => e.name !== N(1));
    const t1 = topo(1, [...adj.get(1)!]);
    const t2 = topo(1, [...adj.get(1)!]);
    t1.mergeDelta(a);
    t1.mergeDelta(b);
    t2.mergeDelta(b);
    t2.mergeDelta(a);
    ok(t1);
    ok(t2);
    assert.equal(view(t1), view(t2), `round ${round}: order must not matter`);
    assert.equal(t1.mergeDelta(a), undefined);
    assert.equal(t1.mergeDelta(b), undefined);
  }
});

test('equal versions with different uids: the larger uid wins on every peer', () => {
  const t1 = topo(1, [2]);
  const t2 = topo(1, [2]);
  const x = entry(2, 5, [1], 'aaaa');
  const y = entry(2, 5, [1], 'bbbb');
  t1.mergeDelta([x]);
  t1.mergeDelta([y]);
  t2.mergeDelta([y]);
  t2.mergeDelta([x]);
  assert.equal(t1.get(N(2))?.uid, 'bbbb');
  assert.equal(t2.get(N(2))?.uid, 'bbbb');
});

test('a restarted peer (new uid) bumps past its old entry and replaces it everywhere', () => {
  // Peer 2 ran for a while (version 40); the mesh (peer 1) remembers it.
  const t1 = topo(1, [2]);
  t1.mergeDelta([entry(2, 40, [1, 3], 'old'), entry(3, 2, [2])]);
  // Peer 2 restarts: new uid, version 1. It connects to 1 and receives 1's full state.
  const t2 = new Topology({ name: N(2), nickname: 'h2', uid: 'new' });
  t2.setLocalConnections([conn(1)]);
  const d = t2.mergeDelta(decodeTopology(encodeTopology(t1.entries())));
  assert.ok(d?.selfBumped, 'peer 2 saw a stale incarnation of itself');
  assert.equal(t2.self.uid, 'new');
  assert.ok(t2.self.version > 40);
  assert.deepEqual(t2.self.connections.map((c) => c.name), [N(1)], 'keeps its own connections');
  // Its new entry now wins at peer 1; peer 3 (only reachable through the old incarnation) is dropped.
  const d1 = t1.mergeDelta([t2.self]);
  assert.equal(t1.get(N(2))?.uid, 'new');
  assert.deepEqual(d1?.removed, [N(3)]);
  ok(t1);
  ok(t2);
});

test('local connection changes bump our version and collect what became unreachable', () => {
  const t = topo(1, [2]);
  const v = t.self.version;
  t.mergeDelta([entry(2, 1, [1, 3]), entry(3, 1, [2])]);
  assert.equal(t.setLocalConnections([conn(2)]).changed, false, 'same list: no bump');
  const r = t.setLocalConnections([]);
  assert.equal(r.changed, true);
  assert.equal(t.self.version, v + 1);
  assert.deepEqual(r.removed, [N(2), N(3)]);
  ok(t);
});

test('codec: round trip', () => {
  const entries = [entry(1, 7, [2, 3]), { ...entry(2, 1, []), nickname: 'ünïcode' }, entry(3, 2 ** 40, [1])];
  assert.deepEqual(decodeTopology(encodeTopology(entries)), entries);
});

test('codec: hostile payloads are ProtocolErrors, never other exceptions', () => {
  const packr = new Packr({ useRecords: false });
  const name = Buffer.from([0, 0, 0, 0, 0, 1]);
  const goodConn = [Buffer.from([0, 0, 0, 0, 0, 2]), '1.2.3.4:6783', 3, 6783];
  const good = [name, 'h', 'u1', 1, [goodConn]];
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['garbage', Uint8Array.from([0xc1, 0xff, 0x00])],
    ['truncated', encodeTopology([entry(1, 1, [2])]).subarray(0, 10)],
    ['not an array', packr.pack({ a: 1 })],
    ['wrong format', packr.pack([2, []])],
    ['entries not array', packr.pack([1, 'x'])],
    ['short entry', packr.pack([1, [[name, 'h', 'u', 1]]])],
    ['name wrong size', packr.pack([1, [[Buffer.from([1, 2]), 'h', 'u', 1, []]]])],
    ['name as string', packr.pack([1, [['00:00:00:00:00:01', 'h', 'u', 1, []]]])],
    ['version zero', packr.pack([1, [[name, 'h', 'u', 0, []]]])],
    ['version float', packr.pack([1, [[name, 'h', 'u', 1.5, []]]])],
    ['version huge', packr.pack([1, [[name, 'h', 'u', 2 ** 60, []]]])],
    ['empty uid', packr.pack([1, [[name, 'h', '', 1, []]]])],
    ['uid with spaces', packr.pack([1, [[name, 'h', 'a b', 1, []]]])],
    ['long nickname', packr.pack([1, [[name, 'x'.repeat(300), 'u', 1, []]]])],
    ['duplicate peer', packr.pack([1, [good, good]])],
    ['self connection', packr.pack([1, [[name, 'h', 'u', 1, [[name, 'a:1', 0, 1]]]]])],
    ['duplicate connection', packr.pack([1, [[name, 'h', 'u', 1, [goodConn, goodConn]]]])],
    ['bad flags', packr.pack([1, [[name, 'h', 'u', 1, [[Buffer.from([0, 0, 0, 0, 0, 2]), 'a:1', 9, 1]]]]])],
    ['bad port', packr.pack([1, [[name, 'h', 'u', 1, [[Buffer.from([0, 0, 0, 0, 0, 2]), 'a:1', 0, 70000]]]]])],
    ['address with space', packr.pack([1, [[name, 'h', 'u', 1, [[Buffer.from([0, 0, 0, 0, 0, 2]), 'a b', 0, 1]]]]])],
    ['too many peers', packr.pack([1, Array.from({ length: 10_001 }, () => 0)])],
    ['too many connections', packr.pack([1, [[name, 'h', 'u', 1, Array.from({ length: 5000 }, () => 0)]]])],
    ['trailing bytes', Buffer.concat([encodeTopology([entry(1, 1, [])]), Buffer.from([0xc0, 0xc0])])],
  ];
  for (const [label, bytes] of cases) {
    assert.throws(() => decodeTopology(bytes), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'ERR_PROTOCOL', `${label}: ${String(err)}`);
      return true;
    }, label);
  }
  // Random bytes: always a ProtocolError or a valid (validated) result.
  const rng = seededRng(9);
  for (let i = 0; i < 2000; i++) {
    const bytes = rng.bytes(1 + rng.int(64));
    try {
      decodeTopology(bytes);
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'ERR_PROTOCOL', String(err));
    }
  }
});
