import { test } from 'vitest';
import assert from 'node:assert/strict';
import { type PeerName, peerNameFromNumber } from '../../../src/core/types.js';
import { Paxos, determineQuorum } from '../../../src/ipam/paxos.js';
import { seededRng } from '../../support/rng.js';

const names = (n: number): PeerName[] => Array.from({ length: n }, (_, i) => peerNameFromNumber(i + 1));

/** Exchanges full state between every pair inside each group until nothing changes. */
function gossipUntilQuiet(nodes: Paxos[], groups: number[][]): void {
  for (let round = 0; round < 50; round++) {
    let changed = false;
    for (const g of groups) {
      for (const i of g) {
        for (const j of g) {
          if (i === j) continue;
          const d = nodes[j]!.merge(nodes[i]!.state());
          if (d && !nodes[j]!.isParticipating) nodes[j]!.join();
          if (d) changed = true;
          if (nodes[j]!.think()) changed = true;
        }
      }
    }
    if (!changed) return;
  }
}

test('quorum follows Weave: N/2+1, else a majority of targets + self', () => {
  assert.equal(determineQuorum(3, 99), 2);
  assert.equal(determineQuorum(4, 1), 3);
  assert.equal(determineQuorum(undefined, 1), 1);
  assert.equal(determineQuorum(undefined, 3), 2);
  assert.equal(determineQuorum(undefined, 50), 26);
});

test('a single peer with quorum 1 decides alone', () => {
  const [a] = names(1);
  const p = new Paxos(a!, 1);
  p.propose();
  p.think();
  assert.deepEqual(p.consensus(), [a]);
});

test('three peers reach consensus on the peers heard from', () => {
  const ns = names(3);
  const nodes = ns.map((n) => new Paxos(n, 2));
  nodes[0]!.propose();
  nodes[0]!.think();
  gossipUntilQuiet(nodes, [[0, 1, 2]]);
  const v = nodes[0]!.consensus();
  // The value is whoever the proposer had heard from when a quorum promised: at least 2 of the 3.
  assert.ok(v && v.length >= 2 && v.includes(ns[0]!), `decided ${v}`);
  for (const n of nodes) assert.deepEqual(n.consensus(), v);
});

test('a minority partition never decides; the majority does, and the minority learns that value', () => {
  const ns = names(5);
  const nodes = ns.map((n) => new Paxos(n, 3));
  for (const i of [0, 1, 2, 3, 4]) {
    nodes[i]!.propose();
    nodes[i]!.think();
  }
  gossipUntilQuiet(nodes, [[0, 1], [2, 3, 4]]);
  assert.equal(nodes[0]!.consensus(), undefined);
  assert.equal(nodes[1]!.consensus(), undefined);
  // The majority may need a retry after duelling proposals.
  for (let k = 0; k < 5 && !nodes[2]!.consensus(); k++) {
    nodes[2 + k % 3]!.propose();
    nodes[2 + k % 3]!.think();
    gossipUntilQuiet(nodes, [[0, 1], [2, 3, 4]]);
  }
  const decided = nodes[2]!.consensus();
  assert.ok(decided && decided.length >= 3);
  assert.equal(nodes[0]!.consensus(), undefined);
  gossipUntilQuiet(nodes, [[0, 1, 2, 3, 4]]);
  for (const n of nodes) assert.deepEqual(n.consensus(), decided);
});

test('safety under random schedules: every node that decides decides the same value', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rng = seededRng(seed);
    const n = 3 + rng.int(5);
    const q = Math.floor(n / 2) + 1;
    const ns = names(n);
    const nodes = ns.map((x) => new Paxos(x, q));
    for (let step = 0; step < 300; step++) {
      const r = rng.float();
      const i = rng.int(n);
      if (r < 0.08) {
        nodes[i]!.propose();
        nodes[i]!.think();
      } else {
        // one-way partial delivery of a possibly old snapshot: merge of the current state
        const j = rng.int(n);
        if (i === j) continue;
        const d = nodes[j]!.merge(nodes[i]!.state());
        if (d && !nodes[j]!.isParticipating) nodes[j]!.join();
        nodes[j]!.think();
      }
      const decided = new Set(nodes.map((x) => x.consensus()).filter(Boolean).map((v) => v!.join(',')));
      assert.ok(decided.size <= 1, `seed ${seed}: two different values decided: ${[...decided].join(' | ')}`);
    }
  }
});
