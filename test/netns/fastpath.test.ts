// The native fast path (native/src/fastpath.h, io/fastpath.ts) against the real kernel and against the
// TypeScript reference (dataplane/packer.ts + the overlay's header + crypto/data-aead.ts nodeDataAead).
// Runs as root, inside a network namespace it creates (test/support/inner-netns.ts):
//
//   tswfp0 10.78.0.1/24   TAP read by the fast path's egress thread (the "bridge" side)
//                         neighbours 10.78.0.2 = 02:00:00:00:00:02 (learnt behind the remote peer) and
//                         10.78.0.3 = 02:00:00:00:00:03 (never learnt), both permanent: no ARP
//   127.0.0.1:A           the router's UDP socket (ingress thread)
//   127.0.0.1:B           the remote peer, played by this test with the reference implementation
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';

import { fastPathModules } from '../support/fastpath-modules.js';
import { splitNetnsRun } from '../support/inner-netns.js';
import {
  LOCAL_PEER, LOOPBACK, PEER_MAC, REMOTE_PEER, TEST_MTU, macNum, openDatagram, referenceDatagram as refDatagram, sessionKeys, udpFrame, until, writeHeader,
} from '../support/fastpath-wire.js';
import { UNIFIED } from '../support/fastpath-mode.js';

type RefArgs = Parameters<typeof refDatagram> extends [number, ...infer R] ? R : never;

await splitNetnsRun(import.meta.url, 'TSWEAVE_FASTPATH_NETNS', 'fastpath', inner);

async function inner(ns: string): Promise<void> {
  const m = await fastPathModules(ns);
  const { native: NATIVE_PATHS, addon, NativeFastPath, openTap, ipv4ToU32, NativeUdpSocket, silentLogger, nodeDataAead, Overlay, ip } = m;
  const { FAST_KIND_CONTROL, FAST_KIND_FRAME } = m.ports;
  const wire = await import('../../src/wire/data-packet.js');
  type Batch = import('../../src/core/ports.js').Batch;
  type FastIngressBatch = import('../../src/core/ports.js').FastIngressBatch;
  const [LOCAL, REMOTE, MTU] = [LOCAL_PEER, REMOTE_PEER, TEST_MTU];
  const MAX_DGRAM = Overlay.maxDatagramBytes(MTU);
  const LOCAL_INDEX = 0x1111;
  const REMOTE_INDEX = 0x2222;
  const TAP = 'tswfp0';
  const peerMac = PEER_MAC;
  const strangerMac = Buffer.from([2, 0, 0, 0, 0, 3]);
  const { keys, remoteSeal, remoteOpen } = sessionKeys();
  const refSeal = nodeDataAead.create(keys.sendKey, keys.sendSalt, true);

  const referenceDatagram = (...args: RefArgs): Buffer => refDatagram(MAX_DGRAM, ...args);

  describe('fast path (egress TAP → UDP, ingress UDP → TAP)', () => {
    let tap: ReturnType<typeof openTap>;
    let tapMac: Buffer;
    let sock: InstanceType<typeof NativeUdpSocket>;
    let remote: InstanceType<typeof NativeUdpSocket>;
    let fast: InstanceType<typeof NativeFastPath>;
    const fromRemote: Buffer[] = [];
    const slowLocal: Buffer[] = [];
    const slowIngress: Array<{ kind: number; peer: number; dst: number; addr: number; port: number; bytes: Buffer }> = [];
    let counter = 0; // the remote's send counter

    beforeAll(() => {
      tap = openTap(TAP, { logger: silentLogger() });
      writeFileSync(`/proc/sys/net/ipv6/conf/${TAP}/disable_ipv6`, '1');
      ip('link', 'set', TAP, 'mtu', String(MTU), 'up');
      ip('addr', 'add', '10.78.0.1/24', 'dev', TAP);
      ip('neigh', 'replace', '10.78.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', TAP, 'nud', 'permanent');
      ip('neigh', 'replace', '10.78.0.3', 'lladdr', '02:00:00:00:00:03', 'dev', TAP, 'nud', 'permanent');
      const info = JSON.parse(ip('-j', 'link', 'show', TAP)) as Array<{ address: string }>;
      tapMac = Buffer.from(info[0]!.address.split(':').map((h) => parseInt(h, 16)));
      sock = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger() });
      remote = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger(), gro: false });
      remote.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) fromRemote.push(Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)));
      });
      fast = new NativeFastPath({
        addon,
        logger: silentLogger(),
        tapFd: tap.fd,
        tapOffload: tap.offload,
        udpFd: sock.fd,
        localPeer: LOCAL,
        maxDatagramBytes: MAX_DGRAM,
        unified: UNIFIED,
      });
      fast.start(
        (b: Batch) => {
          for (let i = 0; i < b.count; i++) slowLocal.push(Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)));
        },
        (b: FastIngressBatch) => {
          for (let i = 0; i < b.count; i++) {
            slowIngress.push({
              kind: b.kinds[i]!,
              peer: b.peers[i]!,
              dst: b.dsts[i]!,
              addr: b.addrs[i]!,
              port: b.ports[i]!,
              bytes: Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)),
            });
          }
        },
      );
      fast.addSession({
        peer: REMOTE,
        localIndex: LOCAL_INDEX,
        remoteIndex: REMOTE_INDEX,
        remoteAddr: LOOPBACK,
        remotePort: remote.port,
        lastCounter: 0,
        keys,
      });
      fast.learn(macNum(tapMac), LOCAL);
      fast.learn(macNum(peerMac), REMOTE);
    });
    afterAll(() => {
      fast?.stop();
      sock?.close();
      remote?.close();
      tap?.close();
    });

    it('egress: sends known unicast itself, packed and sealed byte for byte like the reference path', async () => {
      fast.setEligible(REMOTE, true);
      const N = 200;
      const frames = (): number => fromRemote.reduce((n, d) => n + framesOf(d).length, 0);
      const tx = new NativeUdpSocket(addon, ipv4ToU32('10.78.0.1'), 0, { logger: silentLogger() });
      try {
        for (let s = 0; s < N; s++) {
          const payload = Buffer.alloc(4 + ((s * 37) % 1300));
          payload.writeUInt32BE(s, 0);
          for (let j = 4; j < payload.length; j++) payload[j] = (s * 7 + j) & 255;
          tx.send(payload, 0, payload.length, ipv4ToU32('10.78.0.2'), 9999);
        }
        await until(() => frames() >= N, `${N} frames at the remote`).catch((e: Error) => {
          throw new Error(`${e.message}: got ${frames()}; ${JSON.stringify(fast.stats())}`);
        });
      } finally {
        tx.close();
      }
      const seqs: number[] = [];
      fromRemote.forEach((d, i) => {
        assert.equal(d[wire.OFF_TYPE], wire.PACKET_TYPE_DATA);
        assert.equal(d.readUInt32BE(wire.OFF_RECEIVER_IDX), REMOTE_INDEX);
        const c = d.readUInt32BE(wire.OFF_COUNTER + 4);
        assert.equal(c, i + 1, 'counters start at 1 and never repeat');
        const fs = framesOf(d);
        for (const f of fs) {
          assert.deepEqual(f.subarray(0, 6), peerMac);
          seqs.push(f.readUInt32BE(42));
        }
        assert.deepEqual(referenceDatagram(refSeal, REMOTE_INDEX, LOCAL, REMOTE, fs, c), d, `datagram ${i}: same bytes as the reference`);
      });
      assert.deepEqual(seqs, Array.from({ length: N }, (_, i) => i), 'every frame once, in order');
      const st = fast.stats();
      assert.equal(st['egressFramesFast'], N);
      assert.equal(st['egressDatagrams'], fromRemote.length);
      assert.equal(fast.nextCounter(REMOTE), fromRemote.length + 1, 'the overlay continues the shared counter');
    });

    /** Opens a datagram the fast path sent (as the remote) and returns its frames. */
    const framesOf = (d: Buffer): Buffer[] => openDatagram(remoteOpen, d, LOCAL, REMOTE).frames;

    it('egress: an unknown destination MAC and an ineligible session go to the overlay untouched', async () => {
      fromRemote.length = 0;
      const tx = new NativeUdpSocket(addon, ipv4ToU32('10.78.0.1'), 0, { logger: silentLogger() });
      try {
        const one = Buffer.from('hello');
        tx.send(one, 0, one.length, ipv4ToU32('10.78.0.3'), 9999); // stranger MAC: never learnt
        await until(() => slowLocal.some((f) => f.subarray(0, 6).equals(strangerMac)), 'the unknown-MAC frame in JS');
        fast.setEligible(REMOTE, false);
        tx.send(one, 0, one.length, ipv4ToU32('10.78.0.2'), 9999);
        await until(() => slowLocal.some((f) => f.subarray(0, 6).equals(peerMac)), 'the ineligible frame in JS');
        fast.setEligible(REMOTE, true);
      } finally {
        tx.close();
      }
      assert.equal(fromRemote.length, 0, 'nothing sent by the fast path');
      const f = slowLocal.find((x) => x.subarray(0, 6).equals(peerMac))!;
      assert.equal(f.readUInt16BE(12), 0x0800);
      assert.equal(f.subarray(f.length - 5).toString(), 'hello', 'the frame as read from the TAP');
    });

    it('ingress: frames for known MACs reach the kernel through the TAP; hostile datagrams are counted and dropped', async () => {
      const rx = new NativeUdpSocket(addon, ipv4ToU32('10.78.0.1'), 7777, { logger: silentLogger(), gro: false });
      const got: number[] = [];
      rx.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) got.push(b.buf.readUInt32BE(b.offsets[i]!));
      });
      const send = (d: Buffer): void => remote.send(d, 0, d.length, LOOPBACK, sock.port);
      const frameFor = (seq: number): Buffer => udpFrame(tapMac, peerMac, '10.78.0.2', '10.78.0.1', 7777, 100 + seq, seq);
      try {
        const N = 100;
        const sent: Buffer[] = [];
        for (let s = 0; s < N; s++) {
          const d = referenceDatagram(remoteSeal, LOCAL_INDEX, REMOTE, LOCAL, frameFor(s), ++counter);
          sent.push(d);
          send(d);
        }
        await until(() => got.length === N, `${N} frames delivered through the TAP`);
        assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
        const before = fast.stats();
        // hostile: short, unknown receiver index, forged tag, replayed counter, wrong key
        send(Buffer.from([1, 2, 3]));
        const unknown = referenceDatagram(remoteSeal, LOCAL_INDEX + 1, REMOTE, LOCAL, frameFor(1000), ++counter);
        send(unknown);
        const forged = referenceDatagram(remoteSeal, LOCAL_INDEX, REMOTE, LOCAL, frameFor(1001), ++counter);
        forged[forged.length - 1]! ^= 1;
        send(forged);
        send(sent[5]!); // replay
        const otherKey = nodeDataAead.create(randomBytes(32), keys.recvSalt, true);
        send(referenceDatagram(otherKey, LOCAL_INDEX, REMOTE, LOCAL, frameFor(1002), ++counter));
        const good = referenceDatagram(remoteSeal, LOCAL_INDEX, REMOTE, LOCAL, frameFor(N), ++counter);
        send(good);
        await until(() => got.length === N + 1, 'the good datagram after the hostile ones');
        const st = fast.stats();
        const delta = (k: string): number => (st[k] as number) - (before[k] as number);
        assert.equal(delta('droppedShort'), 1);
        assert.equal(delta('droppedUnknownSession'), 1);
        assert.equal(delta('droppedAuth'), 2, 'forged tag and wrong key');
        assert.equal(delta('droppedReplay'), 1);
        assert.equal(delta('ingressFramesFast'), 1);
        assert.deepEqual(got.slice(N), [N], 'nothing hostile was delivered');
      } finally {
        rx.close();
      }
    });

    it('ingress: heartbeats and frames from unknown MACs are handed to the overlay, authenticated', async () => {
      slowIngress.length = 0;
      const hbBody = Buffer.alloc(8);
      hbBody.writeDoubleBE(1234.5, 0);
      const hb = Buffer.alloc(wire.DATA_HEADER_BYTES + 8 + wire.AEAD_TAG_BYTES);
      writeHeader(hb, 0, wire.PACKET_TYPE_HEARTBEAT, LOCAL_INDEX, ++counter);
      hbBody.copy(hb, wire.DATA_HEADER_BYTES);
      nodeDataAead.sealBatch(remoteSeal, hb, new Int32Array([0]), new Int32Array([wire.DATA_HEADER_BYTES + 8]), 1);
      remote.send(hb, 0, hb.length, LOOPBACK, sock.port);
      const strange = udpFrame(tapMac, strangerMac, '10.78.0.3', '10.78.0.1', 7778, 10, 1);
      const d = referenceDatagram(remoteSeal, LOCAL_INDEX, REMOTE, LOCAL, strange, ++counter);
      remote.send(d, 0, d.length, LOOPBACK, sock.port);
      await until(() => slowIngress.length === 2, 'a control entry and a frame entry');
      const [c, f] = slowIngress;
      assert.equal(c!.kind, FAST_KIND_CONTROL);
      assert.equal(c!.peer, REMOTE);
      assert.equal(c!.addr, LOOPBACK);
      assert.equal(c!.port, remote.port);
      assert.equal(c!.bytes.length, wire.DATA_HEADER_BYTES + 8, 'header + plaintext, tag removed');
      assert.equal(c!.bytes.readDoubleBE(wire.DATA_HEADER_BYTES), 1234.5);
      assert.equal(f!.kind, FAST_KIND_FRAME);
      assert.equal(f!.peer, REMOTE);
      assert.equal(f!.dst, LOCAL);
      assert.deepEqual(f!.bytes, strange);
    });

    it('key update: the new receive key opens its generation, the old one only during its grace; sends switch generation', async () => {
      const rx = new NativeUdpSocket(addon, ipv4ToU32('10.78.0.1'), 7779, { logger: silentLogger(), gro: false });
      const got: number[] = [];
      rx.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) got.push(b.buf.readUInt32BE(b.offsets[i]!));
      });
      const send = (d: Buffer): void => remote.send(d, 0, d.length, LOOPBACK, sock.port);
      const frameFor = (seq: number): Buffer => udpFrame(tapMac, peerMac, '10.78.0.2', '10.78.0.1', 7779, 20, seq);
      const withGen = (seq: number, gen: number, seal: ReturnType<typeof nodeDataAead.create>): Buffer =>
        referenceDatagram(seal, LOCAL_INDEX, REMOTE, LOCAL, frameFor(seq), ++counter, gen);
      try {
        const newKey = randomBytes(32), newSalt = randomBytes(4);
        const newSeal = nodeDataAead.create(newKey, newSalt, true);
        const before = fast.stats();
        fast.setRecvKey(REMOTE, 1, newKey, newSalt, 300);
        send(withGen(1, 1, newSeal)); // generation 1, new key
        send(referenceDatagram(remoteSeal, LOCAL_INDEX, REMOTE, LOCAL, frameFor(2), ++counter)); // generation 0 in its grace
        await until(() => got.length === 2, 'both generations delivered');
        await new Promise((r) => setTimeout(r, 350));
        send(referenceDatagram(remoteSeal, LOCAL_INDEX, REMOTE, LOCAL, frameFor(3), ++counter)); // after the grace
        send(withGen(4, 0, newSeal)); // generation byte 0 sealed with the new key: wrong key for 0
        send(withGen(5, 1, newSeal));
        await until(() => got.length === 3, 'the third generation-1 datagram');
        const st = fast.stats();
        assert.equal((st['droppedAuth'] as number) - (before['droppedAuth'] as number), 2, 'old key after its grace, wrong key for the byte');
        // Sends: after setSendKey the egress thread seals with the new key and puts its generation in the header.
        const sendKey = randomBytes(32), sendSalt = randomBytes(4);
        fast.setSendKey(REMOTE, 1, sendKey, sendSalt);
        fromRemote.length = 0;
        const tx = new NativeUdpSocket(addon, ipv4ToU32('10.78.0.1'), 0, { logger: silentLogger() });
        try {
          const one = Buffer.from('after rekey');
          tx.send(one, 0, one.length, ipv4ToU32('10.78.0.2'), 9999);
          await until(() => fromRemote.length >= 1, 'a datagram under the new send key');
        } finally {
          tx.close();
        }
        const d = Buffer.from(fromRemote[0]!);
        assert.equal(d[wire.OFF_KEYGEN], 1, 'header carries the new generation');
        const open = nodeDataAead.create(sendKey, sendSalt, false);
        assert.equal(nodeDataAead.openBatch(open, d, new Int32Array([0]), new Int32Array([d.length]), 1, new Uint8Array(1)), 1, 'sealed with the new key');
      } finally {
        rx.close();
      }
    });

    it('ingress batch: datagrams of two key generations, another index, forged and mixed-MAC frames in one sendmmsg are each judged on their own', async () => {
      // The ingress thread reuses the last datagram's session, key and source-MAC decision while the next
      // datagram names the same index and generation (fastpath_ingress.c ingress_run): a wrong reuse would
      // open with the wrong key, accept an unknown index or send a stranger's frame to the TAP.
      const rx = new NativeUdpSocket(addon, ipv4ToU32('10.78.0.1'), 7780, { logger: silentLogger(), gro: false });
      const got: number[] = [];
      rx.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) got.push(b.buf.readUInt32BE(b.offsets[i]!));
      });
      const frameFor = (seq: number): Buffer => udpFrame(tapMac, peerMac, '10.78.0.2', '10.78.0.1', 7780, 20, seq);
      const strange = udpFrame(tapMac, strangerMac, '10.78.0.3', '10.78.0.1', 7780, 20, 999);
      try {
        const [k2, s2, k3, s3] = [randomBytes(32), randomBytes(4), randomBytes(32), randomBytes(4)];
        fast.setRecvKey(REMOTE, 2, k2, s2, 60_000);
        fast.setRecvKey(REMOTE, 3, k3, s3, 60_000); // current 3, previous 2 (in its grace)
        const seal2 = nodeDataAead.create(k2, s2, true);
        const seal3 = nodeDataAead.create(k3, s3, true);
        const dg = (seal: typeof seal2, gen: number, frames: Buffer[], idx = LOCAL_INDEX): Buffer =>
          referenceDatagram(seal, idx, REMOTE, LOCAL, frames, ++counter, gen);
        const forged = dg(seal3, 3, [frameFor(1001)]);
        forged[forged.length - 1]! ^= 1;
        const good = [
          dg(seal3, 3, [frameFor(0)]),
          dg(seal2, 2, [frameFor(1)]),
          dg(seal3, 3, [frameFor(2), strange, frameFor(3)]),
        ];
        const later = [dg(seal2, 2, [frameFor(4)]), dg(seal3, 3, [frameFor(5)])];
        const all = [
          ...good,
          dg(seal3, 3, [frameFor(1000)], LOCAL_INDEX + 1), // unknown index, same generation
          forged,
          dg(seal3, 2, [frameFor(1002)]), // generation 2 sealed with generation 3's key
          later[0]!,
          dg(seal3, 9, [frameFor(1003)]), // a generation without a key
          later[1]!,
        ];
        const buf = Buffer.concat(all);
        const offsets = new Int32Array(all.length);
        const lengths = new Int32Array(all.map((d) => d.length));
        for (let i = 1; i < all.length; i++) offsets[i] = offsets[i - 1]! + lengths[i - 1]!;
        const before = fast.stats();
        const sessBefore = fast.sessionStats(REMOTE)!;
        slowIngress.length = 0;
        remote.sendBatch({ buf, offsets, lengths, count: all.length }, new Uint32Array(all.length).fill(LOOPBACK), new Uint16Array(all.length).fill(sock.port));
        await until(() => got.length === 6 && slowIngress.length === 1, 'six frames through the TAP and the stranger to the overlay');
        await until(() => (fast.stats()['droppedAuth'] as number) - (before['droppedAuth'] as number) === 3, 'three datagrams failed to open');
        assert.deepEqual(got, [0, 1, 2, 3, 4, 5]);
        assert.deepEqual(slowIngress[0]!.bytes, strange);
        const st = fast.stats();
        const delta = (k: string): number => (st[k] as number) - (before[k] as number);
        assert.equal(delta('droppedUnknownSession'), 1);
        assert.equal(delta('droppedAuth'), 3, 'forged tag, wrong key for the generation byte, unknown generation');
        assert.equal(delta('ingressFramesFast'), 6);
        assert.equal(delta('ingressFramesSlow'), 1);
        const sess = fast.sessionStats(REMOTE)!;
        const opened = [...good, ...later];
        assert.equal(sess.datagramsReceived - sessBefore.datagramsReceived, opened.length);
        assert.equal(sess.bytesReceived - sessBefore.bytesReceived, opened.reduce((a, d) => a + d.length, 0));
      } finally {
        rx.close();
      }
    });

    it('start reports the errno of a failed eventfd (not a stale one) and frees only after reading it', () => {
      // A child uses up its file descriptors, then starts a fast path on two non-socket fds with UDP GRO
      // asked for: eventfd fails with EMFILE, and the setsockopt(UDP_GRO) that follows fails with
      // ENOTSOCK. The error must name the first (it used to read errno late, after fp_free).
      const { nativeAddonPath } = NATIVE_PATHS;
      const script = `
        const fs = require('node:fs');
        const a = require(${JSON.stringify(nativeAddonPath())});
        const fds = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'r')];
        try { for (;;) fds.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
        const i32 = (n) => new Int32Array(n);
        try {
          a.fastpathStart(fds[0], fds[1], false, true, 1, 1500, 1000, 16, Buffer.alloc(65535 + 16), i32(4), i32(4), () => {},
            Buffer.alloc(65536), i32(4), i32(4), new Uint8Array(4), new Float64Array(4), new Float64Array(4),
            new Uint32Array(4), new Uint16Array(4), () => {});
          console.log('started');
        } catch (e) { console.log(JSON.stringify({ code: e.code, syscall: e.syscall })); }`;
      const out = execFileSync('prlimit', ['--nofile=64:64', process.execPath, '-e', script], { encoding: 'utf8' });
      assert.deepEqual(JSON.parse(out.trim()), { code: 'EMFILE', syscall: 'eventfd' });
    });

    it('stop joins the threads; the TAP and socket stay usable by their owners', () => {
      fast.stop();
      assert.equal(fast.stats()['running'], false);
      fast.stop(); // idempotent
      const one = Buffer.alloc(60);
      tap.writeFrame(one, 0, one.length);
    });
  });
}
