// Which sources weaveDNS answers: overlay bridge subnets, local addresses and loopback, --dns-allow.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { DOCKER_NETWORK_BRIDGE_RE, DnsClientFilter } from '../../../src/io/dns-client-filter.js';

function iface(address: string, cidr: string, internal = false): NetworkInterfaceInfo {
  const family = address.includes(':') ? 'IPv6' : 'IPv4';
  return { address, cidr, internal, family, netmask: '', mac: '00:00:00:00:00:00', ...(family === 'IPv6' ? { scopeid: 0 } : {}) } as NetworkInterfaceInfo;
}

function table(extra: Record<string, NetworkInterfaceInfo[]> = {}): Record<string, NetworkInterfaceInfo[]> {
  return {
    lo: [iface('127.0.0.1', '127.0.0.1/8', true), iface('::1', '::1/128', true)],
    eth0: [iface('10.200.0.3', '10.200.0.3/24')],
    weave: [iface('10.32.0.5', '10.32.0.5/12')],
    docker0: [iface('172.17.0.1', '172.17.0.1/16')],
    ...extra,
  };
}

test('overlay bridges, this host and loopback are clients; the underlay is not', () => {
  const f = new DnsClientFilter({ interfaces: ['weave', 'docker0'], readInterfaces: () => table() });
  for (const a of ['10.32.0.7', '10.47.255.1', '172.17.0.2', '127.0.0.5', '::1', '10.200.0.3', '::ffff:10.32.0.7']) {
    assert.equal(f.allows(a), true, a);
  }
  for (const a of ['10.200.0.50', '10.48.0.1', '192.0.2.1', 'fd00::1', 'not-an-ip', '']) assert.equal(f.allows(a), false, a);
});

test("Docker's user-defined network bridges are container bridges; the host's own uplink bridge is not", () => {
  const t = table({ 'br-0123456789ab': [iface('172.29.0.1', '172.29.0.1/24')], br0: [iface('192.168.1.5', '192.168.1.5/24')] });
  const f = new DnsClientFilter({ interfaces: ['weave', 'docker0', DOCKER_NETWORK_BRIDGE_RE], readInterfaces: () => t });
  assert.equal(f.allows('172.29.0.2'), true);
  assert.equal(f.allows('192.168.1.9'), false);
  assert.equal(f.allows('192.168.1.5'), true, 'the host itself');
});

test('--dns-allow networks are clients', () => {
  const f = new DnsClientFilter({ interfaces: ['weave'], allow: ['10.200.0.48/29', 'fd00::/8'], readInterfaces: () => table() });
  assert.equal(f.allows('10.200.0.50'), true);
  assert.equal(f.allows('10.200.0.60'), false);
  assert.equal(f.allows('fd00::1'), true);
  assert.throws(() => new DnsClientFilter({ interfaces: [], allow: ['nope'] }), /invalid client network "nope"/);
});

test('a bridge address added later is honoured; the table is re-read at most once per refreshMs on refusals', () => {
  let now = 0;
  let reads = 0;
  let t = table({ weave: [] });
  const f = new DnsClientFilter({ interfaces: ['weave'], refreshMs: 1000, now: () => now, readInterfaces: () => (reads++, t) });
  assert.equal(f.allows('10.32.0.7'), false);
  t = table();
  for (let i = 0; i < 100; i++) assert.equal(f.allows('10.200.0.50'), false);
  assert.equal(f.allows('10.32.0.7'), false, 'within refreshMs the old table holds');
  assert.equal(reads, 1, 'a flood of refused queries does not re-read the table');
  now = 1000;
  assert.equal(f.allows('10.32.0.7'), true);
  assert.equal(reads, 2);
  // Removed again: still allowed (remembered) until the table is 30 s old, then not.
  t = table({ weave: [] });
  now = 20_000;
  assert.equal(f.allows('10.32.0.7'), true);
  now = 31_000;
  assert.equal(f.allows('10.32.0.7'), false);
});

test('a failing interface read leaves the admin networks', () => {
  const f = new DnsClientFilter({ interfaces: ['weave'], allow: ['10.9.0.0/16'], readInterfaces: () => { throw new Error('EPERM'); } });
  assert.equal(f.allows('10.9.1.1'), true);
  assert.equal(f.allows('10.32.0.7'), false);
});
