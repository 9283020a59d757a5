// The Weave-shaped report (WEAVE-FACTS §1.8: `GET /report`, `weave report`): the status snapshot renamed
// and reshaped to Weave's field names (prog/weaver/http.go WeaveReport, mesh.Status, ipam.Status,
// nameserver.Status), so scripts written for `weave report -f '{{.Router.Name}}'` or jq over its JSON keep
// working. Pure. Where tsweave knows something Weave did not show, it rides along as an extra field
// (IPAM.Status, Attrs.encrypted/rekeys); where Weave had something tsweave has no counterpart for (the
// proxy, peer short IDs, the fast-datapath diagnostics) the field is left out or null rather than made up.

import { goMap } from './go-fmt.js';
import { connectionInfo } from './status-format.js';
import type { IpamStatus, Status } from './status-types.js';

/** Weave's "no next hop" peer name (mesh UnknownPeerName), the via of the route to ourselves. */
const UNKNOWN_PEER = '00:00:00:00:00:00';

export interface WeaveConnection {
  Address: string;
  Outbound: boolean;
  State: string;
  Info: string;
  Attrs: Record<string, unknown> | null;
}

export interface WeaveReport {
  Ready: boolean;
  Version: string;
  Router: {
    Protocol: string;
    ProtocolMinVersion: number;
    ProtocolMaxVersion: number;
    Encryption: boolean;
    PeerDiscovery: boolean;
    Name: string;
    NickName: string;
    Port: number;
    Peers: {
      Name: string; NickName: string; UID: string;
      Connections: { Name: string; NickName: string; Address: string; Outbound: boolean; Established: boolean }[];
    }[];
    UnicastRoutes: { Dest: string; Via: string }[];
    BroadcastRoutes: { Source: string; Via: string[] }[];
    Connections: WeaveConnection[];
    TerminationCount: number;
    Targets: string[];
    TrustedSubnets: string[];
  };
  IPAM: {
    Status: string;
    Range: string;
    RangeNumIPs: number;
    ActiveIPs: number;
    DefaultSubnet: string;
    Entries: { Token: string; Size: number; Peer: string; Nickname: string; IsKnownPeer: boolean; Version: number }[];
    PendingClaims: null;
    PendingAllocates: null;
  } | null;
  DNS: {
    Domain: string;
    Upstream: string[];
    Address: string;
    TTL: number;
    Entries: { Hostname: string; Origin: string; ContainerID: string; Address: string; Version: number; Tombstone: number }[];
  } | null;
}

export function weaveReport(s: Status): WeaveReport {
  const r = s.router;
  return {
    Ready: true,
    Version: s.version,
    Router: {
      Protocol: 'weave',
      ProtocolMinVersion: r.protocolMinVersion,
      ProtocolMaxVersion: r.protocolMaxVersion,
      Encryption: r.encryption,
      PeerDiscovery: r.peerDiscovery,
      Name: r.name,
      NickName: r.nickname,
      Port: r.port,
      Peers: r.peers.map((p) => ({
        Name: p.name,
        NickName: p.nickname,
        UID: p.uid,
        Connections: p.connections.map((c) => ({
          Name: c.name, NickName: c.nickname, Address: c.address, Outbound: c.outbound, Established: c.established,
        })),
      })),
      ...routes(s),
      Connections: r.connections.map((c) => ({
        Address: c.address,
        Outbound: c.outbound,
        State: c.state,
        Info: connectionInfo(c, r.encryption),
        Attrs: c.state === 'established' || c.state === 'pending' ? goMap({
          name: c.path === 'tcp' ? 'tcp' : 'sleeve',
          ...(c.mtu === undefined ? {} : { mtu: c.mtu }),
          ...(c.encrypted === undefined ? {} : { encrypted: c.encrypted }),
          ...(c.rekeys === undefined ? {} : { rekeys: c.rekeys }),
        }) : null,
      })),
      TerminationCount: r.terminationCount ?? 0,
      Targets: r.targets,
      TrustedSubnets: r.trustedSubnets,
    },
    IPAM: s.ipam ? ipam(s.ipam) : null,
    DNS: s.dns ? {
      Domain: s.dns.domain,
      Upstream: s.dns.upstream,
      Address: s.dns.address,
      TTL: s.dns.ttl,
      // The snapshot lists live entries only: none is a tombstone. Versions are not in the snapshot.
      Entries: s.dns.entries.map((e) => ({
        Hostname: e.hostname, Origin: e.origin, ContainerID: e.containerId, Address: e.address, Version: 0, Tombstone: 0,
      })),
    } : null,
  };
}

function ipam(i: IpamStatus): NonNullable<WeaveReport['IPAM']> {
  const reachable = new Map(i.entries.map((e) => [e.name, e.reachable]));
  return {
    Status: i.status,
    Range: i.range,
    RangeNumIPs: i.rangeNumIPs,
    ActiveIPs: i.entries.find((e) => e.active !== undefined)?.active ?? 0,
    DefaultSubnet: i.defaultSubnet,
    Entries: (i.ring ?? []).map((e) => ({
      Token: e.token, Size: e.size, Peer: e.peer, Nickname: e.nickname, IsKnownPeer: reachable.get(e.peer) ?? false,
      Version: e.version,
    })),
    PendingClaims: null,
    PendingAllocates: null,
  };
}

/**
 * Weave's routes from the topology: a link counts when both ends report it established (mesh routes.go,
 * symmetric). Unicast: breadth-first from us, each peer via its first hop (ourselves via the unknown peer).
 * Broadcast: only our own broadcasts' next hops (every direct neighbour); other sources' trees are left out.
 */
function routes(s: Status): Pick<WeaveReport['Router'], 'UnicastRoutes' | 'BroadcastRoutes'> {
  const links = new Map<string, Set<string>>();
  for (const p of s.router.peers) links.set(p.name, new Set(p.connections.filter((c) => c.established).map((c) => c.name)));
  const linked = (a: string, b: string): boolean => (links.get(a)?.has(b) ?? false) && (links.get(b)?.has(a) ?? false);
  const self = s.router.name;
  const via = new Map<string, string>([[self, UNKNOWN_PEER]]);
  const queue = [self];
  for (let qi = 0; qi < queue.length; qi++) {
    const at = queue[qi]!;
    for (const next of [...(links.get(at) ?? [])].sort()) {
      if (via.has(next) || !linked(at, next)) continue;
      via.set(next, at === self ? next : via.get(at)!);
      queue.push(next);
    }
  }
  const neighbours = [...via].filter(([dest, hop]) => dest === hop).map(([dest]) => dest);
  return {
    UnicastRoutes: [...via].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([Dest, Via]) => ({ Dest, Via })),
    BroadcastRoutes: [{ Source: self, Via: neighbours.sort() }],
  };
}

/**
 * A report as parsed from JSON (the CLI's GET /report), checked for the parts every template starts from,
 * with Attrs marked as Go maps again (JSON loses that: a template's missing Attrs key is then a zero
 * value, not an error). Undefined if the answer is not a report.
 */
export function asWeaveReport(v: unknown): WeaveReport | undefined {
  const r = v as WeaveReport | null;
  if (typeof r !== 'object' || r === null || typeof r.Version !== 'string' || typeof r.Router !== 'object' ||
      r.Router === null || !Array.isArray(r.Router.Connections) || !Array.isArray(r.Router.Peers)) {
    return undefined;
  }
  for (const c of r.Router.Connections) if (typeof c?.Attrs === 'object' && c.Attrs !== null) goMap(c.Attrs);
  return r;
}
