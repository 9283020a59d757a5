import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseCidr, parseIPv4 } from '../../../src/core/types.js';
import { allocatableRange, reservedRole } from '../../../src/ipam/addr-range.js';
import { IntervalSet } from '../../../src/ipam/interval-set.js';
import { Space } from '../../../src/ipam/space.js';

const ip = (s: string): number => parseIPv4(s);

test('interval set: add merges neighbours, remove splits, queries match a naive model', () => {
  const s = new IntervalSet();
  const model = new Set<number>();
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 2000; i++) {
    const a = rnd(200);
    const r = { start: a, end: a + 1 + rnd(8) };
    if (rnd(2)) {
      s.add(r);
      for (let k = r.start; k < r.end; k++) model.add(k);
    } else {
      s.remove(r);
      for (let k = r.start; k < r.end; k++) model.delete(k);
    }
    assert.equal(s.size, model.size);
    const w = { start: rnd(200), end: 0 };
    w.end = w.start + 1 + rnd(40);
    let first: number | undefined;
    let count = 0;
    for (let k = w.start; k < w.end; k++) if (model.has(k)) { first ??= k; count++; }
    assert.equal(s.firstIn(w), first);
    assert.equal(s.countIn(w), count);
  }
  const iv = s.intervals();
  for (let i = 1; i < iv.length; i++) assert.ok(iv[i - 1]!.end < iv[i]!.start, 'disjoint and not adjacent');
});

test('allocatable range keeps network and broadcast back; /31 and /32 cannot be allocated from', () => {
  assert.deepEqual(allocatableRange(parseCidr('10.0.0.0/24')), { start: ip('10.0.0.1'), end: ip('10.0.0.255') });
  assert.deepEqual(allocatableRange(parseCidr('10.0.0.4/30')), { start: ip('10.0.0.5'), end: ip('10.0.0.7') });
  assert.throws(() => allocatableRange(parseCidr('10.0.0.4/31')), /too small to allocate from \(prefix must be 0..30/);
  assert.throws(() => allocatableRange(parseCidr('10.0.0.4/32')), { code: 'ERR_CONFIG' });
  assert.equal(reservedRole(parseCidr('10.0.0.9/24'), ip('10.0.0.0')), 'network');
  assert.equal(reservedRole(parseCidr('10.0.0.9/24'), ip('10.0.0.255')), 'broadcast');
  assert.equal(reservedRole(parseCidr('10.0.0.4/31'), ip('10.0.0.4')), undefined);
  assert.equal(reservedRole(parseCidr('10.0.0.4/32'), ip('10.0.0.4')), undefined);
});

test('space: allocates lowest free address in the window, only from owned ranges', () => {
  const s = new Space();
  s.setOwned([{ start: ip('10.0.0.0'), end: ip('10.0.0.8') }, { start: ip('10.0.0.16'), end: ip('10.0.0.20') }]);
  const w = allocatableRange(parseCidr('10.0.0.0/27'));
  const got: number[] = [];
  for (;;) {
    const a = s.allocate(w);
    if (a === undefined) break;
    got.push(a - ip('10.0.0.0'));
  }
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19]);
  assert.equal(s.numFree(), 1); // 10.0.0.0 — network address of the /27, never handed out
  assert.equal(s.release(ip('10.0.0.5')), true);
  assert.equal(s.release(ip('10.0.0.5')), false);
  assert.equal(s.allocate(w), ip('10.0.0.5'));
  assert.equal(s.checkInvariants(), undefined);
});

test('space: take/claim, exhaustion, biggest free run, ownership changes keep used addresses', () => {
  const s = new Space();
  s.setOwned([{ start: 100, end: 110 }]);
  assert.equal(s.take(105), true);
  assert.equal(s.take(105), false);
  assert.equal(s.take(200), false);
  assert.deepEqual(s.biggestFreeIn({ start: 100, end: 110 }), { start: 100, end: 105 });
  for (let i = 0; i < 9; i++) assert.notEqual(s.allocate({ start: 100, end: 110 }), undefined);
  assert.equal(s.allocate({ start: 100, end: 110 }), undefined);
  // Give away nothing used: shrink to the used part and the rest stays consistent.
  s.release(109);
  assert.deepEqual(s.setOwned([{ start: 100, end: 109 }]), []);
  assert.equal(s.numFree(), 0);
  // Losing an owned range with a used address in it is reported.
  assert.deepEqual(s.setOwned([{ start: 100, end: 105 }]), [105, 106, 107, 108]);
  assert.equal(s.checkInvariants(), undefined);
});
