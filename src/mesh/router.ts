// The mesh Router: local connections, the topology CRDT, routes and the gossip channels
// (DESIGN.md §3, mesh router.go / local_peer.go / gossip_channel.go). Pure: time, randomness and the
// connections themselves are injected; the daemon feeds it handshaken PeerConnections and messages.
//
// Flow of a topology change:
//   local connection added/removed/established → our entry bumped (Topology.setLocalConnections)
//     → routes marked dirty → after TOPOLOGY_BATCH_MS one broadcast of [our entry + entries of peers
//       we connected to since the last one] on the 'topology' channel along our broadcast tree.
//   remote update (gossip/broadcast) → Topology.mergeDelta → routes dirty; a gossip (not broadcast)
//     delta is re-gossiped to a random neighbour subset, with our own entry so it stays connected.
//   new connection → full state of every channel sent down it (mesh sendAllGossipDown).
//   every GOSSIP_INTERVAL_MS → full state of every channel to a log-sized random neighbour subset.
// Data routes are recalculated ROUTES_RECALC_DEFER_MS after a topology change (mesh routes.go defers
// 100 ms, which coalesces a burst of changes into one recalculation); until then the data plane uses the
// previous routes, and routes:changed / peers:changed fire from the recalculation (recalculateRoutes()
// forces it). Gossip forwarding always uses the current topology: relaying a broadcast along a stale
// tree can loop it between peers that disagree.
//
// Gossip messages travel over *any* connection ('all' routes); data-plane routes exposed to the
// forwarding code use only established, symmetric connections ('established' routes).
//
// Unknown channels (no registered Gossiper, e.g. DNS disabled here): broadcasts are still relayed along
// the origin's tree and unicasts in transit are still forwarded, so a peer without the feature does not
// partition it for others; gossip and unicasts addressed to us on such a channel are counted and dropped.

import type { Logger } from 'pino';
import { DEFAULT_CONN_LIMIT, GOSSIP_INTERVAL_MS, TOPOLOGY_BATCH_MS } from '../core/defaults.js';
import { TsweaveError, errorMessage } from '../core/errors.js';
import { type Gossip, type GossipChannelName, type Gossiper, type PeerDirectory, connectionFatalReason } from '../core/gossip.js';
import type { Clock, Rng } from '../core/ports.js';
import { isPeerName, peerLabel, type PeerName } from '../core/types.js';
import type { ControlMessage } from '../wire/control-messages.js';
import { GossipChannel, type GossipHost } from './gossip-channel.js';
import type { PeerConnection } from './peer-connection.js';
import { Routes } from './routes.js';
import { decodeTopology, encodeTopology } from './topology-codec.js';
import { Topology, type ConnectionSummary, type PeerEntry, type TopologyDelta } from './topology.js';

/** Routes are recalculated this long after a topology change (mesh routes.go). */
export const ROUTES_RECALC_DEFER_MS = 100;

export interface RouterComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
}

export interface RouterInit {
  name: PeerName;
  nickname: string;
  /** Random per start (the daemon draws it); a restarted peer has a new one. */
  uid: string;
  /** Maximum simultaneous connections. @default DEFAULT_CONN_LIMIT (200) */
  connLimit?: number;
  /** Shown in status; the ConnectionMaker does the discovering. @default true */
  discovery?: boolean;
  /** @default GOSSIP_INTERVAL_MS */
  gossipIntervalMs?: number;
  /** @default TOPOLOGY_BATCH_MS */
  topologyBatchMs?: number;
  /** Run Topology.checkInvariants() after every merge of remote data and reject failing updates. @default false */
  checkInvariants?: boolean;
}

export interface RouterStats {
  messagesIn: number;
  /** Messages on a connection the Router no longer holds (raced with its removal). */
  staleConnectionMessages: number;
  /** Payloads a channel's on* threw on (hostile or corrupt), per channel. */
  badPayloads: Record<string, number>;
  /** Gossip/unicast for a channel with no handler here (dropped) and broadcasts relayed for one. */
  unknownChannelDropped: number;
  unknownChannelRelayed: number;
  /** Unicasts with no route to the destination. */
  unicastNoRoute: number;
  /** Unicasts whose next hop is the peer they came from (inconsistent views), dropped. */
  unicastBounced: number;
  /** Control messages with malformed peer names. */
  malformed: number;
  topologyBroadcasts: number;
  /** Coalesced re-gossips of topology learnt from neighbours. */
  topologyRelays: number;
  periodicGossips: number;
}

export interface RouterEvents {
  /** The topology (any peer's entry, or GC) changed. */
  'topology:changed': () => void;
  /** Data-plane or gossip next hops changed (deferred, coalesced). */
  'routes:changed': () => void;
  /** The set of reachable peers or a nickname changed (deferred, coalesced). */
  'peers:changed': () => void;
  'connection:added': (conn: PeerConnection) => void;
  /** `livedMs`: how long the Router held it (the ConnectionMaker resets backoff after a long life). */
  'connection:removed': (conn: PeerConnection, reason: string, livedMs: number) => void;
  'connection:established': (conn: PeerConnection, established: boolean) => void;
  /** overlay / frames / heartbeat / close: not the mesh's business; surfaced for the daemon. */
  'message:other': (conn: PeerConnection, msg: ControlMessage) => void;
}

export interface LocalConnectionSnapshot {
  name: PeerName;
  nickname: string;
  uid: string;
  address: string;
  outbound: boolean;
  established: boolean;
  listenPort: number;
  /** How long the connection has been up, in ms. */
  ageMs: number;
}

export interface PeerSnapshot {
  name: PeerName;
  nickname: string;
  uid: string;
  version: number;
  connections: { address: string; outbound: boolean; name: PeerName; nickname: string; established: boolean }[];
}

export interface RouterSnapshot {
  name: PeerName;
  nickname: string;
  uid: string;
  connLimit: number;
  discovery: boolean;
  connections: LocalConnectionSnapshot[];
  /** All known peers, self first, then by name (status peers). */
  peers: PeerSnapshot[];
  stats: RouterStats;
}

interface LocalConnection {
  conn: PeerConnection;
  established: boolean;
  addedAt: number;
}

/** Which of two connections to the same peer survives: the one initiated by the smaller peer name,
 *  so both ends pick the same TCP connection; same initiator → the existing one (mesh breakTie). */
export function keepNewConnection(localName: PeerName, existing: PeerConnection, incoming: PeerConnection): boolean {
  const initiator = (c: PeerConnection): PeerName => (c.outbound ? localName : c.remoteName);
  const a = initiator(existing);
  const b = initiator(incoming);
  return a !== b && b < a;
}

export class Router implements PeerDirectory, GossipHost {
  readonly localName: PeerName;
  readonly localNickname: string;
  readonly localUid: string;
  readonly connLimit: number;
  readonly discovery: boolean;
  readonly topology: Topology;
  readonly stats: RouterStats = {
    messagesIn: 0, staleConnectionMessages: 0, badPayloads: {}, unknownChannelDropped: 0,
    unknownChannelRelayed: 0, unicastNoRoute: 0, unicastBounced: 0, malformed: 0, topologyBroadcasts: 0, topologyRelays: 0,
    periodicGossips: 0,
  };

  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly log: Logger;
  private readonly gossipIntervalMs: number;
  private readonly topologyBatchMs: number;
  private readonly checkAfterMerge: boolean;
  private readonly conns = new Map<PeerName, LocalConnection>();
  private readonly channels = new Map<GossipChannelName, GossipChannel>();
  private readonly listeners: { [K in keyof RouterEvents]: Set<RouterEvents[K]> } = {
    'topology:changed': new Set(), 'routes:changed': new Set(), 'peers:changed': new Set(),
    'connection:added': new Set(), 'connection:removed': new Set(), 'connection:established': new Set(),
    'message:other': new Set(),
  };

  private routesGen = -1;
  private dataRoutes!: Routes;
  private gossipRoutesCache: Routes | undefined;
  private gossipRoutesGen = -1;
  private relayCache = new Map<PeerName, PeerName[]>();
  private relayCacheGen = -1;
  private peersKey = '';
  private announcedGossip: Routes | undefined;
  private cancelRecalc: (() => void) | undefined;
  private pendingBroadcast = new Set<PeerName>();
  private pendingRelay = new Set<PeerName>();
  private lastBroadcastVersion = 1;
  private cancelTopologyFlush: (() => void) | undefined;
  private cancelGossipTimer: (() => void) | undefined;
  private fullStateCache: { gen: number; data: Uint8Array } | undefined;
  private running = false;

  constructor(components: RouterComponents, init: RouterInit) {
    this.clock = components.clock;
    this.rng = components.rng;
    this.localName = init.name;
    this.localNickname = init.nickname;
    this.localUid = init.uid;
    this.connLimit = init.connLimit ?? DEFAULT_CONN_LIMIT;
    this.discovery = init.discovery ?? true;
    this.gossipIntervalMs = init.gossipIntervalMs ?? GOSSIP_INTERVAL_MS;
    this.topologyBatchMs = init.topologyBatchMs ?? TOPOLOGY_BATCH_MS;
    this.checkAfterMerge = init.checkInvariants ?? false;
    this.log = components.logger.child({ component: 'mesh', peer: init.name, nick: init.nickname });
    this.topology = new Topology({ name: init.name, nickname: init.nickname, uid: init.uid });
    this.channels.set('topology', new GossipChannel('topology', new TopologyGossiper(this), this));
    this.recalculateRoutes();
  }

  // ------------------------------------------------------------------------------------------
  // Lifecycle

  /** Starts periodic gossip. Connections may be added before start (they work without it). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.scheduleGossip();
  }

  stop(): void {
    this.running = false;
    this.cancelGossipTimer?.();
    this.cancelTopologyFlush?.();
    this.cancelRecalc?.();
    this.cancelGossipTimer = this.cancelTopologyFlush = this.cancelRecalc = undefined;
  }

  on<K extends keyof RouterEvents>(event: K, cb: RouterEvents[K]): () => void {
    this.listeners[event].add(cb);
    return () => this.listeners[event].delete(cb);
  }

  onTopologyChanged(cb: () => void): () => void {
    return this.on('topology:changed', cb);
  }

  onRoutesChanged(cb: () => void): () => void {
    return this.on('routes:changed', cb);
  }

  onPeersChanged(cb: () => void): () => void {
    return this.on('peers:changed', cb);
  }

  // ------------------------------------------------------------------------------------------
  // Connections

  /**
   * Adopts a handshaken connection. Throws TsweaveError (after closing `conn`):
   *  ERR_CONNECT_TO_SELF, ERR_DUPLICATE_CONNECTION (we already hold the connection the tie-break keeps),
   *  ERR_CONNECTION_LIMIT. When `conn` wins the tie-break, the old connection is closed and removed.
   */
  addConnection(conn: PeerConnection): void {
    const name = conn.remoteName;
    if (name === this.localName) {
      conn.close('cannot connect to ourself');
      throw new TsweaveError('ERR_CONNECT_TO_SELF', 'cannot connect to ourself', { fields: { address: conn.remoteAddress } });
    }
    const existing = this.conns.get(name);
    if (existing?.conn === conn) return;
    if (existing) {
      const msg = `Multiple connections to ${peerLabel(name, conn.remoteNickname)} added to ${peerLabel(this.localName, this.localNickname)}`;
      if (!keepNewConnection(this.localName, existing.conn, conn)) {
        conn.close(msg);
        throw new TsweaveError('ERR_DUPLICATE_CONNECTION', msg, { fields: { peer: name } });
      }
      this.log.debug({ remote: name, address: conn.remoteAddress }, 'duplicate connection, replacing the old one');
      this.conns.delete(name);
      existing.conn.close(msg);
      this.emit('connection:removed', existing.conn, msg, this.clock.now() - existing.addedAt);
    } else if (this.conns.size >= this.connLimit) {
      const msg = `Connection limit reached (${this.connLimit})`;
      conn.close(msg);
      throw new TsweaveError('ERR_CONNECTION_LIMIT', msg, { fields: { limit: this.connLimit } });
    }
    this.conns.set(name, { conn, established: false, addedAt: this.clock.now() });
    this.log.info({ remote: name, nick: conn.remoteNickname, address: conn.remoteAddress, outbound: conn.outbound }, 'connection added');
    this.pendingBroadcast.add(name);
    this.updateLocalEntry();
    // Full state of every channel down the new connection (mesh sendAllGossipDown).
    for (const ch of this.channels.values()) {
      const data = this.safeGossip(ch);
      if (data) conn.send({ kind: 'gossip', channel: ch.name, payload: data });
    }
    this.emit('connection:added', conn);
  }

  /** The data plane confirmed (or lost) the connection; only established connections carry data routes. */
  setConnectionEstablished(conn: PeerConnection, established: boolean): void {
    const rec = this.conns.get(conn.remoteName);
    if (!rec || rec.conn !== conn || rec.established === established) return;
    rec.established = established;
    this.log.info({ remote: conn.remoteName, established }, established ? 'connection established' : 'connection no longer established');
    this.updateLocalEntry();
    this.emit('connection:established', conn, established);
  }

  /** Forgets a connection (idempotent; false if we did not hold it). Does not close it. */
  removeConnection(conn: PeerConnection, reason: string): boolean {
    const rec = this.conns.get(conn.remoteName);
    if (!rec || rec.conn !== conn) return false;
    this.conns.delete(conn.remoteName);
    this.pendingBroadcast.delete(conn.remoteName);
    this.log.info({ remote: conn.remoteName, address: conn.remoteAddress, reason }, 'connection removed');
    this.updateLocalEntry();
    this.emit('connection:removed', conn, reason, this.clock.now() - rec.addedAt);
    return true;
  }

  connectionTo(peer: PeerName): PeerConnection | undefined {
    return this.conns.get(peer)?.conn;
  }

  isConnectionEstablished(peer: PeerName): boolean {
    return this.conns.get(peer)?.established ?? false;
  }

  connections(): PeerConnection[] {
    return [...this.conns.values()].map((r) => r.conn);
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  // ------------------------------------------------------------------------------------------
  // Messages

  /** Dispatches a control message received on `conn`. Never throws for bad payloads. */
  handleMessage(conn: PeerConnection, msg: ControlMessage): void {
    const rec = this.conns.get(conn.remoteName);
    if (!rec || rec.conn !== conn) {
      this.stats.staleConnectionMessages++;
      return;
    }
    this.stats.messagesIn++;
    const from = conn.remoteName;
    switch (msg.kind) {
      case 'gossip': {
        const ch = this.channels.get(msg.channel);
        if (!ch) {
          this.stats.unknownChannelDropped++;
          return;
        }
        const delta = this.guard(ch.name, from, conn, () => ch.gossiper.onGossip(from, msg.payload));
        if (delta) this.sendToNeighbours(ch.name, delta, from);
        return;
      }
      case 'gossip-unicast': {
        if (!isPeerName(msg.src) || !isPeerName(msg.dst)) {
          this.stats.malformed++;
          return;
        }
        if (msg.dst === this.localName) {
          const ch = this.channels.get(msg.channel);
          if (!ch) {
            this.stats.unknownChannelDropped++;
            return;
          }
          this.guard(ch.name, msg.src, conn, () => ch.gossiper.onGossipUnicast(msg.src, msg.payload));
          return;
        }
        this.forwardUnicast(msg, from);
        return;
      }
      case 'gossip-broadcast': {
        if (!isPeerName(msg.src)) {
          this.stats.malformed++;
          return;
        }
        if (msg.src === this.localName) return; // our own broadcast came back (views disagree): stop it
        const ch = this.channels.get(msg.channel);
        if (ch) {
          this.guard(ch.name, msg.src, conn, () => ch.gossiper.onGossipBroadcast(msg.src, msg.payload));
          // It closed the connection (an incompatible peer): do not pass its broadcast on either (mesh relays
          // only what its gossiper accepted).
          if (this.conns.get(from)?.conn !== conn) return;
        } else {
          this.stats.unknownChannelRelayed++;
        }
        // Relay the original payload (not the delta): every peer on the tree gets it exactly once
        // even if this peer had already learnt the content another way.
        this.relayBroadcast(msg.channel, msg.src, msg.payload, from);
        return;
      }
      default:
        this.emit('message:other', conn, msg);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Channels

  /** Registers a channel owner; returns the Gossip it sends with. One owner per channel name. */
  registerChannel(name: GossipChannelName, gossiper: Gossiper): Gossip {
    if (this.channels.has(name)) throw new TsweaveError('ERR_STATE', `gossip channel "${name}" is already registered`);
    const ch = new GossipChannel(name, gossiper, this);
    this.channels.set(name, ch);
    return ch;
  }

  /** GossipHost: routed hop by hop along gossip routes. */
  sendUnicast(channel: GossipChannelName, src: PeerName, dst: PeerName, payload: Uint8Array): void {
    this.forwardUnicast({ kind: 'gossip-unicast', channel, src, dst, payload }, undefined);
  }

  /** GossipHost: forwards along src's broadcast tree (gossip routes), never back to `except`. */
  relayBroadcast(channel: GossipChannelName, src: PeerName, payload: Uint8Array, except?: PeerName): void {
    const msg: ControlMessage = { kind: 'gossip-broadcast', channel, src, payload };
    const gen = this.topology.generation;
    if (gen !== this.relayCacheGen) {
      this.relayCache.clear();
      this.relayCacheGen = gen;
    }
    let hops = this.relayCache.get(src);
    if (!hops) {
      hops = this.topology.broadcastChildren(src);
      this.relayCache.set(src, hops);
    }
    for (const hop of hops) {
      if (hop === except) continue;
      this.conns.get(hop)?.conn.send(msg);
    }
  }

  /** GossipHost: to a random subset of 2·⌈log2(peers)⌉ neighbours (mesh randomNeighbours), not `except`. */
  sendToNeighbours(channel: GossipChannelName, payload: Uint8Array, except?: PeerName): void {
    const candidates: PeerConnection[] = [];
    for (const [name, rec] of this.conns) if (name !== except) candidates.push(rec.conn);
    const k = Math.min(candidates.length, 2 * Math.max(1, Math.ceil(Math.log2(Math.max(2, this.topology.size)))));
    // Partial Fisher–Yates: the first k of a random permutation.
    for (let i = 0; i < k; i++) {
      const j = i + this.rng.int(candidates.length - i);
      const c = candidates[j]!;
      candidates[j] = candidates[i]!;
      candidates[i] = c;
      c.send({ kind: 'gossip', channel, payload });
    }
  }

  /** Sends every channel's full state to a random neighbour subset now (the periodic gossip). */
  gossipNow(): void {
    this.stats.periodicGossips++;
    for (const ch of this.channels.values()) {
      const data = this.safeGossip(ch);
      if (data) this.sendToNeighbours(ch.name, data);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Routes and PeerDirectory

  /** Data plane: next hop towards `dst` over established, symmetric connections. */
  unicastNextHop(dst: PeerName): PeerName | undefined {
    return this.dataRoutes.unicastNextHop(dst);
  }

  /** Data plane: where to forward a broadcast that originated at `origin` (our children in its tree). */
  broadcastNextHops(origin: PeerName): readonly PeerName[] {
    return this.dataRoutes.broadcastNextHops(origin);
  }

  /** The data-plane route table (established, symmetric connections). */
  routes(): Routes {
    return this.dataRoutes;
  }

  /** The route table gossip uses (any listed connection), always from the current topology. */
  gossipRoutes(): Routes {
    const gen = this.topology.generation;
    if (!this.gossipRoutesCache || this.gossipRoutesGen !== gen) {
      this.gossipRoutesCache = new Routes(this.topology.asMap(), this.localName, 'all');
      this.gossipRoutesGen = gen;
    }
    return this.gossipRoutesCache;
  }

  /**
   * Recalculates routes now if the topology changed since the last calculation (normally done by a
   * timer ROUTES_RECALC_DEFER_MS after the change) and fires routes:changed / peers:changed.
   */
  recalculateRoutes(): void {
    this.cancelRecalc?.();
    this.cancelRecalc = undefined;
    const gen = this.topology.generation;
    if (gen === this.routesGen) return;
    const peers = this.topology.asMap();
    const data = new Routes(peers, this.localName, 'established');
    const gossip = this.gossipRoutes();
    const first = this.routesGen === -1;
    const routesChanged = !data.sameUnicast(this.dataRoutes) || !gossip.sameUnicast(this.announcedGossip);
    this.dataRoutes = data;
    this.announcedGossip = gossip;
    this.routesGen = gen;
    const key = gossip.reachablePeers().map((n) => `${n}(${this.topology.get(n)?.nickname ?? ''})`).join(',');
    const peersChanged = key !== this.peersKey;
    this.peersKey = key;
    if (first) return;
    if (routesChanged) this.emit('routes:changed');
    if (peersChanged) this.emit('peers:changed');
  }

  reachablePeers(): PeerName[] {
    return this.gossipRoutes().reachablePeers();
  }

  isReachable(name: PeerName): boolean {
    return this.gossipRoutes().isReachable(name);
  }

  nicknameOf(name: PeerName): string | undefined {
    return this.topology.get(name)?.nickname;
  }

  // ------------------------------------------------------------------------------------------
  // Status

  snapshot(): RouterSnapshot {
    const now = this.clock.now();
    const nick = (n: PeerName): string => this.topology.get(n)?.nickname ?? '';
    return {
      name: this.localName,
      nickname: this.localNickname,
      uid: this.localUid,
      connLimit: this.connLimit,
      discovery: this.discovery,
      connections: [...this.conns.values()]
        .map((r) => ({
          name: r.conn.remoteName,
          nickname: r.conn.remoteNickname,
          uid: r.conn.remoteUid,
          address: r.conn.remoteAddress,
          outbound: r.conn.outbound,
          established: r.established,
          listenPort: r.conn.remoteListenPort,
          ageMs: now - r.addedAt,
        }))
        .sort((a, b) => (a.name < b.name ? -1 : 1)),
      peers: this.topology.entries().map((e) => ({
        name: e.name,
        nickname: e.nickname,
        uid: e.uid,
        version: e.version,
        connections: e.connections.map((c) => ({
          address: c.address, outbound: c.outbound, name: c.name, nickname: nick(c.name), established: c.established,
        })),
      })),
      stats: { ...this.stats, badPayloads: { ...this.stats.badPayloads } },
    };
  }

  // ------------------------------------------------------------------------------------------
  // Internals (the topology gossiper calls the first two)

  /** @internal */
  encodeFullTopology(): Uint8Array {
    const gen = this.topology.generation;
    if (this.fullStateCache?.gen !== gen) this.fullStateCache = { gen, data: encodeTopology(this.topology.entries()) };
    return this.fullStateCache.data;
  }

  /** @internal Entries learnt by gossip, to re-gossip (coalesced) at the next topology flush. */
  noteTopologyRelay(entries: readonly PeerEntry[]): void {
    for (const e of entries) if (e.name !== this.localName) this.pendingRelay.add(e.name);
    this.scheduleTopologyFlush();
  }

  /** @internal Called after a merge of remote topology data changed something. */
  topologyMerged(delta: TopologyDelta): void {
    if (this.checkAfterMerge) {
      const err = this.topology.checkInvariants();
      if (err) throw new TsweaveError('ERR_STATE', `topology invariant violated after merge: ${err.message}`, { cause: err });
    }
    if (delta.removed.length > 0) this.log.info({ peers: delta.removed }, 'removed unreachable peers');
    if (delta.selfBumped) this.scheduleTopologyFlush();
    this.topologyChanged();
  }

  private updateLocalEntry(): void {
    const summaries: ConnectionSummary[] = [];
    for (const rec of this.conns.values()) {
      summaries.push({
        name: rec.conn.remoteName,
        address: rec.conn.remoteAddress,
        outbound: rec.conn.outbound,
        established: rec.established,
        listenPort: rec.conn.remoteListenPort,
      });
    }
    const { changed, removed } = this.topology.setLocalConnections(summaries);
    if (!changed) return;
    if (removed.length > 0) this.log.info({ peers: removed }, 'removed unreachable peers');
    this.scheduleTopologyFlush();
    this.topologyChanged();
  }

  private topologyChanged(): void {
    this.emit('topology:changed');
    if (!this.cancelRecalc) {
      this.cancelRecalc = this.clock.setTimer(ROUTES_RECALC_DEFER_MS, () => {
        this.cancelRecalc = undefined;
        this.recalculateRoutes();
      });
    }
  }

  private scheduleTopologyFlush(): void {
    if (this.cancelTopologyFlush) return;
    this.cancelTopologyFlush = this.clock.setTimer(this.topologyBatchMs, () => {
      this.cancelTopologyFlush = undefined;
      this.flushTopology();
    });
  }

  /**
   * The batched topology send: (1) if our entry changed, one broadcast of our entry plus the entries
   * of peers we connected to since the last flush (so receivers can reach them); (2) if gossip taught
   * us something, one re-gossip of those entries (current versions) plus ours to a neighbour subset.
   */
  private flushTopology(): void {
    const self = this.topology.self;
    if (self.version !== this.lastBroadcastVersion || this.pendingBroadcast.size > 0) {
      const entries: PeerEntry[] = [self];
      for (const name of this.pendingBroadcast) {
        const e = this.topology.get(name);
        if (e) entries.push(e);
      }
      this.pendingBroadcast.clear();
      this.lastBroadcastVersion = self.version;
      this.stats.topologyBroadcasts++;
      this.relayBroadcast('topology', this.localName, encodeTopology(entries));
    }
    if (this.pendingRelay.size > 0) {
      const entries: PeerEntry[] = [self];
      for (const name of this.pendingRelay) {
        const e = this.topology.get(name);
        if (e) entries.push(e);
      }
      this.pendingRelay.clear();
      this.stats.topologyRelays++;
      this.sendToNeighbours('topology', encodeTopology(entries));
    }
  }

  private scheduleGossip(): void {
    if (!this.running) return;
    this.cancelGossipTimer = this.clock.setTimer(this.gossipIntervalMs, () => {
      this.cancelGossipTimer = undefined;
      if (!this.running) return;
      this.gossipNow();
      this.scheduleGossip();
    });
  }

  private forwardUnicast(msg: Extract<ControlMessage, { kind: 'gossip-unicast' }>, from: PeerName | undefined): void {
    const hop = this.gossipRoutes().unicastNextHop(msg.dst);
    const rec = hop === undefined ? undefined : this.conns.get(hop);
    if (!rec) {
      this.stats.unicastNoRoute++;
      this.log.debug({ channel: msg.channel, src: msg.src, dst: msg.dst }, 'gossip unicast dropped: no route');
      return;
    }
    if (hop === from) {
      this.stats.unicastBounced++;
      this.log.debug({ channel: msg.channel, src: msg.src, dst: msg.dst, via: hop }, 'gossip unicast dropped: would bounce back');
      return;
    }
    if (!this.channels.has(msg.channel)) this.stats.unknownChannelRelayed++;
    rec.conn.send(msg);
  }

  /** Runs a channel handler on remote input; a throw is hostile input: counted, logged, dropped. */
  /**
   * Runs a gossiper on a payload that came on `conn`. A throw drops the payload (counted); one that says the
   * sender can never be reconciled with us (connectionFatalReason) also closes `conn` with that reason.
   */
  private guard<T>(channel: GossipChannelName, peer: PeerName, conn: PeerConnection, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.stats.badPayloads[channel] = (this.stats.badPayloads[channel] ?? 0) + 1;
      const reason = connectionFatalReason(err);
      if (reason === undefined) {
        this.log.debug({ channel, src: peer, err }, 'gossip payload rejected');
        return undefined;
      }
      this.log.warn({ channel, src: peer, remote: conn.remoteName, reason }, 'closing the connection to an incompatible peer');
      this.removeConnection(conn, reason);
      conn.close(reason);
      return undefined;
    }
  }

  private safeGossip(ch: GossipChannel): Uint8Array | undefined {
    try {
      return ch.gossiper.gossip();
    } catch (err) {
      this.log.error({ channel: ch.name, err }, 'gossip channel failed to produce its state');
      return undefined;
    }
  }

  private emit<K extends keyof RouterEvents>(event: K, ...args: Parameters<RouterEvents[K]>): void {
    for (const cb of [...this.listeners[event]]) {
      try {
        (cb as (...a: Parameters<RouterEvents[K]>) => void)(...args);
      } catch (err) {
        this.log.error({ event, err: errorMessage(err) }, 'router event listener threw');
      }
    }
  }
}

/** The 'topology' channel's Gossiper: decodes (validated), merges, and returns what was new. */
class TopologyGossiper implements Gossiper {
  constructor(private readonly router: Router) {}

  gossip(): Uint8Array {
    return this.router.encodeFullTopology();
  }

  /**
   * Unlike other channels, the topology delta is not returned for immediate re-gossip: the Router
   * coalesces what was new over TOPOLOGY_BATCH_MS and re-gossips it once (mesh's gossip senders merge
   * pending data per connection the same way). Without this, a join storm costs O(merges × fan-out).
   */
  onGossip(_src: PeerName, data: Uint8Array): Uint8Array | undefined {
    const delta = this.merge(data);
    if (delta && delta.updated.length > 0) this.router.noteTopologyRelay(delta.updated);
    return undefined;
  }

  /**
   * What a broadcast taught us is also re-gossiped (coalesced) to neighbours: while views disagree
   * (links failing, peers joining) broadcast trees differ between peers and a broadcast can miss some;
   * the relay reaches them within a batch or two instead of waiting for the 30 s periodic gossip.
   * Peers that already knew it learn nothing new and stop the relay there.
   */
  onGossipBroadcast(_src: PeerName, data: Uint8Array): Uint8Array | undefined {
    const delta = this.merge(data);
    if (!delta || delta.updated.length === 0) return undefined;
    this.router.noteTopologyRelay(delta.updated);
    return undefined; // the Router relays the original broadcast along the tree, not a delta
  }

  onGossipUnicast(): void {
    // The topology channel has no unicast messages.
  }

  private merge(data: Uint8Array): TopologyDelta | undefined {
    const delta = this.router.topology.mergeDelta(decodeTopology(data));
    if (delta) this.router.topologyMerged(delta);
    return delta;
  }
}
