// Issue 10.7: a peer launched with another --ipalloc-range. Weave drops the connection and `status
// connections` says why; so do we. Two real Routers and ConnectionMakers over the simulated network, each
// with a real Allocator on its `ipam` channel: the IPAM core reports the mismatch, the router closes.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/core/logger.js';
import { type Cidr, parseCidr } from '../../src/core/types.js';
import { buildStatus } from '../../src/api/status.js';
import { formatConnections } from '../../src/api/status-format.js';
import { Allocator } from '../../src/ipam/allocator.js';
import { seededRng } from '../support/rng.js';
import { SimNetwork, type SimPeer } from '../support/sim-network.js';

function ipamOn(net: SimNetwork, p: SimPeer, range: Cidr): Allocator {
  const alloc = new Allocator(
    { clock: net.clock, rng: seededRng(p.index), logger: silentLogger(), peers: p.router },
    { range, mode: { kind: 'consensus' }, initialPeerCount: 2 },
  );
  alloc.setGossip(p.router.registerChannel('ipam', alloc));
  alloc.start();
  return alloc;
}

function connectionsText(net: SimNetwork, p: SimPeer): string {
  return formatConnections(buildStatus({
    version: 'test', protocolMinVersion: 1, protocolMaxVersion: 2, port: 6783, mtu: 1376, encryption: false, trustedSubnets: [],
    router: p.router.snapshot(), maker: p.maker.snapshot(), link: () => undefined,
  }));
}

test('a peer with another --ipalloc-range: the connection fails and status connections says why', async () => {
  const net = new SimNetwork({ seed: 9 });
  const a = net.addPeer();
  const b = net.addPeer({ targets: [a.address] });
  const allocA = ipamOn(net, a, parseCidr('10.32.0.0/12'));
  ipamOn(net, b, parseCidr('10.40.0.0/16'));
  await net.flush();
  // Idle consensus peers say nothing about their range: connected for now.
  assert.ok(b.router.connectionTo(a.name));

  // The first allocation on A proposes; B sees A's range in the proposal and closes the connection.
  const waiting = allocA.allocate('c1', { timeoutMs: Infinity });
  await net.flush({ maxMs: 20_000 });
  assert.equal(b.router.connectionTo(a.name), undefined);
  assert.equal(a.router.connectionTo(b.name), undefined);
  const reason = 'IPAM range mismatch: 0a:00:00:00:00:02(host2) has --ipalloc-range 10.40.0.0/16, 0a:00:00:00:00:01(host1) has 10.32.0.0/12';
  const target = b.maker.snapshot().entries.find((e) => e.address === a.address)!;
  assert.ok(target.state === 'retrying' || target.state === 'failed', target.state);
  assert.equal(target.error, reason);
  assert.match(connectionsText(net, b), new RegExp(`^-> ${a.address.replace(/\./g, '\\.')}\\s+(retrying|failed)\\s+${reason.replace(/[()./]/g, '\\$&')}`));

  // Reconnecting does not help: the next connection fails the same way (A's Paxos state goes down it at once).
  await net.flush({ maxMs: 5 * 60_000, quietMs: 60_000 });
  assert.equal(b.router.connectionTo(a.name), undefined);
  assert.equal(b.maker.snapshot().entries.find((e) => e.address === a.address)!.error, reason);
  assert.equal(allocA.statusString(), 'awaiting consensus (quorum: 2, known: 1)');
  allocA.stop();
  await assert.rejects(waiting, /stopped/);
});

test('peers with the same range stay connected and agree', async () => {
  const net = new SimNetwork({ seed: 9 });
  const a = net.addPeer();
  const b = net.addPeer({ targets: [a.address] });
  const allocA = ipamOn(net, a, parseCidr('10.32.0.0/12'));
  const allocB = ipamOn(net, b, parseCidr('10.32.0.0/12'));
  await net.flush();
  const got = allocA.allocate('c1', { timeoutMs: Infinity });
  await net.flush();
  assert.equal((await got).cidr.endsWith('/12'), true);
  assert.ok(b.router.connectionTo(a.name));
  assert.equal(allocB.statusString(), 'ready');
});
