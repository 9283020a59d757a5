// 200 routers in one process: join through one target each, converge; then link failures, restarts
// and a partition; heal; converge again. After each phase every peer's routes must match a reference
// BFS over the connections that really exist, and a broadcast from random origins must reach every
// reachable peer exactly once (data-plane trees and gossip broadcasts alike).

import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { Gossiper } from '../../src/core/gossip.js';
import type { PeerName } from '../../src/core/types.js';
import { ReferenceGraph, SimNetwork, type FlushResult, type SimPeer } from '../support/sim-network.js';

const PEERS = Number(process.env.MESH_SIM_PEERS ?? 200);

/** The graph that really exists: established at both ends, both alive. */
function truthGraph(net: SimNetwork): ReferenceGraph {
  const alive = net.alivePeers();
  const adj = new Map<PeerName, Set<PeerName>>(alive.map((p) => [p.name, new Set()]));
  const byName = new Map(alive.map((p) => [p.name, p]));
  for (const p of alive) {
    for (const c of p.router.connections()) {
      const q = byName.get(c.remoteName);
      if (!q || !p.router.isConnectionEstablished(q.name)) continue;
      const back = q.router.connectionTo(p.name);
      if (back && q.router.isConnectionEstablished(p.name)) adj.get(p.name)!.add(q.name);
    }
  }
  return new ReferenceGraph(adj);
}

/** Connected components of the truth graph: peer name → component id. */
function components(net: SimNetwork): Map<PeerName, number> {
  const ref = truthGraph(net);
  const comp = new Map<PeerName, number>();
  let id = 0;
  for (const start of ref.names) {
    if (comp.has(start)) continue;
    const queue = [start];
    comp.set(start, id);
    while (queue.length) {
      for (const v of ref.adj.get(queue.pop()!) ?? []) {
        if (!comp.has(v)) {
          comp.set(v, id);
          queue.push(v);
        }
      }
    }
    id++;
  }
  return comp;
}

/** Every peer's view = exactly its component's members, each at the owner's (uid, version). */
function viewsAgree(net: SimNetwork): string | undefined {
  const comp = components(net);
  const size = new Map<number, number>();
  for (const c of comp.values()) size.set(c, (size.get(c) ?? 0) + 1);
  const owners = new Map(net.alivePeers().map((p) => [p.name, p.router.topology.self]));
  for (const p of net.alivePeers()) {
    const mine = comp.get(p.name)!;
    const entries = p.router.topology.entries();
    if (entries.length !== size.get(mine)) return `${p.nickname} knows ${entries.length} peers, its component has ${size.get(mine)}`;
    for (const e of entries) {
      if (comp.get(e.name) !== mine) return `${p.nickname} knows ${e.name} outside its component`;
      const truth = owners.get(e.name)!;
      if (e.uid !== truth.uid || e.version !== truth.version) {
        return `${p.nickname} has ${e.name} v${e.version}/${e.uid}, owner is at v${truth.version}/${truth.uid}`;
      }
    }
  }
  return undefined;
}

/**
 * Runs the mesh until `done()` and views agree (checked every 250 ms of simulated time), or until quiet
 * when `toQuiet` (the join: discovery keeps adding connections after the first agreement).
 */
async function converge(
  net: SimNetwork, label: string, log: (s: string) => void,
  opts: { done?: () => boolean; toQuiet?: boolean; maxMs?: number } = {},
): Promise<FlushResult> {
  const m0 = net.stats.messages;
  const b0 = net.stats.bytes;
  const until = opts.toQuiet ? undefined : () => (opts.done?.() ?? true) && viewsAgree(net) === undefined;
  const r = await net.flush({ maxMs: opts.maxMs ?? 15 * 60_000, ...(until ? { until } : {}) });
  const why = viewsAgree(net);
  const bytes = net.stats.bytes - b0;
  log(`${label}: ${opts.toQuiet ? 'quiet' : 'converged'} after ${(r.simMs / 1000).toFixed(1)} s simulated, ` +
    `${r.rounds} delivery rounds, ${net.stats.messages - m0} messages, ${(bytes / 1e6).toFixed(1)} MB ` +
    `(${Math.round(bytes / net.alivePeers().length / 1000)} kB/peer)`);
  assert.equal(why, undefined, `${label}: ${why}`);
  assert.ok(opts.toQuiet ? r.quiet : r.done, `${label}: did not finish in time`);
  return r;
}

const oneMesh = (net: SimNetwork) => (): boolean => new Set(components(net).values()).size === 1;

function checkRoutes(net: SimNetwork, label: string): void {
  const ref = truthGraph(net);
  const alive = net.alivePeers();
  for (const p of alive) {
    p.router.recalculateRoutes();
    for (const q of alive) {
      if (q === p) continue;
      assert.equal(p.router.unicastNextHop(q.name), ref.nextHop(p.name, q.name), `${label}: ${p.nickname} → ${q.nickname}`);
    }
  }
}

/** Floods from `origin` along each peer's own broadcastNextHops (what the data plane does). */
function checkDataBroadcast(net: SimNetwork, origin: SimPeer, label: string): void {
  const ref = truthGraph(net);
  const byName = new Map(net.alivePeers().map((p) => [p.name, p]));
  const got = new Map<PeerName, number>();
  const queue: PeerName[] = [origin.name];
  while (queue.length) {
    const at = byName.get(queue.shift()!)!;
    for (const hop of at.router.broadcastNextHops(origin.name)) {
      got.set(hop, (got.get(hop) ?? 0) + 1);
      if (got.get(hop)! > 1) break; // a loop: reported below
      queue.push(hop);
    }
  }
  const expected = ref.reachable(origin.name).filter((n) => n !== origin.name).sort();
  assert.deepEqual([...got.keys()].sort(), expected, `${label}: broadcast from ${origin.nickname} covers its component`);
  for (const [n, c] of got) assert.equal(c, 1, `${label}: ${n} got a broadcast from ${origin.nickname} ${c} times`);
}

class CountingGossiper implements Gossiper {
  readonly got = new Map<string, number>();
  gossip(): undefined {
    return undefined;
  }
  onGossip(): undefined {
    return undefined;
  }
  onGossipBroadcast(_src: PeerName, data: Uint8Array): undefined {
    const k = Buffer.from(data).toString();
    this.got.set(k, (this.got.get(k) ?? 0) + 1);
  }
  onGossipUnicast(): void {}
}

async function checkGossipBroadcast(net: SimNetwork, origins: SimPeer[], label: string, channels: Map<SimPeer, CountingGossiper>): Promise<void> {
  for (const o of origins) {
    const gossip = o.router.registerChannel('dns', channels.get(o) ?? new CountingGossiper());
    gossip.gossipBroadcast(Buffer.from(`${label}:${o.nickname}`));
  }
  await net.flush();
  const ref = truthGraph(net);
  for (const o of origins) {
    const key = `${label}:${o.nickname}`;
    const members = new Set(ref.reachable(o.name));
    for (const p of net.alivePeers()) {
      const n = channels.get(p)!.got.get(key) ?? 0;
      assert.equal(n, p === o || !members.has(p.name) ? 0 : 1, `${label}: ${p.nickname} got ${key} ${n} times`);
    }
  }
}

test(`mesh: ${PEERS} peers join through one target each, survive failures and a partition, converge`, async () => {
  const wall0 = performance.now();
  const log = (s: string): void => console.log(s);
  // Discovery would connect everyone to everyone (Weave's default up to --conn-limit); the limits keep
  // the mesh sparse (5..~15 connections per peer) so 200 routers fit in one test process.
  const net = new SimNetwork({ seed: 2024, connLimit: 30, discoveryLimit: 5, latencyMs: [1, 8] });
  for (let i = 0; i < PEERS; i++) {
    const known = i === 0 ? [] : [net.peers[net.rng.int(i)]!.address];
    net.addPeer({ targets: known });
  }
  const pick = (n: number): SimPeer[] => {
    const alive = net.alivePeers();
    return Array.from({ length: n }, () => alive[net.rng.int(alive.length)]!);
  };

  // 1. Join.
  await converge(net, 'join', log, { toQuiet: true });
  const degrees = net.peers.map((p) => p.router.connectionCount);
  log(`degrees: min ${Math.min(...degrees)}, mean ${(degrees.reduce((a, b) => a + b, 0) / PEERS).toFixed(1)}, max ${Math.max(...degrees)}`);
  checkRoutes(net, 'join');
  for (const o of pick(5)) checkDataBroadcast(net, o, 'join');

  // 2. Random link failures and three router restarts (new uids).
  let cut = 0;
  for (let i = 0; i < 40; i++) {
    const p = pick(1)[0]!;
    const cs = p.router.connections();
    if (cs.length === 0) continue;
    net.cutLink(p, net.peer(cs[net.rng.int(cs.length)]!.remoteName));
    cut++;
  }
  const restarted = pick(3).filter((p, i, a) => a.indexOf(p) === i);
  for (const p of restarted) net.restart(p, [net.peers[0]!.address]);
  await converge(net, `${cut} link failures + ${restarted.length} restarts`, log, { done: oneMesh(net) });
  for (const p of restarted) {
    const now = net.peer(p.name);
    assert.notEqual(now.uid, p.uid);
    for (const q of net.alivePeers()) assert.equal(q.router.topology.get(p.name)?.uid, now.uid, `${q.nickname} re-learnt ${p.nickname}`);
  }
  checkRoutes(net, 'failures');

  // 3. Partition into two halves: each side converges on its own.
  const alive = net.alivePeers();
  const left = alive.filter((_, i) => i % 2 === 0);
  const right = alive.filter((_, i) => i % 2 === 1);
  net.partition(left, right);
  await converge(net, 'partition', log);
  checkRoutes(net, 'partition');
  assert.ok(left.every((p) => !p.router.isReachable(right[0]!.name)), 'halves are apart');
  for (const o of [left[0]!, right[0]!]) checkDataBroadcast(net, o, 'partition');

  // 4. Heal: the connection makers' retries find the other side again.
  net.heal();
  await converge(net, 'heal', log, { done: oneMesh(net) });
  checkRoutes(net, 'heal');
  const ref = truthGraph(net);
  assert.equal(ref.reachable(net.alivePeers()[0]!.name).length, net.alivePeers().length, 'one mesh again');
  const origins = pick(6).filter((p, i, a) => a.indexOf(p) === i);
  for (const o of origins) checkDataBroadcast(net, o, 'heal');
  const channels = new Map(net.alivePeers().map((p) => [p, new CountingGossiper()]));
  for (const p of net.alivePeers()) if (!origins.includes(p)) p.router.registerChannel('dns', channels.get(p)!);
  await checkGossipBroadcast(net, origins, 'heal', channels);

  for (const p of net.alivePeers()) assert.equal(p.router.topology.checkInvariants(), undefined);
  log(`total: ${net.stats.messages} messages, ${(net.stats.bytes / 1e6).toFixed(1)} MB, ${net.stats.dials} dials, ` +
    `${((performance.now() - wall0) / 1000).toFixed(1)} s wall`);
});
