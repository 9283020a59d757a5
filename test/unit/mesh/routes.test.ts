import { test } from 'vitest';
import assert from 'node:assert/strict';
import { peerNameFromNumber, type PeerName } from '../../../src/core/types.js';
import { Routes, broadcastChildren } from '../../../src/mesh/routes.js';
import type { PeerEntry } from '../../../src/mesh/topology.js';
import { seededRng } from '../../support/rng.js';
import { ReferenceGraph } from '../../support/sim-network.js';

const N = (i: number): PeerName => peerNameFromNumber(0x020000000000 + i);

/** A topology from directed "listed" edges with per-edge established flags. */
function topology(n: number, listed: [number, number, boolean][]): Map<PeerName, PeerEntry> {
  const m = new Map<PeerName, PeerEntry>();
  for (let i = 0; i < n; i++) m.set(N(i), { name: N(i), nickname: `h${i}`, uid: 'u', version: 1, connections: [] });
  const conns = new Map<number, { name: PeerName; established: boolean }[]>();
  for (const [a, b, est] of listed) {
    if (!conns.has(a)) conns.set(a, []);
    conns.get(a)!.push({ name: N(b), established: est });
  }
  for (const [a, cs] of conns) {
    cs.sort((x, y) => (x.name < y.name ? -1 : 1));
    m.set(N(a), {
      ...m.get(N(a))!,
      connections: cs.map((c) => ({ ...c, address: '1.1.1.1:6783', outbound: true, listenPort: 6783 })),
    });
  }
  return m;
}

function randomWorld(seed: number) {
  const rng = seededRng(seed);
  const n = 2 + rng.int(30);
  const p = rng.float() * 0.3;
  const listed: [number, number, boolean][] = [];
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      if (a === b || rng.float() >= p) continue;
      // Mostly symmetric and established, with some one-sided and unconfirmed edges.
      listed.push([a, b, rng.float() < 0.85]);
    }
  }
  // Dedupe (a,b) pairs.
  const seen = new Set<string>();
  const uniq = listed.filter(([a, b]) => !seen.has(`${a}-${b}`) && seen.add(`${a}-${b}`) !== undefined);
  return { n, peers: topology(n, uniq), listed: uniq };
}

function referenceFor(n: number, listed: [number, number, boolean][], mode: 'established' | 'all'): ReferenceGraph {
  const adj = new Map<PeerName, Set<PeerName>>();
  for (let i = 0; i < n; i++) adj.set(N(i), new Set());
  const has = new Map(listed.map(([a, b, e]) => [`${a}-${b}`, e]));
  for (const [a, b, e] of listed) {
    if (mode === 'all') adj.get(N(a))!.add(N(b));
    else if (e && has.get(`${b}-${a}`) === true) adj.get(N(a))!.add(N(b));
  }
  return new ReferenceGraph(adj);
}

test('unicast next hops match a naive all-pairs BFS on 300 random graphs (both modes)', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const { n, peers, listed } = randomWorld(seed);
    for (const mode of ['established', 'all'] as const) {
      const ref = referenceFor(n, listed, mode);
      for (let s = 0; s < n; s++) {
        const r = new Routes(peers, N(s), mode);
        for (let d = 0; d < n; d++) {
          if (d === s) continue;
          assert.equal(r.unicastNextHop(N(d)), ref.nextHop(N(s), N(d)), `seed ${seed} ${mode} ${s}→${d}`);
        }
        assert.deepEqual(new Set(r.reachablePeers()), new Set(ref.reachable(N(s))), `seed ${seed} reachable from ${s}`);
      }
    }
  }
});

test('a broadcast along the per-origin trees reaches every reachable peer exactly once', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const { n, peers, listed } = randomWorld(seed);
    for (const mode of ['established', 'all'] as const) {
      const ref = referenceFor(n, listed, mode);
      const routes = new Map(Array.from({ length: n }, (_, i) => [N(i), new Routes(peers, N(i), mode)]));
      for (let o = 0; o < n; o++) {
        const origin = N(o);
        const received = new Map<PeerName, number>();
        const queue: PeerName[] = [origin];
        while (queue.length) {
          const at = queue.shift()!;
          const hops = routes.get(at)!.broadcastNextHops(origin);
          assert.deepEqual([...hops], broadcastChildren(peers, at, origin, mode), 'table and direct computation agree');
          for (const h of hops) {
            assert.ok(ref.adj.get(at)!.has(h), `hop ${at}→${h} must be an edge`);
            received.set(h, (received.get(h) ?? 0) + 1);
            queue.push(h);
          }
        }
        const expected = ref.reachable(origin).filter((x) => x !== origin);
        assert.deepEqual([...received.keys()].sort(), expected.sort(), `seed ${seed} ${mode} origin ${o}: coverage`);
        for (const [p, c] of received) assert.equal(c, 1, `seed ${seed} ${mode} origin ${o}: ${p} received ${c}×`);
      }
    }
  }
});

test('data routes need both ends to list the connection as established', () => {
  // 0 → 1 established on both ends; 1 → 2 only confirmed by 1; 0 ↔ 3 listed by 0 only.
  const peers = topology(4, [[0, 1, true], [1, 0, true], [1, 2, true], [2, 1, false], [0, 3, true]]);
  const r = new Routes(peers, N(0), 'established');
  assert.equal(r.unicastNextHop(N(1)), N(1));
  assert.equal(r.unicastNextHop(N(2)), undefined);
  assert.equal(r.unicastNextHop(N(3)), undefined);
  const g = new Routes(peers, N(0), 'all');
  assert.equal(g.unicastNextHop(N(2)), N(1), 'gossip routes use any listed connection');
  assert.equal(g.unicastNextHop(N(3)), N(3));
});

test("the topology's indexed broadcast children equal the reference computation", async () => {
  const { Topology } = await import('../../../src/mesh/topology.js');
  for (let seed = 1; seed <= 100; seed++) {
    const { n, peers } = randomWorld(seed);
    const self = peers.get(N(0))!;
    const t = new Topology({ name: self.name, nickname: self.nickname, uid: self.uid });
    t.setLocalConnections(self.connections);
    t.mergeDelta([...peers.values()].filter((e) => e.name !== self.name));
    assert.equal(t.checkInvariants(), undefined);
    for (let o = 0; o < n; o++) {
      assert.deepEqual(t.broadcastChildren(N(o)), broadcastChildren(t.asMap(), N(0), N(o), 'all'), `seed ${seed} origin ${o}`);
    }
  }
});
