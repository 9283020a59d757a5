// The mesh Router: local connections, the topology CRDT, routes and the gossip channels
// (DESIGN.md §3, mesh router.go / local_peer.go / gossip_channel.go). Pure: time, randomness and the
// connections themselves are injected; the daemon feeds it handshaken PeerConnections and messages.
// This file adopts and drops connections, dispatches messages and composes its parts:
//   router-types.ts     components, init, stats, events, status snapshot
//   local-connections.ts the connection table and the duplicate-connection tie-break
//   route-state.ts      data and gossip routes, deferred recalculation (ROUTES_RECALC_DEFER_MS)
//   gossip-relay.ts     gossip in (to the channels) and out: unicast hop by hop, broadcast tree, neighbours
//   topology-gossip.ts  the 'topology' channel: merge and the batched broadcast/relay of changes
//
// Flow of a topology change:
//   local connection added/removed/established → our entry bumped (Topology.setLocalConnections)
//     → routes marked dirty → after TOPOLOGY_BATCH_MS one broadcast of [our entry + entries of peers
//       we connected to since the last one] on the 'topology' channel along our broadcast tree.
//   remote update (gossip/broadcast) → Topology.mergeDelta → routes dirty; a gossip (not broadcast)
//     delta is re-gossiped to a random neighbour subset, with our own entry so it stays connected.
//   new connection → full state of every channel sent down it (mesh sendAllGossipDown).
//   every GOSSIP_INTERVAL_MS → full state of every channel to a log-sized random neighbour subset.
// Data routes follow the topology after a short delay (route-state.ts); gossip forwarding always uses
// the current topology.
//
// Gossip messages travel over *any* connection ('all' routes); data-plane routes exposed to the
// forwarding code use only established, symmetric connections ('established' routes).
//
// Unknown channels (no registered Gossiper, e.g. DNS disabled here): broadcasts are still relayed along
// the origin's tree and unicasts in transit are still forwarded, so a peer without the feature does not
// partition it for others; gossip and unicasts addressed to us on such a channel are counted and dropped.

import { DEFAULT_CONN_LIMIT, GOSSIP_INTERVAL_MS, TOPOLOGY_BATCH_MS } from '../core/defaults.js';
import { TsweaveError, errorMessage } from '../core/errors.js';
import type { Gossip, GossipChannelName, Gossiper, PeerDirectory } from '../core/gossip.js';
import type { Clock } from '../core/ports.js';
import { peerLabel, type PeerName } from '../core/types.js';
import type { Logger } from 'pino';
import type { ControlMessage } from '../wire/control-messages.js';
import { GossipChannel, type GossipHost } from './gossip-channel.js';
import { GossipRelay } from './gossip-relay.js';
import { keepNewConnection, LocalConnections } from './local-connections.js';
import type { PeerConnection } from './peer-connection.js';
import { RouteState } from './route-state.js';
import type { Routes } from './routes.js';
import {
  newRouterStats,
  type RouterComponents,
  type RouterEvents,
  type RouterInit,
  type RouterSnapshot,
  type RouterStats,
} from './router-types.js';
import { TopologyAnnouncer, TopologyGossiper } from './topology-gossip.js';
import { Topology, type TopologyDelta } from './topology.js';

// Re-exported: other modules and the tests import these from here.
export { ROUTES_RECALC_DEFER_MS } from './route-state.js';
export { keepNewConnection } from './local-connections.js';
export type {
  LocalConnectionSnapshot,
  PeerSnapshot,
  RouterComponents,
  RouterEvents,
  RouterInit,
  RouterSnapshot,
  RouterStats,
} from './router-types.js';

export class Router implements PeerDirectory, GossipHost {
  readonly localName: PeerName;
  readonly localNickname: string;
  readonly localUid: string;
  readonly connLimit: number;
  readonly discovery: boolean;
  readonly topology: Topology;
  readonly stats: RouterStats = newRouterStats();

  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly gossipIntervalMs: number;
  private readonly checkAfterMerge: boolean;
  private readonly conns = new LocalConnections();
  private readonly channels = new Map<GossipChannelName, GossipChannel>();
  private readonly listeners: { [K in keyof RouterEvents]: Set<RouterEvents[K]> } = {
    'topology:changed': new Set(), 'routes:changed': new Set(), 'peers:changed': new Set(),
    'connection:added': new Set(), 'connection:removed': new Set(), 'connection:established': new Set(),
    'message:other': new Set(),
  };
  private readonly routeState: RouteState;
  private readonly relay: GossipRelay;
  private readonly announcer: TopologyAnnouncer;
  private cancelGossipTimer: (() => void) | undefined;
  private running = false;

  constructor(components: RouterComponents, init: RouterInit) {
    this.clock = components.clock;
    this.localName = init.name;
    this.localNickname = init.nickname;
    this.localUid = init.uid;
    this.connLimit = init.connLimit ?? DEFAULT_CONN_LIMIT;
    this.discovery = init.discovery ?? true;
    this.gossipIntervalMs = init.gossipIntervalMs ?? GOSSIP_INTERVAL_MS;
    this.checkAfterMerge = init.checkInvariants ?? false;
    this.log = components.logger.child({ component: 'mesh', peer: init.name, nick: init.nickname });
    this.topology = new Topology({ name: init.name, nickname: init.nickname, uid: init.uid });
    const topology = this.topology;
    this.routeState = new RouteState(this.topology, this.localName, this.clock, ({ routesChanged, peersChanged }) => {
      if (routesChanged) this.emit('routes:changed');
      if (peersChanged) this.emit('peers:changed');
    });
    const channels = this.channels;
    this.relay = new GossipRelay(
      this.routeState,
      {
        localName: this.localName,
        connectionTo: (peer) => this.connectionTo(peer),
        connections: () => this.connections(),
        holds: (conn) => this.conns.recordOf(conn) !== undefined,
        dropConnection: (conn, reason) => {
          this.removeConnection(conn, reason);
          conn.close(reason);
        },
        get peerCount() {
          return topology.size;
        },
        channel: (name) => channels.get(name),
      },
      components.rng,
      this.stats,
      this.log,
    );
    this.announcer = new TopologyAnnouncer(this.topology, this.clock, init.topologyBatchMs ?? TOPOLOGY_BATCH_MS, this.stats, this);
    const gossiper = new TopologyGossiper(this.topology, this.announcer, (delta) => this.topologyMerged(delta));
    this.channels.set('topology', new GossipChannel('topology', gossiper, this));
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
    this.announcer.stop();
    this.routeState.stop();
    this.cancelGossipTimer = undefined;
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
    this.conns.add(conn, this.clock.now());
    this.log.info({ remote: name, nick: conn.remoteNickname, address: conn.remoteAddress, outbound: conn.outbound }, 'connection added');
    this.announcer.connected(name);
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
    const rec = this.conns.recordOf(conn);
    if (!rec || rec.established === established) return;
    rec.established = established;
    this.log.info({ remote: conn.remoteName, established }, established ? 'connection established' : 'connection no longer established');
    this.updateLocalEntry();
    this.emit('connection:established', conn, established);
  }

  /** Forgets a connection (idempotent; false if we did not hold it). Does not close it. */
  removeConnection(conn: PeerConnection, reason: string): boolean {
    const rec = this.conns.recordOf(conn);
    if (!rec) return false;
    this.conns.delete(conn.remoteName);
    this.announcer.disconnected(conn.remoteName);
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
    return this.conns.connections();
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  // ------------------------------------------------------------------------------------------
  // Messages

  /** Dispatches a control message received on `conn`. Never throws for bad payloads. */
  handleMessage(conn: PeerConnection, msg: ControlMessage): void {
    if (!this.conns.recordOf(conn)) {
      this.stats.staleConnectionMessages++;
      return;
    }
    this.stats.messagesIn++;
    if (!this.relay.handle(conn, msg)) this.emit('message:other', conn, msg);
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
    this.relay.forwardUnicast({ kind: 'gossip-unicast', channel, src, dst, payload }, undefined);
  }

  /** GossipHost: forwards along src's broadcast tree (gossip routes), never back to `except`. */
  relayBroadcast(channel: GossipChannelName, src: PeerName, payload: Uint8Array, except?: PeerName): void {
    this.relay.relayBroadcast(channel, src, payload, except);
  }

  /** GossipHost: to a random subset of 2·⌈log2(peers)⌉ neighbours (mesh randomNeighbours), not `except`. */
  sendToNeighbours(channel: GossipChannelName, payload: Uint8Array, except?: PeerName): void {
    this.relay.sendToNeighbours(channel, payload, except);
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
    return this.routeState.data().unicastNextHop(dst);
  }

  /** Data plane: where to forward a broadcast that originated at `origin` (our children in its tree). */
  broadcastNextHops(origin: PeerName): readonly PeerName[] {
    return this.routeState.data().broadcastNextHops(origin);
  }

  /** The data-plane route table (established, symmetric connections). */
  routes(): Routes {
    return this.routeState.data();
  }

  /** The route table gossip uses (any listed connection), always from the current topology. */
  gossipRoutes(): Routes {
    return this.routeState.gossip();
  }

  /**
   * Recalculates routes now if the topology changed since the last calculation (normally done by a
   * timer ROUTES_RECALC_DEFER_MS after the change) and fires routes:changed / peers:changed.
   */
  recalculateRoutes(): void {
    const what = this.routeState.recalculate();
    if (what?.routesChanged) this.emit('routes:changed');
    if (what?.peersChanged) this.emit('peers:changed');
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
      connections: this.conns.snapshot(now),
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
  // Internals

  /** Called after a merge of remote topology data changed something. */
  private topologyMerged(delta: TopologyDelta): void {
    if (this.checkAfterMerge) {
      const err = this.topology.checkInvariants();
      if (err) throw new TsweaveError('ERR_STATE', `topology invariant violated after merge: ${err.message}`, { cause: err });
    }
    if (delta.removed.length > 0) this.log.info({ peers: delta.removed }, 'removed unreachable peers');
    if (delta.selfBumped) this.announcer.schedule();
    this.topologyChanged();
  }

  private updateLocalEntry(): void {
    const { changed, removed } = this.topology.setLocalConnections(this.conns.summaries());
    if (!changed) return;
    if (removed.length > 0) this.log.info({ peers: removed }, 'removed unreachable peers');
    this.announcer.schedule();
    this.topologyChanged();
  }

  private topologyChanged(): void {
    this.emit('topology:changed');
    this.routeState.schedule();
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
