// The claims book (src/ipam/claims.ts) and the persisted state (src/ipam/persistence.ts), each alone.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseCidr, parseIPv4 } from '../../../src/core/types.js';
import { Claims, allocationOf } from '../../../src/ipam/claims.js';
import { encodeState, restoreState } from '../../../src/ipam/persistence.js';
import { P, fakeContext } from '../../support/ipam-fakes.js';

const ip = (s: string): number => parseIPv4(s);

test('claims: both directions stay in step through record, remove and clear', () => {
  const c = new Claims();
  c.record('c1', allocationOf(ip('10.32.0.1'), 12));
  c.record('c1', allocationOf(ip('10.40.0.1'), 24));
  c.record('c2', allocationOf(ip('10.32.0.2'), 12));
  assert.equal(c.holder(ip('10.32.0.2')), 'c2');
  assert.equal(c.findIn('c1', parseCidr('10.32.0.0/12'))?.cidr, '10.32.0.1/12');
  assert.equal(c.findIn('c1', parseCidr('10.40.0.0/24'))?.cidr, '10.40.0.1/24');
  assert.equal(c.findIn('c1', parseCidr('10.40.0.0/16')), undefined, 'same range, other prefix: another subnet');
  assert.equal(c.held('c2', ip('10.32.0.1')), undefined);
  // The copy handed out is not the book.
  c.lookup('c1').pop();
  assert.equal(c.lookup('c1').length, 2);

  assert.deepEqual(c.remove('c1', ip('10.40.0.1')).map((a) => a.cidr), ['10.40.0.1/24']);
  assert.equal(c.holder(ip('10.40.0.1')), undefined);
  assert.deepEqual(c.containers().map((x) => [x.containerId, x.addrs.map((a) => a.cidr)]), [['c1', ['10.32.0.1/12']], ['c2', ['10.32.0.2/12']]]);
  assert.deepEqual(c.remove('c1').map((a) => a.cidr), ['10.32.0.1/12']);
  assert.deepEqual(c.remove('nobody'), []);
  assert.deepEqual([...c.addrs()], [[ip('10.32.0.2'), 'c2']]);
  c.clear();
  assert.deepEqual(c.containers(), []);
  assert.equal(c.holder(ip('10.32.0.2')), undefined);
});

test('persistence: the state written by one context is read back by a fresh one', () => {
  const a = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[1]] } });
  const addr = a.ctx.space.allocate(a.ctx.universe)!;
  a.ctx.claims.record('c1', allocationOf(addr, 12));
  a.ctx.claims.record('mine', allocationOf(ip('192.168.1.5'), 24)); // outside the range: kept, not owned
  a.ctx.nicknames.set(P[1], 'host2');

  const b = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[1]] } });
  restoreState(b.ctx, encodeState(a.ctx));
  assert.deepEqual(b.ctx.claims.containers(), a.ctx.claims.containers());
  assert.ok(b.ctx.space.isUsed(addr));
  assert.deepEqual(b.ctx.space.ownedRanges(), a.ctx.space.ownedRanges());
  assert.equal(b.ctx.nicknameOf(P[1]), 'host2');
  assert.deepEqual(encodeState(b.ctx), encodeState(a.ctx));
});

test('persistence: state of another peer, range or seed list, or claiming what it does not own, is refused', () => {
  const a = fakeContext({ mode: { kind: 'seed', peers: [P[0], P[1]] } });
  const bytes = encodeState(a.ctx);
  assert.throws(() => restoreState(fakeContext({ self: P[2], mode: { kind: 'seed', peers: [P[0], P[1]] } }).ctx, bytes), {
    code: 'ERR_CONFIG', message: /belongs to peer 0a:00:00:00:00:01, but this router is 0a:00:00:00:00:03: run 'tsweave reset'/,
  });
  assert.throws(() => restoreState(fakeContext({ range: '10.40.0.0/16', mode: { kind: 'seed', peers: [P[0], P[1]] } }).ctx, bytes), {
    code: 'ERR_CONFIG', message: /created with --ipalloc-range 10\.32\.0\.0-10\.47\.255\.255, but this router was launched with 10\.40\.0\.0\/16/,
  });
  assert.throws(() => restoreState(fakeContext({ mode: { kind: 'seed', peers: [P[0]] } }).ctx, bytes), {
    code: 'ERR_CONFIG', message: /every peer must keep the same seed list/,
  });
  // P[1]'s half of the ring claimed by one of our containers: inconsistent.
  const theirs = a.ctx.ring.rangesOf(P[1])[0]!.start + 1;
  a.ctx.claims.record('c9', allocationOf(theirs, 12));
  assert.throws(() => restoreState(fakeContext({ mode: { kind: 'seed', peers: [P[0], P[1]] } }).ctx, encodeState(a.ctx)), {
    code: 'ERR_IPAM_CONFLICT', message: /is claimed by container c9 but owned by 0a:00:00:00:00:02/,
  });
});
