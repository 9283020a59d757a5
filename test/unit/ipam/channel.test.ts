// The `ipam` gossip channel (src/ipam/channel.ts) alone: range check, skip of identical rings, dispatch of
// unicasts, refused merges named by type.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { connectionFatalReason } from '../../../src/core/gossip.js';
import { Bootstrap } from '../../../src/ipam/bootstrap.js';
import { IpamChannel } from '../../../src/ipam/channel.js';
import { Donations } from '../../../src/ipam/donation.js';
import { isIpamMismatch } from '../../../src/ipam/errors.js';
import { encodeGossip, encodeUnicast } from '../../../src/ipam/messages.js';
import { Ring } from '../../../src/ipam/ring.js';
import { P, fakeContext } from '../../support/ipam-fakes.js';

function channel(f: ReturnType<typeof fakeContext>) {
  const seen = { retries: 0, removed: 0 };
  const bootstrap = new Bootstrap(f.ctx, { hasWaiting: () => false });
  const donations: Donations = new Donations(f.ctx, {
    mergeRing: (src, ring) => void ch.mergeRing(src, ring, true),
    retry: () => {},
    exactDenied: () => {},
  });
  const ch: IpamChannel = new IpamChannel(f.ctx, bootstrap, donations, {
    retry: () => seen.retries++,
    removed: () => seen.removed++,
  });
  return { ch, seen };
}

test('gossip from a peer with another --ipalloc-range is refused with a typed error naming both ranges', () => {
  const f = fakeContext({ reachable: [P[1]] });
  const { ch } = channel(f);
  const other = fakeContext({ self: P[1], range: '10.40.0.0/16' });
  const bytes = other.ctx.fullRingGossip();
  let err: unknown;
  try {
    ch.onGossip(P[1], bytes);
  } catch (e) {
    err = e;
  }
  assert.ok(isIpamMismatch(err, 'range'));
  assert.deepEqual([err.ours, err.theirs], ['10.32.0.0-10.47.255.255', '10.40.0.0-10.40.255.255']);
  assert.match(err.message, /^Incompatible IP allocation ranges \(received: 10\.40\.0\.0-10\.40\.255\.255 from 0a:00:00:00:00:02, ours: 10\.32\.0\.0-10\.47\.255\.255\)/);
  assert.equal(f.ctx.lastConflict, err);
  // The router closes the connection with this (core/gossip.ts); it names both peers, as both ends show it.
  assert.equal(
    connectionFatalReason(err),
    'IPAM range mismatch: 0a:00:00:00:00:01(host1) has --ipalloc-range 10.32.0.0/12, 0a:00:00:00:00:02 has 10.40.0.0/16',
  );
  assert.throws(() => ch.onGossipUnicast(P[1], encodeUnicast({ kind: 'ring?', start: 1, end: 2 })), (e) => isIpamMismatch(e, 'range'));
});

test('our own ring gossiped back is skipped; a newer ring is merged and re-gossiped whole', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[1]] }, reachable: [P[1]] });
  const { ch, seen } = channel(f);
  assert.equal(ch.onGossip(P[1], f.ctx.fullRingGossip()), undefined);
  assert.equal(seen.retries, 0, 'identical bytes: not even decoded');
  const theirs = Ring.fromData(f.ctx.ring.toData(), P[1]);
  theirs.grant(theirs.rangesOf(P[1])[0]!, P[2]);
  const u = f.ctx.universe;
  const out = ch.onGossip(P[1], encodeGossip({ start: u.start, end: u.end, complete: true, ring: theirs.toData(), paxos: undefined }));
  assert.ok(out);
  assert.deepEqual(out, f.ctx.fullRingGossip());
  assert.ok(f.ctx.ring.ownership().has(P[2]));
  assert.equal(f.persists(), 1);
  assert.equal(seen.retries, 1);
});

test('unicasts: a ring request is answered with our ring; a space request is dispatched to the donor side', () => {
  const f = fakeContext({ reachable: [P[1]] });
  const { ch } = channel(f);
  const u = f.ctx.universe;
  ch.onGossipUnicast(P[1], encodeUnicast({ kind: 'ring?', start: u.start, end: u.end }));
  ch.onGossipUnicast(P[1], encodeUnicast({ kind: 'req', id: 1, start: u.start, end: u.end, wantStart: u.start, wantEnd: u.end, exact: false }));
  assert.deepEqual(f.unicasts().map((x) => [x.dst, x.msg.kind]), [[P[1], 'ring'], [P[1], 'grant']]);
});

test('a ring seeded by other peers is refused as a seed mismatch, with the reset hint', () => {
  const f = fakeContext({ mode: { kind: 'seed', peers: [P[0]] }, reachable: [P[1]] });
  const { ch } = channel(f);
  const foreign = fakeContext({ self: P[1], mode: { kind: 'seed', peers: [P[1]] } });
  assert.throws(() => ch.onGossip(P[1], foreign.ctx.fullRingGossip()), (e) => {
    assert.ok(isIpamMismatch(e, 'seeds'));
    assert.match(e.message, /\(from 0a:00:00:00:00:02\); if this peer's data dir holds IPAM state from another cluster, run 'tsweave reset'/);
    return true;
  });
  assert.deepEqual(f.ctx.ring.seeds, [P[0]]);
  let seedErr: unknown;
  try {
    ch.onGossip(P[1], foreign.ctx.fullRingGossip());
  } catch (e) {
    seedErr = e;
  }
  assert.equal(connectionFatalReason(seedErr), undefined, 'a seed mismatch is logged and kept in status, the connection stays');
});
