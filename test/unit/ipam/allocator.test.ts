// Allocator behaviour, peer by peer, told as short stories over the IPAM sim (test/support/ipam-sim.ts).
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseCidr, parseIPv4, formatIPv4, type PeerName } from '../../../src/core/types.js';
import { silentLogger } from '../../../src/core/logger.js';
import {
  Allocator, STATUS_IDLE, STATUS_PRIMING, STATUS_READY, STATUS_UNREACHABLE, STATUS_WAITING_IPS,
} from '../../../src/ipam/allocator.js';
import { IpamSim, runUntilSettled } from '../../support/ipam-sim.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRng } from '../../support/rng.js';

const RANGE = parseCidr('10.32.0.0/12');
const [A, B, C, D] = [0, 1, 2, 3].map(IpamSim.peerName) as [PeerName, PeerName, PeerName, PeerName];
const ip = (s: string): number => parseIPv4(s);

function seedSim(peers: PeerName[] = [A, B, C], range = RANGE): IpamSim {
  const sim = new IpamSim({ range, seed: 11 });
  for (const p of peers) sim.add(p, { mode: { kind: 'seed', peers } });
  return sim;
}

/** A lone allocator with a directory that knows only itself. */
function lone(mode: ConstructorParameters<typeof Allocator>[1]['mode'], initialPeerCount = 1, range = RANGE) {
  const clock = new FakeClock();
  const persisted: Uint8Array[] = [];
  const alloc = new Allocator(
    {
      clock, rng: seededRng(1), logger: silentLogger(),
      peers: {
        localName: A, localNickname: 'host1', reachablePeers: () => [A], isReachable: (p) => p === A,
        nicknameOf: (p) => (p === A ? 'host1' : undefined), onPeersChanged: () => () => {},
      },
      onPersist: (b) => persisted.push(b),
    },
    { range, mode, initialPeerCount },
  );
  alloc.start();
  return { clock, alloc, persisted };
}

test('seed mode: every seed peer owns its share at once and allocates without any message', async () => {
  const sim = seedSim();
  const before = sim.stats.sent;
  const got = await Promise.all([A, B, C].map((p, i) => sim.alloc(p).allocate(`c${i}`)));
  assert.equal(sim.stats.sent, before);
  assert.deepEqual(got.map((g) => g.cidr), ['10.32.0.1/12', '10.37.85.85/12', '10.42.170.170/12']);
  assert.equal(sim.alloc(A).status().status, STATUS_READY);
  assert.equal(sim.checkGlobal(), undefined);
  assert.deepEqual(sim.ringsDiffering(), []);
});

test('seed mode: a peer outside the seed list gets space by donation', async () => {
  const sim = seedSim();
  sim.add(D, { mode: { kind: 'seed', peers: [A, B, C] } });
  const r = await runUntilSettled(sim, sim.alloc(D).allocate('c'));
  assert.ok(r.ok);
  assert.ok(sim.alloc(D).owned().length > 0);
  sim.flush();
  assert.equal(sim.checkGlobal(), undefined);
  assert.deepEqual(sim.ringsDiffering(), []);
});

test('consensus: a single peer decides alone; status goes idle → ready', async () => {
  const { alloc } = lone({ kind: 'consensus' });
  assert.equal(alloc.status().status, STATUS_IDLE);
  const a = await alloc.allocate('c1');
  assert.equal(a.cidr, '10.32.0.1/12');
  assert.equal(alloc.status().status, STATUS_READY);
  assert.deepEqual(alloc.status().entries, [{ name: A, nickname: 'host1', ips: 1 << 20, active: 1, reachable: true }]);
});

test('consensus: waiting is visible in status and the timeout says why', async () => {
  const { clock, alloc } = lone({ kind: 'consensus' }, 3);
  const p = alloc.allocate('c1', { timeoutMs: 10_000 });
  assert.equal(alloc.status().status, 'awaiting consensus (quorum: 2, known: 1)');
  clock.advance(10_000);
  await assert.rejects(p, {
    code: 'ERR_IPAM',
    message: 'allocating an address in 10.32.0.0/12 for c1: timed out after 10s while awaiting consensus (quorum: 2, known: 1)' +
      " - consensus needs 2 of the initial peers running and connected to each other (check 'tsweave status peers'; " +
      'the count comes from the peers given to launch, or --ipalloc-init consensus=N)',
  });
});

test('an AbortSignal cancels a waiting allocation with the reason it waited', async () => {
  const { alloc } = lone({ kind: 'consensus' }, 5);
  const ac = new AbortController();
  const p = alloc.allocate('c1', { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, /cancelled while awaiting consensus \(quorum: 3, known: 1\)/);
});

test('observer: priming until it hears a ring, then gets space by donation', async () => {
  const sim = new IpamSim({ range: RANGE, seed: 5 });
  sim.add(A, { mode: { kind: 'consensus' }, initialPeerCount: 1 });
  sim.add(B, { mode: { kind: 'observer' } });
  assert.equal(sim.alloc(B).status().status, STATUS_PRIMING);
  await runUntilSettled(sim, sim.alloc(A).allocate('a1'));
  const r = await runUntilSettled(sim, sim.alloc(B).allocate('b1'));
  assert.ok(r.ok, !r.ok ? r.error.message : '');
  assert.equal(sim.alloc(B).status().status, STATUS_READY);
  // The donor gave at most half of its space.
  sim.flush();
  const own = Object.fromEntries(sim.alloc(A).status().entries.map((e) => [e.name, e.ips]));
  assert.ok(own[A]! >= own[B]!, JSON.stringify(own));
  assert.deepEqual(sim.ringsDiffering(), []);
});

test('subnets: net:CIDR allocation skips network and broadcast, exhausts, and rejects bad subnets', async () => {
  const { clock, alloc } = lone({ kind: 'seed', peers: [A] });
  const net = parseCidr('10.32.1.0/30');
  const a = await alloc.allocate('x', { subnet: net });
  const b = await alloc.allocate('y', { subnet: net });
  assert.deepEqual([a.cidr, b.cidr], ['10.32.1.1/30', '10.32.1.2/30']);
  const p = alloc.allocate('z', { subnet: net, timeoutMs: 1_000 });
  assert.equal(alloc.status().status, STATUS_WAITING_IPS);
  clock.advance(1_000);
  await assert.rejects(p, /timed out after 1s while waiting for IP\(s\) to become available/);
  // same container, same subnet → the same address
  assert.equal((await alloc.allocate('x', { subnet: net })).cidr, '10.32.1.1/30');
  await assert.rejects(alloc.allocate('q', { subnet: parseCidr('10.32.1.0/31') }), /too small to allocate from/);
  await assert.rejects(alloc.allocate('q', { subnet: parseCidr('192.168.0.0/24') }), {
    code: 'ERR_CONFIG',
    message: 'invalid subnet "192.168.0.0/24": outside the allocation range 10.32.0.0/12',
  });
});

test('a default subnet larger than the range hands out addresses from the range with the subnet prefix', async () => {
  const clock = new FakeClock();
  const alloc = new Allocator(
    {
      clock, rng: seededRng(1), logger: silentLogger(),
      peers: { localName: A, localNickname: 'h', reachablePeers: () => [A], isReachable: () => true, nicknameOf: () => 'h', onPeersChanged: () => () => {} },
    },
    { range: parseCidr('10.2.3.0/24'), defaultSubnet: parseCidr('10.2.0.0/16'), mode: { kind: 'seed', peers: [A] } },
  );
  assert.equal((await alloc.allocate('c')).cidr, '10.2.3.0/16');
});

test('claims: own space, idempotence, conflicts, reserved addresses, /31 and /32, outside the range', async () => {
  const { alloc } = lone({ kind: 'seed', peers: [A] });
  await alloc.claim('c1', parseCidr('10.32.0.9/24'));
  await alloc.claim('c1', parseCidr('10.32.0.9/24'));
  await assert.rejects(alloc.claim('c2', parseCidr('10.32.0.9/24')), {
    code: 'ERR_IPAM_CONFLICT', message: 'address 10.32.0.9/24 is already owned by c1',
  });
  await assert.rejects(alloc.claim('c2', parseCidr('10.32.0.0/24')), /10\.32\.0\.0 is the network address of 10\.32\.0\.0\/24/);
  await assert.rejects(alloc.claim('c2', parseCidr('10.32.0.255/24')), /is the broadcast address/);
  await alloc.claim('p2p', parseCidr('10.32.5.0/31'));
  await alloc.claim('p2p', parseCidr('10.32.5.1/31'));
  await alloc.claim('host', parseCidr('10.32.6.0/32'));
  await alloc.claim('manual', parseCidr('192.168.1.5/24'));
  assert.deepEqual(alloc.lookup('p2p').map((a) => a.cidr), ['10.32.5.0/31', '10.32.5.1/31']);
  // an allocation never hands out a claimed address
  const next = await alloc.allocate('c3', { subnet: parseCidr('10.32.0.0/24') });
  assert.equal(next.cidr, '10.32.0.1/24');
  assert.equal(alloc.status().entries[0]!.active, 5); // 192.168.1.5 is outside the range
  assert.equal(alloc.checkInvariants(), undefined);
});

test('claiming an address owned by another peer: granted if free, refused with the reason if not', async () => {
  const sim = seedSim([A, B]);
  const inB = '10.40.0.7/12';
  const r = await runUntilSettled(sim, sim.alloc(A).claim('a1', parseCidr(inB)));
  assert.ok(r.ok, !r.ok ? r.error.message : '');
  assert.equal(sim.alloc(A).lookup('a1')[0]!.cidr, inB);
  await sim.alloc(B).claim('b1', parseCidr('10.40.0.8/12'));
  const refused = await runUntilSettled(sim, sim.alloc(A).claim('a2', parseCidr('10.40.0.8/12')));
  assert.ok(!refused.ok);
  assert.match(refused.error.message, /cannot claim 10\.40\.0\.8\/12 for a2: 10\.40\.0\.8 is in use by container b1 on 0a:00:00:00:00:02\(host2\)/);
  sim.kill(B);
  const dead = await runUntilSettled(sim, sim.alloc(A).claim('a3', parseCidr('10.41.0.1/12')));
  assert.ok(!dead.ok);
  assert.match(dead.error.message, /owned by 0a:00:00:00:00:02\(host2\), which is unreachable; .*use 'rmpeer' if it is dead/);
  assert.equal(sim.checkGlobal(), undefined);
});

test('free: all or one address, and pending requests of the container are cancelled', async () => {
  const { alloc } = lone({ kind: 'seed', peers: [A] });
  await alloc.allocate('c1');
  await alloc.allocate('c1', { subnet: parseCidr('10.33.0.0/16') });
  assert.deepEqual(alloc.free('c1', ip('10.32.0.1')).map((a) => a.cidr), ['10.32.0.1/12']);
  assert.equal(alloc.lookup('c1').length, 1);
  assert.equal(alloc.free('c1').length, 1);
  assert.deepEqual(alloc.containersInUse(), []);
  assert.equal((await alloc.allocate('c2')).cidr, '10.32.0.1/12');

  const waiting = lone({ kind: 'consensus' }, 3).alloc;
  const p = waiting.allocate('c9');
  waiting.free('c9');
  await assert.rejects(p, /cancelled: the container's addresses were freed/);
});

test('persistence: round trip of ring and claims; the next allocation never reuses a claimed address', async () => {
  const first = lone({ kind: 'consensus' });
  await first.alloc.allocate('c1');
  await first.alloc.claim('c2', parseCidr('10.32.0.2/12'));
  const bytes = first.persisted.at(-1)!;
  assert.deepEqual(bytes, first.alloc.persistedState());
  const again = lone({ kind: 'consensus' });
  again.alloc.stop();
  const fresh = new Allocator(
    {
      clock: new FakeClock(), rng: seededRng(2), logger: silentLogger(),
      peers: { localName: A, localNickname: 'host1', reachablePeers: () => [A], isReachable: () => true, nicknameOf: () => 'host1', onPeersChanged: () => () => {} },
    },
    { range: RANGE, mode: { kind: 'consensus' } },
  );
  fresh.restore(bytes);
  assert.equal(fresh.status().status, STATUS_READY);
  assert.deepEqual(fresh.lookup('c2').map((a) => a.cidr), ['10.32.0.2/12']);
  assert.equal((await fresh.allocate('c3')).cidr, '10.32.0.3/12');
  assert.equal(fresh.checkInvariants(), undefined);
  assert.throws(() => fresh.restore(bytes), /must be called before start\(\) and before any allocation/);
});

test('persistence: state from another peer, range or seed list is refused with what to do', () => {
  const { alloc } = lone({ kind: 'seed', peers: [A] });
  const bytes = alloc.persistedState();
  const mk = (name: PeerName, range = RANGE, peers: PeerName[] = [A]) =>
    new Allocator(
      {
        clock: new FakeClock(), rng: seededRng(1), logger: silentLogger(),
        peers: { localName: name, localNickname: 'x', reachablePeers: () => [name], isReachable: () => true, nicknameOf: () => 'x', onPeersChanged: () => () => {} },
      },
      { range, mode: { kind: 'seed', peers } },
    );
  assert.throws(() => mk(B).restore(bytes), {
    code: 'ERR_CONFIG',
    message: /belongs to peer 0a:00:00:00:00:01, but this router is 0a:00:00:00:00:02: run 'tsweave reset'/,
  });
  assert.throws(() => mk(A, parseCidr('10.0.0.0/16')).restore(bytes), /created with --ipalloc-range 10\.32\.0\.0-10\.47\.255\.255, but this router was launched with 10\.0\.0\.0\/16/);
  assert.throws(() => mk(A, RANGE, [A, B]).restore(bytes), /seeded by \[0a:00:00:00:00:01\], but this router was launched with --ipalloc-init seed=0a:00:00:00:00:01,0a:00:00:00:00:02/);
  assert.throws(() => mk(A).restore(Uint8Array.from([1, 2, 3])), { code: 'ERR_PROTOCOL' });
});

test('a ring from a different cluster is rejected on gossip, naming both seed lists and the fix', async () => {
  const sim = new IpamSim({ range: RANGE, seed: 3 });
  sim.add(A, { mode: { kind: 'consensus' } });
  sim.add(B, { mode: { kind: 'consensus' } });
  sim.partition([[A], [B]]);
  await runUntilSettled(sim, sim.alloc(A).allocate('a'));
  await runUntilSettled(sim, sim.alloc(B).allocate('b'));
  sim.heal();
  sim.flush();
  assert.ok(sim.errors.length > 0);
  const msg = sim.errors[0]!.err.message;
  assert.match(msg, /^IP allocation was seeded by different peers \(received: \[0a:00:00:00:00:0[12]\], ours: \[0a:00:00:00:00:0[12]\]\)/);
  assert.match(msg, /run 'tsweave reset' on it/);
  assert.match(sim.alloc(A).lastError()!.message, /seeded by different peers/);
  // Neither side took the other's ring (the two clusters handed out the same addresses: that is why
  // joining them must fail loudly rather than merge).
  assert.deepEqual(sim.alloc(A).ringData().seeds, [A]);
  assert.deepEqual(sim.alloc(B).ringData().seeds, [B]);
});

test('unreachable owners: status tells the operator to rmpeer; rmpeer takes the space over', async () => {
  const sim = seedSim([A, B, C]);
  sim.add(D, { mode: { kind: 'observer' } });
  sim.gossipAll();
  sim.kill(A);
  sim.kill(B);
  sim.kill(C);
  const p = sim.alloc(D).allocate('d1', { timeoutMs: 5_000 });
  const r = await runUntilSettled(sim, p);
  assert.ok(!r.ok);
  assert.match(r.error.message, /while all IP ranges owned by unreachable peers - use 'rmpeer' if they are dead/);
  assert.equal(sim.alloc(D).status().status, STATUS_UNREACHABLE);
  assert.deepEqual(sim.alloc(D).status().entries.map((e) => [e.nickname, e.reachable]), [
    ['host4', true], ['host1', false], ['host2', false], ['host3', false],
  ]);
  // rmpeer by nickname (remembered from when host3 was reachable)
  assert.equal(sim.alloc(D).rmpeer('host3'), 349526);
  sim.node(C).removed = true;
  assert.equal(sim.alloc(D).status().status, STATUS_READY);
  assert.equal((await sim.alloc(D).allocate('d1')).cidr, '10.42.170.170/12');
  assert.throws(() => sim.alloc(D).rmpeer('host4'), /that is this peer/);
  assert.throws(() => sim.alloc(D).rmpeer('nobody'), /unknown peer "nobody"/);
});

test('rmpeer safety: a removed peer coming back with old state is refused; with fresh state it rejoins', async () => {
  const sim = seedSim([A, B, C]);
  await sim.alloc(C).allocate('c-old');
  sim.flush();
  assert.throws(() => sim.alloc(A).rmpeer(C), /is reachable, and rmpeer is only for dead peers/);
  sim.kill(C);
  const ips = sim.alloc(A).rmpeer(C);
  assert.equal(ips, 349526);
  sim.flush();
  const taken = await sim.alloc(A).allocate('a-new', { subnet: parseCidr('10.42.170.168/29') });
  assert.equal(taken.cidr, '10.42.170.170/29'); // c-old's address, legitimately reused: C is gone

  // C returns with its old data dir.
  const stale = sim.restart(C);
  sim.flush();
  assert.equal(stale.isRemoved, true);
  assert.match(stale.status().status, /^removed from the IP allocation ring by 'rmpeer' on 0a:00:00:00:00:01\(host1\) - reset this peer/);
  await assert.rejects(stale.allocate('c2'), { code: 'ERR_IPAM_CONFLICT', message: /was removed from the IP allocation ring by 'rmpeer' on 0a:00:00:00:00:01\(host1\) while it was away.*run 'tsweave reset'/ });
  assert.equal(stale.gossip(), undefined);
  // Nobody else was disturbed: no conflicts, A still owns the space.
  assert.deepEqual(sim.errors, []);
  assert.equal(sim.alloc(B).ringData().entries.find((e) => e.token === ip('10.42.170.170'))!.peer, A);

  // After 'tsweave reset', C starts fresh: it joins as a new peer and gets space by donation.
  sim.node(C).removed = true; // its old claims are gone with the reset
  const fresh = sim.restart(C, { fresh: true });
  const r = await runUntilSettled(sim, fresh.allocate('c3'));
  assert.ok(r.ok, !r.ok ? r.error.message : '');
  sim.flush();
  assert.equal(sim.checkGlobal(), undefined);
  assert.deepEqual(sim.ringsDiffering(), []);
  assert.deepEqual(sim.errors, []);
});

test('leave (reset): every range goes to one reachable peer, claims are dropped, later requests refused', async () => {
  const sim = seedSim([A, B, C]);
  await sim.alloc(C).allocate('c1');
  sim.flush();
  const owned = sim.alloc(C).status().entries.find((e) => e.name === C)!.ips;
  const before = new Map(sim.alloc(C).status().entries.map((e) => [e.name, e.ips]));
  const { heir, ips } = sim.alloc(C).leave();
  assert.equal(ips, owned);
  assert.ok(heir === A || heir === B);
  assert.deepEqual(sim.alloc(C).owned(), []);
  assert.deepEqual(sim.alloc(C).lookup('c1'), []);
  assert.match(sim.alloc(C).status().status, /^left the cluster/);
  await assert.rejects(sim.alloc(C).allocate('c2'), { code: 'ERR_IPAM', message: /has left the cluster/ });
  sim.flush();
  // Everyone agrees the heir owns what C had, and nobody owns anything twice.
  for (const p of [A, B]) {
    const own = sim.alloc(p).status().entries;
    assert.equal(own.some((e) => e.name === C), false);
    assert.equal(own.find((e) => e.name === heir)!.ips, owned + before.get(heir!)!);
  }
  assert.equal(sim.checkGlobal({ deep: false }), undefined);
  assert.deepEqual(sim.errors, []);
  // A second leave is a no-op.
  assert.deepEqual(sim.alloc(C).leave(), { heir: undefined, ips: 0 });
});

test('leave with nobody reachable keeps the space and says so by giving nothing', () => {
  const { alloc } = lone({ kind: 'seed', peers: [A] });
  assert.deepEqual(alloc.leave(), { heir: undefined, ips: 0 });
});

test('concurrent space requests to one donor never get the same range', async () => {
  const sim = new IpamSim({ range: parseCidr('10.0.0.0/24'), seed: 9 });
  sim.add(A, { mode: { kind: 'seed', peers: [A] } });
  const observers = [B, C, D, IpamSim.peerName(4), IpamSim.peerName(5)];
  for (const o of observers) sim.add(o, { mode: { kind: 'seed', peers: [A] } });
  const all = observers.map((o, i) => runUntilSettled(sim, sim.alloc(o).allocate(`o${i}`), 60_000, 1));
  const results = await Promise.all(all);
  assert.ok(results.every((r) => r.ok));
  sim.flush();
  const addrs = results.map((r) => (r.ok ? formatIPv4(r.value.addr) : ''));
  assert.equal(new Set(addrs).size, addrs.length);
  assert.equal(sim.checkGlobal(), undefined);
  assert.deepEqual(sim.ringsDiffering(), []);
});

test('hostile gossip from a peer is a ProtocolError and changes nothing', () => {
  const { alloc } = lone({ kind: 'seed', peers: [A] });
  const before = alloc.persistedState();
  assert.throws(() => alloc.onGossip(B, Uint8Array.from([0x93, 1, 2, 3])), { code: 'ERR_PROTOCOL' });
  assert.throws(() => alloc.onGossipUnicast(B, Uint8Array.from([0xff])), { code: 'ERR_PROTOCOL' });
  assert.deepEqual(alloc.persistedState(), before);
});
