// Which local user is at the other end of a loopback TCP connection. Node exposes no SO_PEERCRED, but the
// kernel lists every TCP socket of this network namespace with its owner's uid in /proc/net/tcp (what
// `ss -e` and identd read): the client's socket is the row whose local end is the connection's remote end.
// The API uses it to let only root change IPAM over 127.0.0.1:6784, as Weave's scripts expect to.

import { readFile } from 'node:fs/promises';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** "127.0.0.1", 6784 → "0100007F:1A80" as /proc/net/tcp prints it (address in host order: little-endian). */
export function procTcpEndpoint(ep: Endpoint): string | undefined {
  const addr = ep.address.startsWith('::ffff:') ? ep.address.slice(7) : ep.address;
  const parts = addr.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, '0');
  return `${parts.reverse().map((p) => hex(Number(p), 2)).join('')}:${hex(ep.port, 4)}`;
}

/** The uid owning the socket whose local end is `client` and remote end `server`, from /proc/net/tcp text. */
export function findSocketUid(procNetTcp: string, client: Endpoint, server: Endpoint): number | undefined {
  const local = procTcpEndpoint(client);
  const remote = procTcpEndpoint(server);
  if (local === undefined || remote === undefined) return undefined;
  for (const line of procNetTcp.split('\n')) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[1] !== local || f[2] !== remote) continue;
    const uid = Number(f[7]);
    return Number.isInteger(uid) && uid >= 0 ? uid : undefined;
  }
  return undefined;
}

/** The uid of the local process that opened the connection `client` → `server`; undefined if not found. */
export async function tcpPeerUid(client: Endpoint, server: Endpoint): Promise<number | undefined> {
  const text = await readFile('/proc/net/tcp', 'utf8').catch(() => '');
  return findSocketUid(text, client, server);
}
