// Forwarding rules checked against a naive reference: for random frames and topologies, the Forwarder
// sends each frame where a plain reading of DESIGN.md §4 says it should go.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Forwarder, type RouteTable } from '../../../src/dataplane/forwarder.js';
import { MacCache } from '../../../src/dataplane/mac-cache.js';
import { broadcastDst, isBroadcastDst, LEGACY_BROADCAST } from '../../../src/dataplane/broadcast-dedup.js';
import { ethFrame } from '../../support/fake-dataplane.js';

const A = 1, B = 2, C = 3;
// A line: A - B - C. Unicast via B; broadcast trees: from A: A→B→C; from C: C→B→A.
const lineFrom = (me: number): RouteTable => ({
  unicastNextHop: (dst) => (me === A ? B : me === C ? B : dst),
  broadcastNextHops: (origin) => {
    if (me === B) return origin === A ? [C] : origin === C ? [A] : [A, C];
    if (me === A) return origin === A ? [B] : [];
    return origin === C ? [B] : [];
  },
});

function harness(me: number) {
  const sent: Array<{ hop: number; origin: number; dst: number; frame: Buffer }> = [];
  const local: Buffer[] = [];
  const macs = new MacCache();
  const fwd = new Forwarder(me, lineFrom(me), macs, {
    toPeer: (hop, origin, dst, buf, off, len) => sent.push({ hop, origin, dst, frame: Buffer.from(buf.subarray(off, off + len)) }),
    toLocal: (buf, off, len) => local.push(Buffer.from(buf.subarray(off, off + len))),
  });
  return { fwd, sent, local, macs };
}

const macA = '02:00:00:00:00:0a';
const macC = '02:00:00:00:00:0c';
const BCAST = 'ff:ff:ff:ff:ff:ff';

test('unknown unicast and broadcast from the bridge flood along our tree', () => {
  const h = harness(A);
  const f1 = ethFrame(BCAST, macA, 'arp who-has');
  h.fwd.fromLocal(f1, 0, f1.length, 0);
  const f2 = ethFrame(macC, macA, 'to unknown');
  h.fwd.fromLocal(f2, 0, f2.length, 0);
  assert.deepEqual(h.sent.map((s) => [s.hop, s.origin]), [[B, A], [B, A]]);
  assert.ok(h.sent.every((s) => isBroadcastDst(s.dst)), 'flooded frames go to the broadcast destination');
  assert.notEqual(h.sent[0]!.dst, h.sent[1]!.dst, 'each broadcast has its own number');
  assert.equal(h.fwd.stats.framesFlooded, 2);
});

test('a learnt MAC is sent unicast towards its peer', () => {
  const h = harness(A);
  const reply = ethFrame(macA, macC, 'reply from C');
  h.fwd.fromPeer(C, A, reply, 0, reply.length, 0); // learn macC → C
  assert.equal(h.local.length, 1);
  const f = ethFrame(macC, macA, 'hello C');
  h.fwd.fromLocal(f, 0, f.length, 1);
  assert.deepEqual(h.sent.map((s) => [s.hop, s.origin, s.dst]), [[B, A, C]]);
});

test('a relay forwards by destination peer and broadcasts along the origin tree, exactly once each', () => {
  const h = harness(B);
  const uni = ethFrame(macC, macA, 'unicast A→C');
  h.fwd.fromPeer(A, C, uni, 0, uni.length, 0);
  const bc = ethFrame(BCAST, macA, 'broadcast from A');
  h.fwd.fromPeer(A, broadcastDst(7), bc, 0, bc.length, 0);
  assert.deepEqual(h.sent.map((s) => [s.hop, s.origin, s.dst]), [[C, A, C], [C, A, broadcastDst(7)]], 'relays keep the number');
  assert.equal(h.local.length, 1, 'the broadcast is also delivered to the local bridge');
  assert.equal(h.fwd.stats.framesRelayed, 1);
});

test('runts, our own frames coming back and unroutable relays are counted and dropped', () => {
  const h = harness(B);
  h.fwd.fromLocal(Buffer.alloc(10), 0, 10, 0);
  const f = ethFrame(macC, macA, 'x');
  h.fwd.fromPeer(B, C, f, 0, f.length, 0);
  const noRoute: RouteTable = { unicastNextHop: () => undefined, broadcastNextHops: () => [] };
  const lonely = new Forwarder(B, noRoute, new MacCache(), { toPeer: () => assert.fail('no route'), toLocal: () => {} });
  lonely.fromPeer(A, C, f, 0, f.length, 0);
  assert.equal(h.fwd.stats.droppedRunt, 1);
  assert.equal(h.fwd.stats.droppedLoop, 1);
  assert.equal(lonely.stats.droppedNoRoute, 1);
  assert.equal(h.sent.length, 0);
});

test('MAC cache: learning, moves, expiry and the size bound', () => {
  const c = new MacCache({ maxAgeMs: 1000, maxEntries: 2 });
  assert.equal(c.learn(1, A, 0), true);
  assert.equal(c.learn(1, A, 10), false);
  assert.equal(c.learn(1, B, 20), true, 'moved');
  assert.equal(c.lookup(1, 500), B);
  assert.equal(c.lookup(1, 2000), undefined, 'expired');
  c.learn(2, A, 3000);
  c.learn(3, A, 3000);
  assert.equal(c.learn(4, A, 3000), false, 'full: a flood of MACs cannot grow the cache');
  assert.equal(c.size, 2);
  c.forgetPeer(A);
  assert.equal(c.size, 0);
});

// Issue 10.8: while a topology change is still spreading by gossip, two relays can both believe they are a
// receiver's parent in the origin's tree. Here A floods; B and D both think R is their child (their views
// disagree about who is R's parent), so R receives A's broadcast twice — and must deliver it once.
test('two relays that disagree about the tree: the receiver delivers and forwards each broadcast once', () => {
  const R = 9, D = 4, E = 5;
  const viewA: RouteTable = { unicastNextHop: () => undefined, broadcastNextHops: (o) => (o === A ? [B, D] : []) };
  const relayView: RouteTable = { unicastNextHop: () => undefined, broadcastNextHops: (o) => (o === A ? [R] : []) };
  const viewR: RouteTable = { unicastNextHop: () => undefined, broadcastNextHops: (o) => (o === A ? [E] : []) };
  const wire: Array<{ hop: number; origin: number; dst: number; frame: Buffer }> = [];
  const local: Buffer[] = [];
  const toWire = { toPeer: (hop: number, origin: number, dst: number, buf: Uint8Array, off: number, len: number) =>
    wire.push({ hop, origin, dst, frame: Buffer.from(buf.subarray(off, off + len)) }), toLocal: () => {} };
  const a = new Forwarder(A, viewA, new MacCache(), toWire, 1000);
  const b = new Forwarder(B, relayView, new MacCache(), toWire);
  const d = new Forwarder(D, relayView, new MacCache(), toWire);
  const rSent: number[] = [];
  const r = new Forwarder(R, viewR, new MacCache(), { toPeer: (hop) => rSent.push(hop), toLocal: (buf, off, len) => local.push(Buffer.from(buf.subarray(off, off + len))) });

  for (let i = 0; i < 3; i++) {
    // The same bytes three times (arping repeats its request verbatim): three broadcasts, not one.
    const arp = ethFrame(BCAST, macA, 'who-has 10.32.0.9');
    a.fromLocal(arp, 0, arp.length, i);
  }
  const fromA = wire.splice(0);
  assert.equal(fromA.length, 6, 'A sends each broadcast to both B and D');
  for (const f of fromA) (f.hop === B ? b : d).fromPeer(f.origin, f.dst, f.frame, 0, f.frame.length, 0);
  const toR = wire.splice(0);
  assert.equal(toR.length, 6, 'B and D both relay each broadcast to R');
  for (const f of toR) r.fromPeer(f.origin, f.dst, f.frame, 0, f.frame.length, 0);
  assert.equal(local.length, 3, 'R delivered each of the three broadcasts exactly once');
  assert.deepEqual(rSent, [E, E, E], 'and forwarded each once down its own view of the tree');
  assert.equal(r.stats.droppedDuplicate, 3);
});

test('broadcast numbering: legacy all-ones is never deduplicated, a restarted origin is not mistaken for old frames', () => {
  const seenLocal: number[] = [];
  const mk = () => new Forwarder(B, { unicastNextHop: () => undefined, broadcastNextHops: () => [] }, new MacCache(), { toPeer: () => {}, toLocal: () => seenLocal.push(1) });
  const r = mk();
  const bc = ethFrame(BCAST, macA, 'legacy');
  r.fromPeer(A, LEGACY_BROADCAST, bc, 0, bc.length, 0);
  r.fromPeer(A, LEGACY_BROADCAST, bc, 0, bc.length, 0);
  assert.equal(seenLocal.length, 2, 'a router without numbering is delivered as before');
  // The numbering wraps and skips the legacy value; a new run starts elsewhere (random in the daemon).
  const sent: number[] = [];
  const a = new Forwarder(A, { unicastNextHop: () => undefined, broadcastNextHops: () => [B] }, new MacCache(), { toPeer: (_h, _o, dst) => sent.push(dst), toLocal: () => {} }, 0xfffffffd);
  for (let i = 0; i < 3; i++) a.fromLocal(bc, 0, bc.length, 0);
  assert.deepEqual(sent, [broadcastDst(0xfffffffe), broadcastDst(0), broadcastDst(1)]);
  assert.ok(sent.every((d) => d !== LEGACY_BROADCAST && isBroadcastDst(d)));
});
