// Routes: a pure function of the topology (DESIGN.md §3, mesh routes.go). No weights, no state.
//
// Two graphs over the same topology:
//  - 'established' (data routes, what frames use): edge p–q iff p lists q as established AND q lists p
//    as established (mesh "establishedAndSymmetric"). unicastNextHop / broadcastNextHops for the data plane.
//  - 'all' (gossip routes, mesh UnicastAll/BroadcastAll): edge p→q iff p lists q, established or not,
//    since control messages ride the TCP connection which exists before UDP is confirmed.
//
// Unicast: BFS from us; neighbours are visited in name order, so the next hop to a destination is the
// smallest-named neighbour that starts a shortest path to it (deterministic, same on every peer).
// Broadcast: for origin s, the BFS tree rooted at s built with the same ordering; each peer forwards to
// its children in that tree. When every peer holds the same topology, a broadcast reaches every peer
// reachable from s exactly once. Trees are computed lazily per origin and cached.

import type { PeerName } from '../core/types.js';
import type { PeerEntry } from './topology.js';

export type RouteMode = 'established' | 'all';

export class Routes {
  readonly mode: RouteMode;
  readonly self: PeerName;
  /** Destination → next hop, for every peer reachable from us (self excluded). */
  readonly unicast: ReadonlyMap<PeerName, PeerName>;
  private readonly names: PeerName[];
  private readonly index: Map<PeerName, number>;
  /** adj[i] = sorted neighbour indices of names[i]. */
  private readonly adj: Int32Array[];
  private readonly selfIndex: number;
  private readonly broadcastCache = new Map<PeerName, readonly PeerName[]>();

  constructor(peers: ReadonlyMap<PeerName, PeerEntry>, self: PeerName, mode: RouteMode) {
    this.mode = mode;
    this.self = self;
    this.names = [...peers.keys()].sort();
    this.index = new Map(this.names.map((n, i) => [n, i]));
    this.adj = buildAdjacency(peers, this.names, this.index, mode);
    this.selfIndex = this.index.get(self) ?? -1;
    this.unicast = this.computeUnicast();
  }

  unicastNextHop(dst: PeerName): PeerName | undefined {
    return this.unicast.get(dst);
  }

  isReachable(name: PeerName): boolean {
    return name === this.self || this.unicast.has(name);
  }

  /** Reachable peers, self first, then by name. */
  reachablePeers(): PeerName[] {
    return [this.self, ...[...this.unicast.keys()].sort()];
  }

  /** Our direct neighbours in this graph, by name. */
  neighbours(): PeerName[] {
    if (this.selfIndex < 0) return [];
    return [...this.adj[this.selfIndex]!].map((i) => this.names[i]!);
  }

  /** Neighbours to forward a broadcast from `origin` to (our children in origin's BFS tree). */
  broadcastNextHops(origin: PeerName): readonly PeerName[] {
    let hops = this.broadcastCache.get(origin);
    if (!hops) {
      hops = this.computeBroadcast(origin);
      this.broadcastCache.set(origin, hops);
    }
    return hops;
  }

  /** Same next-hop maps (used to decide whether to announce a routes change). */
  sameUnicast(other: Routes | undefined): boolean {
    if (!other || other.unicast.size !== this.unicast.size) return false;
    for (const [dst, hop] of this.unicast) if (other.unicast.get(dst) !== hop) return false;
    return true;
  }

  private computeUnicast(): Map<PeerName, PeerName> {
    const out = new Map<PeerName, PeerName>();
    if (this.selfIndex < 0) return out;
    const n = this.names.length;
    const hop = new Int32Array(n).fill(-1);
    const queue = new Int32Array(n);
    let head = 0;
    let tail = 0;
    hop[this.selfIndex] = this.selfIndex;
    for (const j of this.adj[this.selfIndex]!) {
      if (hop[j] === -1) {
        hop[j] = j;
        queue[tail++] = j;
      }
    }
    while (head < tail) {
      const i = queue[head++]!;
      for (const j of this.adj[i]!) {
        if (hop[j] === -1) {
          hop[j] = hop[i]!;
          queue[tail++] = j;
        }
      }
    }
    for (let k = 0; k < tail; k++) {
      const i = queue[k]!;
      out.set(this.names[i]!, this.names[hop[i]!]!);
    }
    return out;
  }

  private computeBroadcast(origin: PeerName): PeerName[] {
    const o = this.index.get(origin);
    if (o === undefined || this.selfIndex < 0) return [];
    const n = this.names.length;
    const seen = new Uint8Array(n);
    const queue = new Int32Array(n);
    let head = 0;
    let tail = 0;
    seen[o] = 1;
    queue[tail++] = o;
    while (head < tail) {
      const i = queue[head++]!;
      const children: number[] = [];
      for (const j of this.adj[i]!) {
        if (!seen[j]) {
          seen[j] = 1;
          queue[tail++] = j;
          if (i === this.selfIndex) children.push(j);
        }
      }
      // Our children are fixed once we have been expanded; the rest of the tree does not matter to us.
      if (i === this.selfIndex) return children.map((j) => this.names[j]!);
    }
    return [];
  }
}

function buildAdjacency(
  peers: ReadonlyMap<PeerName, PeerEntry>,
  names: readonly PeerName[],
  index: ReadonlyMap<PeerName, number>,
  mode: RouteMode,
): Int32Array[] {
  const adj: Int32Array[] = [];
  for (const name of names) {
    const e = peers.get(name)!;
    const list: number[] = [];
    for (const c of e.connections) {
      const j = index.get(c.name);
      if (j === undefined) continue;
      if (mode === 'established') {
        if (!c.established || !listsEstablished(peers.get(c.name)!, name)) continue;
      }
      list.push(j);
    }
    // connections are sorted by name and names[] is sorted, so indices are ascending already.
    adj.push(Int32Array.from(list));
  }
  return adj;
}

function listsEstablished(e: PeerEntry, name: PeerName): boolean {
  const cs = e.connections;
  let lo = 0;
  let hi = cs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = cs[mid]!;
    if (c.name === name) return c.established;
    if (c.name < name) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * Our children in `origin`'s broadcast tree, computed straight from the topology (no tables): the same
 * tree as Routes.broadcastNextHops (entries' connections are sorted by name, so the BFS visits
 * neighbours in the same order). Used for gossip relays, which must follow the freshest topology:
 * relaying along a stale tree can loop a broadcast between peers that disagree.
 */
export function broadcastChildren(
  peers: ReadonlyMap<PeerName, PeerEntry>,
  self: PeerName,
  origin: PeerName,
  mode: RouteMode,
): PeerName[] {
  if (!peers.has(origin) || !peers.has(self)) return [];
  // (peers.get below is only reached for names we queued, which have entries, except leaf neighbours.)
  const seen = new Set<PeerName>([origin]);
  const queue: PeerName[] = [origin];
  for (let h = 0; h < queue.length; h++) {
    const name = queue[h]!;
    const e = peers.get(name);
    if (!e) continue;
    const children: PeerName[] = [];
    for (const c of e.connections) {
      if (seen.has(c.name)) continue;
      const other = peers.get(c.name);
      // A neighbour whose entry we have not received yet still gets gossip ('all'), never data.
      if (!other && (mode === 'established' || name !== self)) continue;
      if (mode === 'established' && (!c.established || !listsEstablished(other!, name))) continue;
      seen.add(c.name);
      queue.push(c.name);
      if (name === self) children.push(c.name);
    }
    if (name === self) return children;
  }
  return [];
}
