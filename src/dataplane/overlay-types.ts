// The overlay's vocabulary: what it is built from (components, init), what it counts, what it tells
// about a session, and the batch sizes its send and receive paths share. overlay.ts re-exports them.

import type { Clock, FastPath, TapDevice, UdpSocket } from '../core/ports.js';
import type { Logger } from '../core/logger.js';
import type { DataAeadEngine } from '../crypto/data-aead.js';
import type { RekeyCrypto } from '../crypto/rekey-kdf.js';
import type { RouteTable } from './forwarder.js';
import type { SessionPath } from './session.js';
import type { RekeyOptions } from './session-rekey.js';

/** Datagrams (or frames) handled per batch: the size of every scratch array. */
export const MAX_BATCH = 256;
/** A heartbeat's body: the sender's clock (f64 BE), echoed in the ACK for the RTT. */
export const HEARTBEAT_BODY_BYTES = 8;

export interface OverlayComponents {
  clock: Clock;
  logger: Logger;
  tap: TapDevice;
  udp: UdpSocket;
  routes: RouteTable;
  /** Needed for encrypted sessions. */
  aead?: DataAeadEngine;
  /** Native I/O threads that carry the common case (see the top of this file). */
  fast?: FastPath;
  /** Key rotation of encrypted sessions (absent: keys live as long as the connection). */
  rekeyCrypto?: RekeyCrypto;
}

export interface OverlayInit {
  localPeer: number;
  /** Overlay (bridge) MTU. */
  mtu: number;
  /** First broadcast number; random per router start (broadcast-dedup.ts). @default 0 */
  broadcastStart?: number;
  /** Rekey schedule (defaults: REKEY_AFTER_MS, REKEY_AFTER_BYTES). */
  rekey?: Partial<Pick<RekeyOptions, 'intervalMs' | 'afterBytes'>>;
}

export interface OverlayStats {
  datagramsSent: number;
  datagramsReceived: number;
  framesOverTcp: number;
  heartbeatsSent: number;
  droppedShort: number;
  droppedUnknownSession: number;
  droppedAuth: number;
  droppedReplay: number;
  droppedBadFrame: number;
  droppedNoSession: number;
  /** Oversize frames that could not be answered or fragmented (pmtu.ts). */
  droppedTooBig: number;
  droppedBadType: number;
  /** ICMP "fragmentation needed" / ICMPv6 "packet too big" written back to the bridge. */
  icmpTooBigSent: number;
  /** Oversize IPv4 packets without DF that were fragmented here, and the fragments they became. */
  framesFragmented: number;
  fragmentsSent: number;
}

export interface SessionInfo {
  path: SessionPath | undefined;
  confirmed: boolean;
  encrypted: boolean;
  rttMs: number | undefined;
  remote: string;
  /** Completed key rotations, and the generation in use. */
  rekeys: number;
  keyGeneration: number;
  /** Traffic on this session, the JS path's and the fast path's together. */
  datagramsSent: number;
  bytesSent: number;
  datagramsReceived: number;
  bytesReceived: number;
}

/** All counters at zero. */
export function newOverlayStats(): OverlayStats {
  return {
    datagramsSent: 0,
    datagramsReceived: 0,
    framesOverTcp: 0,
    heartbeatsSent: 0,
    droppedShort: 0,
    droppedUnknownSession: 0,
    droppedAuth: 0,
    droppedReplay: 0,
    droppedBadFrame: 0,
    droppedNoSession: 0,
    droppedTooBig: 0,
    droppedBadType: 0,
    icmpTooBigSent: 0,
    framesFragmented: 0,
    fragmentsSent: 0,
  };
}
