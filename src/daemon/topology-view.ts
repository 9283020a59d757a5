// What the topology page (ui/) polls: the status snapshot trimmed to what the page draws, plus the data
// plane's per-connection counters (the page turns byte counts into throughput) and this host's containers.
// Pure: plain data in, plain data out. It carries names, addresses and counts only: no password, key,
// salt or namespace path ever goes into it.

import type { Status } from '../api/status-types.js';

export interface TopologyContainer {
  /** Short container id (12 characters, as `docker ps`). */
  id: string;
  hostname?: string;
  mac: string;
  cidrs: string[];
}

export interface TopologyConnection {
  address: string;
  outbound: boolean;
  state: string;
  peer?: string;
  nickname?: string;
  encrypted?: boolean;
  /** 'udp' (direct, sleeve) or 'tcp' (fallback through the control connection). */
  path?: 'udp' | 'tcp';
  error?: string;
  rttMs?: number;
  bytesSent?: number;
  bytesReceived?: number;
}

export interface TopologyView {
  /** Wall-clock ms of this snapshot (the page divides byte deltas by time deltas). */
  time: number;
  version: string;
  self: { name: string; nickname: string; encryption: boolean };
  /** Every peer the mesh knows, with the connections it announces. */
  peers: Array<{ name: string; nickname: string; connections: Array<{ name: string; established: boolean }> }>;
  /** This router's own connections and connection attempts. */
  connections: TopologyConnection[];
  ipam?: { status: string; range: string; entries: Array<{ name: string; nickname: string; ips: number; reachable: boolean }> };
  dns?: { domain: string; entries: Array<{ hostname: string; address: string; origin: string }> };
  containers: TopologyContainer[];
}

export interface SessionCounters {
  rttMs?: number;
  bytesSent?: number;
  bytesReceived?: number;
}

export function buildTopologyView(
  status: Status,
  sessions: Readonly<Record<string, SessionCounters>>,
  containers: ReadonlyArray<{ containerId: string; hostname?: string; mac: string; cidrs: readonly string[] }>,
  now: number,
): TopologyView {
  const r = status.router;
  const view: TopologyView = {
    time: now,
    version: status.version,
    self: { name: r.name, nickname: r.nickname, encryption: r.encryption },
    peers: r.peers.map((p) => ({
      name: p.name,
      nickname: p.nickname,
      connections: p.connections.map((c) => ({ name: c.name, established: c.established })),
    })),
    connections: r.connections.map((c) => {
      const out: TopologyConnection = { address: c.address, outbound: c.outbound, state: c.state };
      if (c.remoteName !== undefined) out.peer = c.remoteName;
      if (c.remoteNickname !== undefined) out.nickname = c.remoteNickname;
      if (c.encrypted !== undefined) out.encrypted = c.encrypted;
      if (c.path !== undefined) out.path = c.path;
      if (c.error !== undefined) out.error = c.error;
      const s = c.remoteName === undefined ? undefined : sessions[c.remoteName];
      if (s?.rttMs !== undefined) out.rttMs = s.rttMs;
      if (s?.bytesSent !== undefined) out.bytesSent = s.bytesSent;
      if (s?.bytesReceived !== undefined) out.bytesReceived = s.bytesReceived;
      return out;
    }),
    containers: containers.map((a) => ({
      id: a.containerId.slice(0, 12),
      ...(a.hostname ? { hostname: a.hostname } : {}),
      mac: a.mac,
      cidrs: [...a.cidrs],
    })),
  };
  if (status.ipam) {
    view.ipam = {
      status: status.ipam.status,
      range: status.ipam.range,
      entries: status.ipam.entries.map((e) => ({ name: e.name, nickname: e.nickname, ips: e.ips, reachable: e.reachable })),
    };
  }
  if (status.dns) {
    view.dns = { domain: status.dns.domain, entries: status.dns.entries.map((e) => ({ hostname: e.hostname, address: e.address, origin: e.origin })) };
  }
  return view;
}
