// The donation protocol (src/ipam/donation.ts) alone: as donor and as asker, on a fake context.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { PeerName } from '../../../src/core/types.js';
import { formatRange } from '../../../src/ipam/addr-range.js';
import { Donations, type DonationHooks } from '../../../src/ipam/donation.js';
import type { SpaceRequestMsg } from '../../../src/ipam/messages.js';
import type { RingData } from '../../../src/ipam/ring.js';
import { STATUS_UNREACHABLE, STATUS_WAITING_GRANT, STATUS_WAITING_IPS } from '../../../src/ipam/status.js';
import { P, fakeContext } from '../../support/ipam-fakes.js';

function donations(f: ReturnType<typeof fakeContext>) {
  const calls = { merged: [] as Array<[PeerName, RingData]>, retries: 0, exact: [] as Array<[number, string]> };
  const hooks: DonationHooks = {
    mergeRing: (src, ring) => calls.merged.push([src, ring]),
    retry: () => calls.retries++,
    exactDenied: (addr, reason) => calls.exact.push([addr, reason]),
  };
  return { d: new Donations(f.ctx, hooks), calls };
}

function req(f: ReturnType<typeof fakeContext>, over: Partial<SpaceRequestMsg> = {}): SpaceRequestMsg {
  const u = f.ctx.universe;
  return { kind: 'req', id: 7, start: u.start, end: u.end, wantStart: u.start, wantEnd: u.end, exact: false, ...over };
}

test('donor: gives the upper half of its biggest free run, persists before the grant leaves, then broadcasts', () => {
  const f = fakeContext({ reachable: [P[1]] });
  const { d } = donations(f);
  d.handleRequest(P[1], req(f));
  assert.deepEqual(f.log.map((s) => s.kind), ['persist', 'unicast', 'broadcast']);
  const grant = f.unicasts()[0]!;
  assert.equal(grant.dst, P[1]);
  assert.ok(grant.msg.kind === 'grant' && grant.msg.id === 7);
  assert.deepEqual(f.ctx.ring.rangesOf(P[1]).map(formatRange), ['10.40.0.0-10.47.255.255']);
  assert.deepEqual(f.ctx.space.ownedRanges().map(formatRange), ['10.32.0.0-10.39.255.255']);
});

test('donor: an exact address is given if free and ours, else denied with the reason and our ring', () => {
  const f = fakeContext({ reachable: [P[1]] });
  const { d } = donations(f);
  const used = f.ctx.space.allocate({ start: f.ctx.universe.start + 1, end: f.ctx.universe.end - 1 })!;
  f.ctx.claims.record('c1', { addr: used, prefix: 12, cidr: '' });
  d.handleRequest(P[1], req(f, { exact: true, wantStart: used, wantEnd: used + 1 }));
  const deny = f.unicasts()[0]!.msg;
  assert.ok(deny.kind === 'deny' && deny.ring !== undefined);
  assert.equal(deny.reason, '10.32.0.1 is in use by container c1 on 0a:00:00:00:00:01(host1)');
  d.handleRequest(P[1], req(f, { exact: true, wantStart: used + 1, wantEnd: used + 2 }));
  assert.equal(f.unicasts()[1]!.msg.kind, 'grant');
  assert.equal(f.ctx.ring.owner(used + 1), P[1]);
});

test('donor: nothing free in the window, or no ring yet, is a denial', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[1]] } });
  const { d } = donations(f);
  d.handleRequest(P[1], req(f));
  assert.match((f.unicasts()[0]!.msg as { reason: string }).reason, /^no free addresses in 10\.32\.0\.0-10\.47\.255\.255 on/);
  const empty = fakeContext({ mode: { kind: 'consensus' } });
  donations(empty).d.handleRequest(P[1], req(empty));
  const m = empty.unicasts()[0]!.msg;
  assert.ok(m.kind === 'deny' && m.ring === undefined);
  assert.match(m.reason, /ring is not initialised/);
});

test('asker: asks a reachable owner once; a timeout backs that donor off and retries; a denial means full', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[1]] }, reachable: [P[1]] });
  const { d, calls } = donations(f);
  const w = f.ctx.universe;
  assert.equal(d.request(w, false), STATUS_WAITING_GRANT);
  assert.equal(d.request(w, false), STATUS_WAITING_GRANT, 'same window: no second request');
  assert.equal(f.unicasts().length, 1);
  assert.deepEqual([f.unicasts()[0]!.dst, f.unicasts()[0]!.msg.kind], [P[1], 'req']);
  f.clock.advance(2_000);
  assert.equal(calls.retries, 1);
  assert.equal(d.inFlight, 0);
  assert.equal(d.request(w, false), STATUS_WAITING_GRANT, 'backed off after no answer: still hoping');
  assert.equal(f.unicasts().length, 1);
  f.clock.advance(10_000);
  d.request(w, false);
  const id = (f.unicasts()[1]!.msg as SpaceRequestMsg).id;
  d.handleDeny(P[1], { kind: 'deny', id, start: w.start, end: w.end, reason: 'nothing', ring: f.ctx.ring.toData() });
  assert.equal(calls.merged.length, 1, "the denial's ring is merged");
  assert.equal(d.request(w, false), STATUS_WAITING_IPS);
});

test('asker: owners all unreachable; an exact denial fails the claims for that address; a grant clears the request', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[1]] } });
  const { d, calls } = donations(f);
  const w = f.ctx.universe;
  assert.equal(d.request(w, false), STATUS_UNREACHABLE);
  f.peers.reachable.add(P[1]);
  d.request({ start: w.start + 5, end: w.start + 6 }, true);
  const id = (f.unicasts()[0]!.msg as SpaceRequestMsg).id;
  d.handleDeny(P[2], { kind: 'deny', id, start: w.start, end: w.end, reason: 'not from the donor', ring: undefined });
  assert.deepEqual(calls.exact, [], 'only the peer asked can answer');
  d.handleDeny(P[1], { kind: 'deny', id, start: w.start, end: w.end, reason: 'in use', ring: undefined });
  assert.deepEqual(calls.exact, [[w.start + 5, 'in use']]);
  d.request(w, false);
  assert.equal(d.inFlight, 1);
  f.peers.reachable.delete(P[1]);
  d.dropUnreachable();
  assert.equal(d.inFlight, 0);
  f.peers.reachable.add(P[1]);
  d.request(w, false);
  const gid = (f.unicasts().at(-1)!.msg as SpaceRequestMsg).id;
  d.handleGrant(P[1], { kind: 'grant', id: gid, start: w.start, end: w.end, ring: f.ctx.ring.toData() });
  assert.equal(d.inFlight, 0);
  assert.equal(calls.merged.length, 1);
});
