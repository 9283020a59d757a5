// Many mesh Routers in one process (STYLE §2.4, weave TestRouter(loss), natlab): in-memory
// PeerConnections with per-direction FIFO delivery after a random latency, optional gossip loss,
// blocked pairs (partitions), peers that die and restart with a new uid, and a `flush()` that delivers
// until the mesh is quiet. Time is a FakeClock; randomness is one seeded Rng, so a seed replays a run.
//
//   const net = new SimNetwork({ seed: 1 });
//   const a = net.addPeer(); const b = net.addPeer({ targets: [a.address] });
//   await net.flush();                       // b dials a, they exchange topology, routes settle
//   net.block(a, b); await net.flush();      // partition: the connection drops, retries fail
//
// Message deliveries live in the simulation's own heap (not FakeClock timers), so 200 routers exchanging
// hundreds of thousands of messages stay fast; router timers (batching, gossip, backoff) use the FakeClock.

import { HandshakeError, PeerNameCollisionError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Rng } from '../../src/core/ports.js';
import { peerNameFromNumber, type PeerName } from '../../src/core/types.js';
import { ConnectionMaker } from '../../src/mesh/connection-maker.js';
import { hostOf, type PeerConnection } from '../../src/mesh/peer-connection.js';
import { Router } from '../../src/mesh/router.js';
import type { ControlMessage } from '../../src/wire/control-messages.js';
import { EventHeap } from './event-heap.js';
import { FakeClock } from './fake-clock.js';
import { seededRng } from './rng.js';

export interface SimNetworkInit {
  seed?: number;
  /** One-way latency per message, uniform integer ms in [min, max] (min ≥ 1). @default [1, 5] */
  latencyMs?: [number, number];
  /** Probability that a gossip message is lost (models a lossy relay; TCP itself is reliable). @default 0 */
  loss?: number;
  /** TCP connect + handshake time. @default 3 × max latency */
  handshakeMs?: number;
  /** Time until the data plane confirms a new connection (UDP heartbeats); null = never. @default 50 */
  establishDelayMs?: number | null;
  /** Defaults for addPeer. */
  connLimit?: number;
  discoveryLimit?: number;
  discovery?: boolean;
  checkInvariants?: boolean;
}

export interface AddPeerOptions {
  /** @default derived from the peer's index */
  name?: PeerName;
  nickname?: string;
  targets?: string[];
  connLimit?: number;
  discoveryLimit?: number;
  discovery?: boolean;
  /** Reuse an address (restart); @default a fresh 10.x.y.z:6783 */
  address?: string;
}

export interface SimStats {
  messages: number;
  bytes: number;
  lost: number;
  dials: number;
  byKind: Record<string, number>;
}

export interface FlushResult {
  /** Simulated ms from the start of the flush to the last activity. */
  simMs: number;
  /** Distinct delivery instants (message "rounds"). */
  rounds: number;
  messages: number;
  bytes: number;
  /** False when maxMs ran out before the mesh went quiet. */
  quiet: boolean;
  /** `until` returned true (checked when nothing is in flight). */
  done: boolean;
}

export interface FlushOptions {
  /** Give up after this much simulated time. @default 10 min */
  maxMs?: number;
  /** Quiet = nothing in flight and no activity for this long. @default 2500 */
  quietMs?: number;
  /** Time step while messages are in flight (timer-driven sends may be late by up to this). @default 5 */
  stepMs?: number;
  /** Stop early once this holds (checked every checkEveryMs of simulated time, between deliveries). */
  until?: () => boolean;
  /** @default 250 */
  checkEveryMs?: number;
}

export class SimPeer {
  alive = true;
  readonly uid: string;
  constructor(
    readonly index: number,
    readonly name: PeerName,
    readonly nickname: string,
    readonly address: string,
    readonly router: Router,
    readonly maker: ConnectionMaker,
  ) {
    this.uid = router.localUid;
  }
}

interface Event {
  at: number;
  seq: number;
  fn: () => void;
}

class SimConn implements PeerConnection {
  closed = false;
  peerEnd!: SimConn;
  lastDeliverAt = 0;
  constructor(
    private readonly net: SimNetwork,
    readonly owner: SimPeer,
    readonly remote: SimPeer,
    readonly outbound: boolean,
    readonly remoteAddress: string,
  ) {}

  get remoteName(): PeerName {
    return this.remote.name;
  }
  get remoteNickname(): string {
    return this.remote.nickname;
  }
  get remoteUid(): string {
    return this.remote.uid;
  }
  get remoteListenPort(): number {
    return Number(this.remote.address.slice(this.remote.address.lastIndexOf(':') + 1));
  }

  send(msg: ControlMessage): void {
    if (this.closed) return;
    this.net.transmit(this, msg);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.net.closeConn(this, reason);
  }
}

/** Approximate sealed wire size: length prefix + AEAD tag + kind/channel + names + payload. */
export function approxWireBytes(msg: ControlMessage): number {
  let n = 4 + 16 + 2;
  if ('payload' in msg) n += msg.payload.length;
  if ('src' in msg) n += 6;
  if ('dst' in msg) n += 6;
  if (msg.kind === 'close') n += msg.reason.length;
  return n;
}

export class SimNetwork {
  readonly clock = new FakeClock();
  readonly rng: Rng;
  readonly peers: SimPeer[] = [];
  readonly stats: SimStats = { messages: 0, bytes: 0, lost: 0, dials: 0, byKind: {} };
  private readonly init: SimNetworkInit;
  private readonly heap = new EventHeap<Event>();
  private seq = 0;
  private readonly blocked = new Set<string>();
  private readonly byAddress = new Map<string, SimPeer>();
  private pendingDials = 0;
  private settled = false;
  private nextPort = 40_000;
  private readonly latency: [number, number];
  private readonly handshakeMs: number;

  constructor(init: SimNetworkInit = {}) {
    this.init = init;
    this.rng = seededRng(init.seed ?? 1);
    this.latency = init.latencyMs ?? [1, 5];
    if (this.latency[0] < 1) throw new Error('SimNetwork: latency must be at least 1 ms (FIFO and dial ordering rely on it)');
    this.handshakeMs = init.handshakeMs ?? 3 * this.latency[1];
  }

  addPeer(opts: AddPeerOptions = {}): SimPeer {
    const index = this.peers.length + 1;
    const name = opts.name ?? peerNameFromNumber(0x0a0000000000 + index);
    const nickname = opts.nickname ?? `host${index}`;
    const address = opts.address ?? `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}:6783`;
    const uid = Array.from(this.rng.bytes(8), (b) => b.toString(16).padStart(2, '0')).join('');
    const logger = silentLogger();
    const router = new Router({ clock: this.clock, rng: this.rng, logger }, {
      name, nickname, uid,
      connLimit: opts.connLimit ?? this.init.connLimit,
      discovery: opts.discovery ?? this.init.discovery,
      checkInvariants: this.init.checkInvariants,
    });
    let self: SimPeer | undefined;
    const maker = new ConnectionMaker(
      { clock: this.clock, rng: this.rng, logger, router, dial: (addr) => this.dial(self!, addr) },
      { discovery: opts.discovery ?? this.init.discovery, discoveryLimit: opts.discoveryLimit ?? this.init.discoveryLimit },
    );
    self = new SimPeer(index, name, nickname, address, router, maker);
    this.peers.push(self);
    this.byAddress.set(address, self);
    router.start();
    maker.start();
    if (opts.targets?.length) maker.addTargets(opts.targets);
    return self;
  }

  /** The peer now living at `p`'s address (after restarts), or by index/name. */
  peer(key: number | PeerName): SimPeer {
    const p = typeof key === 'number' ? this.peers[key - 1] : this.peers.filter((x) => x.name === key).at(-1);
    if (!p) throw new Error(`SimNetwork: no peer ${String(key)}`);
    return p;
  }

  alivePeers(): SimPeer[] {
    return this.peers.filter((p) => p.alive);
  }

  // ------------------------------------------------------------------------------------------
  // Faults

  /** Blocks traffic between a and b: their connection drops and dials between them time out. */
  block(a: SimPeer, b: SimPeer): void {
    this.blocked.add(pairKey(a, b));
    this.cutLink(a, b, 'connection timed out');
  }

  unblock(a: SimPeer, b: SimPeer): void {
    this.blocked.delete(pairKey(a, b));
  }

  /** Blocks every pair across the two groups. */
  partition(groupA: readonly SimPeer[], groupB: readonly SimPeer[]): void {
    for (const a of groupA) for (const b of groupB) this.block(a, b);
  }

  heal(): void {
    this.blocked.clear();
  }

  isBlocked(a: SimPeer, b: SimPeer): boolean {
    return this.blocked.has(pairKey(a, b));
  }

  /** Drops the connection between a and b, if any (both ends see it close). */
  cutLink(a: SimPeer, b: SimPeer, reason = 'link failed'): void {
    const conn = a.router.connectionTo(b.name) as SimConn | undefined;
    if (conn && conn.remote === b) conn.close(reason);
  }

  /** The router process dies: its connections close, dials to it are refused. */
  kill(p: SimPeer): void {
    if (!p.alive) return;
    p.alive = false;
    p.maker.stop();
    p.router.stop();
    for (const c of p.router.connections()) c.close('router stopped');
    if (this.byAddress.get(p.address) === p) this.byAddress.delete(p.address);
  }

  /** Kills `p` (if alive) and starts a new router with the same name and address (new uid). */
  restart(p: SimPeer, targets?: string[]): SimPeer {
    this.kill(p);
    return this.addPeer({ name: p.name, nickname: p.nickname, address: p.address, ...(targets ? { targets } : {}) });
  }

  // ------------------------------------------------------------------------------------------
  // Running

  /** Delivers messages and fires timers until nothing happened for `quietMs` (or maxMs passed). */
  async flush(opts: FlushOptions = {}): Promise<FlushResult> {
    const maxMs = opts.maxMs ?? 10 * 60_000;
    const checkEveryMs = opts.checkEveryMs ?? 250;
    let nextCheck = this.clock.now() + checkEveryMs;
    let done = false;
    const quietMs = opts.quietMs ?? 2_500;
    const stepMs = opts.stepMs ?? 5;
    const start = this.clock.now();
    const m0 = this.stats.messages;
    const b0 = this.stats.bytes;
    let lastActivity = start;
    let rounds = 0;
    let quiet = false;
    for (;;) {
      const now = this.clock.now();
      if (this.heap.size === 0 && this.pendingDials === 0 && this.makersInFlight() === 0 && now - lastActivity >= quietMs) {
        quiet = true;
        break;
      }
      if (now - start >= maxMs) break;
      if (opts.until && now >= nextCheck && this.heap.size === 0) {
        nextCheck = now + checkEveryMs;
        if (opts.until()) {
          done = true;
          break;
        }
      }
      const nextAt = this.heap.size > 0 ? this.heap.peek()!.at : Infinity;
      // With nothing in flight only router timers can fire: take bigger steps.
      const target = Math.min(nextAt, now + (this.heap.size > 0 || this.pendingDials > 0 ? stepMs : 10 * stepMs));
      if (target > now) this.clock.advance(target - now);
      let delivered = false;
      while (this.heap.size > 0 && this.heap.peek()!.at <= this.clock.now()) {
        this.heap.pop()!.fn();
        delivered = true;
      }
      if (delivered) {
        rounds++;
        lastActivity = this.clock.now();
      }
      if (this.settled) {
        this.settled = false;
        await new Promise<void>((r) => setImmediate(r));
        lastActivity = this.clock.now();
      }
    }
    return {
      simMs: (done ? this.clock.now() : lastActivity) - start,
      rounds,
      messages: this.stats.messages - m0,
      bytes: this.stats.bytes - b0,
      quiet,
      done,
    };
  }

  // ------------------------------------------------------------------------------------------
  // Internals used by SimConn

  /** @internal */
  transmit(from: SimConn, msg: ControlMessage): void {
    const bytes = approxWireBytes(msg);
    this.stats.messages++;
    this.stats.bytes += bytes;
    this.stats.byKind[msg.kind] = (this.stats.byKind[msg.kind] ?? 0) + 1;
    if (this.init.loss && msg.kind === 'gossip' && this.rng.float() < this.init.loss) {
      this.stats.lost++;
      return;
    }
    const at = Math.max(from.lastDeliverAt, this.clock.now() + this.latencyMs());
    from.lastDeliverAt = at;
    const to = from.peerEnd;
    this.push(at, () => {
      if (to.closed || !to.owner.alive) return;
      to.owner.router.handleMessage(to, msg);
    });
  }

  /** @internal */
  closeConn(end: SimConn, reason: string): void {
    this.push(this.clock.now(), () => end.owner.router.removeConnection(end, reason));
    const other = end.peerEnd;
    const at = Math.max(end.lastDeliverAt, this.clock.now() + this.latencyMs());
    end.lastDeliverAt = at;
    this.push(at, () => {
      if (other.closed) return;
      other.closed = true;
      other.owner.router.removeConnection(other, reason);
    });
  }

  private dial(from: SimPeer, address: string): Promise<PeerConnection> {
    this.stats.dials++;
    this.pendingDials++;
    return new Promise<PeerConnection>((resolve, reject) => {
      const settle = (fn: () => void): void => {
        this.pendingDials--;
        this.settled = true;
        fn();
      };
      this.push(this.clock.now() + this.handshakeMs, () => {
        const to = this.byAddress.get(address);
        if (!from.alive) return settle(() => reject(new Error('dialler stopped')));
        if (!to || !to.alive) return settle(() => reject(new Error(`dial tcp4 ${address}: connect: connection refused`)));
        if (this.isBlocked(from, to)) return settle(() => reject(new Error(`dial tcp4 ${address}: i/o timeout`)));
        if (to === from) {
          return settle(() => reject(new HandshakeError('ERR_CONNECT_TO_SELF', 'cannot connect to ourself')));
        }
        if (to.name === from.name) {
          return settle(() => reject(new PeerNameCollisionError(
            `local "${from.name}(${from.nickname})" and remote "${to.name}(${to.nickname})" peer names collision`,
          )));
        }
        const out = new SimConn(this, from, to, true, address);
        const inbound = new SimConn(this, to, from, false, `${hostOf(from.address)}:${this.nextPort++}`);
        out.peerEnd = inbound;
        inbound.peerEnd = out;
        try {
          to.router.addConnection(inbound); // the acceptor's daemon adopts its end first
        } catch (err) {
          return settle(() => reject(err));
        }
        settle(() => resolve(out));
        const delay = this.init.establishDelayMs === undefined ? 50 : this.init.establishDelayMs;
        if (delay !== null) {
          this.push(this.clock.now() + delay, () => {
            if (out.closed || inbound.closed) return;
            from.router.setConnectionEstablished(out, true);
            to.router.setConnectionEstablished(inbound, true);
          });
        }
      });
    });
  }

  private makersInFlight(): number {
    let n = 0;
    for (const p of this.peers) if (p.alive) n += p.maker.dialsInFlight;
    return n;
  }

  private latencyMs(): number {
    const [lo, hi] = this.latency;
    return lo + this.rng.int(hi - lo + 1);
  }

  private push(at: number, fn: () => void): void {
    this.heap.push({ at, seq: this.seq++, fn });
  }
}

function pairKey(a: SimPeer, b: SimPeer): string {
  return a.address < b.address ? `${a.address}|${b.address}` : `${b.address}|${a.address}`;
}

// ---------------------------------------------------------------------------------------------
// Reference model (STYLE §2.4, wireguard SlowRouter): naive all-pairs BFS over a graph given as
// adjacency sets. nextHop(self, dst) = the smallest-named neighbour that starts a shortest path.

export class ReferenceGraph {
  readonly names: PeerName[];
  private readonly dist = new Map<PeerName, Map<PeerName, number>>();
  constructor(readonly adj: ReadonlyMap<PeerName, ReadonlySet<PeerName>>) {
    this.names = [...adj.keys()].sort();
    for (const s of this.names) {
      const d = new Map<PeerName, number>([[s, 0]]);
      let frontier = [s];
      while (frontier.length) {
        const next: PeerName[] = [];
        for (const u of frontier) {
          for (const v of adj.get(u) ?? []) {
            if (!d.has(v)) {
              d.set(v, d.get(u)! + 1);
              next.push(v);
            }
          }
        }
        frontier = next;
      }
      this.dist.set(s, d);
    }
  }

  distance(a: PeerName, b: PeerName): number | undefined {
    return this.dist.get(a)?.get(b);
  }

  nextHop(self: PeerName, dst: PeerName): PeerName | undefined {
    const d = this.distance(self, dst);
    if (d === undefined || d === 0) return undefined;
    const ns = [...(this.adj.get(self) ?? [])].sort();
    return ns.find((n) => this.distance(n, dst) === d - 1);
  }

  reachable(self: PeerName): PeerName[] {
    return [...(this.dist.get(self)?.keys() ?? [])];
  }
}
