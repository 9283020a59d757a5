// Micro-benchmark of the data-plane fast path against the node:crypto + node:dgram reference, in one
// run, on loopback only (127.0.0.1; nothing leaves the host). About 5 seconds.
//
//   node --import tsx scripts/bench-native.ts [--ms=300]
//
// Per path and frame size:
//   crypto   seal (native: batch of 64 in one call; reference: one Cipheriv per packet), in memory
//   egress   fill headers → sealBatch → send (sendmmsg 64 | dgram.send per datagram) to a loopback
//            socket nobody reads (the kernel drops when its buffer is full; on loopback the sender's
//            CPU also pays the kernel receive path)
//   ingress  512 sealed datagrams queued on the receiver by one sendmmsg, then drained:
//            recvmmsg batches | dgram 'message' → openBatch; only the drain is timed
// Figures are CPU ns per frame (process.cpuUsage, user+sys, less sensitive to other load than wall
// time) and the per-core rate 1e9/ns, as in DATAPLANE-PROBE.md.
import { setImmediate as yieldLoop } from 'node:timers/promises';

import { silentLogger } from '../src/core/logger.js';
import { nodeDataAead, type DataAeadEngine } from '../src/crypto/data-aead.js';
import { loadNative, nativeDataAead } from '../src/io/native.js';
import { DgramUdpSocket, NativeUdpSocket, type UdpEndpoint } from '../src/io/udp.js';
import { AEAD_TAG_BYTES, DATA_HEADER_BYTES, OFF_COUNTER } from '../src/wire/data-packet.js';

const MS = Number(process.argv.find((a) => a.startsWith('--ms='))?.slice(5) ?? 300);
const LOOPBACK = 0x7f000001;
const BATCH = 64;
const INGRESS_PER_CYCLE = 512;
const log = silentLogger();
const addon = loadNative();

type Impl = 'native' | 'reference';
interface Result {
  frames: number;
  cpuNs: number;
  wallNs: number;
  lost?: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

async function measure(run: (deadline: number) => Promise<number>): Promise<Result> {
  const c0 = cpuNow();
  const w0 = process.hrtime.bigint();
  const frames = await run(Number(w0) + MS * 1e6);
  return { frames, cpuNs: cpuNow() - c0, wallNs: Number(process.hrtime.bigint() - w0) };
}

/** One slab of `count` DATA packets with `body` bytes each and room for the tag. */
function makeSlab(count: number, body: number) {
  const stride = (DATA_HEADER_BYTES + body + AEAD_TAG_BYTES + 15) & ~15;
  const buf = Buffer.alloc(count * stride, 0x42);
  const offsets = new Int32Array(count);
  const lengths = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    offsets[i] = i * stride;
    buf[i * stride] = 1;
  }
  return { buf, offsets, lengths, count, body };
}
type Slab = ReturnType<typeof makeSlab>;

let counter = 1;
/** Per packet: a fresh counter (low 32 bits; the high ones stay 0) and the unsealed length. */
function refill(s: Slab): void {
  for (let i = 0; i < s.count; i++) {
    s.buf.writeUInt32BE(counter++ >>> 0, s.offsets[i]! + OFF_COUNTER + 4);
    s.lengths[i] = DATA_HEADER_BYTES + s.body;
  }
}

function engine(impl: Impl): DataAeadEngine {
  return impl === 'native' ? nativeDataAead(addon) : nodeDataAead;
}

async function openSocket(impl: Impl, init: { rcvbufBytes?: number } = {}): Promise<UdpEndpoint> {
  const opts = { logger: log, bindAddr: '127.0.0.1', ...init };
  return impl === 'native' ? new NativeUdpSocket(addon, LOOPBACK, 0, opts) : DgramUdpSocket.open(0, opts);
}

const KEY = Buffer.alloc(32, 7);
const SALT = Buffer.alloc(4, 9);

async function benchCrypto(impl: Impl, body: number): Promise<Result> {
  const e = engine(impl);
  const h = e.create(KEY, SALT, true);
  const s = makeSlab(BATCH, body);
  return measure(async (deadline) => {
    let frames = 0;
    while (Number(process.hrtime.bigint()) < deadline) {
      refill(s);
      e.sealBatch(h, s.buf, s.offsets, s.lengths, s.count);
      frames += s.count;
    }
    return frames;
  });
}

async function benchEgress(impl: Impl, body: number): Promise<Result> {
  const e = engine(impl);
  const h = e.create(KEY, SALT, true);
  const s = makeSlab(BATCH, body);
  const tx = await openSocket(impl);
  const sink = await openSocket('native', { rcvbufBytes: 256 * 1024 }); // never read
  const addrs = new Uint32Array(BATCH).fill(LOOPBACK);
  const ports = new Uint16Array(BATCH).fill(sink.port);
  try {
    const r = await measure(async (deadline) => {
      let frames = 0;
      while (Number(process.hrtime.bigint()) < deadline) {
        refill(s);
        e.sealBatch(h, s.buf, s.offsets, s.lengths, s.count);
        tx.sendBatch(s, addrs, ports);
        frames += s.count;
        await yieldLoop(); // let dgram's send callbacks run; the same for both paths
      }
      return frames;
    });
    const st = tx.stats();
    return { ...r, lost: r.frames - st.sent };
  } finally {
    tx.close();
    sink.close();
  }
}

async function benchIngress(impl: Impl, body: number): Promise<Result> {
  // Pre-sealed datagrams, sent again each cycle (no replay window at this layer).
  const sealer = nativeDataAead(addon);
  const s = makeSlab(INGRESS_PER_CYCLE, body);
  refill(s);
  const hs = sealer.create(KEY, SALT, true);
  for (let i = 0; i < s.count; i += BATCH) {
    sealer.sealBatch(hs, s.buf, s.offsets.subarray(i, i + BATCH), s.lengths.subarray(i, i + BATCH), BATCH);
  }
  const e = engine(impl);
  const h = e.create(KEY, SALT, false);
  const tx = await openSocket('native');
  const rx = await openSocket(impl);
  const status = new Uint8Array(1024); // a GRO receive batch may hold up to 256 datagrams
  let opened = 0;
  let failed = 0;
  rx.onDatagrams((b) => {
    opened += e.openBatch(h, b.buf, b.offsets, b.lengths, b.count, status);
    failed += b.count - status.subarray(0, b.count).reduce((a, x) => a + x, 0);
  });
  const addrs = new Uint32Array(s.count).fill(LOOPBACK);
  const ports = new Uint16Array(s.count).fill(rx.port);
  let cpuNs = 0;
  let wallNs = 0;
  let frames = 0;
  let lost = 0;
  const end = Date.now() + MS;
  try {
    while (Date.now() < end) {
      opened = 0;
      tx.sendBatch(s, addrs, ports); // queued on rx by the time this returns (loopback)
      const c0 = cpuNow();
      const w0 = process.hrtime.bigint();
      let last = opened;
      let idle = 0;
      while (opened < s.count && idle < 50) {
        await yieldLoop();
        if (opened === last) idle++;
        else idle = 0;
        last = opened;
      }
      cpuNs += cpuNow() - c0;
      wallNs += Number(process.hrtime.bigint() - w0);
      frames += opened;
      lost += s.count - opened;
    }
  } finally {
    tx.close();
    rx.close();
  }
  if (failed) throw new Error(`${failed} datagrams failed to open`);
  return { frames, cpuNs, wallNs, lost };
}

interface Row {
  step: string;
  size: number;
  native: Result;
  reference: Result;
}

const nsPer = (r: Result): number => r.cpuNs / Math.max(1, r.frames);
const kfps = (r: Result): string => (1e6 / nsPer(r)).toFixed(0);

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const size of [64, 1400]) {
    for (const [step, fn] of [
      ['crypto (seal)', benchCrypto],
      ['egress: seal + send', benchEgress],
      ['ingress: recv + open', benchIngress],
    ] as const) {
      const native = await fn('native', size);
      const reference = await fn('reference', size);
      rows.push({ step, size, native, reference });
    }
  }
  console.log(
    `tsweave native data path vs node:crypto + dgram reference, loopback, ${MS} ms per cell, ` +
      `node ${process.version}, OpenSSL ${process.versions.openssl}`,
  );
  console.log('CPU ns per frame (user+sys) and the per-core rate; frame = body bytes (+14 header +16 tag)\n');
  const head = ['step', 'bytes', 'native ns', 'native kfps', 'reference ns', 'reference kfps', 'speed-up'];
  const lines = rows.map((r) => [
    r.step,
    String(r.size),
    nsPer(r.native).toFixed(0),
    kfps(r.native),
    nsPer(r.reference).toFixed(0),
    kfps(r.reference),
    `${(nsPer(r.reference) / nsPer(r.native)).toFixed(1)}x`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cols: string[]): string =>
    '| ' + cols.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  console.log(fmt(head));
  console.log('|' + widths.map((w, i) => (i < 1 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const l of lines) console.log(fmt(l));
  const lost = rows.flatMap((r) =>
    (['native', 'reference'] as const)
      .filter((k) => (r[k].lost ?? 0) > 0)
      .map((k) => `${r.step} ${r.size} B ${k}: ${r[k].lost} of ${r[k].frames + r[k].lost!} not delivered`),
  );
  if (lost.length) console.log('\n' + lost.join('\n'));
}

await main();
