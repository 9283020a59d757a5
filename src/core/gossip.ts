// The gossip channel interface shared by topology, IPAM and DNS (DESIGN.md §3, mesh gossip.go).
// A channel owner implements `Gossiper`; the mesh hands it a `Gossip` to send with. Payloads are opaque
// bytes to the mesh: each owner encodes and validates its own. A throw from an `on*` method is treated as
// hostile input from `src`: logged, counted, dropped.

import type { PeerName } from './types.js';

export type GossipChannelName = 'topology' | 'ipam' | 'dns';

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
