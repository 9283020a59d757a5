// The native addon against the real kernel: TAP batch reads/writes, UDP recvmmsg/sendmmsg, the dgram
// fallback, and sealed datagrams end to end. Runs as root.
//
// Everything happens inside a network namespace this file creates (unique name, deleted in `after`
// even on failure); the host's interfaces are never touched. A process cannot move its own sockets
// into a namespace, so the file runs in two roles:
//
//   outer (host ns)         creates netns tsw-native-<pid>-<rand>, lo up
//     └─ ip netns exec NS node --import tsx <this file>    (TSWEAVE_NATIVE_NETNS=NS)
//   inner (inside NS)       lo 127.0.0.1            UDP sockets A, B, C, D, dgram
//                           tswtap0 10.77.0.1/24    TAP read by the addon (mtu 65000, IPv6 off)
//                             neighbour 10.77.0.2 = 02:00:00:00:00:02 (permanent, no ARP), so
//                             datagrams to 10.77.0.2 leave through the TAP as Ethernet frames
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';

import { runInsideNetns } from '../support/inner-netns.js';

if (process.getuid?.() !== 0) {
  throw new Error(
    'test/netns/native.test.ts must run as root: it creates a network namespace and a TAP device ' +
      '(run it with `sudo npm run test:netns`, or `sudo node --import tsx --test test/netns/native.test.ts`)',
  );
}

const INNER_ENV = 'TSWEAVE_NATIVE_NETNS';
const innerNs = process.env[INNER_ENV];

if (innerNs === undefined) outer();
else await inner(innerNs);

// ---------------------------------------------------------------------------------------------------

function outer(): void {
  runInsideNetns(import.meta.url, INNER_ENV, 'native');
}

// ---------------------------------------------------------------------------------------------------

async function inner(ns: string): Promise<void> {
  const { loadNative, nativeDataAead } = await import('../../src/io/native.js');
  const { openTap } = await import('../../src/io/tap.js');
  const { openUdp, ipv4ToU32, NativeUdpSocket } = await import('../../src/io/udp.js');
  const { createLogger, silentLogger } = await import('../../src/core/logger.js');
  const { DATA_HEADER_BYTES, AEAD_TAG_BYTES } = await import('../../src/wire/data-packet.js');

  const addon = loadNative();
  const ip = (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  const LOOPBACK = 0x7f000001;

  async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Deterministic payload: u32 BE sequence number, then bytes derived from it. */
  function fillPayload(buf: Buffer, off: number, len: number, seq: number): void {
    buf.writeUInt32BE(seq, off);
    for (let j = 4; j < len; j++) buf[off + j] = (seq * 7 + j) & 255;
  }
  function checkPayload(buf: Uint8Array, off: number, len: number): number {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const seq = b.readUInt32BE(off);
    for (let j = 4; j < len; j++) {
      if (b[off + j] !== ((seq * 7 + j) & 255)) throw new Error(`datagram ${seq}: byte ${j} corrupted`);
    }
    return seq;
  }
  const sizeOf = (seq: number): number => (seq % 50 === 49 ? 8000 : 4 + ((seq * 37) % 1468));

  describe('TAP (tswtap0)', () => {
    const TAP = 'tswtap0';
    let tap: ReturnType<typeof openTap>;
    let tapMac: Buffer;
    const peerMac = Buffer.from([2, 0, 0, 0, 0, 2]);

    beforeAll(() => {
      tap = openTap(TAP, { logger: silentLogger() });
      assert.equal(tap.name, TAP);
      writeFileSync(`/proc/sys/net/ipv6/conf/${TAP}/disable_ipv6`, '1'); // no RS/MLD noise on the TAP
      ip('link', 'set', TAP, 'mtu', '65000', 'up');
      ip('addr', 'add', '10.77.0.1/24', 'dev', TAP);
      ip('neigh', 'replace', '10.77.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', TAP, 'nud', 'permanent');
      const info = JSON.parse(ip('-j', 'link', 'show', TAP)) as Array<{ address: string }>;
      tapMac = Buffer.from(info[0]!.address.split(':').map((h) => parseInt(h, 16)));
    });
    afterAll(() => tap?.close());

    it('the batch reader delivers frames routed out of the TAP, in order, in batches, up to 60 KB', async () => {
      const N = 300;
      const got: number[] = [];
      let maxBatch = 0;
      let bigFrame = 0;
      tap.onFrames((batch) => {
        maxBatch = Math.max(maxBatch, batch.count);
        for (let i = 0; i < batch.count; i++) {
          const off = batch.offsets[i]!;
          const len = batch.lengths[i]!;
          const f = batch.buf;
          if (f.readUInt16BE(off + 12) !== 0x0800) continue; // IPv4 only
          if (f.readUInt32BE(off + 14 + 16) !== ipv4ToU32('10.77.0.2')) continue;
          assert.deepEqual(f.subarray(off, off + 6), peerMac, 'destination MAC is the static neighbour');
          assert.deepEqual(f.subarray(off + 6, off + 12), tapMac, 'source MAC is the TAP');
          const ihl = (f[off + 14]! & 15) * 4;
          const udp = off + 14 + ihl;
          assert.equal(f.readUInt16BE(udp + 2), 9999);
          const payloadLen = f.readUInt16BE(udp + 4) - 8;
          assert.equal(len, 14 + ihl + 8 + payloadLen, 'frame length matches its IP/UDP headers');
          if (payloadLen === 60000) bigFrame++;
          else got.push(checkPayload(f, udp + 8, payloadLen));
        }
      });
      const sock = new NativeUdpSocket(addon, ipv4ToU32('10.77.0.1'), 0, { logger: silentLogger() });
      try {
        const slab = Buffer.alloc(N * 1500);
        const offsets = new Int32Array(N);
        const lengths = new Int32Array(N);
        for (let s = 0; s < N; s++) {
          offsets[s] = s * 1500;
          lengths[s] = 4 + ((s * 37) % 1400);
          fillPayload(slab, offsets[s]!, lengths[s]!, s);
        }
        const dst = new Uint32Array(N).fill(ipv4ToU32('10.77.0.2'));
        const ports = new Uint16Array(N).fill(9999);
        sock.sendBatch({ buf: slab, offsets, lengths, count: N }, dst, ports);
        const big = Buffer.alloc(60000, 0x5a);
        sock.send(big, 0, big.length, ipv4ToU32('10.77.0.2'), 9999);
        assert.equal(sock.stats().sent, N + 1);
        await until(() => got.length === N && bigFrame === 1, `${N} frames + one 60 KB frame from the TAP`);
      } finally {
        sock.close();
      }
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => i), 'every frame once, in order');
      assert.ok(maxBatch > 1, `reader batched frames (largest batch ${maxBatch})`);
      const st = tap.stats().reader!;
      assert.ok(st.frames >= N + 1 && st.batches < st.frames, JSON.stringify(st));
      assert.equal(st.errors, 0);
    });

    /** Ethernet + IPv4 + UDP frame from 10.77.0.2:5555 to 10.77.0.1:port (UDP checksum 0 = none). */
    function buildFrame(buf: Buffer, off: number, port: number, payloadLen: number, seq: number): number {
      tapMac.copy(buf, off);
      peerMac.copy(buf, off + 6);
      buf.writeUInt16BE(0x0800, off + 12);
      const iph = off + 14;
      buf.fill(0, iph, iph + 20);
      buf[iph] = 0x45;
      buf.writeUInt16BE(20 + 8 + payloadLen, iph + 2);
      buf.writeUInt16BE(seq & 0xffff, iph + 4);
      buf[iph + 8] = 64;
      buf[iph + 9] = 17;
      buf.writeUInt32BE(ipv4ToU32('10.77.0.2'), iph + 12);
      buf.writeUInt32BE(ipv4ToU32('10.77.0.1'), iph + 16);
      let sum = 0;
      for (let j = 0; j < 20; j += 2) sum += buf.readUInt16BE(iph + j);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      buf.writeUInt16BE(~sum & 0xffff, iph + 10);
      const udp = iph + 20;
      buf.writeUInt16BE(5555, udp);
      buf.writeUInt16BE(port, udp + 2);
      buf.writeUInt16BE(8 + payloadLen, udp + 4);
      buf.writeUInt16BE(0, udp + 6);
      fillPayload(buf, udp + 8, payloadLen, seq);
      return 14 + 20 + 8 + payloadLen;
    }

    it('tapWriteFrames and tapWriteFrame hand frames to the kernel stack', async () => {
      const rx = new NativeUdpSocket(addon, ipv4ToU32('10.77.0.1'), 0, { logger: silentLogger() });
      const got: number[] = [];
      rx.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) {
          assert.equal(b.addrs[i], ipv4ToU32('10.77.0.2'));
          assert.equal(b.ports[i], 5555);
          got.push(checkPayload(b.buf, b.offsets[i]!, b.lengths[i]!));
        }
      });
      try {
        const N = 100;
        const buf = Buffer.alloc(N * 1500);
        const offsets = new Int32Array(N);
        const lengths = new Int32Array(N);
        for (let s = 0; s < N; s++) {
          offsets[s] = s * 1500;
          lengths[s] = buildFrame(buf, offsets[s]!, rx.port, 4 + ((s * 53) % 1400), s);
        }
        tap.writeFrames({ buf, offsets, lengths, count: N });
        const one = Buffer.alloc(1600);
        const len = buildFrame(one, 7, rx.port, 1000, N);
        tap.writeFrame(one, 7, len);
        await until(() => got.length === N + 1, `${N + 1} datagrams written through the TAP`);
        assert.deepEqual(got, Array.from({ length: N + 1 }, (_, i) => i));
        assert.equal(tap.stats().written, N + 1);
        assert.equal(tap.stats().writeErrors, 0);
      } finally {
        rx.close();
      }
    });

    it('counts a frame the kernel refuses (link down → EIO) instead of throwing', () => {
      ip('link', 'set', TAP, 'down');
      try {
        const buf = Buffer.alloc(100);
        const before = tap.stats().writeErrors;
        tap.writeFrame(buf, 0, 60);
        assert.equal(tap.stats().writeErrors, before + 1);
        assert.equal(addon.errnoName(tap.stats().lastWriteErrno), 'EIO');
      } finally {
        ip('link', 'set', TAP, 'up');
      }
    });

    it('refuses bad arguments with TypeError/RangeError naming them', () => {
      assert.throws(() => addon.tapOpen(''), { name: 'RangeError', message: /name must be 1\.\.15 bytes/ });
      assert.throws(() => addon.tapOpen('x'.repeat(16)), { name: 'RangeError', message: /name/ });
      assert.throws(() => addon.tapOpen(7 as unknown as string), { name: 'TypeError', message: /name must be a string/ });
      const buf = Buffer.alloc(100);
      const o = Int32Array.of(0, 90);
      const l = Int32Array.of(10, 20);
      assert.throws(() => addon.tapWriteFrames(-1, buf, o, l, 1), { name: 'RangeError', message: /fd/ });
      assert.throws(() => addon.tapWriteFrames('3' as unknown as number, buf, o, l, 1), { name: 'TypeError', message: /fd must be an integer/ });
      assert.throws(() => addon.tapWriteFrames(tap.fd, buf, o, l, 2), { name: 'RangeError', message: /packet 1/ });
      assert.throws(() => addon.tapWriteFrames(tap.fd, buf, o, l, 3), { name: 'RangeError', message: /count 3 exceeds/ });
      assert.throws(() => addon.tapWriteFrames(tap.fd, buf, [0] as unknown as Int32Array, l, 1), {
        name: 'TypeError',
        message: /offsets must be an Int32Array/,
      });
      assert.throws(() => addon.tapReaderStart(tap.fd, Buffer.alloc(100), o, l, 1500, 0, 0, () => {}), {
        name: 'RangeError',
        message: /slab/,
      });
      assert.throws(() => addon.tapReaderStart(tap.fd, Buffer.alloc(4000), o, l, 1500, 0, 0, 'cb' as never), {
        name: 'TypeError',
        message: /cb must be a function/,
      });
    });

    it('reports a syscall failure with the errno name as code', () => {
      assert.throws(() => addon.tapOpen('lo'), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EINVAL');
        assert.equal(err.syscall, 'TUNSETIFF');
        assert.equal(err.errno, -22);
        assert.equal(err.message, 'TUNSETIFF lo: Invalid argument');
        return true;
      });
    });
  });

  describe('UDP (loopback)', () => {
    const log = silentLogger();
    let a: InstanceType<typeof NativeUdpSocket>;
    let b: InstanceType<typeof NativeUdpSocket>;
    let c: InstanceType<typeof NativeUdpSocket>;
    beforeAll(() => {
      a = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: log });
      b = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: log });
      c = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: log });
    });
    afterAll(() => {
      a?.close();
      b?.close();
      c?.close();
    });

    it('forces large socket buffers (SO_RCVBUFFORCE as root)', () => {
      assert.ok(b.rcvbuf >= 8 * 1024 * 1024, `rcvbuf ${b.rcvbuf}`);
      assert.ok(b.sndbuf >= 8 * 1024 * 1024, `sndbuf ${b.sndbuf}`);
    });

    it('sendmmsg to two destinations → recvmmsg batches with contents and source addresses', async () => {
      const N = 2000;
      const seen = new Map<number, number>(); // seq → receiver port
      const batchSizes: number[] = [];
      for (const rx of [b, c]) {
        rx.onDatagrams((batch) => {
          batchSizes.push(batch.count);
          for (let i = 0; i < batch.count; i++) {
            assert.equal(batch.addrs[i], LOOPBACK);
            assert.equal(batch.ports[i], a.port);
            const seq = checkPayload(batch.buf, batch.offsets[i]!, batch.lengths[i]!);
            assert.equal(batch.lengths[i], sizeOf(seq), `datagram ${seq} length`);
            assert.ok(!seen.has(seq), `datagram ${seq} delivered twice`);
            seen.set(seq, rx.port);
          }
        });
      }
      const BATCH = 100; // > 64: exercises the chunking inside udpSendBatch
      const slab = Buffer.alloc(BATCH * 8000);
      const offsets = new Int32Array(BATCH);
      const lengths = new Int32Array(BATCH);
      const addrs = new Uint32Array(BATCH).fill(LOOPBACK);
      const ports = new Uint16Array(BATCH);
      for (let base = 0; base < N; base += BATCH) {
        for (let i = 0; i < BATCH; i++) {
          const seq = base + i;
          offsets[i] = i * 8000;
          lengths[i] = sizeOf(seq);
          ports[i] = seq % 2 === 0 ? b.port : c.port;
          fillPayload(slab, offsets[i]!, lengths[i]!, seq);
        }
        a.sendBatch({ buf: slab, offsets, lengths, count: BATCH }, addrs, ports);
      }
      assert.equal(a.stats().sent, N);
      await until(() => seen.size === N, `${N} datagrams (have ${seen.size})`);
      for (const [seq, port] of seen) assert.equal(port, seq % 2 === 0 ? b.port : c.port, `datagram ${seq} destination`);
      assert.ok(Math.max(...batchSizes) > 1, 'recvmmsg returned batches');
      assert.equal(b.stats().received + c.stats().received, N);
      assert.ok(b.stats().batches < b.stats().received, JSON.stringify(b.stats()));
    });

    it('drops and counts datagrams longer than the slot (MSG_TRUNC), delivering the rest', async () => {
      const small = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: log, maxDatagramBytes: 1000 });
      try {
        const lens: number[] = [];
        small.onDatagrams((batch) => {
          for (let i = 0; i < batch.count; i++) lens.push(batch.lengths[i]!);
        });
        const buf = Buffer.alloc(3000, 1);
        a.send(buf, 0, 2000, LOOPBACK, small.port);
        a.send(buf, 0, 500, LOOPBACK, small.port);
        await until(() => lens.length === 1, 'the 500-byte datagram');
        await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(lens, [500]);
        assert.equal(small.stats().truncated, 1);
      } finally {
        small.close();
      }
    });

    it('counts send errors (EMSGSIZE) per datagram and keeps sending the rest', () => {
      const before = a.stats();
      const buf = Buffer.alloc(70_000);
      const offsets = Int32Array.of(0, 0, 0);
      const lengths = Int32Array.of(100, 66_000, 100);
      // To a's own port: nobody reads it, so no other test's callback sees these.
      a.sendBatch({ buf, offsets, lengths, count: 3 }, new Uint32Array(3).fill(LOOPBACK), new Uint16Array(3).fill(a.port));
      const after = a.stats();
      assert.equal(after.sent - before.sent, 2);
      assert.equal(after.sendErrors - before.sendErrors, 1);
      assert.equal(addon.errnoName(after.lastSendErrno), 'EMSGSIZE');
    });

    it('reports bind failures with the errno name and the address', () => {
      assert.throws(() => addon.udpOpen(ipv4ToU32('10.255.255.1'), 0, 0, 0), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EADDRNOTAVAIL');
        assert.equal(err.syscall, 'bind');
        assert.equal(err.message, 'bind 10.255.255.1:0: Cannot assign requested address');
        return true;
      });
      assert.throws(() => addon.udpOpen(-1, 0, 0, 0), { name: 'RangeError', message: /bindAddr/ });
      assert.throws(() => addon.udpOpen(LOOPBACK, 70_000, 0, 0), { name: 'RangeError', message: /port/ });
      assert.throws(() => addon.udpSendBatch(a.fd, Buffer.alloc(10), new Int32Array(1), new Int32Array(1), 1, new Uint32Array(1), new Uint32Array(1) as never), {
        name: 'TypeError',
        message: /ports must be an Uint16Array/,
      });
    });

    it('a reader stopped from inside its callback gets no further callbacks', async () => {
      const d = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: log, batchDatagrams: 4 });
      let calls = 0;
      d.onDatagrams(() => {
        calls++;
        d.close();
      });
      const buf = Buffer.alloc(64);
      for (let i = 0; i < 20; i++) a.send(buf, 0, 64, LOOPBACK, d.port);
      await until(() => calls > 0, 'first batch');
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(calls, 1);
    });

    it('the dgram fallback logs why, and interoperates with the native socket both ways', async () => {
      const lines: string[] = [];
      const logger = createLogger('info', { write: (s: string) => void lines.push(s) });
      const g = await openUdp(0, { logger, addon: null, bindAddr: '127.0.0.1' });
      try {
        assert.equal(g.impl, 'dgram');
        assert.ok(lines.some((l) => l.includes('native udp unavailable, using dgram (slower)')), lines.join(''));
        const fromNative: number[] = [];
        const fromDgram: number[] = [];
        g.onDatagrams((batch) => {
          for (let i = 0; i < batch.count; i++) {
            assert.equal(batch.addrs[i], LOOPBACK);
            assert.equal(batch.ports[i], a.port);
            fromNative.push(checkPayload(batch.buf, batch.offsets[i]!, batch.lengths[i]!));
          }
        });
        b.onDatagrams((batch) => {
          for (let i = 0; i < batch.count; i++) {
            assert.equal(batch.ports[i], g.port);
            fromDgram.push(checkPayload(batch.buf, batch.offsets[i]!, batch.lengths[i]!));
          }
        });
        const N = 200;
        const slab = Buffer.alloc(N * 1500);
        const offsets = new Int32Array(N);
        const lengths = new Int32Array(N);
        for (let s = 0; s < N; s++) {
          offsets[s] = s * 1500;
          lengths[s] = sizeOf(s) > 1500 ? 1500 : sizeOf(s);
          fillPayload(slab, offsets[s]!, lengths[s]!, s);
        }
        const batch = { buf: slab, offsets, lengths, count: N };
        a.sendBatch(batch, new Uint32Array(N).fill(LOOPBACK), new Uint16Array(N).fill(g.port));
        g.sendBatch(batch, new Uint32Array(N).fill(LOOPBACK), new Uint16Array(N).fill(b.port));
        slab.fill(0); // the fallback copied what it queued
        await until(() => fromNative.length === N && fromDgram.length === N, 'both directions');
        assert.deepEqual(fromNative, Array.from({ length: N }, (_, i) => i));
        assert.deepEqual(fromDgram, Array.from({ length: N }, (_, i) => i));
        assert.ok(g.stats().batches < N, `dgram deliveries were batched (${g.stats().batches} batches)`);
        assert.equal(g.stats().sent, N);
      } finally {
        g.close();
      }
    });

    it('openUdp picks the native socket when the addon loads', async () => {
      const s = await openUdp(0, { logger: log, bindAddr: '127.0.0.1' });
      assert.equal(s.impl, 'native');
      s.close();
    });

    it('sealed datagrams survive sendmmsg → recvmmsg → openBatch', async () => {
      const aead = nativeDataAead(addon);
      const key = randomBytes(32);
      const salt = randomBytes(4);
      const sealer = aead.create(key, salt, true);
      const opener = aead.create(key, salt, false);
      const N = 64;
      const slab = Buffer.alloc(N * 1600);
      const offsets = new Int32Array(N);
      const lengths = new Int32Array(N);
      for (let i = 0; i < N; i++) {
        const off = i * 1600;
        offsets[i] = off;
        slab[off] = 1;
        slab.writeBigUInt64BE(BigInt(i + 1), off + 6);
        const body = 4 + ((i * 97) % 1400);
        fillPayload(slab, off + DATA_HEADER_BYTES, body, i);
        lengths[i] = DATA_HEADER_BYTES + body;
      }
      aead.sealBatch(sealer, slab, offsets, lengths, N);
      const opened: number[] = [];
      const status = new Uint8Array(N);
      b.onDatagrams((batch) => {
        const n = aead.openBatch(opener, batch.buf, batch.offsets, batch.lengths, batch.count, status);
        assert.equal(n, batch.count);
        for (let i = 0; i < batch.count; i++) {
          const off = batch.offsets[i]! + DATA_HEADER_BYTES;
          opened.push(checkPayload(batch.buf, off, batch.lengths[i]! - DATA_HEADER_BYTES));
        }
      });
      a.sendBatch({ buf: slab, offsets, lengths, count: N }, new Uint32Array(N).fill(LOOPBACK), new Uint16Array(N).fill(b.port));
      await until(() => opened.length === N, `${N} sealed datagrams`);
      assert.deepEqual(opened, Array.from({ length: N }, (_, i) => i));
      assert.equal(lengths[0], DATA_HEADER_BYTES + 4 + AEAD_TAG_BYTES);
    });
  });
}
