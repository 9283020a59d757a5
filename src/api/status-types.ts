// The status snapshot: one plain, JSON-safe object that the HTTP API serves, the CLI formats and the
// tests assert on (DESIGN.md §7, STYLE.md habit 10). Builders live in api/status.ts.

import type { DnsStatus } from '../dns/service.js';
import type { IpamStatus } from '../ipam/status.js';

// The cores own their part of the snapshot (they fill it in); the API re-exports it.
export type { IpamEntryStatus, IpamRingEntryStatus, IpamStatus } from '../ipam/status.js';
export type { DnsEntryStatus, DnsStatus } from '../dns/service.js';

export type ConnectionState = 'connecting' | 'retrying' | 'failed' | 'pending' | 'established';

export interface ConnectionStatus {
  /** "ip:port" of the remote end (outbound: the target dialled; inbound: the source seen). */
  address: string;
  outbound: boolean;
  state: ConnectionState;
  /** Set once the handshake completed. */
  remoteName?: string;
  remoteNickname?: string;
  /** Present once the handshake completed. */
  encrypted?: boolean;
  /** Which path carries frames: 'udp' (sleeve) or 'tcp' (fallback when UDP does not get through). */
  path?: 'udp' | 'tcp';
  /** With the fast datapath running: kernel VXLAN ('fastdp') or the router ('sleeve'). */
  overlay?: 'fastdp' | 'sleeve';
  /** Why a connection is on the sleeve although the fast datapath runs (e.g. no VXLAN heartbeat reply). */
  fastdpReason?: string;
  /** Completed data-plane key rotations (present once the handshake completed). */
  rekeys?: number;
  /** NAT traversal: how a tunnelled connection was made ("punched via PEER", "punching via PEER"), or on a
   *  target's line, why punching to the peer behind it failed ("PEER punching failed: …"). */
  nat?: string;
  mtu?: number;
  /** Why the last attempt failed (failed/retrying), e.g. "authentication failed (password mismatch?)". */
  error?: string;
  /** failed: wall-clock ms of the next attempt, or 'never'. */
  retryAt?: number | 'never';
}

export interface PeerConnectionStatus {
  address: string;
  outbound: boolean;
  name: string;
  nickname: string;
  established: boolean;
}

export interface PeerStatus {
  name: string;
  nickname: string;
  uid: string;
  connections: PeerConnectionStatus[];
}

export interface RouterStatus {
  protocolMinVersion: number;
  protocolMaxVersion: number;
  name: string;
  nickname: string;
  port: number;
  encryption: boolean;
  peerDiscovery: boolean;
  trustedSubnets: string[];
  /** Targets as given to launch/connect ("host:port"). */
  targets: string[];
  connections: ConnectionStatus[];
  /** All known peers, self first. */
  peers: PeerStatus[];
  mtu: number;
  /** Connections closed since the router started. */
  terminationCount?: number;
}

export interface Status {
  version: string;
  router: RouterStatus;
  ipam?: IpamStatus;
  dns?: DnsStatus;
}
