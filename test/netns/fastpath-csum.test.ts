// Checksum-partial TCP frames in the native fast path (wire/data-packet.ts frame length bit 15,
// native/src/offload.h), against the real kernel's TCP. Runs as root inside a namespace it creates:
//
//   tswcs0 10.79.0.1/24   TAP with offload (IFF_VNET_HDR), the fast path's; a TCP server listens here
//                         neighbour 10.79.0.2 = 02:00:00:00:00:02, learnt behind the remote peer
//   127.0.0.1:A           the fast path's UDP socket
//   127.0.0.1:B           the remote peer, played by this test: a userspace TCP client at 10.79.0.2
//
// The session's ends both accept checksum-partial frames (csumPartial). The test's client opens a TCP
// connection to the server through the fast path with frames whose checksums are partial, so only a
// kernel that got them as NEEDS_CSUM (or completed) accepts them; the server's answers come back as
// superframes the fast path cuts into flagged segments, which the test completes and checks.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';

import { fastPathModules } from '../support/fastpath-modules.js';
import { splitNetnsRun } from '../support/inner-netns.js';
import {
  LOCAL_PEER, LOOPBACK, PEER_MAC, REMOTE_PEER, TEST_MTU, macNum, openDatagram, referenceDatagram, sessionKeys, tcpChecksumsOk, tcpFrame, udpFrame, until,
  type TcpFrameOpts,
} from '../support/fastpath-wire.js';
import { UNIFIED } from '../support/fastpath-mode.js';

await splitNetnsRun(import.meta.url, 'TSWEAVE_FASTPATH_CSUM_NETNS', 'fpcsum', inner);

/** The namespace's TCP counters (/proc/net/snmp). */
function tcpSnmp(): Record<string, number> {
  const [names, values] = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Tcp:')).map((l) => l.split(/\s+/));
  return Object.fromEntries(names!.map((n, i) => [n, Number(values![i])]));
}

async function inner(ns: string): Promise<void> {
  const m = await fastPathModules(ns);
  const { addon, NativeFastPath, openTap, NativeUdpSocket, silentLogger, Overlay, ip } = m;
  type Batch = import('../../src/core/ports.js').Batch;
  const MAX_DGRAM = Overlay.maxDatagramBytes(TEST_MTU);
  const LOCAL_INDEX = 0x3333;
  const REMOTE_INDEX = 0x4444;
  const TAP = 'tswcs0';
  const [ME, SERVER, PORT] = ['10.79.0.2', '10.79.0.1', 5001];
  const { keys, remoteSeal, remoteOpen } = sessionKeys();

  describe('checksum-partial frames through the fast path', () => {
    let tap: ReturnType<typeof openTap>;
    let tapMac: Buffer;
    let sock: InstanceType<typeof NativeUdpSocket>;
    let remote: InstanceType<typeof NativeUdpSocket>;
    let fast: InstanceType<typeof NativeFastPath>;
    let server: Server;
    let conn: Socket | undefined;
    const received: Buffer[] = []; // what the server's TCP delivered
    const fromFast: Array<{ frame: Buffer; partial: boolean }> = []; // frames the fast path sent us, completed
    let csumPartial = true; // how the remote reads the fast path's datagrams (the session's setting)
    let counter = 0;
    const seqBase = 1_000_000;
    let mySeq = seqBase; // the client's next sequence number
    let serverNext = 0; // the next sequence number we expect from the server (our ack)

    const send = (frames: Buffer[], partial: boolean[]): void => {
      const d = referenceDatagram(MAX_DGRAM, remoteSeal, LOCAL_INDEX, REMOTE_PEER, LOCAL_PEER, frames, ++counter, 0, partial);
      remote.send(d, 0, d.length, LOOPBACK, sock.port);
    };
    /** One sendmmsg of a datagram per frame, so they reach one ingress batch (and may be coalesced). */
    const sendBurst = (frames: Buffer[], partial: boolean[]): void => {
      const ds = frames.map((f, i) => referenceDatagram(MAX_DGRAM, remoteSeal, LOCAL_INDEX, REMOTE_PEER, LOCAL_PEER, f, ++counter, 0, [partial[i]!]));
      const buf = Buffer.concat(ds);
      const offsets = new Int32Array(ds.length);
      const lengths = new Int32Array(ds.map((d) => d.length));
      for (let i = 1; i < ds.length; i++) offsets[i] = offsets[i - 1]! + lengths[i - 1]!;
      remote.sendBatch({ buf, offsets, lengths, count: ds.length }, new Uint32Array(ds.length).fill(LOOPBACK), new Uint16Array(ds.length).fill(sock.port));
    };
    const seg = (o: Omit<TcpFrameOpts, 'seq'> & { seq?: number }): Buffer =>
      tcpFrame(tapMac, PEER_MAC, ME, SERVER, 40001, PORT, { seq: mySeq, ack: serverNext, ...o });
    const pattern = (n: number, from: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => ((from + i) * 13 + 7) & 255));
    const bytesIn = (): number => received.reduce((a, b) => a + b.length, 0);
    const stat = (k: string): number => fast.stats()[k] as number;
    /** The server's data segments sent to us since fromFast[before], acknowledged as they come in order
     *  (its congestion window needs the ACKs); resolves with the first `total` bytes. */
    const receiveAnswer = async (before: number, total: number): Promise<Array<{ frame: Buffer; partial: boolean }>> => {
      const end = Date.now() + 10_000;
      let acked = serverNext;
      for (;;) {
        const segs = fromFast.slice(before).filter((f) => f.frame.length > 54);
        const bySeq = new Map(segs.map((f) => [f.frame.readUInt32BE(38), f.frame.subarray(54)]));
        let next = serverNext;
        let got = 0;
        for (let d = bySeq.get(next); d; d = bySeq.get(next)) {
          next = (next + d.length) >>> 0;
          got += d.length;
        }
        if (next !== acked) {
          acked = next;
          const flag = csumPartial;
          send([seg({ flags: 0x10, ack: next, csum: flag ? 'partial' : 'full' })], [flag]);
        }
        if (got >= total) {
          serverNext = next;
          return segs;
        }
        if (Date.now() > end) throw new Error(`the answer: ${got} of ${total} bytes; ${JSON.stringify(fast.stats())}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };

    beforeAll(async () => {
      tap = openTap(TAP, { logger: silentLogger() });
      assert.equal(tap.offload, true, 'the TAP has offload (IFF_VNET_HDR)');
      writeFileSync(`/proc/sys/net/ipv6/conf/${TAP}/disable_ipv6`, '1');
      ip('link', 'set', TAP, 'mtu', String(TEST_MTU), 'up');
      ip('addr', 'add', `${SERVER}/24`, 'dev', TAP);
      ip('neigh', 'replace', ME, 'lladdr', '02:00:00:00:00:02', 'dev', TAP, 'nud', 'permanent');
      const info = JSON.parse(ip('-j', 'link', 'show', TAP)) as Array<{ address: string }>;
      tapMac = Buffer.from(info[0]!.address.split(':').map((h) => parseInt(h, 16)));
      sock = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger() });
      remote = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger(), gro: false });
      remote.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) {
          const d = Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!));
          const { frames, partial } = openDatagram(remoteOpen, d, LOCAL_PEER, REMOTE_PEER, csumPartial);
          frames.forEach((frame, j) => fromFast.push({ frame, partial: partial[j]! }));
        }
      });
      fast = new NativeFastPath({
        addon, logger: silentLogger(), tapFd: tap.fd, tapOffload: tap.offload, udpFd: sock.fd, localPeer: LOCAL_PEER, maxDatagramBytes: MAX_DGRAM, unified: UNIFIED,
      });
      fast.start((_b: Batch) => undefined, () => undefined);
      fast.addSession({ peer: REMOTE_PEER, localIndex: LOCAL_INDEX, remoteIndex: REMOTE_INDEX, remoteAddr: LOOPBACK, remotePort: remote.port, lastCounter: 0, keys, csumPartial: true });
      fast.learn(macNum(tapMac), LOCAL_PEER);
      fast.learn(macNum(PEER_MAC), REMOTE_PEER);
      fast.setEligible(REMOTE_PEER, true);
      server = createServer((c) => {
        conn = c;
        c.on('data', (d) => received.push(Buffer.from(d)));
        c.on('error', () => undefined);
      });
      await new Promise<void>((r) => server.listen(PORT, SERVER, r));
    });
    afterAll(() => {
      conn?.destroy();
      server?.close();
      fast?.stop();
      sock?.close();
      remote?.close();
      tap?.close();
    });

    it('a flagged SYN, ACK and a burst of flagged data segments are accepted by the kernel\'s TCP (coalesced into GSO writes)', async () => {
      const snmp0 = tcpSnmp();
      send([seg({ flags: 0x02, ack: 0, csum: 'partial' })], [true]);
      await until(() => fromFast.some((f) => f.frame[47] === 0x12), 'the server\'s SYN-ACK back through the fast path');
      const synAck = fromFast.find((f) => f.frame[47] === 0x12)!;
      assert.ok(tcpChecksumsOk(synAck.frame), 'the SYN-ACK arrives with a correct checksum once completed');
      assert.equal(synAck.frame.readUInt32BE(42), seqBase + 1);
      serverNext = (synAck.frame.readUInt32BE(38) + 1) >>> 0;
      mySeq++;
      send([seg({ flags: 0x10, csum: 'partial' })], [true]);
      await until(() => conn !== undefined, 'the server accepted the connection');
      const gso0 = stat('tapGsoFrames');
      const N = 16;
      const frames: Buffer[] = [];
      for (let i = 0; i < N; i++) {
        frames.push(seg({ flags: 0x10, payload: pattern(1000, i * 1000), csum: 'partial' }));
        mySeq += 1000;
      }
      sendBurst(frames, frames.map(() => true));
      await until(() => bytesIn() >= N * 1000, `${N * 1000} bytes at the server`).catch((e: Error) => {
        throw new Error(`${e.message}: got ${bytesIn()}; ${JSON.stringify(fast.stats())}`);
      });
      assert.deepEqual(Buffer.concat(received), pattern(N * 1000, 0), 'the bytes arrived in order, intact');
      assert.ok(stat('tapGsoFrames') - gso0 >= 2, `flagged frames were coalesced: ${JSON.stringify(fast.stats())}`);
      assert.ok(stat('ingressCsumPartial') >= N + 2);
      assert.equal(tcpSnmp()['InCsumErrors'], snmp0['InCsumErrors'], 'no checksum errors in the kernel');
    });

    it('the server\'s answer leaves as superframes cut into flagged segments with partial checksums that complete correctly', async () => {
      const before = fromFast.length;
      const sent0 = stat('egressCsumPartial');
      const answer = pattern(48_000, 777);
      const start = serverNext;
      conn!.write(answer);
      const segs = await receiveAnswer(before, answer.length);
      assert.ok(segs.every((f) => f.partial), 'every data segment came flagged');
      assert.ok(segs.every((f) => tcpChecksumsOk(f.frame)), 'and completes to a correct checksum');
      const bySeq = new Map(segs.map((f) => [f.frame.readUInt32BE(38), f.frame.subarray(54)]));
      const data: Buffer[] = [];
      for (let s = start, d = bySeq.get(s); d; s = (s + d.length) >>> 0, d = bySeq.get(s)) data.push(d);
      assert.deepEqual(Buffer.concat(data), answer);
      assert.ok(stat('egressCsumPartial') - sent0 >= segs.length);
      assert.ok(stat('tapSuperframes') > 0, 'the kernel handed over superframes');
    });

    it('an unflagged segment with a bad checksum is not repaired (the kernel drops it); the same segment flagged is accepted', async () => {
      const snmp0 = tcpSnmp();
      const have = bytesIn();
      const payload = pattern(500, 99_000);
      send([seg({ flags: 0x18, payload, csum: 'bad' })], [false]);
      await until(() => tcpSnmp()['InCsumErrors']! > snmp0['InCsumErrors']!, 'the kernel counted a checksum error');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(bytesIn(), have, 'the bad segment was not delivered');
      send([seg({ flags: 0x18, payload, csum: 'partial' })], [true]);
      await until(() => bytesIn() === have + 500, 'the flagged segment at the server');
      assert.deepEqual(Buffer.concat(received).subarray(have), payload);
      mySeq += 500;
    });

    it('hostile flagged frames (not TCP, lying lengths, a header outside the frame) are counted and dropped', async () => {
      const udp = udpFrame(tapMac, PEER_MAC, ME, SERVER, 9, 100, 1);
      const longIp = seg({ payload: pattern(100, 0), csum: 'partial' });
      longIp.writeUInt16BE(longIp.readUInt16BE(16) + 8, 16);
      const thl = seg({ payload: pattern(8, 0), csum: 'partial' });
      thl[46] = 0xf0;
      const cut = seg({ csum: 'partial' }).subarray(0, 14 + 20 + 12);
      const before = fast.stats();
      const hostile = [udp, longIp, thl, cut];
      for (const f of hostile) send([f], [true]);
      const have = bytesIn();
      send([seg({ flags: 0x18, payload: pattern(10, 5), csum: 'partial' })], [true]);
      await until(() => bytesIn() === have + 10, 'a good flagged segment after the hostile ones');
      mySeq += 10;
      const after = fast.stats();
      const delta = (k: string): number => (after[k] as number) - (before[k] as number);
      assert.equal(delta('droppedBadFrame'), hostile.length, JSON.stringify(after));
      assert.equal(delta('ingressFramesFast'), 1, 'only the good one reached the TAP');
      assert.equal(delta('ingressCsumPartial'), 1);
    });

    it('a session without csumPartial: bit 15 is length (a flagged frame is malformed), and frames leave fully checksummed', async () => {
      fast.addSession({ peer: REMOTE_PEER, localIndex: LOCAL_INDEX, remoteIndex: REMOTE_INDEX, remoteAddr: LOOPBACK, remotePort: remote.port, lastCounter: 1000, keys, csumPartial: false });
      fast.setEligible(REMOTE_PEER, true);
      csumPartial = false;
      counter = 0; // a new session: a new replay window
      const bad0 = stat('droppedBadFrame');
      send([seg({ flags: 0x18, payload: pattern(10, 6), csum: 'partial' })], [true]);
      await until(() => stat('droppedBadFrame') === bad0 + 1, 'the flagged frame counted as bad');
      const have = bytesIn();
      send([seg({ flags: 0x18, payload: pattern(10, 6), csum: 'full' })], [false]);
      await until(() => bytesIn() === have + 10, 'a fully checksummed segment delivered');
      mySeq += 10;
      const before = fromFast.length;
      const sent0 = stat('egressCsumPartial');
      conn!.write(pattern(20_000, 3));
      const segs = await receiveAnswer(before, 20_000);
      assert.ok(segs.every((f) => !f.partial && tcpChecksumsOk(f.frame)), 'complete checksums, no flags');
      assert.equal(stat('egressCsumPartial'), sent0);
    });
  });
}
