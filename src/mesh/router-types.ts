// The Router's vocabulary: what it is built from (components, init), what it counts, the events it fires
// and the status snapshot it returns. Kept apart so the status API and tests can name them without the
// Router itself; router.ts re-exports them.

import type { Clock, Rng } from '../core/ports.js';
import type { Logger } from 'pino';
import type { PeerName } from '../core/types.js';
import type { ControlMessage } from '../wire/control-messages.js';
import type { PeerConnection } from './peer-connection.js';

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

/** All counters at zero. */
export function newRouterStats(): RouterStats {
  return {
    messagesIn: 0, staleConnectionMessages: 0, badPayloads: {}, unknownChannelDropped: 0,
    unknownChannelRelayed: 0, unicastNoRoute: 0, unicastBounced: 0, malformed: 0, topologyBroadcasts: 0, topologyRelays: 0,
    periodicGossips: 0,
  };
}
