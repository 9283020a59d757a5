// Bootstrap (src/ipam/bootstrap.ts) and the status line (src/ipam/status.ts), each on a fake context.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Bootstrap } from '../../../src/ipam/bootstrap.js';
import { allocationOf } from '../../../src/ipam/claims.js';
import { Paxos } from '../../../src/ipam/paxos.js';
import {
  STATUS_IDLE, STATUS_PRIMING, STATUS_READY, STATUS_UNREACHABLE, statusLine, statusReport,
} from '../../../src/ipam/status.js';
import { P, fakeContext } from '../../support/ipam-fakes.js';

test('consensus of one: the first step creates the ring and broadcasts it', () => {
  const f = fakeContext({ mode: { kind: 'consensus' } });
  const b = new Bootstrap(f.ctx, { hasWaiting: () => true });
  assert.equal(b.reason(), STATUS_IDLE);
  b.step();
  assert.ok(!f.ctx.ring.isEmpty);
  assert.deepEqual(f.ctx.space.ownedRanges(), [f.ctx.universe]);
  const last = f.broadcasts().at(-1)!;
  assert.ok(last.complete && last.ring && last.ring.seeds.length === 1);
  assert.equal(f.ctx.dirty, true, 'the new ring is to be persisted');
});

test('consensus of two: proposes, waits, retries only while requests wait, and agrees with the other peer', () => {
  const f = fakeContext({ mode: { kind: 'consensus', count: 2 }, reachable: [P[1]] });
  let waiting = true;
  const b = new Bootstrap(f.ctx, { hasWaiting: () => waiting });
  assert.equal(b.step(), 'awaiting consensus (quorum: 2, known: 1)');
  assert.equal(f.broadcasts().length, 1);
  assert.ok(f.broadcasts()[0]!.paxos && !f.broadcasts()[0]!.ring);
  // A second step while the retry timer runs does not propose again.
  b.step();
  assert.equal(f.broadcasts().length, 1);
  f.clock.advance(4_000); // paxosRetryMs (2 s) plus up to 100% jitter
  assert.equal(f.broadcasts().length, 2, 'retried with a higher round');
  waiting = false;
  f.clock.advance(4_000);
  assert.equal(f.broadcasts().length, 2, 'nobody waits: no retry');

  // The other peer's acceptor answers: merge until consensus, as two peers gossiping would.
  const other = new Paxos(P[1], 2);
  for (let i = 0; i < 10 && f.ctx.ring.isEmpty; i++) {
    if (other.merge(f.ctx.paxos!.state()) && !other.isParticipating) other.join();
    other.think();
    b.mergePaxos(other.state());
  }
  assert.ok(!f.ctx.ring.isEmpty);
  assert.deepEqual([...f.ctx.ring.seeds].sort(), [P[0], P[1]].sort());
  assert.ok(f.broadcasts().at(-1)!.complete, 'the ring made by consensus is broadcast');
});

test('observer: asks one reachable peer for its ring, not more often than the request timeout', () => {
  const f = fakeContext({ mode: { kind: 'observer' }, reachable: [P[1]] });
  const b = new Bootstrap(f.ctx, { hasWaiting: () => true });
  assert.equal(b.reason(), STATUS_PRIMING);
  assert.equal(b.step(), STATUS_PRIMING);
  b.step();
  assert.deepEqual(f.unicasts().map((u) => [u.dst, u.msg.kind]), [[P[1], 'ring?']]);
  f.clock.advance(2_000);
  b.step();
  assert.equal(f.unicasts().length, 2);
  b.askForRing(P[2]); // a named peer (it sent part of a ring) is always asked
  assert.deepEqual(f.unicasts().at(-1)!.dst, P[2]);
  assert.match(b.hint(STATUS_PRIMING), /observer needs a connection/);
  assert.match(new Bootstrap(fakeContext({ mode: { kind: 'consensus', count: 3 } }).ctx, { hasWaiting: () => true })
    .hint('awaiting consensus (quorum: 2, known: 1)'), /consensus needs 2 of the initial peers/);
  assert.equal(b.hint('anything else'), '');
});

test('status line: removed, leaving, no ring, a waiting request, all owners unreachable, ready', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[1]] } });
  let waiting: string | undefined;
  const inputs = { bootstrapReason: () => 'no ring yet', waitingReason: () => waiting };
  assert.equal(statusLine(f.ctx, inputs), STATUS_UNREACHABLE, 'the only owner, P[1], is not reachable');
  f.peers.reachable.add(P[1]);
  assert.equal(statusLine(f.ctx, inputs), STATUS_READY);
  waiting = 'waiting for IP range grant from peers';
  assert.equal(statusLine(f.ctx, inputs), waiting);
  f.ctx.leaving = true;
  assert.match(statusLine(f.ctx, inputs), /^left the cluster/);
  f.ctx.removedBy = P[1];
  assert.match(statusLine(f.ctx, inputs), /^removed from the IP allocation ring by 'rmpeer' on 0a:00:00:00:00:02/);
  const empty = fakeContext({ mode: { kind: 'consensus' } });
  assert.equal(statusLine(empty.ctx, inputs), 'no ring yet');
  assert.deepEqual(statusReport(empty.ctx, inputs).entries, []);
});

test('status table: us first with our active count (inside the range only), then the others sorted', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[2], P[1]] }, reachable: [P[2]] });
  f.peers.nicks.set(P[2], 'host3');
  f.ctx.claims.record('c1', allocationOf(f.ctx.space.allocate(f.ctx.universe)!, 12));
  f.ctx.claims.record('own', allocationOf(0xc0a80105, 24));
  const s = statusReport(f.ctx, { bootstrapReason: () => '', waitingReason: () => undefined });
  assert.deepEqual(s.entries.map((e) => [e.name, e.nickname, e.active, e.reachable]), [
    [P[0], 'host1', 1, true], [P[1], '', undefined, false], [P[2], 'host3', undefined, true],
  ]);
  assert.equal(s.entries.reduce((n, e) => n + e.ips, 0), 1 << 20);
  assert.deepEqual([s.status, s.range, s.defaultSubnet, s.rangeNumIPs], [STATUS_READY, '10.32.0.0/12', '10.32.0.0/12', 1 << 20]);
});
