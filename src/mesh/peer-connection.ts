// The seam between the mesh core and a live control connection (DESIGN.md §3).
// The daemon builds a PeerConnection once the TCP handshake has completed (mesh/handshake.ts +
// mesh/protocol-connection.ts) and hands it to Router.addConnection; tests and the simulation use
// in-memory implementations (test/support/sim-network.ts). The Router never touches sockets.

import type { PeerName } from '../core/types.js';
import type { ControlMessage } from '../wire/control-messages.js';

export interface PeerConnection {
  readonly remoteName: PeerName;
  readonly remoteNickname: string;
  readonly remoteUid: string;
  readonly outbound: boolean;
  /** "ip:port" as seen: outbound = the address dialled; inbound = the remote's source address. */
  readonly remoteAddress: string;
  /** The port the remote listens on (from its hello), so discovery can dial ip:listenPort. */
  readonly remoteListenPort: number;
  /** Queues a message; never throws (a dead connection drops it and reports its close separately). */
  send(msg: ControlMessage): void;
  /**
   * Closes the connection (idempotent). The owner of the transport then calls
   * Router.removeConnection(conn, reason), which is a no-op for a connection the Router does not hold.
   */
  close(reason: string): void;
}

/** The host part of "host:port" (the whole string when there is no colon). */
export function hostOf(address: string): string {
  const colon = address.lastIndexOf(':');
  return colon < 0 ? address : address.slice(0, colon);
}
