// A status snapshot of a small mesh for tests of the report and its templates: h1 — h2 — h3 (h1 reaches h3
// via h2), one failed target, IPAM split in two, one DNS entry.
import type { Status } from '../../src/api/status-types.js';

export const H1 = 'aa:00:00:00:00:01';
export const H2 = 'aa:00:00:00:00:02';
export const H3 = 'aa:00:00:00:00:03';

export function sampleStatus(): Status {
  const conn = (name: string, nickname: string, address: string, outbound: boolean) =>
    ({ name, nickname, address, outbound, established: true });
  return {
    version: '0.3.0',
    router: {
      protocolMinVersion: 1, protocolMaxVersion: 2, name: H1, nickname: 'h1', port: 6783, encryption: true,
      peerDiscovery: true, trustedSubnets: ['10.9.0.0/16'], targets: ['10.0.0.2:6783', '10.0.0.7:6783'], mtu: 1376,
      terminationCount: 3,
      connections: [
        { address: '10.0.0.2:6783', outbound: true, state: 'established', remoteName: H2, remoteNickname: 'h2',
          encrypted: true, path: 'udp', mtu: 1376, rekeys: 4 },
        { address: '10.0.0.7:6783', outbound: true, state: 'failed', error: 'connection refused', retryAt: 'never' },
      ],
      peers: [
        { name: H1, nickname: 'h1', uid: '11', connections: [conn(H2, 'h2', '10.0.0.2:6783', true)] },
        { name: H2, nickname: 'h2', uid: '22', connections: [conn(H1, 'h1', '10.0.0.1:40000', false), conn(H3, 'h3', '10.0.0.3:6783', true)] },
        { name: H3, nickname: 'h3', uid: '33', connections: [conn(H2, 'h2', '10.0.0.2:41000', false)] },
      ],
    },
    ipam: {
      status: 'ready', range: '10.32.0.0/12', defaultSubnet: '10.32.0.0/12', rangeNumIPs: 1048576,
      entries: [
        { name: H1, nickname: 'h1', ips: 524288, active: 2, reachable: true },
        { name: H2, nickname: 'h2', ips: 524288, reachable: false },
      ],
      ring: [
        { token: '10.32.0.0', size: 524288, peer: H1, nickname: 'h1', version: 5 },
        { token: '10.40.0.0', size: 524288, peer: H2, nickname: 'h2', version: 1 },
      ],
    },
    dns: {
      domain: 'weave.local.', upstream: ['8.8.8.8'], address: '172.17.0.1:53', ttl: 1,
      entries: [{ hostname: 'web.weave.local.', address: '10.32.0.1', containerId: 'c1', origin: H1 }],
    },
  };
}
