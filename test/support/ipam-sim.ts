// An in-memory mesh just for IPAM: N allocators, a shared FakeClock, messages delivered after a random
// latency (so order across links is random), partitions, kills, restarts from persisted bytes, and the
// mesh's gossip behaviour (broadcast to every reachable peer, neighbour gossip with delta re-gossip, full
// state to newly reachable peers, periodic full gossip). Seeded: same seed, same run.
import type { Gossip, PeerDirectory } from '../../src/core/gossip.js';
import type { Rng } from '../../src/core/ports.js';
import { type Cidr, type PeerName, peerNameFromNumber } from '../../src/core/types.js';
import { silentLogger } from '../../src/core/logger.js';
import { Allocator, type AllocatorInit, type IpamMode } from '../../src/ipam/allocator.js';
import { decodePersisted } from '../../src/ipam/messages.js';
import { Ring } from '../../src/ipam/ring.js';
import type { AddrRange } from '../../src/ipam/addr-range.js';
import { EventHeap } from './event-heap.js';
import { FakeClock } from './fake-clock.js';
import { seededRng } from './rng.js';

type Kind = 'unicast' | 'broadcast' | 'gossip';

interface Msg {
  at: number;
  seq: number;
  kind: Kind;
  src: PeerName;
  dst: PeerName;
  data: Uint8Array;
}

export interface SimPeerInit {
  mode: IpamMode;
  initialPeerCount?: number;
}

export interface SimNode {
  readonly name: PeerName;
  readonly nickname: string;
  init: SimPeerInit;
  alive: boolean;
  alloc: Allocator | undefined;
  persisted: Uint8Array | undefined;
  /** While dead: the claims and owned ranges its persisted state holds (what it comes back with). */
  deadView: { claims: Array<{ containerId: string; addr: number }>; ranges: AddrRange[] } | undefined;
  /** Set when some peer ran rmpeer on this one. */
  removed: boolean;
  listeners: Set<() => void>;
}

export interface IpamSimOptions {
  seed?: number;
  range: Cidr;
  defaultSubnet?: Cidr;
  latencyMs?: [min: number, max: number];
  /** Periodic full-state gossip to random neighbours; 0 disables. @default 30_000 */
  gossipIntervalMs?: number;
  allocator?: Partial<AllocatorInit>;
  /**
   * Hand every change to onPersist as bytes (as the daemon does). Off by default for speed: a peer's state
   * is then taken with persistedState() when it dies, which is the same bytes it last persisted.
   */
  eagerPersist?: boolean;
  /** Newly reachable peers each peer sends its full state to. @default 3 */
  newLinkFanout?: number;
}

export class IpamSim {
  readonly clock = new FakeClock();
  readonly rng: Rng;
  readonly nodes = new Map<PeerName, SimNode>();
  readonly stats = { sent: 0, delivered: 0, dropped: 0, bytes: 0, unicast: 0, broadcast: 0, gossip: 0 };
  /** Exceptions thrown by on* handlers (hostile input or conflicts), in order. */
  readonly errors: Array<{ at: number; src: PeerName; dst: PeerName; err: Error }> = [];
  private readonly queue = new EventHeap<Msg>();
  private seq = 0;
  private group = new Map<PeerName, number>();
  private readonly opts: IpamSimOptions;
  private readonly logger = silentLogger();
  /** Called after every delivered message (e.g. to check invariants between any two messages). */
  onDelivered: ((count: number) => void) | undefined;

  constructor(opts: IpamSimOptions) {
    this.opts = opts;
    this.rng = seededRng(opts.seed ?? 1);
    const interval = opts.gossipIntervalMs ?? 30_000;
    if (interval > 0) {
      const periodic = (): void => {
        for (const n of this.nodes.values()) {
          if (!n.alive || !n.alloc) continue;
          const g = n.alloc.gossip();
          if (g) this.toNeighbours(n.name, g);
        }
        this.clock.setTimer(interval, periodic);
      };
      this.clock.setTimer(interval, periodic);
    }
  }

  static peerName(i: number): PeerName {
    return peerNameFromNumber(0x0a0000000000 + i + 1);
  }

  // ---------------------------------------------------------------------------------------------
  // Membership.

  add(name: PeerName, init: SimPeerInit, nickname = `host${this.nodes.size + 1}`): Allocator {
    const node: SimNode = {
      name, nickname, init, alive: false, alloc: undefined, persisted: undefined, deadView: undefined, removed: false, listeners: new Set(),
    };
    this.nodes.set(name, node);
    this.group.set(name, 0);
    return this.boot(node, false);
  }

  node(name: PeerName): SimNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no sim peer ${name}`);
    return n;
  }

  alloc(name: PeerName): Allocator {
    const a = this.node(name).alloc;
    if (!a || !this.node(name).alive) throw new Error(`sim peer ${name} is not running`);
    return a;
  }

  alive(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  private boot(node: SimNode, fromPersisted: boolean): Allocator {
    const before = this.reachabilitySnapshot();
    const dir = this.directory(node);
    const gossip = this.gossipFor(node.name);
    const alloc = new Allocator(
      {
        clock: this.clock,
        rng: seededRng(this.rng.int(2 ** 31)),
        logger: this.logger,
        peers: dir,
        gossip,
        onPersist: this.opts.eagerPersist
          ? (b) => {
              if (node.alloc === alloc) node.persisted = b;
            }
          : undefined,
      },
      { range: this.opts.range, defaultSubnet: this.opts.defaultSubnet, ...this.opts.allocator, ...node.init },
    );
    if (fromPersisted && node.persisted) alloc.restore(node.persisted);
    else node.persisted = undefined;
    node.alloc = alloc;
    node.alive = true;
    node.deadView = undefined;
    alloc.start();
    this.membershipChanged(before);
    return alloc;
  }

  /** The peer dies (its containers with it). Its persisted bytes stay for a later restart. */
  kill(name: PeerName): void {
    const n = this.node(name);
    if (!n.alive) return;
    const before = this.reachabilitySnapshot();
    const a = n.alloc!;
    n.persisted = a.persistedState();
    n.deadView = a.isRemoved
      ? undefined
      : { claims: a.containersInUse().flatMap((c) => c.addrs.map((x) => ({ containerId: c.containerId, addr: x.addr }))), ranges: a.owned() };
    n.alive = false;
    a.stop();
    n.listeners.clear();
    this.membershipChanged(before);
  }

  /** Starts the peer again: from its persisted state, or fresh (after `tsweave reset`). */
  restart(name: PeerName, opts: { fresh?: boolean } = {}): Allocator {
    const n = this.node(name);
    if (n.alive) this.kill(name);
    return this.boot(n, !opts.fresh);
  }

  /** Splits peers into groups; peers not listed keep group 0. Messages across groups are dropped. */
  partition(groups: PeerName[][]): void {
    const before = this.reachabilitySnapshot();
    this.group = new Map([...this.nodes.keys()].map((p) => [p, 0]));
    groups.forEach((g, i) => g.forEach((p) => this.group.set(p, i + 1)));
    this.membershipChanged(before);
  }

  heal(): void {
    const before = this.reachabilitySnapshot();
    this.group = new Map([...this.nodes.keys()].map((p) => [p, 0]));
    this.membershipChanged(before);
  }

  reachable(a: PeerName, b: PeerName): boolean {
    const na = this.nodes.get(a);
    const nb = this.nodes.get(b);
    return !!na?.alive && !!nb?.alive && this.group.get(a) === this.group.get(b);
  }

  private reachabilitySnapshot(): Set<string> {
    const s = new Set<string>();
    const alive = this.alive();
    for (const a of alive) for (const b of alive) if (a !== b && this.reachable(a.name, b.name)) s.add(`${a.name}|${b.name}`);
    return s;
  }

  /**
   * Like the mesh: notify everyone, and send full state over new connections. A real mesh is not a full
   * mesh: each peer sends its state to a few (`newLinkFanout`) of the peers it can newly reach; deltas and
   * periodic gossip spread the rest.
   */
  private membershipChanged(before: Set<string>): void {
    const after = this.reachabilitySnapshot();
    for (const n of this.alive()) for (const cb of [...n.listeners]) cb();
    const fresh = new Map<PeerName, PeerName[]>();
    for (const key of after) {
      if (before.has(key)) continue;
      const [a, b] = key.split('|') as [PeerName, PeerName];
      const l = fresh.get(a);
      if (l) l.push(b);
      else fresh.set(a, [b]);
    }
    const fanout = this.opts.newLinkFanout ?? 3;
    for (const [a, targets] of fresh) {
      const g = this.nodes.get(a)!.alloc?.gossip();
      if (!g) continue;
      for (let i = 0; i < Math.min(fanout, targets.length); i++) {
        const j = i + this.rng.int(targets.length - i);
        [targets[i], targets[j]] = [targets[j]!, targets[i]!];
        this.send('gossip', a, targets[i]!, g);
      }
    }
  }

  private directory(node: SimNode): PeerDirectory {
    return {
      localName: node.name,
      localNickname: node.nickname,
      reachablePeers: () => this.alive().filter((n) => this.reachable(node.name, n.name) || n === node).map((n) => n.name),
      isReachable: (p) => p === node.name || this.reachable(node.name, p),
      nicknameOf: (p) => (this.reachable(node.name, p) || p === node.name ? this.nodes.get(p)?.nickname : undefined),
      onPeersChanged: (cb) => {
        node.listeners.add(cb);
        return () => node.listeners.delete(cb);
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Messages.

  private gossipFor(src: PeerName): Gossip {
    return {
      gossipUnicast: (dst, data) => this.send('unicast', src, dst, data),
      gossipBroadcast: (data) => {
        for (const n of this.alive()) if (n.name !== src && this.reachable(src, n.name)) this.send('broadcast', src, n.name, data);
      },
      gossipToNeighbours: (data) => this.toNeighbours(src, data),
    };
  }

  private toNeighbours(src: PeerName, data: Uint8Array): void {
    const others = this.alive().filter((n) => n.name !== src && this.reachable(src, n.name));
    const k = Math.min(others.length, Math.max(1, 2 * Math.ceil(Math.log2(this.nodes.size + 1))));
    for (let i = 0; i < k; i++) {
      const j = i + this.rng.int(others.length - i);
      [others[i], others[j]] = [others[j]!, others[i]!];
      this.send('gossip', src, others[i]!.name, data);
    }
  }

  private send(kind: Kind, src: PeerName, dst: PeerName, data: Uint8Array): void {
    if (!this.reachable(src, dst)) {
      this.stats.dropped++;
      return;
    }
    const [lo, hi] = this.opts.latencyMs ?? [1, 5];
    this.queue.push({ at: this.clock.now() + lo + this.rng.float() * (hi - lo), seq: this.seq++, kind, src, dst, data });
    this.stats.sent++;
    this.stats[kind]++;
    this.stats.bytes += data.length;
  }

  private deliver(m: Msg): void {
    if (!this.reachable(m.src, m.dst)) {
      this.stats.dropped++;
      return;
    }
    const a = this.nodes.get(m.dst)!.alloc!;
    this.stats.delivered++;
    try {
      if (m.kind === 'unicast') a.onGossipUnicast(m.src, m.data);
      else if (m.kind === 'broadcast') a.onGossipBroadcast(m.src, m.data);
      else {
        const delta = a.onGossip(m.src, m.data);
        if (delta) this.toNeighbours(m.dst, delta);
      }
    } catch (err) {
      this.errors.push({ at: this.clock.now(), src: m.src, dst: m.dst, err: err as Error });
    }
    this.onDelivered?.(this.stats.delivered);
  }

  get inFlight(): number {
    return this.queue.size;
  }

  /** Advances simulated time by `ms`, delivering messages and firing timers in time order. */
  run(ms: number): void {
    const end = this.clock.now() + ms;
    for (;;) {
      const next = this.queue.peek();
      if (!next || next.at > end) break;
      if (next.at > this.clock.now()) this.clock.advance(next.at - this.clock.now());
      // Timers may have queued messages due earlier; they go out now, in order.
      while (this.queue.peek() && this.queue.peek()!.at <= this.clock.now()) this.deliver(this.queue.pop()!);
    }
    if (end > this.clock.now()) this.clock.advance(end - this.clock.now());
  }

  /** Delivers until no message is in flight (or `maxMs` of simulated time passed). Returns the time taken. */
  flush(maxMs = 120_000): number {
    const start = this.clock.now();
    while (this.queue.size > 0 && this.clock.now() - start < maxMs) {
      const next = this.queue.peek()!;
      this.run(Math.max(0, next.at - this.clock.now()));
    }
    return this.clock.now() - start;
  }

  /** Lets promises settle (microtasks) after messages resolved them. */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await Promise.resolve();
  }

  /** Every alive peer sends its full state to every reachable peer (or just to `to`); then flush. */
  gossipAll(to?: PeerName): void {
    for (const a of this.alive()) {
      const g = a.alloc!.gossip();
      if (!g) continue;
      for (const b of this.alive()) {
        if (a !== b && (to === undefined || b.name === to) && this.reachable(a.name, b.name)) this.send('gossip', a.name, b.name, g);
      }
    }
    this.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Global checks.

  /**
   * No address is held by two containers anywhere, no range is owned by two peers in their own views, and
   * every allocator's invariants hold. Dead peers count with their persisted state (they may come back)
   * unless they were removed with rmpeer (they can only come back fresh).
   */
  checkGlobal(opts: { deep?: boolean } = { deep: true }): string | undefined {
    const holders = new Map<number, string>();
    const owned: Array<AddrRange & { peer: PeerName }> = [];
    for (const n of this.nodes.values()) {
      let claims: Array<{ containerId: string; addr: number }> = [];
      let ranges: AddrRange[] = [];
      if (n.alive && n.alloc) {
        if (opts.deep) {
          const err = n.alloc.checkInvariants();
          if (err) return `${n.name}: ${err.message}`;
        }
        if (n.alloc.isRemoved) continue;
        claims = n.alloc.containersInUse().flatMap((c) => c.addrs.map((a) => ({ containerId: c.containerId, addr: a.addr })));
        ranges = n.alloc.owned();
      } else if (!n.removed && n.deadView) {
        ({ claims, ranges } = n.deadView);
      } else if (!n.removed && n.persisted) {
        const s = decodePersisted(n.persisted);
        claims = s.claims;
        if (s.ring) ranges = Ring.fromData(s.ring, n.name).rangesOf(n.name);
      } else continue;
      for (const c of claims) {
        const who = `${n.name}/${c.containerId}`;
        const prev = holders.get(c.addr);
        if (prev) return `address ${c.addr} held by ${prev} and ${who}`;
        holders.set(c.addr, who);
      }
      for (const r of ranges) owned.push({ ...r, peer: n.name });
    }
    owned.sort((a, b) => a.start - b.start);
    for (let i = 1; i < owned.length; i++) {
      if (owned[i]!.start < owned[i - 1]!.end) {
        const a = owned[i - 1]!;
        const b = owned[i]!;
        return `range ${a.start}-${a.end} owned by ${a.peer} overlaps ${b.start}-${b.end} owned by ${b.peer}`;
      }
    }
    return undefined;
  }

  /** Names of alive, non-removed peers whose ring differs from the first one's. */
  ringsDiffering(): PeerName[] {
    const live = this.alive().filter((n) => !n.alloc!.isRemoved);
    if (live.length === 0) return [];
    const ref = Ring.fromData(live[0]!.alloc!.ringData(), live[0]!.name);
    return live.slice(1).filter((n) => !Ring.fromData(n.alloc!.ringData(), n.name).equals(ref)).map((n) => n.name);
  }
}

/**
 * Runs the simulation until `p` settles (or `maxMs` of simulated time pass) and returns its outcome.
 * Never throws for a rejected promise: the test asserts on the outcome.
 */
export async function runUntilSettled<T>(
  sim: IpamSim,
  p: Promise<T>,
  maxMs = 120_000,
  stepMs = 5,
): Promise<{ ok: true; value: T; ms: number } | { ok: false; error: Error; ms: number }> {
  const start = sim.clock.now();
  let outcome: { ok: true; value: T } | { ok: false; error: Error } | undefined;
  p.then(
    (value) => (outcome = { ok: true, value }),
    (error: Error) => (outcome = { ok: false, error }),
  );
  await sim.settle();
  while (!outcome && sim.clock.now() - start < maxMs) {
    sim.run(stepMs);
    await sim.settle();
  }
  if (!outcome) throw new Error(`promise did not settle within ${maxMs} ms of simulated time`);
  return { ...outcome, ms: sim.clock.now() - start };
}
