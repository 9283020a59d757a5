// The Router's table of local connections (mesh local_peer.go): one per peer, whether the data plane
// has established it, when it was added; the tie-break between two connections to one peer; and the
// views of the table the topology (our entry's connection list) and status need.

import type { PeerName } from '../core/types.js';
import type { PeerConnection } from './peer-connection.js';
import type { LocalConnectionSnapshot } from './router-types.js';
import type { ConnectionSummary } from './topology.js';

export interface LocalConnection {
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

export class LocalConnections {
  private readonly byName = new Map<PeerName, LocalConnection>();

  get(peer: PeerName): LocalConnection | undefined {
    return this.byName.get(peer);
  }

  /** The record of `conn` if it is the one held for its peer. */
  recordOf(conn: PeerConnection): LocalConnection | undefined {
    const rec = this.byName.get(conn.remoteName);
    return rec?.conn === conn ? rec : undefined;
  }

  add(conn: PeerConnection, now: number): void {
    this.byName.set(conn.remoteName, { conn, established: false, addedAt: now });
  }

  delete(peer: PeerName): void {
    this.byName.delete(peer);
  }

  get size(): number {
    return this.byName.size;
  }

  /** In the order they were added. */
  connections(): PeerConnection[] {
    return [...this.byName.values()].map((r) => r.conn);
  }

  /** Our entry's connection list for the topology. */
  summaries(): ConnectionSummary[] {
    const summaries: ConnectionSummary[] = [];
    for (const rec of this.byName.values()) {
      summaries.push({
        name: rec.conn.remoteName,
        address: rec.conn.remoteAddress,
        outbound: rec.conn.outbound,
        established: rec.established,
        listenPort: rec.conn.remoteListenPort,
      });
    }
    return summaries;
  }

  /** Status rows, by peer name. */
  snapshot(now: number): LocalConnectionSnapshot[] {
    return [...this.byName.values()]
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
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
