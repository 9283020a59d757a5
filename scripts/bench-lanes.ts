// Micro-benchmark of the fast path's lanes (native/src/fastpath.h): the same work with 1, 2 and 4 lanes
// (egress and ingress threads), encrypted, full-MTU frames (1390 bytes) in 16 flows. Root; it makes a network
// namespace of its own and runs itself again inside it (nothing leaves it), then deletes it.
//
//   node --import tsx scripts/bench-lanes.ts [--frames=60000] [--runs=3] [--lanes=1,2,4] [--sources=16]
//                                           [--dirs=egress,ingress] [--unspread]
//
// --unspread: each ingress row with lanes > 1 is run a second time with every datagram under the base
// index (as a peer without lanes sends, and as one 4-tuple went before the steering): the reference for
// what spreading one peer over the lanes adds. The runs of one direction are interleaved (run r of
// every row, then run r + 1), so a drift of the machine's speed hits every row alike.
//
// "Drain" method (DATAPLANE-PROBE.md): the input is queued first, with the fast path not running, then
// the fast path starts and the time until it has carried everything is measured. Per run:
//   egress   FRAMES frames queued on the TAP's queues (UDP from 16 sockets to a neighbour behind the
//            TAP; the kernel spreads the flows over the queues), drained: read, packed, sealed, sent to
//            a second TAP nobody reads (a NIC stand-in, DATAPLANE-PROBE.md §1)
//   ingress  FRAMES datagrams sealed beforehand, sent (sendmmsg, from SOURCES source ports) once the
//            fast path runs (it needs its session first), received, opened, replay-checked, written to
//            the TAP (to a local UDP port whose socket is never read). The session has one receiver
//            index per lane and flow f's datagrams carry index base + f % lanes, as a peer's send lanes
//            address them (native/src/udp_steer.c steers them by index): --sources=1 is one peer pair
//            (one 4-tuple), which before the steering reached one lane only. Semi-live: the sending
//            (~1.5 µs a datagram) runs in this process on the JS thread at the same time and is in the
//            CPU figure.
// Figures: frames per wall second (what lanes can add) and CPU ns per frame (process.cpuUsage: every
// thread of this process; what lanes cost), median of the runs. With fewer cores than lanes the wall
// rate cannot scale; the CPU cost shows the lanes' overhead.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const arg = (name: string, dflt: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const FRAMES = Math.ceil(Number(arg('frames', '60000')) / 64) * 64;
const RUNS = Number(arg('runs', '3'));
const LANES = arg('lanes', '1,2,4').split(',').map(Number);
const SOURCES = Number(arg('sources', '16'));
const DIRS = arg('dirs', 'egress,ingress').split(',') as Array<'egress' | 'ingress'>;
const UNSPREAD = process.argv.includes('--unspread');
const NS_ENV = 'TSWEAVE_BENCH_LANES_NETNS';

if (!process.env[NS_ENV]) {
  const ns = `tsw-bl-${process.pid}-${randomBytes(2).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, [NS_ENV]: ns },
    });
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
} else {
  await inside(process.env[NS_ENV]);
}

async function inside(ns: string): Promise<void> {
  const { silentLogger } = await import('../src/core/logger.js');
  const { Overlay } = await import('../src/dataplane/overlay.js');
  const { NativeFastPath } = await import('../src/io/fastpath.js');
  const { loadNative } = await import('../src/io/native.js');
  const { openTap } = await import('../src/io/tap.js');
  const { ipv4ToU32, NativeUdpSocket } = await import('../src/io/udp.js');
  const { LOCAL_PEER, PEER_MAC, REMOTE_PEER, TEST_MTU, macNum, referenceDatagram, sessionKeys, udpFrame } = await import('../test/support/fastpath-wire.js');

  const addon = loadNative();
  const log = silentLogger();
  const ip = (...a: string[]): string => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  const MAX_DGRAM = Overlay.maxDatagramBytes(TEST_MTU);
  const FLOWS = 16;
  const PAYLOAD = TEST_MTU - 28; // a full-MTU IPv4/UDP packet: frames of TEST_MTU + 14 bytes
  const cpuNow = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  // The sink: a second TAP, never read; the session's peer lives behind it.
  const sink = openTap('tswbsink', { logger: log, offload: false });
  ip('link', 'set', 'tswbsink', 'up', 'txqueuelen', '64');
  ip('addr', 'add', '10.81.0.1/24', 'dev', 'tswbsink');
  ip('neigh', 'replace', '10.81.0.2', 'lladdr', '02:00:00:00:01:02', 'dev', 'tswbsink', 'nud', 'permanent');

  async function run(lanes: number, dir: 'egress' | 'ingress', spread = true): Promise<{ fps: number; cpuNs: number }> {
    const name = 'tswblane';
    const tap = openTap(name, { logger: log, queues: lanes });
    const sock = new NativeUdpSocket(addon, 0, 0, { logger: log, lanes, rcvbufBytes: 64 << 20 });
    let local: InstanceType<typeof NativeUdpSocket> | undefined;
    const txs: InstanceType<typeof NativeUdpSocket>[] = [];
    let fast: InstanceType<typeof NativeFastPath> | undefined;
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
      ip('link', 'set', name, 'mtu', String(TEST_MTU), 'txqueuelen', String(FRAMES + 1000), 'up');
      ip('addr', 'add', '10.80.0.1/24', 'dev', name);
      ip('neigh', 'replace', '10.80.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', name, 'nud', 'permanent');
      local = new NativeUdpSocket(addon, ipv4ToU32('10.80.0.1'), 7000, { logger: log, rcvbufBytes: 4096 }); // never read
      const tapMac = Buffer.from((JSON.parse(ip('-j', 'link', 'show', name)) as Array<{ address: string }>)[0]!.address.split(':').map((h) => parseInt(h, 16)));
      const { keys, remoteSeal } = sessionKeys();
      // Queue the input while nothing reads it.
      const batch = { buf: Buffer.alloc(64 * 2048), offsets: new Int32Array(64), lengths: new Int32Array(64), count: 64 };
      const addrs = new Uint32Array(64), ports = new Uint16Array(64);
      const senders = dir === 'egress' ? FLOWS : SOURCES;
      for (let f = 0; f < senders; f++) txs.push(new NativeUdpSocket(addon, dir === 'egress' ? ipv4ToU32('10.80.0.1') : 0x7f000001, 0, { logger: log }));
      const sealed: Buffer[] = [];
      if (dir === 'egress') {
        for (let i = 0; i < 64; i++) batch.offsets[i] = i * 2048, batch.lengths[i] = PAYLOAD;
        addrs.fill(ipv4ToU32('10.80.0.2'));
        ports.fill(9000);
        for (let sent = 0; sent < FRAMES; sent += 64) txs[(sent / 64) % FLOWS]!.sendBatch(batch, addrs, ports);
      } else {
        for (let i = 0; i < FRAMES; i++) {
          const flow = Math.floor(i / 64) % FLOWS;
          const frame = udpFrame(tapMac, PEER_MAC, '10.81.0.2', '10.80.0.1', 7000, PAYLOAD - 8, i, 20000 + flow);
          sealed.push(referenceDatagram(MAX_DGRAM, remoteSeal, 0x5555 + (spread ? flow % lanes : 0), REMOTE_PEER, LOCAL_PEER, frame, i + 1));
        }
        addrs.fill(0x7f000001);
        ports.fill(sock.port);
      }
      /** Ingress: sends the sealed datagrams (the fast path needs its session first, so it already runs). */
      const sendSealed = (): void => {
        for (let i = 0; i < sealed.length; i += 64) {
          for (let j = 0; j < 64; j++) {
            sealed[i + j]!.copy(batch.buf, j * 2048);
            batch.offsets[j] = j * 2048;
            batch.lengths[j] = sealed[i + j]!.length;
          }
          txs[(i / 64) % txs.length]!.sendBatch(batch, addrs, ports);
        }
      };
      await sleep(50);
      fast = new NativeFastPath({
        addon, logger: log, tapFd: tap.fd, tapOffload: tap.offload, udpFd: sock.fd,
        ...(lanes > 1 ? { lanes: { tapFds: tap.queueFds, udpFds: sock.laneFds } } : {}),
        localPeer: LOCAL_PEER, maxDatagramBytes: MAX_DGRAM, udpGro: false,
      });
      const c0 = cpuNow();
      const w0 = process.hrtime.bigint();
      fast.start(() => {}, () => {});
      fast.addSession({
        peer: REMOTE_PEER, localIndex: 0x5555, remoteIndex: 0x6666, localLanes: lanes, remoteAddr: ipv4ToU32('10.81.0.2'), remotePort: 6783, lastCounter: 0, keys,
      });
      fast.learn(macNum(tapMac), LOCAL_PEER);
      fast.learn(macNum(PEER_MAC), REMOTE_PEER);
      fast.setEligible(REMOTE_PEER, true);
      if (dir === 'ingress') sendSealed();
      const key = dir === 'egress' ? 'egressFramesFast' : 'ingressFramesFast';
      const done = (): number => fast!.stats()[key] as number;
      let n = 0, lastChange = process.hrtime.bigint(), cpuNs = 0;
      for (;;) {
        const d = done();
        if (d !== n) n = d, lastChange = process.hrtime.bigint(), cpuNs = cpuNow() - c0;
        if (n >= FRAMES || process.hrtime.bigint() - lastChange > 500_000_000n) break; // the kernel dropped some input: count what came
        await sleep(2); // not a busy loop: the CPU figure is the threads'
      }
      const wallNs = Number(lastChange - w0);
      if (n < FRAMES * 0.9) {
        const sent = txs.map((t) => t.stats());
        throw new Error(`${dir}, ${lanes} lanes: only ${n} of ${FRAMES} frames: ${JSON.stringify(fast.stats())} ${JSON.stringify(sent[0])}\n${ip('-s', 'link', 'show', name)}`);
      }
      if (n < FRAMES) process.stderr.write(`  (${dir}, ${lanes} lanes: ${FRAMES - n} of ${FRAMES} frames lost before the fast path)\n`);
      if (dir === 'ingress' && process.env['BENCH_LANES_VERBOSE']) {
        const st = fast.stats();
        process.stderr.write(`  ingress datagrams per lane: ${Array.from({ length: lanes }, (_, i) => st[`lane${i}IngressDatagrams`]).join(' ')}\n`);
      }
      return { fps: n / (wallNs / 1e9), cpuNs: cpuNs / n };
    } finally {
      fast?.stop();
      for (const t of txs) t.close();
      local?.close();
      sock.close();
      tap.close();
    }
  }

  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`fast path lanes, encrypted, ${TEST_MTU + 14} B frames, ${FLOWS} flows (ingress from ${SOURCES} source port(s)), ${FRAMES} frames per run, median of ${RUNS}; ${availableParallelism()} cores`);
  console.log('direction  lanes   kframes/s  Gbit/s  CPU ns/frame');
  for (const dir of DIRS) {
    const rows = LANES.flatMap((lanes) => [
      { lanes, spread: true },
      ...(UNSPREAD && dir === 'ingress' && lanes > 1 ? [{ lanes, spread: false }] : []),
    ]);
    const results = rows.map(() => [] as Array<{ fps: number; cpuNs: number }>);
    for (let r = 0; r < RUNS; r++) for (const [i, row] of rows.entries()) results[i]!.push(await run(row.lanes, dir, row.spread));
    const ref: number[] = [];
    for (const [i, row] of rows.entries()) {
      const rs = results[i]!;
      const fps = median(rs.map((x) => x.fps)), cpu = median(rs.map((x) => x.cpuNs));
      if (ref.length === 0) ref.push(fps);
      const gbps = (fps * (TEST_MTU + 14) * 8) / 1e9;
      const label = row.spread ? '' : ' one index';
      console.log(`${dir.padEnd(9)}  ${String(row.lanes).padStart(5)}  ${(fps / 1000).toFixed(0).padStart(10)}  ${gbps.toFixed(2).padStart(6)}  ${cpu.toFixed(0).padStart(12)}   (${(fps / ref[0]!).toFixed(2)}× 1 lane)${label}`);
    }
  }
  sink.close();
}
