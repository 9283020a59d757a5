// rmpeer, leave and being removed (src/ipam/departure.ts), and one attempt at a request (src/ipam/requests.ts),
// each on a fake context.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseCidr, parseIPv4 } from '../../../src/core/types.js';
import { formatRange } from '../../../src/ipam/addr-range.js';
import type { Allocation } from '../../../src/ipam/claims.js';
import { type DepartureHooks, enterRemoved, leave, removedError, rmpeer } from '../../../src/ipam/departure.js';
import type { Pending } from '../../../src/ipam/pending.js';
import { type AttemptDeps, attempt } from '../../../src/ipam/requests.js';
import { P, fakeContext } from '../../support/ipam-fakes.js';

function hooks() {
  const seen = { aborted: [] as Error[], retries: 0 };
  const h: DepartureHooks = { abortAll: (e) => seen.aborted.push(e), retry: () => seen.retries++, statusLine: () => 'idle' };
  return { h, seen };
}

test('rmpeer: refuses no ring, ourselves, reachable and unknown peers; takes a dead peer by nickname', () => {
  const { h, seen } = hooks();
  assert.throws(() => rmpeer(fakeContext({ mode: { kind: 'consensus' } }).ctx, 'x', h), { code: 'ERR_IPAM', message: /not initialised yet \(idle\)/ });
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[1], P[2]] }, reachable: [P[1]] });
  f.ctx.nicknames.set(P[2], 'host3');
  assert.throws(() => rmpeer(f.ctx, P[0], h), { code: 'ERR_CONFIG', message: /that is this peer/ });
  assert.throws(() => rmpeer(f.ctx, P[1], h), { code: 'ERR_CONFIG', message: /it is reachable/ });
  assert.throws(() => rmpeer(f.ctx, 'nobody', h), { code: 'ERR_CONFIG', message: /unknown peer "nobody"/ });
  const before = f.ctx.space.numOwned;
  const ips = rmpeer(f.ctx, 'host3', h);
  assert.ok(ips > 0);
  assert.equal(f.ctx.space.numOwned, before + ips);
  assert.ok(f.ctx.ring.removedRecord(P[2]));
  assert.deepEqual(f.log.map((s) => s.kind), ['persist', 'broadcast']);
  assert.equal(seen.retries, 1);
  f.ctx.removedBy = P[1];
  assert.throws(() => rmpeer(f.ctx, P[2], h), { message: /was removed from the IP allocation ring/ });
});

test('leave: aborts everything, gives all to a reachable owner, forgets claims; twice is a no-op', () => {
  const { h, seen } = hooks();
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[2]] }, reachable: [P[1], P[2]] });
  f.ctx.claims.record('c1', { addr: f.ctx.space.allocate(f.ctx.universe)!, prefix: 12, cidr: '' });
  const r = leave(f.ctx, h);
  assert.equal(r.heir, P[2], 'an owner of space is preferred over P[1]');
  assert.equal(r.ips, 1 << 19);
  assert.equal(f.ctx.space.numOwned, 0);
  assert.deepEqual(f.ctx.claims.containers(), []);
  assert.match(seen.aborted[0]!.message, /is leaving the cluster/);
  assert.deepEqual(leave(f.ctx, h), { heir: undefined, ips: 0 });
  const alone = fakeContext({});
  assert.deepEqual(leave(alone.ctx, h), { heir: undefined, ips: 0 }, 'nobody reachable: the space stays ours');
});

test('being removed: status fields set, everything aborted with the way out', () => {
  const { h, seen } = hooks();
  const f = fakeContext({});
  enterRemoved(f.ctx, { peer: P[0], by: P[1], tokens: [] }, h);
  assert.equal(f.ctx.removedBy, P[1]);
  assert.equal(f.ctx.dirty, true);
  assert.equal(f.ctx.lastConflict, seen.aborted[0]);
  assert.match(removedError(f.ctx).message, /run 'tsweave reset' on this host/);
});

function pending(over: Partial<Pending>): Pending {
  return {
    kind: 'allocate', containerId: 'c1', subnet: parseCidr('10.32.0.0/12'), window: undefined, addr: 0, reason: '',
    resolve: () => {}, reject: () => {}, ...over,
  };
}

function deps(over: Partial<AttemptDeps> = {}) {
  const done = new Map<Pending, Error | Allocation | undefined>();
  const d: AttemptDeps = {
    finish: (p, r) => done.set(p, r),
    bootstrap: () => 'booting',
    requestSpace: () => 'asking',
    removedError: () => new Error('removed'),
    ...over,
  };
  return { d, done };
}

test('attempt: allocate from our space, else ask a donor; bootstrap first without a ring', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[1]] } });
  const { d, done } = deps();
  const window = { start: parseIPv4('10.32.0.1'), end: parseIPv4('10.32.0.3') };
  const p = pending({ window });
  assert.equal(attempt(f.ctx, p, d), 'done');
  assert.equal((done.get(p) as Allocation).cidr, '10.32.0.1/12');
  assert.equal(f.ctx.claims.holder(parseIPv4('10.32.0.1')), 'c1');
  assert.equal(attempt(f.ctx, p, d), 'wait', 'the container has one already: answered with it');
  const p2 = pending({ containerId: 'c2', window: { start: window.start, end: window.start + 1 } });
  assert.equal(attempt(f.ctx, p2, d), 'wait');
  assert.equal(p2.reason, 'asking');
  const empty = fakeContext({ mode: { kind: 'consensus', count: 3 } });
  const p3 = pending({ window });
  assert.equal(attempt(empty.ctx, p3, d), 'wait');
  assert.equal(p3.reason, 'booting');
  empty.ctx.leaving = true;
  attempt(empty.ctx, p3, d);
  assert.match((done.get(p3) as Error).message, /has left the cluster/);
});

test('attempt: claims — held by another, outside the range, ours, an unreachable owner, a reachable owner', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[1]] } });
  const asked: Array<[number, boolean]> = [];
  const { d, done } = deps({ requestSpace: (w, exact) => (asked.push([w.start, exact]), 'asking') });
  const claim = (cidr: string, containerId = 'c1') => {
    const c = parseCidr(cidr);
    return pending({ kind: 'claim', containerId, subnet: c, addr: c.addr });
  };
  const mine = claim('10.32.0.9/12');
  assert.equal(attempt(f.ctx, mine, d), 'done');
  const again = claim('10.32.0.9/12', 'c2');
  attempt(f.ctx, again, d);
  assert.match((done.get(again) as Error).message, /already owned by c1/);
  const outside = claim('192.168.0.9/24');
  assert.equal(attempt(f.ctx, outside, d), 'done');
  const theirs = claim('10.40.0.9/12');
  assert.throws(() => attempt(f.ctx, theirs, d), { code: 'ERR_IPAM_CONFLICT', message: /which is unreachable/ });
  f.peers.reachable.add(P[1]);
  assert.equal(attempt(f.ctx, theirs, d), 'wait');
  assert.deepEqual(asked, [[parseIPv4('10.40.0.9'), true]]);
  assert.equal(theirs.reason, 'waiting for IP range grant from peers (asking 0a:00:00:00:00:02 for 10.40.0.9)');
  assert.deepEqual(f.ctx.space.ownedRanges().map(formatRange), ['10.32.0.0-10.39.255.255']);
});
