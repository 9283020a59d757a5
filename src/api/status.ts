// Builds the status snapshot (status-types.ts) from the parts' own snapshots. Pure: the daemon passes
// plain data in, so tests can build a Status without a running router.

import type { ConnectionMakerSnapshot } from '../mesh/connection-maker.js';
import type { RouterSnapshot } from '../mesh/router.js';
import type { ConnectionStatus, DnsStatus, IpamStatus, Status } from './status-types.js';

export interface LinkView {
  encrypted: boolean;
  path: 'udp' | 'tcp' | undefined;
  /** Completed data-plane key rotations on this connection. */
  rekeys: number;
  /** The fast datapath's view (absent when it does not run): fastdp, or sleeve and why. */
  fastdp?: { mode: 'fastdp' | 'sleeve'; reason?: string };
  /** How a tunnelled connection was made (NAT traversal), e.g. "punched via 7e:..(p)". */
  nat?: string;
}

/** A peer we could not punch through to: no connection, traffic relayed (NAT traversal). */
export interface NatFailureView {
  /** The peer's endpoint as the introducer saw it, "ip:port". */
  address: string;
  name: string;
  nickname: string;
  reason: string;
  /** Wall-clock ms of the next attempt. */
  retryAt: number;
}

export interface StatusSources {
  version: string;
  protocolMinVersion: number;
  protocolMaxVersion: number;
  port: number;
  mtu: number;
  encryption: boolean;
  trustedSubnets: string[];
  router: RouterSnapshot;
  maker: ConnectionMakerSnapshot;
  /** Connections closed since start. */
  terminations?: number;
  /** Data-plane view of the connection to a peer. */
  link(peer: string): LinkView | undefined;
  /** NAT traversal attempts that failed, for peers without a connection. */
  natFailures?: NatFailureView[];
  ipam?: IpamStatus;
  dns?: DnsStatus;
}

export function buildStatus(src: StatusSources): Status {
  const connections: ConnectionStatus[] = [];
  for (const c of src.router.connections) {
    const link = src.link(c.name);
    const cs: ConnectionStatus = {
      address: c.address,
      outbound: c.outbound,
      state: c.established ? 'established' : 'pending',
      remoteName: c.name,
      remoteNickname: c.nickname,
      mtu: src.mtu,
    };
    if (link) {
      cs.encrypted = link.encrypted;
      if (link.path) cs.path = link.path;
      cs.rekeys = link.rekeys;
      if (link.nat !== undefined) cs.nat = link.nat;
      if (link.fastdp) {
        cs.overlay = link.fastdp.mode;
        if (link.fastdp.reason !== undefined) cs.fastdpReason = link.fastdp.reason;
      }
    }
    connections.push(cs);
  }
  // A failed punch to a peer we also dial is told on that target's line; otherwise on a line of its own.
  const natByPeer = new Map((src.natFailures ?? []).map((f) => [f.name, f]));
  for (const t of src.maker.entries) {
    if (t.state === 'connected') continue;
    const cs: ConnectionStatus = { address: t.address, outbound: true, state: t.state };
    if (t.error !== undefined) cs.error = t.error;
    if (t.retryAt !== undefined) cs.retryAt = t.retryAt;
    const f = t.peer === undefined ? undefined : natByPeer.get(t.peer);
    if (f) {
      cs.nat = `${f.name}(${f.nickname}) ${f.reason}`;
      natByPeer.delete(f.name);
    }
    connections.push(cs);
  }
  for (const f of natByPeer.values()) {
    connections.push({
      address: f.address, outbound: true, state: 'failed', remoteName: f.name, remoteNickname: f.nickname, error: f.reason, retryAt: f.retryAt,
    });
  }
  const status: Status = {
    version: src.version,
    router: {
      protocolMinVersion: src.protocolMinVersion,
      protocolMaxVersion: src.protocolMaxVersion,
      name: src.router.name,
      nickname: src.router.nickname,
      port: src.port,
      encryption: src.encryption,
      peerDiscovery: src.maker.discovery,
      trustedSubnets: src.trustedSubnets,
      targets: src.maker.targets,
      connections,
      peers: src.router.peers.map((p) => ({
        name: p.name,
        nickname: p.nickname,
        uid: p.uid,
        connections: p.connections.map((pc) => ({
          address: pc.address,
          outbound: pc.outbound,
          name: pc.name,
          nickname: pc.nickname,
          established: pc.established,
        })),
      })),
      mtu: src.mtu,
      ...(src.terminations === undefined ? {} : { terminationCount: src.terminations }),
    },
  };
  if (src.ipam) status.ipam = src.ipam;
  if (src.dns) status.dns = src.dns;
  return status;
}
