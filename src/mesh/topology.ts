// The topology CRDT: every peer's own view of its connections, gossiped on the 'topology' channel
// (DESIGN.md §3, mesh peers.go / local_peer.go). Pure: no clock, no I/O.
//
// State: one PeerEntry per peer name. Merge is a per-name max over (version, uid):
//  - only the owner bumps its version (on every change of its connection list);
//  - a higher version wins; on equal versions the larger uid wins (deterministic, so merge commutes);
//  - an entry about *us* is never adopted: if the mesh still remembers a previous incarnation of us
//    (another uid) at a version ≥ ours, we bump our version beyond it so our entry wins everywhere.
//    This is how a restarted peer (new uid, version 1) replaces the old entry.
// After a merge, peers not reachable from us over *listed* connections (directed: p's entry lists q)
// are garbage-collected. GC runs inside mergeDelta so that an unreachable peer is never re-gossiped
// (otherwise a dead peer would bounce around the mesh forever). The price: a partial update that
// mentions a new peer must also carry an entry that connects it (the Router's batched broadcast
// carries our entry plus the entries of newly connected peers, and relayed deltas carry our entry).

import { ProtocolError } from '../core/errors.js';
import { isPeerName, type PeerName } from '../core/types.js';

export interface ConnectionSummary {
  /** The peer at the other end. */
  readonly name: PeerName;
  /** "ip:port" as the entry's owner sees it (outbound: dialled; inbound: remote source address). */
  readonly address: string;
  readonly outbound: boolean;
  /** Confirmed by the data plane (UDP both ways, or TCP fallback chosen). Only these carry routes. */
  readonly established: boolean;
  /** The remote's listen port from its hello (0 = unknown); discovery dials host(address):listenPort. */
  readonly listenPort: number;
}

export interface PeerEntry {
  readonly name: PeerName;
  readonly nickname: string;
  /** Random per router start; a new uid means the peer restarted. */
  readonly uid: string;
  /** Bumped by the owner only, on every change of its entry. */
  readonly version: number;
  /** Sorted by name, no duplicates, never the entry's own name. */
  readonly connections: readonly ConnectionSummary[];
}

export interface TopologyDelta {
  /** Entries that changed our state (and survived GC), self included when we bumped. Re-gossip these. */
  readonly updated: PeerEntry[];
  /** Peers garbage-collected because they became unreachable. */
  readonly removed: PeerName[];
  /** We bumped our own version past a stale incarnation of ourselves; our entry must be re-broadcast. */
  readonly selfBumped: boolean;
}

export interface TopologyInit {
  name: PeerName;
  nickname: string;
  uid: string;
}

/** Versions stay far from the unsafe-integer range even if a hostile peer pushes ours up. */
export const MAX_TOPOLOGY_VERSION = 2 ** 52;

/** a is newer than b (same name assumed). */
export function isNewerEntry(a: PeerEntry, b: PeerEntry): boolean {
  return a.version > b.version || (a.version === b.version && a.uid > b.uid);
}

const NO_NEIGHBOURS = new Int32Array(0);

export class Topology {
  readonly localName: PeerName;
  private readonly peers = new Map<PeerName, PeerEntry>();
  private gen = 0;
  // An integer index kept in step with `peers`, so the per-message BFS (broadcast relays, GC) runs over
  // typed arrays instead of string maps. Every name seen (entry or connection) gets an id; ids are
  // compacted when most of them belong to forgotten peers.
  private idOf = new Map<PeerName, number>();
  private nameOf: PeerName[] = [];
  private adj: Int32Array[] = [];
  private hasEntry: boolean[] = [];
  private stamp = new Uint32Array(0);
  private stampGen = 0;
  private queue = new Int32Array(0);

  constructor(init: TopologyInit) {
    this.localName = init.name;
    this.put({ name: init.name, nickname: init.nickname, uid: init.uid, version: 1, connections: [] });
  }

  /** Increments on every change; cheap change detection for caches (routes, encoded state). */
  get generation(): number {
    return this.gen;
  }

  get self(): PeerEntry {
    return this.peers.get(this.localName)!;
  }

  get size(): number {
    return this.peers.size;
  }

  get(name: PeerName): PeerEntry | undefined {
    return this.peers.get(name);
  }

  has(name: PeerName): boolean {
    return this.peers.has(name);
  }

  /** All entries, self first, then by name. */
  entries(): PeerEntry[] {
    const others = [...this.peers.values()].filter((e) => e.name !== this.localName);
    others.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return [this.self, ...others];
  }

  /** Map view for route computation (read-only by convention). */
  asMap(): ReadonlyMap<PeerName, PeerEntry> {
    return this.peers;
  }

  /**
   * Replaces our own connection list (the Router's truth) and bumps our version if it changed.
   * Returns the peers garbage-collected as a result (e.g. the far side of a lost connection).
   */
  setLocalConnections(conns: readonly ConnectionSummary[]): { changed: boolean; removed: PeerName[] } {
    const sorted = normaliseConnections(conns);
    const old = this.self;
    if (sameConnections(old.connections, sorted)) return { changed: false, removed: [] };
    this.put({ ...old, version: old.version + 1, connections: sorted });
    this.gen++;
    const removed = lostAny(old.connections, sorted) ? this.garbageCollect() : [];
    return { changed: true, removed };
  }

  /**
   * Merges entries received from the mesh. Returns what was new to us (or undefined when nothing was:
   * merging the same data twice yields undefined the second time).
   */
  mergeDelta(update: readonly PeerEntry[]): TopologyDelta | undefined {
    const changed = new Map<PeerName, PeerEntry>();
    const added = new Set<PeerName>();
    let needGc = false;
    let selfBumped = false;
    for (const e of update) {
      if (e.name === this.localName) {
        const self = this.self;
        const stale = e.uid !== self.uid ? e.version >= self.version : e.version > self.version;
        if (stale) {
          // A previous incarnation of us (or a forged entry): move past it, keep our own connections.
          const version = Math.min(e.version + 1, MAX_TOPOLOGY_VERSION);
          if (version > self.version) {
            this.put({ ...self, version });
            selfBumped = true;
          }
        }
        continue;
      }
      const cur = this.peers.get(e.name);
      if (cur && !isNewerEntry(e, cur)) continue;
      if (!cur) added.add(e.name);
      if (!cur || cur.uid !== e.uid || lostAny(cur.connections, e.connections)) needGc = true;
      this.put(e);
      changed.set(e.name, e);
    }
    if (changed.size === 0 && !selfBumped) return undefined;
    this.gen++;
    const collected = needGc ? this.garbageCollect() : [];
    // A peer added and collected in the same merge is no change at all.
    const removed = collected.filter((name) => !added.has(name));
    for (const name of collected) changed.delete(name);
    const updated = [...changed.values()];
    if (selfBumped) updated.unshift(this.self);
    if (updated.length === 0 && removed.length === 0) return undefined;
    return { updated, removed, selfBumped };
  }

  /** Drops peers not reachable from us over listed connections; returns their names. */
  garbageCollect(): PeerName[] {
    const g = this.bfs(this.idOf.get(this.localName)!, -1);
    const removed: PeerName[] = [];
    for (const name of this.peers.keys()) {
      if (this.stamp[this.idOf.get(name)!] !== g) removed.push(name);
    }
    for (const name of removed) {
      this.peers.delete(name);
      const i = this.idOf.get(name)!;
      this.hasEntry[i] = false;
      this.adj[i] = NO_NEIGHBOURS;
    }
    if (removed.length > 0) {
      this.gen++;
      if (this.nameOf.length > 4 * this.peers.size + 1024) this.reindex();
    }
    return removed.sort();
  }

  /**
   * Our children in `origin`'s broadcast tree over listed connections ('all' routes), from the current
   * state. Same result as routes.ts broadcastChildren(…, 'all'), without building tables: this runs
   * for every gossip broadcast we relay.
   */
  broadcastChildren(origin: PeerName): PeerName[] {
    const o = this.idOf.get(origin);
    if (o === undefined || !this.hasEntry[o]) return [];
    const self = this.idOf.get(this.localName)!;
    const children: PeerName[] = [];
    this.bfs(o, self, children);
    return children;
  }

  /** Inserts or replaces an entry, keeping the index in step. */
  private put(e: PeerEntry): void {
    this.peers.set(e.name, e);
    const i = this.idFor(e.name);
    this.hasEntry[i] = true;
    const a = new Int32Array(e.connections.length);
    for (let k = 0; k < a.length; k++) a[k] = this.idFor(e.connections[k]!.name);
    this.adj[i] = a;
  }

  private idFor(name: PeerName): number {
    let i = this.idOf.get(name);
    if (i === undefined) {
      i = this.nameOf.length;
      this.idOf.set(name, i);
      this.nameOf.push(name);
      this.adj.push(NO_NEIGHBOURS);
      this.hasEntry.push(false);
    }
    return i;
  }

  private reindex(): void {
    this.idOf = new Map();
    this.nameOf = [];
    this.adj = [];
    this.hasEntry = [];
    for (const e of this.peers.values()) this.put(e);
  }

  /**
   * BFS from id `from` over listed connections to peers with entries (our own neighbours count even
   * without an entry when `expand` is us). Marks visited ids with the returned stamp. When `expand` ≥ 0,
   * stops right after expanding it and pushes the names it discovered (its children) into `children`.
   */
  private bfs(from: number, expand: number, children?: PeerName[]): number {
    const n = this.nameOf.length;
    if (this.stamp.length < n) {
      this.stamp = new Uint32Array(Math.max(n, 2 * this.stamp.length));
      this.queue = new Int32Array(this.stamp.length);
      this.stampGen = 0;
    }
    if (this.stampGen === 0xffffffff) {
      this.stamp.fill(0);
      this.stampGen = 0;
    }
    const g = ++this.stampGen;
    const stamp = this.stamp;
    const queue = this.queue;
    let head = 0;
    let tail = 0;
    stamp[from] = g;
    queue[tail++] = from;
    while (head < tail) {
      const i = queue[head++]!;
      const isExpand = i === expand;
      const a = this.adj[i]!;
      for (let k = 0; k < a.length; k++) {
        const j = a[k]!;
        if (stamp[j] === g) continue;
        if (!this.hasEntry[j] && !isExpand) continue;
        stamp[j] = g;
        queue[tail++] = j;
        if (isExpand) children!.push(this.nameOf[j]!);
      }
      if (isExpand) return g;
    }
    return g;
  }

  /** Structural invariants (STYLE §2.2): undefined when all hold. Tests call it after every merge. */
  checkInvariants(): Error | undefined {
    const self = this.peers.get(this.localName);
    if (!self) return new Error(`topology lost its own entry ${this.localName}`);
    for (const [name, e] of this.peers) {
      if (e.name !== name) return new Error(`topology entry stored under ${name} names ${e.name}`);
      if (!Number.isSafeInteger(e.version) || e.version < 1) return new Error(`peer ${name} has invalid version ${e.version}`);
      for (let i = 0; i < e.connections.length; i++) {
        const c = e.connections[i]!;
        if (c.name === name) return new Error(`peer ${name} lists a connection to itself`);
        if (i > 0 && e.connections[i - 1]!.name >= c.name) {
          return new Error(`peer ${name} connections not sorted/unique at ${c.name}`);
        }
      }
    }
    const reached = reachableFrom(this.peers, this.localName);
    for (const name of this.peers.keys()) {
      if (!reached.has(name)) return new Error(`peer ${name} is unreachable but was not garbage-collected`);
    }
    return undefined;
  }
}

/** Names reachable from `from` following each reached peer's listed connections (to known peers). */
export function reachableFrom(peers: ReadonlyMap<PeerName, PeerEntry>, from: PeerName): Set<PeerName> {
  const seen = new Set<PeerName>([from]);
  const queue: PeerName[] = [from];
  for (let i = 0; i < queue.length; i++) {
    const e = peers.get(queue[i]!);
    if (!e) continue;
    for (const c of e.connections) {
      if (!seen.has(c.name) && peers.has(c.name)) {
        seen.add(c.name);
        queue.push(c.name);
      }
    }
  }
  return seen;
}

function normaliseConnections(conns: readonly ConnectionSummary[]): ConnectionSummary[] {
  return [...conns].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function sameConnections(a: readonly ConnectionSummary[], b: readonly ConnectionSummary[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.address !== y.address || x.outbound !== y.outbound
      || x.established !== y.established || x.listenPort !== y.listenPort) return false;
  }
  return true;
}

/** True when `b` lacks a connection name that `a` has (both sorted by name). */
function lostAny(a: readonly ConnectionSummary[], b: readonly ConnectionSummary[]): boolean {
  let j = 0;
  for (const c of a) {
    while (j < b.length && b[j]!.name < c.name) j++;
    if (j >= b.length || b[j]!.name !== c.name) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Validation shared by the codec: entries from the network pass through here before any merge.

export const TOPOLOGY_LIMITS = {
  maxPeers: 10_000,
  maxConnectionsPerPeer: 4_096,
  maxNicknameChars: 255,
  maxUidChars: 64,
  maxAddressChars: 270,
} as const;

const UID_RE = /^[0-9A-Za-z_-]+$/;
// Printable ASCII without spaces: IPv4/hostname/[IPv6] with a port.
const ADDRESS_RE = /^[\x21-\x7e]+$/;

export function validateEntry(e: PeerEntry): void {
  if (!isPeerName(e.name)) throw new ProtocolError(`topology: invalid peer name ${JSON.stringify(e.name)}`);
  if (typeof e.nickname !== 'string' || e.nickname.length > TOPOLOGY_LIMITS.maxNicknameChars) {
    throw new ProtocolError(`topology: peer ${e.name} nickname must be a string of at most ${TOPOLOGY_LIMITS.maxNicknameChars} chars`);
  }
  if (typeof e.uid !== 'string' || e.uid.length === 0 || e.uid.length > TOPOLOGY_LIMITS.maxUidChars || !UID_RE.test(e.uid)) {
    throw new ProtocolError(`topology: peer ${e.name} uid must be 1..${TOPOLOGY_LIMITS.maxUidChars} chars [0-9A-Za-z_-]`);
  }
  if (!Number.isSafeInteger(e.version) || e.version < 1 || e.version > MAX_TOPOLOGY_VERSION) {
    throw new ProtocolError(`topology: peer ${e.name} version ${String(e.version)} must be an integer 1..2^52`);
  }
  if (e.connections.length > TOPOLOGY_LIMITS.maxConnectionsPerPeer) {
    throw new ProtocolError(`topology: peer ${e.name} lists ${e.connections.length} connections, limit ${TOPOLOGY_LIMITS.maxConnectionsPerPeer}`);
  }
  for (let i = 0; i < e.connections.length; i++) {
    const c = e.connections[i]!;
    if (!isPeerName(c.name)) throw new ProtocolError(`topology: peer ${e.name} lists an invalid peer name`);
    if (c.name === e.name) throw new ProtocolError(`topology: peer ${e.name} lists a connection to itself`);
    if (i > 0 && e.connections[i - 1]!.name >= c.name) {
      throw new ProtocolError(`topology: peer ${e.name} connections must be sorted and unique (at ${c.name})`);
    }
    if (typeof c.address !== 'string' || c.address.length > TOPOLOGY_LIMITS.maxAddressChars
      || (c.address !== '' && !ADDRESS_RE.test(c.address))) {
      throw new ProtocolError(`topology: peer ${e.name} connection to ${c.name} has an invalid address`);
    }
    if (!Number.isInteger(c.listenPort) || c.listenPort < 0 || c.listenPort > 65535) {
      throw new ProtocolError(`topology: peer ${e.name} connection to ${c.name} listen port must be 0..65535`);
    }
  }
}
