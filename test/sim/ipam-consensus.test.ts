// IPAM bootstrap and donation stories over the IPAM sim.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseCidr, type PeerName } from '../../src/core/types.js';
import { IpamSim, runUntilSettled } from '../support/ipam-sim.js';
import { seededRng } from '../support/rng.js';

const RANGE = parseCidr('10.32.0.0/12');

test('fresh 3-peer mesh: the first allocation waits for consensus, then everyone shares one ring', async () => {
  const sim = new IpamSim({ range: RANGE, seed: 1 });
  const [a, b, c] = [0, 1, 2].map(IpamSim.peerName) as [PeerName, PeerName, PeerName];
  for (const p of [a, b, c]) sim.add(p, { mode: { kind: 'consensus' }, initialPeerCount: 3 });
  // Nobody asked for anything yet.
  assert.equal(sim.alloc(a).status().status, 'idle');
  const first = sim.alloc(a).allocate('web');
  assert.equal(sim.alloc(a).status().status, 'awaiting consensus (quorum: 2, known: 1)');
  const r = await runUntilSettled(sim, first, 10_000, 1);
  assert.ok(r.ok);
  assert.equal(r.value.cidr, '10.32.0.1/12');
  assert.ok(r.ms < 100, `consensus took ${r.ms} ms of simulated time`);
  sim.flush();
  for (const p of [a, b, c]) assert.equal(sim.alloc(p).status().status, 'ready');
  assert.deepEqual(sim.ringsDiffering(), []);
  // The third peer, if not in the consensus value, gets space by donation.
  const third = await runUntilSettled(sim, sim.alloc(c).allocate('db'));
  assert.ok(third.ok);
  assert.equal(sim.checkGlobal(), undefined);
});

test('consensus with a minority partition: the minority never allocates, the majority does', async () => {
  const sim = new IpamSim({ range: RANGE, seed: 2 });
  const peers = [0, 1, 2, 3, 4].map(IpamSim.peerName);
  for (const p of peers) sim.add(p, { mode: { kind: 'consensus', count: 5 } });
  const minority = peers.slice(0, 2);
  const majority = peers.slice(2);
  sim.partition([minority, majority]);

  // Both minority peers try, repeatedly proposing; they only ever know each other.
  const m1 = sim.alloc(minority[0]!).allocate('m1', { timeoutMs: 60_000 });
  const m2 = sim.alloc(minority[1]!).allocate('m2', { timeoutMs: 60_000 });
  const maj = await runUntilSettled(sim, sim.alloc(majority[0]!).allocate('M'));
  assert.ok(maj.ok, 'the majority decides');
  const [r1, r2] = await Promise.all([runUntilSettled(sim, m1), runUntilSettled(sim, m2)]);
  for (const r of [r1, r2]) {
    assert.ok(!r.ok);
    assert.match(r.error.message, /timed out after 60s while awaiting consensus \(quorum: 3, known: 2\)/);
  }
  for (const p of minority) {
    assert.equal(sim.alloc(p).ringData().entries.length, 0, 'no ring in the minority');
    assert.deepEqual(sim.alloc(p).containersInUse(), []);
  }

  // Heal: the minority learns the majority's ring and can allocate (by donation).
  sim.heal();
  sim.flush();
  const late = await runUntilSettled(sim, sim.alloc(minority[0]!).allocate('m1'));
  assert.ok(late.ok, !late.ok ? late.error.message : '');
  sim.flush();
  sim.gossipAll();
  assert.deepEqual(sim.ringsDiffering(), []);
  assert.equal(sim.checkGlobal(), undefined);
  assert.deepEqual(sim.errors, []);
});

test('restart during consensus keeps the Paxos promises (persisted) and still decides once', async () => {
  const sim = new IpamSim({ range: RANGE, seed: 4, eagerPersist: true });
  const peers = [0, 1, 2].map(IpamSim.peerName);
  for (const p of peers) sim.add(p, { mode: { kind: 'consensus', count: 3 } });
  const p0 = sim.alloc(peers[0]!).allocate('x');
  sim.run(2);
  sim.restart(peers[1]!);
  sim.restart(peers[2]!);
  const r = await runUntilSettled(sim, p0);
  assert.ok(r.ok);
  sim.flush();
  sim.gossipAll();
  assert.deepEqual(sim.ringsDiffering(), []);
  assert.deepEqual(sim.errors, []);
});

test('donations under load: with no failures, every allocation succeeds while space remains', async () => {
  const sim = new IpamSim({ range: parseCidr('10.32.0.0/20'), seed: 7, latencyMs: [1, 10] });
  const peers = Array.from({ length: 20 }, (_, i) => IpamSim.peerName(i));
  for (const p of peers) sim.add(p, { mode: { kind: 'consensus' }, initialPeerCount: 20 });
  const rng = seededRng(99);
  const subnets = [undefined, parseCidr('10.32.4.0/24'), parseCidr('10.32.9.0/26')];
  const want = { total: 0, ok: 0 };
  const reasons: string[] = [];
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < 1200; i++) {
    const p = peers[rng.int(peers.length)]!;
    const subnet = subnets[rng.int(subnets.length)];
    want.total++;
    all.push(
      sim.alloc(p).allocate(`c${i}`, { subnet, timeoutMs: 120_000 }).then(
        () => want.ok++,
        (e: Error) => reasons.push(`${subnet ? subnet.addr : 'default'}: ${e.message}`),
      ),
    );
    sim.run(rng.int(50));
    await sim.settle();
  }
  sim.run(150_000);
  await sim.settle();
  await Promise.all(all);
  // Only exhausted subnets may fail: every usable address of the subnet is in use (by any container,
  // default-subnet allocations included, since the subnets lie inside the default one).
  const inUse = new Set(sim.alive().flatMap((n) => n.alloc!.containersInUse().flatMap((c) => c.addrs.map((a) => a.addr))));
  for (const r of reasons) {
    const net = subnets.find((s) => s && r.startsWith(`${s.addr}:`));
    assert.ok(net, `only a subnet smaller than the range may fail: ${r}`);
    const size = 2 ** (32 - net.prefix);
    let used = 0;
    for (let a = net.addr + 1; a < net.addr + size - 1; a++) if (inUse.has(a)) used++;
    assert.equal(used, size - 2, `${r}: but only ${used} of ${size - 2} addresses are in use`);
  }
  assert.equal(sim.checkGlobal(), undefined);
  assert.deepEqual(sim.errors, []);
});
