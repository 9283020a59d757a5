import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseCidr, parseIPv4, parsePeerName, type PeerName } from '../../../src/core/types.js';
import { cidrRange } from '../../../src/ipam/addr-range.js';
import { Ring, type RingData } from '../../../src/ipam/ring.js';
import { IpamMismatchError, isIpamMismatch } from '../../../src/ipam/errors.js';

const A = parsePeerName('::a');
const B = parsePeerName('::b');
const C = parsePeerName('::c');
const RANGE = cidrRange(parseCidr('10.0.0.0/24'));
const ip = (s: string): number => parseIPv4(s);

/** A ring for `self`, seeded with peers, from the same data every time. */
function seeded(self: PeerName, peers = [A, B]): Ring {
  const r = new Ring(RANGE, self);
  r.claimForPeers(peers);
  return r;
}

function copyFor(self: PeerName, r: Ring): Ring {
  return Ring.fromData(r.toData(), self);
}

function mergeOk(r: Ring, d: RingData): RingData | undefined {
  const delta = r.merge(d);
  assert.equal(r.checkInvariants(), undefined);
  return delta;
}

test('claimForPeers splits the range equally and deterministically', () => {
  const a = seeded(A, [B, A, C]);
  const b = seeded(B, [C, B, A]);
  assert.ok(a.equals(b));
  assert.deepEqual(a.seeds, [A, B, C]);
  assert.deepEqual([...a.ownership().values()], [85, 85, 86]);
  assert.equal(a.owner(ip('10.0.0.0')), A);
  assert.equal(a.owner(ip('10.0.0.255')), C);
  assert.equal(a.owner(ip('10.0.1.0')), undefined);
  assert.equal(a.checkInvariants(), undefined);
});

test('merge is idempotent: the same data twice yields undefined the second time', () => {
  const a = seeded(A);
  const c = new Ring(RANGE, C);
  assert.ok(mergeOk(c, a.toData()));
  assert.equal(mergeOk(c, a.toData()), undefined);
  assert.ok(c.equals(a));
  assert.equal(mergeOk(a, a.toData()), undefined);
});

test('merge is commutative and the higher version wins', () => {
  const a = seeded(A);
  const b = copyFor(B, a);
  // A gives 10.0.0.64-127 to C; B reports its free count (bumps its version).
  a.grant({ start: ip('10.0.0.64'), end: ip('10.0.0.128') }, C);
  b.reportFree(() => 7);
  const x = new Ring(RANGE, C);
  const y = new Ring(RANGE, C);
  mergeOk(x, a.toData());
  mergeOk(x, b.toData());
  mergeOk(y, b.toData());
  mergeOk(y, a.toData());
  assert.ok(x.equals(y));
  assert.equal(x.owner(ip('10.0.0.70')), C);
  const bEntry = x.entries().find((e) => e.peer === B)!;
  assert.equal(bEntry.free, 7);
  assert.equal(bEntry.version, 1);
  // And A and B converge on the same ring.
  mergeOk(a, b.toData());
  mergeOk(b, a.toData());
  assert.ok(a.equals(b) && a.equals(x));
});

test('merge returns only the delta, and the delta carries the change to a third peer', () => {
  const a = seeded(A);
  const b = copyFor(B, a);
  const c = copyFor(C, a);
  a.grant({ start: ip('10.0.0.100'), end: ip('10.0.0.128') }, C);
  const delta = mergeOk(b, a.toData())!;
  // The new entry, and the one after it (where its range ends).
  assert.deepEqual(delta.entries.map((e) => [e.token, e.peer]), [[ip('10.0.0.100'), C], [ip('10.0.0.128'), B]]);
  mergeOk(c, delta);
  assert.ok(c.equals(a));
  assert.equal(mergeOk(c, delta), undefined);
});

test('grant of a whole range reassigns the token; a partial grant inserts tokens', () => {
  const a = seeded(A);
  const whole = a.grant({ start: ip('10.0.0.0'), end: ip('10.0.0.128') }, C);
  assert.deepEqual(whole.map((e) => [e.peer, e.version]), [[C, 1]]);
  const b = seeded(B);
  const part = b.grant({ start: ip('10.0.0.200'), end: ip('10.0.0.210') }, C);
  assert.deepEqual(part.map((e) => [e.token, e.peer]), [[ip('10.0.0.200'), C], [ip('10.0.0.210'), B]]);
  assert.deepEqual(b.rangesOf(C), [{ start: ip('10.0.0.200'), end: ip('10.0.0.210') }]);
  assert.throws(() => b.grant({ start: ip('10.0.0.10'), end: ip('10.0.0.20') }, C), /not inside one range of ours/);
  assert.equal(b.checkInvariants(), undefined);
});

test('a token inside a range I own is rejected, naming both sides, and my ring is unchanged', () => {
  const a = seeded(A);
  const b = copyFor(B, a);
  // B (wrongly) hands out part of A's range.
  const evil: RingData = { ...b.toData(), entries: [{ token: ip('10.0.0.50'), peer: B, version: 0, free: 10 }] };
  const before = a.toData();
  assert.throws(() => a.merge(evil), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_IPAM_CONFLICT');
    assert.match(err.message, /Peer 00:00:00:00:00:0b says it owns the IP range from 10\.0\.0\.50, which I think I own/);
    assert.match(err.message, /I am 00:00:00:00:00:0a/);
    return true;
  });
  assert.deepEqual(a.toData(), before);
});

test('an update taking my own range away is rejected', () => {
  const a = seeded(A);
  const evil: RingData = { ...a.toData(), entries: [{ token: ip('10.0.0.0'), peer: B, version: 5, free: 0 }] };
  assert.throws(() => a.merge(evil), /Received update for IP range I own at 10\.0\.0\.0: peer 00:00:00:00:00:0b says it owns it now/);
});

test('equal versions with different content are inconsistent', () => {
  const c = copyFor(C, seeded(A));
  const evil: RingData = { ...c.toData(), entries: [{ token: ip('10.0.0.0'), peer: B, version: 0, free: 128 }] };
  assert.throws(() => c.merge(evil), /Inconsistent entries for 10\.0\.0\.0: owned by 00:00:00:00:00:0a \(version 0, free 128\) but incoming message says 00:00:00:00:00:0b/);
});

test('rings seeded by different peers, or for another range, are rejected', () => {
  const a = seeded(A, [A, B]);
  const other = seeded(C, [A, C]);
  assert.throws(
    () => a.merge(other.toData()),
    { code: 'ERR_IPAM_CONFLICT', message: 'IP allocation was seeded by different peers (received: [00:00:00:00:00:0a 00:00:00:00:00:0c], ours: [00:00:00:00:00:0a 00:00:00:00:00:0b])' },
  );
  const wide = new Ring(cidrRange(parseCidr('10.0.0.0/23')), B);
  wide.claimForPeers([B]);
  assert.throws(() => a.merge(wide.toData()), /Incompatible IP allocation ranges \(received: 10\.0\.0\.0-10\.0\.1\.255, ours: 10\.0\.0\.0-10\.0\.0\.255\)/);
});

test('a seed-list or range mismatch is a typed error (callers branch on `mismatch`, not on the message)', () => {
  const a = seeded(A, [A, B]);
  const caught = (f: () => unknown): unknown => {
    try {
      f();
    } catch (err) {
      return err;
    }
    return undefined;
  };
  const seeds = caught(() => a.merge(seeded(C, [A, C]).toData()));
  assert.ok(seeds instanceof IpamMismatchError);
  assert.equal(seeds.code, 'ERR_IPAM_CONFLICT');
  assert.deepEqual([seeds.mismatch, seeds.ours, seeds.theirs], ['seeds', '[00:00:00:00:00:0a 00:00:00:00:00:0b]', '[00:00:00:00:00:0a 00:00:00:00:00:0c]']);
  assert.ok(isIpamMismatch(seeds, 'seeds') && !isIpamMismatch(seeds, 'range'));
  const wide = new Ring(cidrRange(parseCidr('10.0.0.0/23')), B);
  wide.claimForPeers([B]);
  const range = caught(() => a.merge(wide.toData()));
  assert.ok(isIpamMismatch(range, 'range'));
  assert.deepEqual([range.ours, range.theirs], ['10.0.0.0-10.0.0.255', '10.0.0.0-10.0.1.255']);
  // Any other conflict is not a mismatch of settings.
  const evil: RingData = { ...a.toData(), entries: [{ token: ip('10.0.0.0'), peer: C, version: 0, free: 128 }] };
  const other = caught(() => copyFor(B, a).merge(evil));
  assert.ok(other instanceof Error && !isIpamMismatch(other));
});

test('a merged ring that would break invariants is rejected (first token not at the start)', () => {
  const c = new Ring(RANGE, C);
  const bad: RingData = { start: RANGE.start, end: RANGE.end, seeds: [A], entries: [{ token: ip('10.0.0.5'), peer: A, version: 0, free: 1 }], removed: [] };
  assert.throws(() => c.merge(bad), /breaks the ring: first token 10\.0\.0\.5 is not the start/);
  assert.ok(c.isEmpty);
  const badFree: RingData = { ...seeded(A).toData(), entries: [{ token: RANGE.start, peer: A, version: 0, free: -1 }] };
  assert.throws(() => new Ring(RANGE, C).merge(badFree), /entry 10\.0\.0\.0 has a bad free count -1/);
});

test('rmpeer: takeover bumps versions and leaves a tombstone that others merge', () => {
  const a = seeded(A, [A, B, C]);
  const b = copyFor(B, a);
  const { ips, removed } = b.takeOver(C);
  assert.equal(ips, 86);
  assert.deepEqual(removed.tokens, [[ip('10.0.0.170'), 0]]);
  assert.equal(b.owner(ip('10.0.0.200')), B);
  mergeOk(a, b.toData());
  assert.equal(a.owner(ip('10.0.0.200')), B);
  assert.equal(a.removedRecord(C)?.by, B);
  // C comes back with its old ring: it can tell it was removed...
  const stale = seeded(C, [A, B, C]);
  assert.ok(stale.ownsTokensRemovedBy(a.removedRecord(C)!));
  // ...and its stale entries can never win again anywhere.
  assert.equal(mergeOk(a, stale.toData()), undefined);
  assert.equal(a.owner(ip('10.0.0.200')), B);
  // A fresh C (empty ring) is not affected by the tombstone, and can be given space again.
  const fresh = new Ring(RANGE, C);
  mergeOk(fresh, a.toData());
  assert.ok(!fresh.ownsTokensRemovedBy(fresh.removedRecord(C)!));
  const given = b.grant({ start: ip('10.0.0.170'), end: ip('10.0.0.200') }, C);
  assert.equal(given[0]!.version, 2);
  mergeOk(fresh, b.toData());
  assert.equal(fresh.owner(ip('10.0.0.180')), C);
});

test('a tombstone without the takeover (an owner entry still at the removed version) is rejected', () => {
  const a = seeded(A, [A, B, C]);
  const data = a.toData();
  const evil: RingData = { ...data, entries: [], removed: [{ peer: C, by: B, tokens: [[ip('10.0.0.170'), 0]] }] };
  assert.throws(() => copyFor(B, a).merge(evil), /owned by 00:00:00:00:00:0c, which was removed by 'rmpeer' on 00:00:00:00:00:0b/);
});

test('two different takeovers of the same dead peer conflict loudly', () => {
  const a = seeded(A, [A, B, C]);
  const b = copyFor(B, a);
  a.takeOver(C);
  b.takeOver(C);
  assert.throws(() => a.merge(b.toData()), /Inconsistent entries for 10\.0\.0\.170.*was 'rmpeer' run on more than one peer\?/);
});

test('donorsFor weights other peers by free space in the window, never self', () => {
  const a = seeded(A, [A, B, C]);
  const d = a.donorsFor({ start: ip('10.0.0.80'), end: ip('10.0.0.180') });
  assert.deepEqual([...d], [[B, 85], [C, 10]]);
});

test('a delta carries where each changed range ends, so a peer never over-estimates its own range', () => {
  // A gives .128-.255 to B, then .64-.127 to C. C hears only the second change, as a delta.
  const a = new Ring(RANGE, A);
  a.claimForPeers([A]);
  const c = copyFor(C, a);
  a.grant({ start: ip('10.0.0.128'), end: RANGE.end }, B);
  const changed = a.grant({ start: ip('10.0.0.64'), end: ip('10.0.0.128') }, C);
  mergeOk(c, a.delta(changed));
  assert.deepEqual(c.rangesOf(C), [{ start: ip('10.0.0.64'), end: ip('10.0.0.128') }]);
});
