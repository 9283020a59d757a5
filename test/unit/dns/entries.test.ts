// The entries CRDT: merge laws, tombstones, expiry, departed peers, re-assertion, and the gossip codec.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { silentLogger } from '../../../src/core/logger.js';
import type { Gossip } from '../../../src/core/gossip.js';
import type { PeerName } from '../../../src/core/types.js';
import { DNS_TOMBSTONE_LIFETIME_MS } from '../../../src/core/defaults.js';
import { DNS_DEPARTED_PEER_GRACE_MS, DNS_GC_INTERVAL_MS, MAX_DNS_GOSSIP_BYTES } from '../../../src/dns/constants.js';
import { DnsEntries, type DnsEntry } from '../../../src/dns/entries.js';
import { decodeDnsGossip, encodeDnsGossip } from '../../../src/dns/entries-codec.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRng } from '../../support/rng.js';
import { FakePeers, P1, P2, P3 } from './helpers.js';

class CaptureGossip implements Gossip {
  broadcasts: Uint8Array[] = [];
  gossipUnicast(): void {}
  gossipBroadcast(data: Uint8Array): void {
    this.broadcasts.push(data);
  }
  gossipToNeighbours(): void {}
}

function peer(name: PeerName, clock = new FakeClock(), others: PeerName[] = [P1, P2, P3].filter((p) => p !== name)) {
  const peers = new FakePeers(name, others);
  const entries = new DnsEntries({ clock, logger: silentLogger(), peers });
  const out = new CaptureGossip();
  entries.attachGossip(out);
  return { name, clock, peers, entries, out };
}

const W = 'web.weave.local.';
const ok = (e: DnsEntries) => assert.equal(e.checkInvariants(), undefined);
const view = (e: DnsEntries) => JSON.stringify(e.all());

test('add and tombstone broadcast deltas; a peer learns and forgets', () => {
  const clock = new FakeClock();
  const a = peer(P1, clock);
  const b = peer(P2, clock);
  assert.ok(a.entries.add('c1', W, 0x0a200001));
  assert.equal(a.entries.add('c1', W, 0x0a200001), undefined, 'already live');
  assert.equal(a.out.broadcasts.length, 1);
  const d = b.entries.onGossipBroadcast(P1, a.out.broadcasts[0]!);
  assert.ok(d, 'new to b');
  ok(b.entries);
  assert.deepEqual(b.entries.addressesOf(W), [0x0a200001]);
  assert.equal(a.entries.tombstone({ containerId: 'c1' }), 1);
  assert.equal(a.entries.tombstone({ containerId: 'c1' }), 0);
  b.entries.onGossipBroadcast(P1, a.out.broadcasts[1]!);
  ok(b.entries);
  assert.deepEqual(b.entries.addressesOf(W), []);
  // Re-adding after removal is a newer version again.
  a.entries.add('c1', W, 0x0a200001);
  b.entries.onGossipBroadcast(P1, a.out.broadcasts[2]!);
  assert.deepEqual(b.entries.addressesOf(W), [0x0a200001]);
});

test('merge is idempotent: the same data twice yields no delta', () => {
  const clock = new FakeClock();
  const a = peer(P1, clock);
  const b = peer(P2, clock);
  a.entries.add('c1', W, 1);
  a.entries.add('c2', 'db.weave.local.', 2);
  const full = a.entries.gossip()!;
  assert.ok(b.entries.onGossip(P1, full));
  assert.equal(b.entries.onGossip(P1, full), undefined);
  assert.equal(b.entries.onGossipBroadcast(P1, a.out.broadcasts[0]!), undefined);
  ok(b.entries);
});

test('tombstones win over older versions, whatever the order; equal versions: larger tombstone wins', () => {
  const clock = new FakeClock();
  const a = peer(P1, clock);
  a.entries.add('c1', W, 7);
  const live = a.out.broadcasts[0]!;
  clock.advance(1000);
  a.entries.tombstone({ containerId: 'c1' });
  const dead = a.out.broadcasts[1]!;
  const b = peer(P2, clock);
  const c = peer(P3, clock);
  b.entries.onGossipBroadcast(P1, live);
  b.entries.onGossipBroadcast(P1, dead);
  c.entries.onGossipBroadcast(P1, dead);
  assert.equal(c.entries.onGossipBroadcast(P1, live), undefined, 'older live version is ignored');
  assert.equal(view(b.entries), view(c.entries));
  assert.deepEqual(b.entries.addressesOf(W), []);
  // Same version: the tombstoned copy wins over the live one in either order.
  const base: DnsEntry = { origin: P1, containerId: 'x', hostname: W, address: 9, version: 5, tombstone: 0 };
  const tomb: DnsEntry = { ...base, tombstone: clock.wallNow() };
  const d1 = peer(P2, clock);
  const d2 = peer(P3, clock);
  d1.entries.mergeDelta([base]);
  d1.entries.mergeDelta([tomb]);
  d2.entries.mergeDelta([tomb]);
  assert.deepEqual(d2.entries.mergeDelta([base]), []);
  assert.deepEqual(d1.entries.all(), d2.entries.all());
});

test('merge is commutative: random operations delivered in random orders converge (seeded, 300 ops)', () => {
  const rng = seededRng(7);
  const clock = new FakeClock();
  const ps = [peer(P1, clock), peer(P2, clock), peer(P3, clock)];
  const names = ['a.weave.local.', 'b.weave.local.', 'c.weave.local.'];
  const sent: Array<{ from: PeerName; data: Uint8Array }> = [];
  for (let i = 0; i < 300; i++) {
    const p = ps[rng.int(3)]!;
    const before = p.out.broadcasts.length;
    if (rng.float() < 0.6) p.entries.add(`c${rng.int(5)}`, names[rng.int(3)]!, 0x0a000000 + rng.int(8));
    else p.entries.tombstone({ containerId: `c${rng.int(5)}` });
    for (const d of p.out.broadcasts.slice(before)) sent.push({ from: p.name, data: d });
    clock.advance(rng.int(50));
  }
  // Two fresh observers get every delta, in opposite random orders, some twice.
  const o1 = peer('00:00:00:00:00:0a' as PeerName, clock, [P1, P2, P3]);
  const o2 = peer('00:00:00:00:00:0b' as PeerName, clock, [P1, P2, P3]);
  const shuffled = [...sent];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  for (const m of sent) {
    o1.entries.onGossipBroadcast(m.from, m.data);
    ok(o1.entries);
  }
  for (const m of [...shuffled].reverse().concat(shuffled.slice(0, 50))) {
    o2.entries.onGossipBroadcast(m.from, m.data);
    ok(o2.entries);
  }
  assert.equal(view(o1.entries), view(o2.entries));
  // Full-state gossip among the three origins converges them too.
  for (let round = 0; round < 2; round++) {
    for (const x of ps) for (const y of ps) if (x !== y) y.entries.onGossip(x.name, x.entries.gossip() ?? encodeDnsGossip({ sentAt: clock.wallNow(), entries: [] }));
  }
  assert.equal(view(ps[0]!.entries), view(ps[1]!.entries));
  assert.equal(view(ps[1]!.entries), view(ps[2]!.entries));
  assert.equal(view(ps[0]!.entries), view(o1.entries));
  const liveCount = o1.entries.live().length;
  assert.ok(liveCount > 0 && liveCount < o1.entries.size, `some live (${liveCount}) and some tombstones (${o1.entries.size})`);
});

test('tombstones expire after DNS_TOMBSTONE_LIFETIME_MS (FakeClock), live entries do not', () => {
  const clock = new FakeClock();
  const a = peer(P1, clock);
  const b = peer(P2, clock);
  a.entries.start();
  b.entries.start();
  a.entries.add('c1', W, 1);
  a.entries.add('c2', W, 2);
  a.entries.tombstone({ containerId: 'c1' });
  b.entries.onGossip(P1, a.entries.gossip()!);
  assert.equal(b.entries.size, 2);
  clock.advance(DNS_TOMBSTONE_LIFETIME_MS - 10 * DNS_GC_INTERVAL_MS);
  assert.equal(a.entries.size, 2);
  assert.equal(b.entries.size, 2);
  clock.advance(20 * DNS_GC_INTERVAL_MS);
  assert.equal(a.entries.size, 1);
  assert.equal(b.entries.size, 1);
  assert.deepEqual(b.entries.addressesOf(W), [2]);
  // An expired tombstone arriving late is not stored again.
  const stale = encodeDnsGossip({
    sentAt: clock.wallNow(),
    entries: [{ origin: P1, containerId: 'old', hostname: W, address: 3, version: 1, tombstone: clock.wallNow() - DNS_TOMBSTONE_LIFETIME_MS - 1 }],
  });
  assert.equal(b.entries.onGossip(P1, stale), undefined);
  a.entries.stop();
  b.entries.stop();
  assert.equal(clock.pending(), 0, 'stop cancels the timer');
});

test('a departed peer\'s entries are dropped after the grace period; its gossip is ignored meanwhile', () => {
  const clock = new FakeClock();
  const a = peer(P1, clock);
  const b = peer(P2, clock);
  b.entries.start();
  a.entries.add('c1', W, 1);
  b.entries.add('c9', 'b.weave.local.', 9);
  b.entries.onGossip(P1, a.entries.gossip()!);
  assert.deepEqual(b.entries.addressesOf(W), [1]);
  b.peers.set(P1, false);
  clock.advance(DNS_DEPARTED_PEER_GRACE_MS / 2);
  assert.deepEqual(b.entries.addressesOf(W), [1], 'within grace');
  // Peer comes back within the grace period: nothing is lost.
  b.peers.set(P1, true);
  clock.advance(DNS_DEPARTED_PEER_GRACE_MS * 2);
  assert.deepEqual(b.entries.addressesOf(W), [1]);
  b.peers.set(P1, false);
  clock.advance(DNS_DEPARTED_PEER_GRACE_MS + DNS_GC_INTERVAL_MS);
  assert.deepEqual(b.entries.addressesOf(W), []);
  assert.deepEqual(b.entries.addressesOf('b.weave.local.'), [9], 'own entries stay');
  ok(b.entries);
  assert.equal(b.entries.onGossip(P1, a.entries.gossip()!), undefined, 'unreachable origin: ignored');
  // When P1 is reachable again, B broadcasts its own entries so P1 learns them at once.
  const before = b.out.broadcasts.length;
  b.peers.set(P1, true);
  assert.equal(b.out.broadcasts.length, before + 1);
  assert.ok(b.entries.onGossip(P1, a.entries.gossip()!));
  assert.deepEqual(b.entries.addressesOf(W), [1]);
  b.entries.stop();
});

test('only the origin changes its entries: a newer claim about ours is re-asserted', () => {
  const clock = new FakeClock();
  const a = peer(P1, clock);
  const b = peer(P2, clock);
  a.entries.add('c1', W, 1);
  b.entries.onGossip(P1, a.entries.gossip()!);
  // A restarts with no state; B still holds A's live entry and gossips it.
  const a2 = peer(P1, clock);
  clock.advance(10);
  assert.equal(a2.entries.onGossip(P2, b.entries.gossip()!), undefined);
  assert.equal(a2.out.broadcasts.length, 1, 're-asserted with a broadcast');
  assert.equal(a2.entries.live().length, 0);
  b.entries.onGossipBroadcast(P1, a2.out.broadcasts[0]!);
  assert.deepEqual(b.entries.addressesOf(W), [], 'stale entry gone everywhere');
  // A forged newer tombstone of a live entry of ours does not remove it.
  a.entries.add('c2', W, 2);
  const mine = a.entries.live().find((e) => e.containerId === 'c2')!;
  const forged = encodeDnsGossip({ sentAt: clock.wallNow(), entries: [{ ...mine, version: mine.version + 100, tombstone: clock.wallNow() }] });
  a.entries.onGossip(P2, forged);
  assert.ok(a.entries.live().some((e) => e.containerId === 'c2'));
  assert.ok(a.entries.live().find((e) => e.containerId === 'c2')!.version > mine.version + 100);
  ok(a.entries);
});

test('gossip from a host with too much clock skew is rejected with a ProtocolError', () => {
  const clock = new FakeClock();
  const b = peer(P2, clock);
  const skewed = encodeDnsGossip({ sentAt: clock.wallNow() + 16 * 60_000, entries: [] });
  assert.throws(() => b.entries.onGossip(P1, skewed), { code: 'ERR_PROTOCOL', message: /clock skew of 960s exceeds 900s limit/ });
});

test('codec: round trip, and hostile payloads give ProtocolError, never another error', () => {
  const e: DnsEntry = { origin: P1, containerId: 'abc', hostname: W, address: 0xffffffff, version: 1_700_000_000_123, tombstone: 1_700_000_000_999 };
  const msg = { sentAt: 1_700_000_000_000, entries: [e] };
  assert.deepEqual(decodeDnsGossip(encodeDnsGossip(msg)), msg);
  const packr = new Packr({ useRecords: false });
  const row = [P1, 'abc', W, 1, 1, 0];
  const cases: Array<[unknown, RegExp]> = [
    [{ a: 1 }, /top level/],
    [[2, 0, []], /format version 2 not supported/],
    [[1, -1, []], /sentAt/],
    [[1, 0, {}], /entries must be an array/],
    [[1, 0, [row.slice(0, 5)]], /entry 0 must be an array of 6/],
    [[1, 0, [['nope', ...row.slice(1)]]], /entry 0: origin/],
    [[1, 0, [[P1, '', ...row.slice(2)]]], /containerId/],
    [[1, 0, [[P1, 'x'.repeat(300), ...row.slice(2)]]], /containerId/],
    [[1, 0, [[P1, 'a', 'Web.weave.local.', 1, 1, 0]]], /hostname must be a lowercase FQDN/],
    [[1, 0, [[P1, 'a', 'web.weave.local', 1, 1, 0]]], /hostname/],
    [[1, 0, [[P1, 'a', W, 2 ** 32, 1, 0]]], /address/],
    [[1, 0, [[P1, 'a', W, 1, 0, 0]]], /version/],
    [[1, 0, [[P1, 'a', W, 1, 1.5, 0]]], /version/],
    [[1, 0, [[P1, 'a', W, 1, 1, -3]]], /tombstone/],
    [[1, 0, [row, 'x']], /entry 1/],
  ];
  for (const [value, re] of cases) {
    assert.throws(() => decodeDnsGossip(packr.pack(value)), { code: 'ERR_PROTOCOL', message: re }, JSON.stringify(value).slice(0, 80));
  }
  assert.throws(() => decodeDnsGossip(new Uint8Array(MAX_DNS_GOSSIP_BYTES + 1)), { code: 'ERR_PROTOCOL', message: /exceeds/ });
  assert.throws(() => decodeDnsGossip(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])), { code: 'ERR_PROTOCOL' }, 'array32 count past the end');
  assert.throws(() => decodeDnsGossip(new Uint8Array([])), { code: 'ERR_PROTOCOL' });
  const rng = seededRng(99);
  const clock = new FakeClock();
  const b = peer(P2, clock);
  const valid = encodeDnsGossip(msg);
  for (let i = 0; i < 3000; i++) {
    let data: Uint8Array;
    if (i % 2) data = rng.bytes(rng.int(64));
    else {
      data = Uint8Array.from(valid);
      for (let k = 0; k < 1 + rng.int(4); k++) data[rng.int(data.length)] = rng.int(256);
      data = data.subarray(0, rng.int(data.length + 1));
    }
    try {
      b.entries.onGossip(P1, data);
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'ERR_PROTOCOL', `iteration ${i}: ${(err as Error).message}`);
    }
    ok(b.entries);
  }
});

test('own entries survive a restart through snapshotOwn/restoreOwn and are not re-asserted away', () => {
  const clock = new FakeClock();
  const a = peer(P1, clock);
  const b = peer(P2, clock);
  a.entries.add('c1', W, 1);
  a.entries.add('c2', W, 2);
  a.entries.tombstone({ containerId: 'c2' });
  b.entries.onGossip(P1, a.entries.gossip()!);
  b.entries.add('cb', 'b.weave.local.', 5);
  const saved = a.entries.snapshotOwn();
  const a2 = peer(P1, clock);
  assert.equal(a2.entries.restoreOwn(saved), 2);
  assert.equal(a2.entries.restoreOwn(b.entries.gossip()!), 0, "others' entries are not restored");
  ok(a2.entries);
  assert.equal(a2.entries.onGossip(P2, b.entries.gossip()!) !== undefined, true, "learns B's entry");
  assert.equal(a2.out.broadcasts.length, 0, 'nothing to re-assert');
  assert.deepEqual(a2.entries.addressesOf(W), [1]);
  assert.throws(() => a2.entries.restoreOwn(new Uint8Array([1, 2, 3])), { code: 'ERR_PROTOCOL' });
});
