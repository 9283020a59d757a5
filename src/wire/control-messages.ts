// Control-plane messages carried, sealed, over the TCP connection after the handshake (DESIGN.md §3).
// This file holds the types; the codec (msgpackr, validated, size-capped) lives in control-codec.ts.

import type { GossipChannelName } from '../core/gossip.js';
import type { PeerName } from '../core/types.js';

/** Steps of the data-plane key rotation (dataplane/rekey.ts has the exchange). */
export type RekeyOp = 'init' | 'resp' | 'installed';
/** X25519 public key in init/resp. */
export const REKEY_PUBLIC_KEY_BYTES = 32;

export type ControlMessage =
  /** Keeps the connection alive; any message resets the read deadline. */
  | { kind: 'heartbeat' }
  /** Full or delta state of a channel, to a neighbour. */
  | { kind: 'gossip'; channel: GossipChannelName; payload: Uint8Array }
  /** Routed hop by hop towards dst along unicast routes. */
  | { kind: 'gossip-unicast'; channel: GossipChannelName; src: PeerName; dst: PeerName; payload: Uint8Array }
  /** Forwarded along src's broadcast tree. */
  | { kind: 'gossip-broadcast'; channel: GossipChannelName; src: PeerName; payload: Uint8Array }
  /** Data-plane control between the two ends of this connection (UDP confirmation, PMTU, rekey). */
  | { kind: 'overlay'; payload: Uint8Array }
  /** Data-plane key rotation between the two ends of this connection (dataplane/rekey.ts). */
  | { kind: 'rekey'; op: RekeyOp; gen: number; pub?: Uint8Array }
  /** Ethernet frames over TCP when UDP does not get through; payload has the UDP data payload layout. */
  | { kind: 'frames'; payload: Uint8Array }
  /** The sender is closing the connection; reason is shown in status. */
  | { kind: 'close'; reason: string };

export type ControlMessageKind = ControlMessage['kind'];
