// The native fast path with several lanes (native/src/fastpath.h "Lanes"): four egress threads on the
// queues of a multi-queue TAP, four ingress threads on SO_REUSEPORT sockets of one port. Runs as root
// inside a namespace of its own (test/support/inner-netns.ts):
//
//   tswfl0 10.79.0.1/24   multi-queue TAP, 4 queues; neighbour 10.79.0.2 = 02:00:00:00:00:02 (behind the
//                         remote peer), permanent
//   127.0.0.1:A           the router's 4 sockets (SO_REUSEPORT)
//   127.0.0.1:B..         the remote peer, played by this test with the reference implementation
//
// What must hold with lanes: every send counter of a session is used once (the egress threads and the
// JS thread draw from it at once), one flow's frames stay in order, every lane carries traffic when
// the flows spread, and the replay window is one per session: a datagram replayed so that another
// lane receives it is still dropped. Spread of one peer (native/src/udp_steer.c): the session has one
// receiver index per lane; the kernel steers a datagram to lane (index % lanes) whatever its source
// address:port, and egress lane i addresses the peer's index base + i % (its lanes).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';

import { fastPathModules } from '../support/fastpath-modules.js';
import { splitNetnsRun } from '../support/inner-netns.js';
import {
  LOCAL_PEER, LOOPBACK, PEER_MAC, REMOTE_PEER, TEST_MTU, macNum, openDatagram, referenceDatagram, sessionKeys, udpFrame, until,
} from '../support/fastpath-wire.js';
import { UNIFIED } from '../support/fastpath-mode.js';

await splitNetnsRun(import.meta.url, 'TSWEAVE_FASTPATH_LANES_NETNS', 'fplanes', inner);

async function inner(ns: string): Promise<void> {
  const { addon, NativeFastPath, openTap, ipv4ToU32, NativeUdpSocket, silentLogger, Overlay, ip } = await fastPathModules(ns);
  const log = silentLogger();
  const LANES = 4;
  const [LOCAL, REMOTE] = [LOCAL_PEER, REMOTE_PEER];
  const MAX_DGRAM = Overlay.maxDatagramBytes(TEST_MTU);
  const LOCAL_INDEX = 0x3333;
  const REMOTE_INDEX = 0x4444;
  const REMOTE_LANES = 2; // the remote announced 2 receive lanes: our 4 egress lanes use 2 indexes
  const TAP = 'tswfl0';
  const peerMac = PEER_MAC;
  const { keys, remoteSeal, remoteOpen } = sessionKeys();

  describe(`fast path with ${LANES} lanes`, () => {
    let tap: ReturnType<typeof openTap>;
    let tapMac: Buffer;
    let sock: InstanceType<typeof NativeUdpSocket>;
    let remote: InstanceType<typeof NativeUdpSocket>;
    let fast: InstanceType<typeof NativeFastPath>;
    const fromRemote: Buffer[] = [];
    let counter = 0; // the remote's send counter
    const stat = (k: string): number => fast.stats()[k] as number;
    const lanesWith = (what: string): number[] =>
      Array.from({ length: LANES }, (_, i) => stat(`lane${i}${what}`)).filter((n) => n > 0);

    beforeAll(() => {
      tap = openTap(TAP, { logger: log, queues: LANES });
      writeFileSync(`/proc/sys/net/ipv6/conf/${TAP}/disable_ipv6`, '1');
      ip('link', 'set', TAP, 'mtu', String(TEST_MTU), 'up');
      ip('addr', 'add', '10.79.0.1/24', 'dev', TAP);
      ip('neigh', 'replace', '10.79.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', TAP, 'nud', 'permanent');
      const info = JSON.parse(ip('-j', 'link', 'show', TAP)) as Array<{ address: string }>;
      tapMac = Buffer.from(info[0]!.address.split(':').map((h) => parseInt(h, 16)));
      sock = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: log, lanes: LANES });
      remote = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: log, gro: false, rcvbufBytes: 16 << 20 });
      remote.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) fromRemote.push(Buffer.from(b.buf.subarray(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!)));
      });
      fast = new NativeFastPath({
        addon,
        logger: log,
        tapFd: tap.fd,
        tapOffload: tap.offload,
        udpFd: sock.fd,
        lanes: { tapFds: tap.queueFds, udpFds: sock.laneFds },
        localPeer: LOCAL,
        maxDatagramBytes: MAX_DGRAM,
        unified: UNIFIED,
      });
      fast.start(() => {}, () => {});
      fast.addSession({
        peer: REMOTE, localIndex: LOCAL_INDEX, remoteIndex: REMOTE_INDEX, localLanes: LANES, remoteLanes: REMOTE_LANES,
        remoteAddr: LOOPBACK, remotePort: remote.port, lastCounter: 0, keys,
      });
      fast.learn(macNum(tapMac), LOCAL);
      fast.learn(macNum(peerMac), REMOTE);
      fast.setEligible(REMOTE, true);
    });
    afterAll(() => {
      fast?.stop();
      sock?.close();
      remote?.close();
      tap?.close();
    });

    it('opens one TAP queue and one socket per lane, all sockets on one port', () => {
      assert.equal(tap.queueFds.length, LANES);
      assert.equal(sock.laneFds.length, LANES);
      assert.equal(new Set([...tap.queueFds, ...sock.laneFds]).size, 2 * LANES, 'distinct fds');
      assert.equal(stat('lanes'), LANES);
    });

    it('each lane socket sends with its own IP TTL (64 - lane): a receiver\'s GRO never merges two lanes\' datagrams', async () => {
      // A merged GRO train goes to the socket its first datagram picks; trains only form from packets whose
      // IP headers agree, TTL included. The receiver reads each datagram's TTL (IP_RECVTTL).
      const py = [
        'import socket, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.setsockopt(socket.IPPROTO_IP, 12, 1)  # IP_RECVTTL (Linux; not named in every Python)',
        "s.bind(('127.0.0.1', 7790))",
        "print('ready', flush=True)",
        'for _ in range(int(sys.argv[1])):',
        '    data, anc, _, _ = s.recvmsg(64, 64)',
        "    print(data[0], [int.from_bytes(d[:4], sys.byteorder) for l, t, d in anc if t == socket.IP_TTL][0], flush=True)",
      ].join('\n');
      const child = spawn('python3', ['-c', py, String(LANES)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', r));
      try {
        await until(() => out.startsWith('ready'), 'the TTL receiver');
        for (let i = 0; i < LANES; i++) addon.udpSend(sock.laneFds[i]!, Buffer.from([i]), 0, 1, LOOPBACK, 7790);
        assert.equal(await exited, 0);
        const ttls = new Map(out.trim().split('\n').slice(1).map((l) => l.split(' ').map(Number) as [number, number]));
        assert.deepEqual([...ttls.entries()].sort((a, b) => a[0] - b[0]), Array.from({ length: LANES }, (_, i) => [i, 64 - i]));
      } finally {
        child.kill();
      }
    });

    it('a second owner cannot join the lanes: the TAP is busy, the port in use', () => {
      assert.throws(() => openTap(TAP, { logger: log, queues: 2 }), { code: 'EBUSY' });
      const fixed = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: log, lanes: 2 });
      try {
        assert.throws(() => new NativeUdpSocket(addon, LOOPBACK, fixed.port, { logger: log, lanes: 2 }), { code: 'EADDRINUSE' });
      } finally {
        fixed.close();
      }
    });

    it('egress: flows spread over the lanes, each flow stays in order, no counter is used twice (threads and JS draw at once)', async () => {
      const FLOWS = 16;
      const PER_FLOW = 250;
      const txs = Array.from({ length: FLOWS }, () => new NativeUdpSocket(addon, ipv4ToU32('10.79.0.1'), 0, { logger: log }));
      const jsCounters: number[] = [];
      try {
        for (let s = 0; s < PER_FLOW; s++) {
          txs.forEach((tx, flow) => {
            const payload = Buffer.alloc(8 + ((s * 37 + flow) % 1200));
            payload.writeUInt32BE(flow, 0);
            payload.writeUInt32BE(s, 4);
            tx.send(payload, 0, payload.length, ipv4ToU32('10.79.0.2'), 9000);
          });
          jsCounters.push(fast.nextCounter(REMOTE)); // the overlay drawing from the same counter meanwhile
          if (s % 8 === 7) await new Promise((r) => setTimeout(r, 1)); // stay under the TAP queues' length
        }
        const frames = (): number => fromRemote.length && stat('egressFramesFast');
        await until(() => frames() >= FLOWS * PER_FLOW && stat('egressDatagrams') === fromRemote.length, 'every frame at the remote', 20_000).catch((e: Error) => {
          throw new Error(`${e.message}: ${JSON.stringify(fast.stats())}`);
        });
      } finally {
        for (const tx of txs) tx.close();
      }
      const counters = new Set<number>(jsCounters);
      const next = new Array<number>(FLOWS).fill(0);
      const flowIndex = new Map<number, number>(); // flow → the receiver index its datagrams carry
      for (const d of fromRemote) {
        const { counter: c, frames } = openDatagram(remoteOpen, d, LOCAL, REMOTE);
        assert.ok(!counters.has(c), `counter ${c} used twice`);
        counters.add(c);
        const idx = d.readUInt32BE(2);
        assert.ok(idx >= REMOTE_INDEX && idx < REMOTE_INDEX + REMOTE_LANES, `index ${idx} outside the remote's block`);
        for (const f of frames) {
          const flow = f.readUInt32BE(42), seq = f.readUInt32BE(46);
          assert.equal(seq, next[flow], `flow ${flow}: frame ${seq} after ${next[flow]! - 1}`);
          next[flow]!++;
          assert.equal(flowIndex.get(flow) ?? idx, idx, `flow ${flow} on two indexes: it would reach two of the remote's lanes`);
          flowIndex.set(flow, idx);
        }
      }
      assert.deepEqual(next, new Array<number>(FLOWS).fill(PER_FLOW), 'every frame once');
      // Egress lanes 0..3 address base + lane % 2: both of the remote's indexes carry flows.
      assert.deepEqual(new Set(flowIndex.values()), new Set([REMOTE_INDEX, REMOTE_INDEX + 1]), 'flows on both of the remote\'s lanes');
      // Every counter from 1 up is taken exactly once by a thread or by JS: none skipped, none twice.
      assert.equal(Math.max(...counters), counters.size);
      assert.equal(fast.nextCounter(REMOTE), counters.size + 1);
      const busy = lanesWith('EgressFrames');
      assert.ok(busy.length >= 2, `${FLOWS} flows on ${busy.length} lane(s): ${JSON.stringify(fast.stats())}`);
    });

    it('ingress: ONE source address:port spreads over every lane by receiver index, each flow in order; a datagram replayed to another lane is dropped once', async () => {
      const rx = new NativeUdpSocket(addon, ipv4ToU32('10.79.0.1'), 7777, { logger: log, gro: false, rcvbufBytes: 16 << 20 });
      const got: Array<{ flow: number; seq: number }> = [];
      rx.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) got.push({ flow: b.ports[i]! - 20000, seq: b.buf.readUInt32BE(b.offsets[i]!) });
      });
      const FLOWS = 16;
      const N = 2000;
      const before = fast.stats();
      try {
        const replays: Buffer[] = [];
        for (let s = 0; s < N; s++) {
          // As a peer with 4 send lanes does it: flow f is on send lane f % 4 → index base + f % 4.
          const flow = s % FLOWS;
          const frame = udpFrame(tapMac, peerMac, '10.79.0.2', '10.79.0.1', 7777, 64 + (s % 500), s, 20000 + flow);
          const c = ++counter;
          const d = referenceDatagram(MAX_DGRAM, remoteSeal, LOCAL_INDEX + (flow % LANES), REMOTE, LOCAL, frame, c);
          remote.send(d, 0, d.length, LOOPBACK, sock.port); // every datagram from one address:port
          // The same counter under the next index (another lane), sent once the originals are in.
          replays.push(referenceDatagram(MAX_DGRAM, remoteSeal, LOCAL_INDEX + ((flow + 1) % LANES), REMOTE, LOCAL, frame, c));
          if (s % 16 === 15) await new Promise((r) => setTimeout(r, 1));
        }
        const delta = (k: string): number => stat(k) - (before[k] as number);
        const fail = (e: Error): never => {
          throw new Error(`${e.message}: got ${got.length}; ${JSON.stringify(fast.stats())}`);
        };
        await until(() => got.length >= N, `${N} frames`, 20_000).catch(fail);
        for (const [i, d] of replays.entries()) {
          remote.send(d, 0, d.length, LOOPBACK, sock.port);
          if (i % 16 === 15) await new Promise((r) => setTimeout(r, 1));
        }
        await until(() => delta('droppedReplay') >= N, `${N} replays dropped`, 20_000).catch(fail);
        await new Promise((r) => setTimeout(r, 100)); // nothing more may come
        assert.equal(delta('droppedReplay'), N, 'exactly one copy of each dropped');
        assert.equal(delta('droppedUnknownSession'), 0, 'every index of the block finds the session');
        assert.equal(delta('ingressFramesFast'), N);
        assert.equal(got.length, N, 'each frame delivered once');
        const next = new Array<number>(FLOWS).fill(-1);
        for (const { flow, seq } of got) {
          assert.ok(seq > next[flow]!, `flow ${flow}: frame ${seq} after ${next[flow]}`);
          next[flow] = seq;
        }
        // The kernel steered by index: lane (base + k) % 4 got exactly the datagrams of index base + k
        // (N / 4: 4 flows each), and the replay of each went to the next lane; N / 2 per lane.
        const perLane = Array.from({ length: LANES }, (_, i) => delta(`lane${i}IngressDatagrams`));
        assert.deepEqual(perLane, new Array<number>(LANES).fill(N / 2), `datagrams per lane from one source port: ${JSON.stringify(perLane)}`);
      } finally {
        rx.close();
      }
    });

    it('ingress from a peer that uses one index (an older version): every datagram on one lane, in order', async () => {
      const rx = new NativeUdpSocket(addon, ipv4ToU32('10.79.0.1'), 7779, { logger: log, gro: false });
      const got: number[][] = Array.from({ length: 8 }, () => []); // per flow
      rx.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) got[b.ports[i]! - 20000]!.push(b.buf.readUInt32BE(b.offsets[i]!));
      });
      const N = 400;
      const before = fast.stats();
      try {
        for (let s = 0; s < N; s++) {
          const frame = udpFrame(tapMac, peerMac, '10.79.0.2', '10.79.0.1', 7779, 100, s, 20000 + (s % 8));
          const d = referenceDatagram(MAX_DGRAM, remoteSeal, LOCAL_INDEX, REMOTE, LOCAL, frame, ++counter);
          remote.send(d, 0, d.length, LOOPBACK, sock.port);
          if (s % 16 === 15) await new Promise((r) => setTimeout(r, 1));
        }
        await until(() => got.flat().length >= N, `${N} frames`, 20_000);
        got.forEach((seqs, flow) => assert.deepEqual(seqs, Array.from({ length: N / 8 }, (_, i) => i * 8 + flow), `flow ${flow} in order`));
        const perLane = Array.from({ length: LANES }, (_, i) => stat(`lane${i}IngressDatagrams`) - (before[`lane${i}IngressDatagrams`] as number));
        assert.equal(perLane[LOCAL_INDEX % LANES], N, `the base index's lane: ${JSON.stringify(perLane)}`);
        // An index past the block is no session's.
        const stray = referenceDatagram(MAX_DGRAM, remoteSeal, LOCAL_INDEX + LANES, REMOTE, LOCAL, udpFrame(tapMac, peerMac, '10.79.0.2', '10.79.0.1', 7779, 100, N), ++counter);
        remote.send(stray, 0, stray.length, LOOPBACK, sock.port);
        await until(() => stat('droppedUnknownSession') > (before['droppedUnknownSession'] as number), 'the stray index dropped');
      } finally {
        rx.close();
      }
    });

    it('egress to a peer that announced no lanes: every datagram carries its one index', async () => {
      fast.addSession({
        peer: REMOTE, localIndex: LOCAL_INDEX, remoteIndex: REMOTE_INDEX, localLanes: LANES,
        remoteAddr: LOOPBACK, remotePort: remote.port, lastCounter: fast.nextCounter(REMOTE), keys,
      });
      fast.setEligible(REMOTE, true);
      fromRemote.length = 0;
      const before = fast.stats();
      const delta = (k: string): number => stat(k) - (before[k] as number);
      const txs = Array.from({ length: 16 }, () => new NativeUdpSocket(addon, ipv4ToU32('10.79.0.1'), 0, { logger: log }));
      try {
        for (let s = 0; s < 20; s++) {
          for (const tx of txs) tx.send(Buffer.alloc(100), 0, 100, ipv4ToU32('10.79.0.2'), 9000);
          await new Promise((r) => setTimeout(r, 1));
        }
        await until(() => delta('egressFramesFast') >= 320 && delta('egressDatagrams') === fromRemote.length, 'every frame at the remote', 20_000);
      } finally {
        for (const tx of txs) tx.close();
      }
      for (const d of fromRemote) openDatagram(remoteOpen, d, LOCAL, REMOTE);
      assert.deepEqual(new Set(fromRemote.map((d) => d.readUInt32BE(2))), new Set([REMOTE_INDEX]));
      const busy = Array.from({ length: LANES }, (_, i) => delta(`lane${i}EgressFrames`)).filter((n) => n > 0);
      assert.ok(busy.length >= 2, `16 flows on ${busy.length} egress lane(s), all under one index`);
    });

    it('the replay window spans 65536 counters: a lagging lane\'s datagram is accepted, an older one dropped', async () => {
      const rx = new NativeUdpSocket(addon, ipv4ToU32('10.79.0.1'), 7778, { logger: log, gro: false });
      const got: number[] = [];
      rx.onDatagrams((b) => {
        for (let i = 0; i < b.count; i++) got.push(b.buf.readUInt32BE(b.offsets[i]!));
      });
      const before = fast.stats();
      const send = (seq: number, c: number): void => {
        const frame = udpFrame(tapMac, peerMac, '10.79.0.2', '10.79.0.1', 7778, 32, seq);
        const d = referenceDatagram(MAX_DGRAM, remoteSeal, LOCAL_INDEX, REMOTE, LOCAL, frame, c);
        remote.send(d, 0, d.length, LOOPBACK, sock.port);
      };
      try {
        const base = counter;
        counter += 70_000;
        send(1, counter); // the newest
        await until(() => got.length === 1, 'the newest datagram');
        send(2, counter - 60_000); // 60000 behind: a lane that lagged (8192 would drop it)
        send(3, base + 1); // 69999 behind: outside the window
        send(4, counter + 1);
        await until(() => got.length === 3, 'the lagging and the next datagram');
        assert.deepEqual(got, [1, 2, 4]);
        assert.equal(stat('droppedReplay') - (before['droppedReplay'] as number), 1);
      } finally {
        rx.close();
      }
    });

    it('stop joins every thread; queue 0 stays usable by its owner', () => {
      fast.stop();
      assert.equal(fast.stats()['running'], false);
      const one = Buffer.alloc(60);
      tap.writeFrame(one, 0, one.length);
    });
  });
}
