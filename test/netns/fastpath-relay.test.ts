// Native relays and broadcast (native/src/fastpath_relay.h) against the TypeScript reference, byte for
// byte, inside a namespace made for this file (test/support/inner-netns.ts). The fast path (peer LOCAL)
// has two sessions: REMOTE and THIRD, each played by this test with the reference crypto on loopback.
//
//   REMOTE ──(frames origin REMOTE, dst THIRD)──▶ fast path ──▶ THIRD    relayed: same datagram the
//                                                                       reference Packer + seal makes
//   REMOTE ──(broadcast)──▶ fast path ──▶ TAP once, THIRD a copy, a repeat dropped; dedup shared with JS
//   TAP (c → MAC behind FAR) ──▶ fast path ──▶ THIRD (route FAR → THIRD), frame header dst FAR
//   TAP (local broadcast) ──▶ fast path ──▶ REMOTE and THIRD (our own tree), numbered from the shared
//                                             sequence, each datagram the reference one
// Anything without a published route or with an ineligible next hop goes to JS as before.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';

import { fastPathModules } from '../support/fastpath-modules.js';
import { splitNetnsRun } from '../support/inner-netns.js';
import {
  LOCAL_PEER, LOOPBACK, PEER_MAC, REMOTE_PEER, TEST_MTU, macNum, openDatagram, referenceDatagram as refDatagram, sessionKeys, udpFrame, until,
} from '../support/fastpath-wire.js';
import { UNIFIED } from '../support/fastpath-mode.js';

type RefArgs = Parameters<typeof refDatagram> extends [number, ...infer R] ? R : never;

await splitNetnsRun(import.meta.url, 'TSWEAVE_FASTPATH_RELAY_NETNS', 'fprelay', inner);

async function inner(ns: string): Promise<void> {
  const m = await fastPathModules(ns);
  const { addon, NativeFastPath, openTap, ipv4ToU32, NativeUdpSocket, silentLogger, nodeDataAead, Overlay, ip } = m;
  const { FAST_KIND_FRAME, FAST_KIND_LEARN } = m.ports;
  const { broadcastDst } = await import('../../src/dataplane/broadcast-dedup.js');
  type FastIngressBatch = import('../../src/core/ports.js').FastIngressBatch;
  const LOCAL = LOCAL_PEER, REMOTE = REMOTE_PEER, THIRD = 0x0c0000000003, FAR = 0x0d0000000004, NOWHERE = 0x0e0000000005;
  const MAX_DGRAM = Overlay.maxDatagramBytes(TEST_MTU);
  const [R_LOCAL_INDEX, R_REMOTE_INDEX, T_LOCAL_INDEX, T_REMOTE_INDEX] = [0x1111, 0x2222, 0x3333, 0x4444];
  const TAP = 'tswfr0';
  const farMac = Buffer.from([2, 0, 0, 0, 0, 4]);
  const strangerMac = Buffer.from([2, 0, 0, 0, 0, 9]);
  const bcastMac = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const r = sessionKeys(), t = sessionKeys();
  /** What the fast path seals for THIRD with (THIRD opens it with t.remoteOpen). */
  const sealForThird = nodeDataAead.create(t.keys.sendKey, t.keys.sendSalt, true);
  const sealForRemote = nodeDataAead.create(r.keys.sendKey, r.keys.sendSalt, true);
  const referenceDatagram = (...args: RefArgs): Buffer => refDatagram(MAX_DGRAM, ...args);

  describe('native relay and broadcast', () => {
    let tap: ReturnType<typeof openTap>;
    let sock: InstanceType<typeof NativeUdpSocket>;
    let remote: InstanceType<typeof NativeUdpSocket>;
    let third: InstanceType<typeof NativeUdpSocket>;
    let fast: InstanceType<typeof NativeFastPath>;
    const atThird: Buffer[] = [];
    const atRemote: Buffer[] = [];
    const slowEgress: Buffer[] = [];
    const slowIngress: Array<{ kind: number; peer: number; dst: number; bytes: Buffer }> = [];
    let counter = 0; // REMOTE's send counter
    const fromRemote = (d: Buffer): void => remote.send(d, 0, d.length, LOOPBACK, sock.port);
    const n = (k: string): number => fast.stats()[k] as number;

    beforeAll(() => {
      tap = openTap(TAP, { logger: silentLogger() });
      writeFileSync(`/proc/sys/net/ipv6/conf/${TAP}/disable_ipv6`, '1');
      ip('link', 'set', TAP, 'mtu', String(TEST_MTU), 'up');
      ip('addr', 'add', '10.79.0.1/24', 'dev', TAP);
      ip('neigh', 'replace', '10.79.0.4', 'lladdr', '02:00:00:00:00:04', 'dev', TAP, 'nud', 'permanent');
      const info = JSON.parse(ip('-j', 'link', 'show', TAP)) as Array<{ address: string }>;
      const tapMac = Buffer.from(info[0]!.address.split(':').map((h) => parseInt(h, 16)));
      sock = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger() });
      remote = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger(), gro: false });
      third = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger(), gro: false });
      remote.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) atRemote.push(Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)));
      });
      third.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) atThird.push(Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)));
      });
      fast = new NativeFastPath({ addon, logger: silentLogger(), tapFd: tap.fd, tapOffload: tap.offload, udpFd: sock.fd, localPeer: LOCAL, maxDatagramBytes: MAX_DGRAM, unified: UNIFIED });
      fast.start((b) => {
        for (let i = 0; i < b.count; i++) slowEgress.push(Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)));
      }, (b: FastIngressBatch) => {
        for (let i = 0; i < b.count; i++) {
          slowIngress.push({ kind: b.kinds[i]!, peer: b.peers[i]!, dst: b.dsts[i]!, bytes: Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)) });
        }
      });
      fast.addSession({ peer: REMOTE, localIndex: R_LOCAL_INDEX, remoteIndex: R_REMOTE_INDEX, remoteAddr: LOOPBACK, remotePort: remote.port, lastCounter: 0, keys: r.keys });
      fast.addSession({ peer: THIRD, localIndex: T_LOCAL_INDEX, remoteIndex: T_REMOTE_INDEX, remoteAddr: LOOPBACK, remotePort: third.port, lastCounter: 0, keys: t.keys });
      fast.setEligible(REMOTE, true);
      fast.setEligible(THIRD, true);
      fast.learn(macNum(tapMac), LOCAL);
      fast.learn(macNum(PEER_MAC), REMOTE);
      fast.learn(macNum(farMac), FAR);
      // THIRD and FAR through THIRD; REMOTE's broadcasts go on to THIRD; THIRD's tree ends here.
      fast.setRoutes({
        dsts: Float64Array.of(REMOTE, THIRD, FAR), hops: Float64Array.of(REMOTE, THIRD, THIRD),
        origins: Float64Array.of(REMOTE, THIRD), first: Uint32Array.of(0, 1, 1), kids: Float64Array.of(THIRD),
      });
    });
    afterAll(() => {
      fast?.stop();
      for (const s of [sock, remote, third]) s?.close();
      tap?.close();
    });

    const frame = (seq: number, dst = farMac, src = PEER_MAC): Buffer => udpFrame(dst, src, '10.79.0.2', '10.79.0.4', 9000, 60 + seq * 13, seq);

    it('relays frames for another peer itself: the datagram THIRD gets is the reference one, byte for byte', async () => {
      const frames = [frame(1), frame(2), frame(3)];
      fromRemote(referenceDatagram(r.remoteSeal, R_LOCAL_INDEX, REMOTE, THIRD, frames, ++counter));
      await until(() => atThird.length === 1, 'the relayed datagram at THIRD');
      const d = atThird[0]!;
      const got = openDatagram(t.remoteOpen, d, REMOTE, THIRD);
      assert.deepEqual(got.frames, frames, 'every frame, in order, origin and destination kept');
      assert.equal(got.counter, 1, "THIRD session's first counter");
      assert.deepEqual(d, referenceDatagram(sealForThird, T_REMOTE_INDEX, REMOTE, THIRD, frames, 1), 'same bytes as the reference');
      assert.equal(n('relayFrames'), 3);
      assert.equal(n('relayDatagrams'), 1);
      assert.equal(slowIngress.length, 0, 'nothing handed to JS');
      assert.equal(fast.nextCounter(THIRD), 2, 'the counter is shared with the overlay');
    });

    it('no route, or an ineligible next hop: handed to JS as a frame entry, as before', async () => {
      atThird.length = 0;
      fromRemote(referenceDatagram(r.remoteSeal, R_LOCAL_INDEX, REMOTE, NOWHERE, frame(4), ++counter));
      await until(() => slowIngress.length === 1, 'the unroutable frame in JS');
      fast.setEligible(THIRD, false);
      fromRemote(referenceDatagram(r.remoteSeal, R_LOCAL_INDEX, REMOTE, THIRD, frame(5), ++counter));
      await until(() => slowIngress.length === 2, 'the frame for an ineligible next hop in JS');
      fast.setEligible(THIRD, true);
      assert.deepEqual(slowIngress.map((e) => [e.kind, e.peer, e.dst]), [[FAST_KIND_FRAME, REMOTE, NOWHERE], [FAST_KIND_FRAME, REMOTE, THIRD]]);
      assert.deepEqual(slowIngress[1]!.bytes, frame(5));
      assert.equal(atThird.length, 0);
      assert.equal(n('relayFrames'), 3, 'unchanged');
    });

    it('broadcast: to the TAP once and a copy to the child, a repeat dropped; unknown source MAC taught to JS', async () => {
      slowIngress.length = 0;
      atThird.length = 0;
      const b = frame(6, bcastMac, strangerMac);
      const tap0 = n('tapWritten');
      const dst = broadcastDst(77);
      fromRemote(referenceDatagram(r.remoteSeal, R_LOCAL_INDEX, REMOTE, dst, b, ++counter));
      await until(() => atThird.length === 1 && slowIngress.length === 1, 'the copy at THIRD and the learn entry');
      assert.deepEqual(openDatagram(t.remoteOpen, atThird[0]!, REMOTE, dst).frames, [b]);
      assert.equal(n('tapWritten'), tap0 + 1, 'delivered to the bridge once');
      assert.equal(slowIngress[0]!.kind, FAST_KIND_LEARN);
      assert.equal(slowIngress[0]!.peer, REMOTE);
      assert.deepEqual(slowIngress[0]!.bytes, b.subarray(0, 14), 'only the Ethernet header');
      // The same broadcast again (relays disagreeing): dropped, counted, nothing delivered or sent.
      fromRemote(referenceDatagram(r.remoteSeal, R_LOCAL_INDEX, REMOTE, dst, b, ++counter));
      await until(() => n('broadcastDuplicates') === 1, 'the duplicate counted');
      assert.equal(n('tapWritten'), tap0 + 1);
      assert.equal(atThird.length, 1);
      assert.equal(n('broadcastFrames'), 1);
      assert.equal(n('broadcastCopies'), 1);
      // One table with JS: what the lane saw, JS sees as seen; what JS saw first, the lane drops.
      assert.equal(fast.broadcastDuplicate(REMOTE, dst), true);
      assert.equal(fast.broadcastDuplicate(REMOTE, broadcastDst(78)), false);
      fromRemote(referenceDatagram(r.remoteSeal, R_LOCAL_INDEX, REMOTE, broadcastDst(78), b, ++counter));
      await until(() => n('broadcastDuplicates') === 2, 'the broadcast JS saw first dropped');
      assert.equal(atThird.length, 1);
    });

    it('egress: a local frame for a MAC behind a peer reached through a relay goes to the next hop', async () => {
      atThird.length = 0;
      const tx = new NativeUdpSocket(addon, ipv4ToU32('10.79.0.1'), 0, { logger: silentLogger() });
      try {
        const one = Buffer.from('through the relay');
        tx.send(one, 0, one.length, ipv4ToU32('10.79.0.4'), 9999);
        await until(() => atThird.length === 1, 'the frame at THIRD');
      } finally {
        tx.close();
      }
      const got = openDatagram(t.remoteOpen, atThird[0]!, LOCAL, FAR);
      assert.deepEqual(got.frames[0]!.subarray(0, 6), farMac);
      assert.equal(got.frames[0]!.subarray(-17).toString(), 'through the relay');
    });

    /** A UDP broadcast from the TAP's address (the kernel sends it to ff:ff:ff:ff:ff:ff from the TAP's MAC). */
    const broadcastFromTap = async (text: string): Promise<void> => {
      const s = createSocket('udp4');
      try {
        await new Promise<void>((res) => s.bind(0, '10.79.0.1', res));
        s.setBroadcast(true);
        await new Promise<void>((res, rej) => s.send(text, 9999, '10.79.0.255', (err) => (err ? rej(err) : res())));
      } finally {
        s.close();
      }
    };
    const ourTree = (kids: number[]) => fast.setRoutes({
      dsts: Float64Array.of(REMOTE, THIRD, FAR), hops: Float64Array.of(REMOTE, THIRD, THIRD),
      origins: Float64Array.of(LOCAL, REMOTE, THIRD), first: Uint32Array.of(0, kids.length, kids.length + 1, kids.length + 1),
      kids: Float64Array.from([...kids, THIRD]),
    });

    it('egress: a local broadcast goes to each child of our tree natively, the reference datagram each, numbered from the shared sequence', async () => {
      atThird.length = atRemote.length = slowEgress.length = 0;
      ourTree([REMOTE, THIRD]);
      fast.setBroadcastStart(0xfffffffd); // the numbering wraps like BroadcastNumbering: ...fe, then 0 (ff is legacy)
      const f0 = n('egressBroadcastFrames');
      await broadcastFromTap('one broadcast');
      await until(() => atThird.length === 1 && atRemote.length === 1, 'a copy at each child');
      const dst = broadcastDst(0xfffffffe);
      const third1 = openDatagram(t.remoteOpen, atThird[0]!, LOCAL, dst);
      const remote1 = openDatagram(r.remoteOpen, atRemote[0]!, LOCAL, dst);
      const bcast = third1.frames[0]!;
      assert.deepEqual(bcast.subarray(0, 6), bcastMac, 'the frame as the bridge sent it');
      assert.equal(bcast.subarray(-13).toString(), 'one broadcast');
      assert.deepEqual(remote1.frames, [bcast], 'the same frame to both children');
      assert.deepEqual(atThird[0], referenceDatagram(sealForThird, T_REMOTE_INDEX, LOCAL, dst, bcast, third1.counter), 'THIRD: the reference bytes');
      assert.deepEqual(atRemote[0], referenceDatagram(sealForRemote, R_REMOTE_INDEX, LOCAL, dst, bcast, remote1.counter), 'REMOTE: the reference bytes');
      assert.equal(n('egressBroadcastFrames'), f0 + 1);
      assert.equal(n('egressBroadcastCopies'), 2 * (f0 + 1));
      assert.equal(slowEgress.length, 0, 'JS saw nothing');
      assert.equal(fast.nextBroadcast(), broadcastDst(0), 'JS numbers on from the same sequence, skipping all ones');
      await broadcastFromTap('two');
      await until(() => atThird.length === 2, 'the next one');
      openDatagram(t.remoteOpen, atThird[1]!, LOCAL, broadcastDst(1));
    });

    it('egress: a local broadcast the lane cannot send to every child goes to JS whole, and nothing is sent', async () => {
      const cases: Array<[string, () => void]> = [
        ['a child not eligible', () => fast.setEligible(THIRD, false)],
        ['a child without a session', () => ourTree([REMOTE, NOWHERE])],
        ['no tree of ours published', () => fast.setRoutes({ dsts: new Float64Array(0), hops: new Float64Array(0), origins: Float64Array.of(REMOTE), first: Uint32Array.of(0, 0), kids: new Float64Array(0) })],
      ];
      const f0 = n('egressBroadcastFrames');
      for (const [what, make] of cases) {
        ourTree([REMOTE, THIRD]);
        fast.setEligible(THIRD, true);
        make();
        atThird.length = atRemote.length = slowEgress.length = 0;
        await broadcastFromTap(what);
        await until(() => slowEgress.length === 1, `${what}: the frame in JS`);
        assert.deepEqual(slowEgress[0]!.subarray(0, 6), bcastMac, what);
        assert.equal(slowEgress[0]!.subarray(-what.length).toString(), what);
        await new Promise((res) => setTimeout(res, 100));
        assert.equal(atThird.length + atRemote.length, 0, `${what}: nothing sent natively`);
      }
      assert.equal(n('egressBroadcastFrames'), f0);
      fast.setEligible(THIRD, true);
      ourTree([]);
      atThird.length = atRemote.length = slowEgress.length = 0;
      await broadcastFromTap('leaf');
      await until(() => n('egressBroadcastFrames') === f0 + 1, 'a tree without children: handled, nothing to send');
      assert.equal(slowEgress.length + atThird.length + atRemote.length, 0);
    });

    it('the tables are checked: unsorted or inconsistent arrays are refused with a RangeError', () => {
      const ok = { dsts: Float64Array.of(1, 2), hops: Float64Array.of(1, 1), origins: Float64Array.of(1), first: Uint32Array.of(0, 0), kids: new Float64Array(0) };
      assert.throws(() => fast.setRoutes({ ...ok, dsts: Float64Array.of(2, 1) }), RangeError);
      assert.throws(() => fast.setRoutes({ ...ok, hops: Float64Array.of(1) }), RangeError);
      assert.throws(() => fast.setRoutes({ ...ok, first: Uint32Array.of(0) }), RangeError);
      assert.throws(() => fast.setRoutes({ ...ok, first: Uint32Array.of(0, 1) }), RangeError);
      assert.throws(() => fast.setRoutes({ ...ok, dsts: Float64Array.of(1, 2 ** 48) }), RangeError);
      fast.setRoutes(ok);
    });
  });
}
