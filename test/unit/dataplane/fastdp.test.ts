// The fast datapath's decisions (dataplane/fastdp.ts) and heartbeat frames (fastdp-wire.ts): which peers
// get VXLAN, which MACs are programmed where, the heartbeat state machine and the fallback.
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { FastDp, type FdbChanges } from '../../../src/dataplane/fastdp.js';
import { HB_PING, HB_PONG, decodeHeartbeat, encodeHeartbeat, heartbeatMac, macsPerFrame, type Heartbeat } from '../../../src/dataplane/fastdp-wire.js';

const A = 0x0a0000000001; // local
const B = 0x0b0000000002;
const C = 0x0c0000000003;
const IP_B = 0x0a000002;
const IP_C = 0x0a000003;
const MAC_B1 = 0x02000000b001;
const MAC_B2 = 0x02000000b002;
const MAC_A1 = 0x02000000a001;

const newDp = () => new FastDp({ localPeer: A, port: 6784, heartbeatMs: 1000, timeoutMs: 5000, macTtlMs: 30_000, recoverReplies: 3 });
const pong = (from: number, seq = 1, macs: number[] = []): Heartbeat => ({ kind: HB_PONG, sender: from, dst: heartbeatMac(A), seq, macs });
const ping = (from: number, macs: number[] = []): Heartbeat => ({ kind: HB_PING, sender: from, dst: heartbeatMac(A), seq: 7, macs });
const keys = (c: FdbChanges) => ({
  add: c.add.map((e) => `${e.device}:${e.mac.toString(16)}@${e.underlay.toString(16)}`).sort(),
  del: c.del.map((e) => `${e.device}:${e.mac.toString(16)}`).sort(),
});

describe('heartbeat frames', () => {
  test('a ping round-trips, padded to the requested size, with its MACs', () => {
    const buf = new Uint8Array(1390);
    const hb: Heartbeat = { kind: HB_PING, sender: B, dst: heartbeatMac(A), seq: 0xfffffff0, macs: [MAC_B1, MAC_B2] };
    const len = encodeHeartbeat(buf, hb, 1390);
    assert.equal(len, 1390);
    assert.deepEqual(decodeHeartbeat(buf, 0, len), { ...hb, complete: true });
  });

  test('complete: a heartbeat with room for another MAC lists all of its sender\'s; a full one proves nothing', () => {
    const buf = new Uint8Array(1390);
    const room = macsPerFrame(1390);
    const many = Array.from({ length: room + 5 }, (_, i) => 0x020000000000 + i);
    const hb = (macs: number[], kind: Heartbeat['kind'] = HB_PING): Heartbeat => ({ kind, sender: B, dst: heartbeatMac(A), seq: 1, macs });
    const decoded = (h: Heartbeat, padTo: number) => decodeHeartbeat(buf, 0, encodeHeartbeat(buf, h, padTo));
    assert.equal(decoded(hb([]), 1390)?.complete, true, 'no MACs at all');
    assert.equal(decoded(hb(many.slice(0, room - 1)), 1390)?.complete, true);
    assert.equal(decoded(hb(many.slice(0, room)), 1390)?.complete, false, 'exactly full');
    assert.equal(decoded(hb(many), 1390)?.complete, false, 'rotated');
    assert.equal(decoded(hb([MAC_B1], HB_PONG), 0)?.complete, false, 'an unpadded pong');
  });

  test('heartbeat MACs are unicast, locally administered and differ per peer', () => {
    for (const p of [A, B, 0xffffffffffff, 0]) {
      const m = heartbeatMac(p);
      assert.equal(Math.floor(m / 0x10000000000) & 3, 2, m.toString(16));
    }
    assert.notEqual(heartbeatMac(A), heartbeatMac(B));
  });

  test('malformed frames decode to undefined; group MACs in the list are dropped', () => {
    const buf = new Uint8Array(200);
    const len = encodeHeartbeat(buf, { kind: HB_PONG, sender: B, dst: heartbeatMac(A), seq: 1, macs: [MAC_B1, 0x01005e000001] }, 0);
    assert.deepEqual(decodeHeartbeat(buf, 0, len)?.macs, [MAC_B1]);
    assert.equal(decodeHeartbeat(buf, 0, 20), undefined, 'runt');
    const badMagic = buf.slice(0, len);
    badMagic[15] ^= 1;
    assert.equal(decodeHeartbeat(badMagic, 0, len), undefined, 'magic');
    const spoofed = buf.slice(0, len);
    spoofed[25] ^= 1; // sender no longer matches the source MAC
    assert.equal(decodeHeartbeat(spoofed, 0, len), undefined, 'sender ≠ source MAC');
    const overlong = buf.slice(0, len);
    overlong[31] = 200; // claims 200 MACs
    assert.equal(decodeHeartbeat(overlong, 0, len), undefined, 'count beyond the frame');
  });

  test('a frame holds as many MACs as fit', () => {
    const buf = new Uint8Array(100);
    const macs = Array.from({ length: 50 }, (_, i) => 0x020000000000 + i);
    const len = encodeHeartbeat(buf, { kind: HB_PONG, sender: B, dst: heartbeatMac(A), seq: 1, macs }, 0);
    assert.equal(decodeHeartbeat(buf, 0, len)?.macs.length, macsPerFrame(100));
  });
});

describe('FastDp decisions', () => {
  test('an eligible peer gets its heartbeat entry and pings at once; container MACs only once confirmed', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }], 0);
    const pings = dp.tick(1000);
    assert.deepEqual(pings.map((p) => [p.kind, p.dst]), [[HB_PING, heartbeatMac(B)]]);
    assert.deepEqual(keys(dp.takeChanges()), { add: [`heartbeat:${heartbeatMac(B).toString(16)}@a000002`], del: [] });
    assert.deepEqual(dp.status(B), { mode: 'sleeve', reason: 'confirming the VXLAN path' });
    // B's ping announces its MACs; we answer with a pong, but nothing is programmed until B answers us.
    const reply = dp.onHeartbeat(ping(B, [MAC_B1]), 1100);
    assert.equal(reply?.kind, HB_PONG);
    assert.equal(reply?.dst, heartbeatMac(B));
    assert.deepEqual(dp.takeChanges(), { add: [], del: [] });
    dp.onHeartbeat(pong(B, 1, [MAC_B1, MAC_B2]), 1200);
    assert.deepEqual(dp.status(B), { mode: 'fastdp' });
    assert.deepEqual(keys(dp.takeChanges()).add, [`data:${MAC_B1.toString(16)}@a000002`, `data:${MAC_B2.toString(16)}@a000002`]);
  });

  test('no reply within the timeout: fallback to the sleeve with the reason, container MACs removed', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }], 0);
    dp.tick(0);
    dp.onHeartbeat(pong(B, 1, [MAC_B1]), 100);
    dp.takeChanges();
    for (let t = 1000; t <= 5000; t += 1000) dp.tick(t);
    assert.equal(dp.status(B)?.mode, 'fastdp', 'still within the timeout');
    dp.tick(6000);
    assert.deepEqual(dp.status(B), { mode: 'sleeve', reason: 'no VXLAN heartbeat reply (UDP 6784) for 6s' });
    assert.equal(dp.stats.fallbacks, 1);
    // The heartbeat entry stays (we keep probing), the container MAC goes.
    assert.deepEqual(keys(dp.takeChanges()), { add: [], del: [`data:${MAC_B1.toString(16)}`] });
    assert.equal(dp.tick(7000).length, 1, 'still pinging');
  });

  test('a peer that never answers falls back after the timeout too', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }], 0);
    dp.tick(5000);
    assert.equal(dp.status(B)?.mode, 'sleeve');
    assert.equal(dp.status(B)?.reason, 'confirming the VXLAN path');
    dp.tick(6000);
    assert.match(dp.status(B)?.reason ?? '', /no VXLAN heartbeat reply/);
  });

  test('after a fallback, fastdp again only after replies in a row', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }], 0);
    dp.tick(6000);
    dp.onHeartbeat(pong(B), 6100);
    dp.onHeartbeat(pong(B), 7100);
    dp.tick(10_000); // a gap: the run starts again
    dp.onHeartbeat(pong(B), 10_100);
    dp.onHeartbeat(pong(B), 11_100);
    assert.equal(dp.status(B)?.mode, 'sleeve');
    dp.onHeartbeat(pong(B), 12_100);
    assert.equal(dp.status(B)?.mode, 'fastdp');
  });

  test('ineligible (relayed) peers are neither pinged nor programmed, and say why', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B, ineligible: 'no direct route' }], 0);
    assert.equal(dp.tick(1000).length, 0);
    assert.deepEqual(dp.takeChanges(), { add: [], del: [] });
    assert.deepEqual(dp.status(B), { mode: 'sleeve', reason: 'no direct route' });
    assert.equal(dp.onHeartbeat(ping(B), 1000), undefined, 'no pong to an ineligible peer');
    assert.equal(dp.stats.droppedUnknownPeer, 1);
  });

  test('a fastdp peer becoming relayed is unprogrammed at once; a gone peer loses every entry', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }, { peer: C, underlay: IP_C }], 0);
    dp.onHeartbeat(pong(B, 1, [MAC_B1]), 10);
    dp.takeChanges();
    dp.setCandidates([{ peer: B, underlay: IP_B, ineligible: 'no direct route' }, { peer: C, underlay: IP_C }], 20);
    assert.deepEqual(keys(dp.takeChanges()).del, [`data:${MAC_B1.toString(16)}`, `heartbeat:${heartbeatMac(B).toString(16)}`]);
    dp.setCandidates([], 30);
    assert.deepEqual(keys(dp.takeChanges()).del, [`heartbeat:${heartbeatMac(C).toString(16)}`]);
    assert.equal(dp.status(C), undefined);
  });

  test('a local MAC is never programmed towards a peer; a MAC that moves follows its new peer', () => {
    const dp = newDp();
    dp.setLocalMacs([MAC_A1]);
    dp.setCandidates([{ peer: B, underlay: IP_B }, { peer: C, underlay: IP_C }], 0);
    dp.onHeartbeat(pong(B, 1, [MAC_A1, MAC_B1]), 10);
    dp.onHeartbeat(pong(C), 10);
    dp.takeChanges();
    dp.onHeartbeat(pong(C, 2, [MAC_B1]), 20);
    const k = keys(dp.takeChanges());
    assert.deepEqual(k.add, [`data:${MAC_B1.toString(16)}@a000003`]);
    assert.deepEqual(k.del, []);
    assert.ok(!JSON.stringify(k).includes(MAC_A1.toString(16)));
  });

  test('a MAC the peer stops announcing is unprogrammed after its TTL', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }], 0);
    dp.onHeartbeat(pong(B, 1, [MAC_B1]), 0);
    dp.takeChanges();
    for (let t = 1000; t <= 30_000; t += 1000) dp.onHeartbeat(pong(B, t, []), t), dp.tick(t);
    assert.deepEqual(dp.takeChanges().del, []);
    dp.tick(31_000);
    dp.onHeartbeat(pong(B), 31_000);
    assert.deepEqual(keys(dp.takeChanges()).del, [`data:${MAC_B1.toString(16)}`]);
  });

  test('a complete heartbeat unprograms at once the MACs it no longer lists; an incomplete one waits for the TTL', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }], 0);
    dp.onHeartbeat(pong(B, 1, [MAC_B1, MAC_B2]), 0);
    assert.equal(keys(dp.takeChanges()).add.filter((k) => k.startsWith('data')).length, 2);
    dp.onHeartbeat({ ...ping(B, [MAC_B1]), complete: false }, 1000);
    assert.deepEqual(dp.takeChanges().del, [], 'a rotated list says nothing about MAC_B2');
    dp.onHeartbeat({ ...ping(B, [MAC_B1]), complete: true }, 2000);
    assert.deepEqual(keys(dp.takeChanges()), { add: [], del: [`data:${MAC_B2.toString(16)}`] });
    dp.onHeartbeat({ ...ping(B), complete: true }, 3000);
    assert.deepEqual(keys(dp.takeChanges()).del, [`data:${MAC_B1.toString(16)}`]);
  });

  test('announce pings every eligible peer with the local MACs now, without advancing the heartbeat state', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }, { peer: C, underlay: IP_C, ineligible: 'no direct route' }], 0);
    assert.equal(dp.setLocalMacs([MAC_A1]), true);
    assert.equal(dp.setLocalMacs([MAC_A1]), false, 'unchanged');
    const out = dp.announce();
    assert.deepEqual(out.map((h) => [h.kind, h.dst, h.macs]), [[HB_PING, heartbeatMac(B), [MAC_A1]]]);
    assert.equal(dp.status(B)?.reason, 'confirming the VXLAN path');
    // No timeout passes by announcing: B is still probing after many announcements at t=0.
    for (let i = 0; i < 10; i++) dp.announce();
    dp.tick(1000);
    assert.equal(dp.status(B)?.reason, 'confirming the VXLAN path');
  });

  test('pings carry our local MACs, rotating when they do not fit one frame', () => {
    const dp = new FastDp({ localPeer: A, port: 6784, macRoom: 2 });
    dp.setCandidates([{ peer: B, underlay: IP_B }], 0);
    const local = [1, 2, 3, 4, 5].map((i) => 0x020000000000 + i);
    dp.setLocalMacs(local);
    const seen = new Set<number>();
    for (let t = 0; t < 3; t++) for (const p of dp.tick(t * 1000)) p.macs.forEach((m) => seen.add(m));
    assert.deepEqual([...seen].sort(), local);
  });

  test('heartbeats addressed to another router are ignored', () => {
    const dp = newDp();
    dp.setCandidates([{ peer: B, underlay: IP_B }], 0);
    assert.equal(dp.onHeartbeat({ ...pong(B), dst: heartbeatMac(C) }, 10), undefined);
    assert.equal(dp.status(B)?.mode, 'sleeve');
  });
});
