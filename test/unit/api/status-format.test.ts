// Golden strings for the status pages. Widths follow Weave 2.8's templates (prog/weaver/http.go); where an
// example in WEAVE-FACTS §1.4 was produced by an older template (peers used %-32v, the ipam example is
// squashed), the expected text below keeps the example's content with the 2.8 widths.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  formatConnections, formatDns, formatGoTime, formatIpam, formatPeers, formatPercent, formatStatus, formatTargets,
} from '../../../src/api/status-format.js';
import type { Status } from '../../../src/api/status-types.js';

const RETRY_AT = Date.UTC(2015, 7, 6, 18, 55, 38, 246);

function sample(): Status {
  return {
    version: '0.1.0',
    router: {
      protocolMinVersion: 1,
      protocolMaxVersion: 2,
      name: '4a:0f:f6:ec:1c:93',
      nickname: 'host1',
      port: 6783,
      encryption: false,
      peerDiscovery: true,
      trustedSubnets: [],
      targets: ['192.168.48.14', '192.168.48.15'],
      mtu: 1376,
      connections: [
        { address: '192.168.48.12:33866', outbound: false, state: 'established', remoteName: '7e:21:4a:70:2f:45',
          remoteNickname: 'host2', encrypted: false, path: 'udp', mtu: 1410 },
        { address: '192.168.48.13:60773', outbound: false, state: 'pending', remoteName: '7e:ae:cd:d5:23:8d',
          remoteNickname: 'host3', encrypted: true, path: 'udp' },
        { address: '192.168.48.14:6783', outbound: true, state: 'retrying',
          error: 'dial tcp4 192.168.48.14:6783: no route to host' },
        { address: '192.168.48.15:6783', outbound: true, state: 'failed',
          error: 'dial tcp4 192.168.48.15:6783: no route to host', retryAt: RETRY_AT },
        { address: '192.168.48.16:6783', outbound: true, state: 'connecting' },
      ],
      peers: [
        { name: 'ce:31:e0:06:45:1a', nickname: 'host1', uid: '1', connections: [
          { address: '192.168.48.12:39634', outbound: false, name: 'ea:2d:b2:e6:e4:f5', nickname: 'host2', established: true },
          { address: '192.168.48.13:49619', outbound: false, name: 'ee:38:33:a7:d9:71', nickname: 'host3', established: true },
        ] },
        { name: 'ea:2d:b2:e6:e4:f5', nickname: 'host2', uid: '2', connections: [
          { address: '192.168.48.11:6783', outbound: true, name: 'ce:31:e0:06:45:1a', nickname: 'host1', established: true },
          { address: '192.168.48.13:58181', outbound: false, name: 'ee:38:33:a7:d9:71', nickname: 'host3', established: true },
        ] },
        { name: 'ee:38:33:a7:d9:71', nickname: 'host3', uid: '3', connections: [
          { address: '192.168.48.11:6783', outbound: true, name: 'ce:31:e0:06:45:1a', nickname: 'host1', established: true },
          { address: '192.168.48.12:6783', outbound: true, name: 'ea:2d:b2:e6:e4:f5', nickname: 'host2', established: false },
        ] },
      ],
    },
    ipam: {
      status: 'ready',
      range: '10.32.0.0/12',
      defaultSubnet: '10.32.0.0/12',
      rangeNumIPs: 1048576,
      entries: [
        { name: '00:00:00:00:00:02', nickname: 'two', ips: 349525, reachable: true },
        { name: '4a:0f:f6:ec:1c:93', nickname: 'one', ips: 349526, active: 2, reachable: true },
        { name: '00:00:00:00:00:03', nickname: 'three', ips: 349525, reachable: false },
      ],
    },
    dns: {
      domain: 'weave.local.',
      upstream: ['8.8.8.8', '8.8.4.4'],
      address: '172.17.0.1:53',
      ttl: 1,
      entries: [
        { hostname: 'one.weave.local.', address: '10.32.0.1', containerId: 'eebd81120ee4a7c1', origin: '4a:0f:f6:ec:1c:93' },
        { hostname: 'one.weave.local.', address: '10.43.255.255', containerId: '4fcec78d2a9b', origin: '66:c4:47:c6:65:bf' },
        { hostname: 'three.weave.local.', address: '10.32.0.3', containerId: '7615b6537f74', origin: '4a:0f:f6:ec:1c:93' },
        { hostname: 'outside.example.com.', address: '10.32.0.4', containerId: 'abc', origin: '4a:0f:f6:ec:1c:93' },
      ],
    },
  };
}

test('status: the router, ipam and dns sections with right-aligned labels', () => {
  assert.equal(formatStatus(sample()), [
    '        Version: 0.1.0',
    '',
    '        Service: router',
    '       Protocol: tsweave 1..2',
    '           Name: 4a:0f:f6:ec:1c:93(host1)',
    '     Encryption: disabled',
    '  PeerDiscovery: enabled',
    '        Targets: 2',
    '    Connections: 5 (1 established, 1 pending, 1 retrying, 1 failed, 1 connecting)',
    '          Peers: 3 (with 5 established, 1 pending connections)',
    ' TrustedSubnets: none',
    '',
    '        Service: ipam',
    '         Status: ready',
    '          Range: 10.32.0.0/12',
    '  DefaultSubnet: 10.32.0.0/12',
    '',
    '        Service: dns',
    '         Domain: weave.local.',
    '       Upstream: 8.8.8.8, 8.8.4.4',
    '            TTL: 1',
    '        Entries: 4',
    '',
  ].join('\n'));
});

test('status: a lone router without ipam and dns, one protocol version, only non-zero counts', () => {
  const s = sample();
  delete s.ipam;
  delete s.dns;
  s.router.protocolMaxVersion = 1;
  s.router.encryption = true;
  s.router.peerDiscovery = false;
  s.router.trustedSubnets = ['10.0.0.0/8', '192.168.0.0/16'];
  s.router.targets = [];
  s.router.connections = s.router.connections.filter((c) => c.state === 'failed');
  s.router.peers = [{ name: '4a:0f:f6:ec:1c:93', nickname: 'host1', uid: '1', connections: [] }];
  assert.equal(formatStatus(s), [
    '        Version: 0.1.0',
    '',
    '        Service: router',
    '       Protocol: tsweave 1',
    '           Name: 4a:0f:f6:ec:1c:93(host1)',
    '     Encryption: enabled',
    '  PeerDiscovery: disabled',
    '        Targets: 0',
    '    Connections: 1 (1 failed)',
    '          Peers: 1',
    ' TrustedSubnets: 10.0.0.0/8, 192.168.0.0/16',
    '',
  ].join('\n'));
  s.router.connections = [];
  assert.match(formatStatus(s), /^ {4}Connections: 0$/m);
});

test('status: an ipam waiting for consensus shows the counts; dns with no upstream says none', () => {
  const s = sample();
  s.ipam!.status = 'awaiting consensus (quorum: 2, known: 1)';
  s.dns!.upstream = [];
  s.dns!.entries = [];
  const text = formatStatus(s);
  assert.match(text, /^ {9}Status: awaiting consensus \(quorum: 2, known: 1\)$/m);
  assert.match(text, /^ {7}Upstream: none$/m);
  assert.match(text, /^ {8}Entries: 0$/m);
});

test('status targets: one per line as given', () => {
  assert.equal(formatTargets(sample()), '192.168.48.14\n192.168.48.15\n');
  const s = sample();
  s.router.targets = [];
  assert.equal(formatTargets(s), '');
});

test('status connections: the WEAVE-FACTS example, with sleeve for the overlay', () => {
  const s = sample();
  s.router.encryption = true; // Weave shows encrypted/unencrypted only when a password is set
  assert.equal(formatConnections(s), [
    '<- 192.168.48.12:33866   established unencrypted sleeve 7e:21:4a:70:2f:45(host2) mtu=1410',
    '<- 192.168.48.13:60773   pending     encrypted   sleeve 7e:ae:cd:d5:23:8d(host3)',
    '-> 192.168.48.14:6783    retrying    dial tcp4 192.168.48.14:6783: no route to host',
    '-> 192.168.48.15:6783    failed      dial tcp4 192.168.48.15:6783: no route to host, retry: 2015-08-06 18:55:38.246 +0000 UTC',
    '-> 192.168.48.16:6783    connecting',
    '',
  ].join('\n'));
});

// %-21v pads "10.0.0.2:6783" (13 characters) with 8 spaces, then one separator: 9 in all.
test('status connections: no password → no encryption column; tcp fallback; retry never', () => {
  const s = sample();
  s.router.connections = [
    { address: '10.0.0.2:6783', outbound: true, state: 'established', remoteName: '7e:21:4a:70:2f:45',
      remoteNickname: 'host2', encrypted: false, path: 'tcp', mtu: 1376 },
    { address: '10.0.0.3:6783', outbound: true, state: 'failed', error: 'cannot connect to ourself', retryAt: 'never' },
  ];
  assert.equal(formatConnections(s), [
    '-> 10.0.0.2:6783         established tcp    7e:21:4a:70:2f:45(host2) mtu=1376',
    '-> 10.0.0.3:6783         failed      cannot connect to ourself, retry: never',
    '',
  ].join('\n'));
  s.router.encryption = true;
  s.router.connections = [
    { address: '10.0.0.2:6783', outbound: true, state: 'established', remoteName: '7e:21:4a:70:2f:45',
      remoteNickname: 'host2', encrypted: true, path: 'udp', mtu: 1376 },
  ];
  assert.equal(formatConnections(s),
    '-> 10.0.0.2:6783         established encrypted   sleeve 7e:21:4a:70:2f:45(host2) mtu=1376\n');
});

test('status connections: NAT traversal shows the punched link, and a failed punch with its peer and reason', () => {
  const s = sample();
  s.router.encryption = true;
  s.router.connections = [
    { address: '10.200.0.12:6783', outbound: true, state: 'established', remoteName: '7e:21:4a:70:2f:45', remoteNickname: 'b',
      encrypted: true, path: 'udp', mtu: 1376, nat: 'punched via 7e:00:00:00:00:01(p)' },
    { address: '10.200.0.13:41234', outbound: true, state: 'failed', remoteName: '7e:21:4a:70:2f:46', remoteNickname: 'c',
      error: 'punching failed: no UDP reply; relayed via 7e:00:00:00:00:01(p)', retryAt: 1438887338246 },
    { address: '10.200.0.14:6783', outbound: true, state: 'connecting', nat: '7e:21:4a:70:2f:47(d) punching failed: no UDP reply' },
  ];
  assert.equal(formatConnections(s), [
    '-> 10.200.0.12:6783      established encrypted   sleeve 7e:21:4a:70:2f:45(b) mtu=1376 punched via 7e:00:00:00:00:01(p)',
    '-> 10.200.0.13:41234     failed      7e:21:4a:70:2f:46(c) punching failed: no UDP reply; relayed via 7e:00:00:00:00:01(p), ' +
      'retry: 2015-08-06 18:55:38.246 +0000 UTC',
    '-> 10.200.0.14:6783      connecting | 7e:21:4a:70:2f:47(d) punching failed: no UDP reply',
    '',
  ].join('\n'));
});

test('status peers: each peer then its connections (%-21v address, %-37v name)', () => {
  assert.equal(formatPeers(sample()), [
    'ce:31:e0:06:45:1a(host1)',
    '   <- 192.168.48.12:39634   ea:2d:b2:e6:e4:f5(host2)              established',
    '   <- 192.168.48.13:49619   ee:38:33:a7:d9:71(host3)              established',
    'ea:2d:b2:e6:e4:f5(host2)',
    '   -> 192.168.48.11:6783    ce:31:e0:06:45:1a(host1)              established',
    '   <- 192.168.48.13:58181   ee:38:33:a7:d9:71(host3)              established',
    'ee:38:33:a7:d9:71(host3)',
    '   -> 192.168.48.11:6783    ce:31:e0:06:45:1a(host1)              established',
    '   -> 192.168.48.12:6783    ea:2d:b2:e6:e4:f5(host2)              pending',
    '',
  ].join('\n'));
});

test('status dns: the WEAVE-FACTS example; domain suffix trimmed, container id cut to 12', () => {
  assert.equal(formatDns(sample()), [
    'one          10.32.0.1       eebd81120ee4 4a:0f:f6:ec:1c:93',
    'one          10.43.255.255   4fcec78d2a9b 66:c4:47:c6:65:bf',
    'three        10.32.0.3       7615b6537f74 4a:0f:f6:ec:1c:93',
    'outside.example.com. 10.32.0.4                abc 4a:0f:f6:ec:1c:93',
    '',
  ].join('\n'));
  const s = sample();
  delete s.dns;
  assert.equal(formatDns(s), '');
});

test('status ipam: local peer first with active count, unreachable peers marked', () => {
  assert.equal(formatIpam(sample()), [
    '4a:0f:f6:ec:1c:93(one)                  349526 IPs (33.3% of total) (2 active)',
    '00:00:00:00:00:02(two)                  349525 IPs (33.3% of total)',
    '00:00:00:00:00:03(three)                349525 IPs (33.3% of total) - unreachable!',
    '',
  ].join('\n'));
  const s = sample();
  delete s.ipam;
  assert.equal(formatIpam(s), '');
});

test('percentages as Go prints %04.1f of a float32', () => {
  assert.equal(formatPercent(349526, 1048576), '33.3');
  assert.equal(formatPercent(1, 20), '05.0');
  assert.equal(formatPercent(1048576, 1048576), '100.0');
  assert.equal(formatPercent(0, 1048576), '00.0');
  assert.equal(formatPercent(1, 400), '00.2'); // 0.25 exactly: ties to even, as Go
  assert.equal(formatPercent(3, 400), '00.8'); // 0.75 exactly
  assert.equal(formatPercent(5, 0), '00.0');
});

test('retry times print like Go time.Time in UTC', () => {
  assert.equal(formatGoTime(RETRY_AT), '2015-08-06 18:55:38.246 +0000 UTC');
  assert.equal(formatGoTime(Date.UTC(2024, 0, 2, 3, 4, 5, 0)), '2024-01-02 03:04:05 +0000 UTC');
  assert.equal(formatGoTime(Date.UTC(2024, 0, 2, 3, 4, 5, 500)), '2024-01-02 03:04:05.5 +0000 UTC');
});

test('status connections: fastdp, or sleeve with the reason the fast datapath is not used', () => {
  const s = sample();
  s.router.connections = [
    { address: '10.0.0.2:6783', outbound: true, state: 'established', remoteName: '7e:21:4a:70:2f:45',
      remoteNickname: 'host2', encrypted: false, path: 'udp', mtu: 1376, overlay: 'fastdp' },
    { address: '10.0.0.3:6783', outbound: true, state: 'established', remoteName: '7e:21:4a:70:2f:46',
      remoteNickname: 'host3', encrypted: false, path: 'udp', mtu: 1376, overlay: 'sleeve',
      fastdpReason: 'no VXLAN heartbeat reply (UDP 6784) for 6s' },
  ];
  assert.equal(formatConnections(s), [
    '-> 10.0.0.2:6783         established fastdp 7e:21:4a:70:2f:45(host2) mtu=1376',
    '-> 10.0.0.3:6783         established sleeve 7e:21:4a:70:2f:46(host3) mtu=1376 (fastdp: no VXLAN heartbeat reply (UDP 6784) for 6s)',
    '',
  ].join('\n'));
});
