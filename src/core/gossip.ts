// The gossip channel interface shared by topology, IPAM and DNS (DESIGN.md §3, mesh gossip.go).
// A channel owner implements `Gossiper`; the mesh hands it a `Gossip` to send with. Payloads are opaque
// bytes to the mesh: each owner encodes and validates its own. A throw from an `on*` method is treated as
// hostile input from `src`: logged, counted, dropped — unless the error says the sender can never be
// reconciled with us (`connectionReason`, e.g. another --ipalloc-range): then the router also closes the
// connection the message came on with that reason, as Weave does, so `status connections` shows it.

import type { PeerName } from './types.js';

export type GossipChannelName = 'topology' | 'ipam' | 'dns' | 'nat';

export interface Gossiper {
  /** Full state, sent periodically and to new neighbours; undefined if there is nothing to say. */
  gossip(): Uint8Array | undefined;
  /** Merges state from a neighbour. Returns the delta (what was new to us, encoded), or undefined. */
  onGossip(src: PeerName, data: Uint8Array): Uint8Array | undefined;
  /** A broadcast that originated at `src`. Returns the delta, or undefined. */
  onGossipBroadcast(src: PeerName, data: Uint8Array): Uint8Array | undefined;
  /** A message addressed to this peer. */
  onGossipUnicast(src: PeerName, data: Uint8Array): void;
}

export interface Gossip {
  /** Sends to one peer along the unicast route; dropped (and logged) if unreachable. */
  gossipUnicast(dst: PeerName, data: Uint8Array): void;
  /** Delivers to every reachable peer exactly once along this peer's broadcast tree. */
  gossipBroadcast(data: Uint8Array): void;
  /** Sends (possibly partial) state to a random subset of neighbours; they merge and re-gossip deltas. */
  gossipToNeighbours(data: Uint8Array): void;
}

/** What a channel owner may ask about the mesh's membership. */
export interface PeerDirectory {
  readonly localName: PeerName;
  readonly localNickname: string;
  /** Peers currently reachable through the mesh, self included. */
  reachablePeers(): PeerName[];
  isReachable(name: PeerName): boolean;
  nicknameOf(name: PeerName): string | undefined;
  /** Called after membership or reachability changed. Returns an unsubscribe function. */
  onPeersChanged(cb: () => void): () => void;
}

/** An error a Gossiper throws when the sender's setup can never be reconciled with ours. */
export interface ConnectionFatal {
  /** One line for `status connections` on both ends, naming both sides (it is sent to the remote too). */
  readonly connectionReason: string;
}

/** The reason to close the connection for, if `err` is fatal to it (see ConnectionFatal). */
export function connectionFatalReason(err: unknown): string | undefined {
  const r = err instanceof Error ? (err as Partial<ConnectionFatal>).connectionReason : undefined;
  return typeof r === 'string' && r !== '' ? r : undefined;
}
