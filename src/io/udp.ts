// UdpSocket (core/ports.ts) for the data plane: native recvmmsg/sendmmsg batches over the addon, or a
// node:dgram fallback when the addon is unavailable (about 3-5x the CPU per datagram,
// DATAPLANE-PROBE.md §2), which is logged once at warn.
//
// Both deliver a batch per wake-up into one slab: datagram i is buf[offsets[i], +lengths[i]) from
// addrs[i]:ports[i] (IPv4 host-order u32). The batch is valid only during the callback. Datagrams
// longer than `maxDatagramBytes` are dropped and counted as truncated. Send errors are counted in
// stats(), never thrown. IPv4 only, like Weave's data plane.
import dgram from 'node:dgram';
import { once } from 'node:events';

import type { Logger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';
import { LogLimiter, messageShape } from '../core/log-limiter.js';
import type { Batch, DatagramBatch, UdpSocket } from '../core/ports.js';
import { MAX_DATAGRAM_BYTES } from '../wire/data-packet.js';
import {
  STAT_DONE,
  STAT_DROPPED,
  STAT_ERRORS,
  STAT_LAST_ERRNO,
  stopReaderAndClose,
  tryLoadNative,
  type NativeAddon,
  type ReaderHandle,
} from './native.js';

/** Socket buffer sizes asked for (forced past net.core.rmem_max when we have CAP_NET_ADMIN). */
export const UDP_RCVBUF_BYTES = 8 * 1024 * 1024;
export const UDP_SNDBUF_BYTES = 8 * 1024 * 1024;
export const UDP_BATCH_DATAGRAMS = 64;
/**
 * With UDP GRO (native, default on; TSWEAVE_UDP_GRO=0 turns it off) one receive slot may hold up to
 * 64 KiB of same-size datagrams that the addon splits into entries: this many slots, and up to
 * UDP_GRO_BATCH_ENTRIES datagrams per callback (the overlay handles 256 per batch).
 */
export const UDP_GRO_SLOTS = 32;
export const UDP_GRO_BATCH_ENTRIES = 256;
/** Largest datagram that must never be truncated (an IPv4 UDP payload). */
export const UDP_MAX_DATAGRAM_BYTES = MAX_DATAGRAM_BYTES;
/** Largest batch the addon accepts in one call (native/src/common.h TSW_MAX_BATCH). */
const NATIVE_MAX_BATCH = 1024;

export interface UdpInit {
  /** Receives the fallback warning and fatal reader errors. */
  logger: Logger;
  /** The addon: undefined = tryLoadNative(); null = force node:dgram. */
  addon?: NativeAddon | null;
  /** @default '0.0.0.0' */
  bindAddr?: string;
  /** @default UDP_RCVBUF_BYTES (0 = kernel default) */
  rcvbufBytes?: number;
  /** @default UDP_SNDBUF_BYTES (0 = kernel default) */
  sndbufBytes?: number;
  /** Slot size of the receive slab; longer datagrams are dropped. @default 65507 */
  maxDatagramBytes?: number;
  /** Datagrams per receive callback at most. @default 64 (256 with GRO) */
  batchDatagrams?: number;
  /** Native only: UDP GRO on receive (UDP GSO on send is always tried). the router passes TSWEAVE_UDP_GRO. @default true */
  gro?: boolean;
  /**
   * Native only: > 1 opens this many sockets on the port with SO_REUSEPORT, one per fast-path lane
   * (`laneFds`); this object reads and sends on the first. Only for a fast path, which reads them all.
   * @default 1
   */
  lanes?: number;
}

export interface UdpStats {
  impl: 'native' | 'dgram';
  received: number;
  /** Receive wake-ups (native) or flushes (dgram). */
  batches: number;
  truncated: number;
  receiveErrors: number;
  sent: number;
  /** Dropped because the socket buffer was full (EAGAIN/ENOBUFS). */
  sendDropped: number;
  /** Refused with another error (EHOSTUNREACH, EMSGSIZE, ...). */
  sendErrors: number;
  lastSendErrno: number;
}

export interface UdpEndpoint extends UdpSocket {
  readonly impl: 'native' | 'dgram';
  stats(): UdpStats;
}

/** "10.0.0.1" → 0x0a000001. Throws TypeError for anything that is not a dotted IPv4 address. */
export function ipv4ToU32(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  const parts = m ? m.slice(1).map(Number) : [];
  if (parts.length !== 4 || parts.some((p) => p > 255)) throw new TypeError(`invalid IPv4 address "${s}"`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function u32ToIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

interface MutableDatagramBatch {
  buf: Buffer;
  offsets: Int32Array;
  lengths: Int32Array;
  addrs: Uint32Array;
  ports: Uint16Array;
  count: number;
}

/** A datagram consumer threw: logged (the batch is dropped), never rethrown into the event loop. */
/** A consumer that throws on some input would throw again on every such datagram: one line a minute. */
const handlerFailures = new LogLimiter({ now: Date.now });

function handlerFailed(logger: Logger, port: number, err: unknown): void {
  const f = handlerFailures.fields(`${port}:${messageShape(errorMessage(err))}`, { err, port });
  if (f) logger.warn(f, 'udp datagram handler threw; batch dropped');
}

function newBatch(slots: number, stride: number, bufSlots: number = slots): MutableDatagramBatch {
  if (!Number.isInteger(slots) || slots < 1 || slots > NATIVE_MAX_BATCH) {
    throw new RangeError(`batchDatagrams must be an integer in 1..${NATIVE_MAX_BATCH}, got ${slots}`);
  }
  return {
    buf: Buffer.alloc(bufSlots * stride),
    offsets: new Int32Array(slots),
    lengths: new Int32Array(slots),
    addrs: new Uint32Array(slots),
    ports: new Uint16Array(slots),
    count: 0,
  };
}

/** Slot stride: 16-aligned, so slots are not all 4 KiB-aliased when the size is a power of two. */
function strideFor(maxDatagramBytes: number): number {
  if (!Number.isInteger(maxDatagramBytes) || maxDatagramBytes < 1 || maxDatagramBytes > UDP_MAX_DATAGRAM_BYTES) {
    throw new RangeError(`maxDatagramBytes must be an integer in 1..${UDP_MAX_DATAGRAM_BYTES}, got ${maxDatagramBytes}`);
  }
  return ((maxDatagramBytes + 15) & ~15) + 16;
}

// ---------------------------------------------------------------------------------------------

/**
 * Steers the lanes' datagrams by receiver index (native/src/udp_steer.c). false (logged) when the kernel
 * refuses: the kernel then spreads by 4-tuple as before, and sessions announce one lane.
 */
function steerLanes(addon: NativeAddon, logger: Logger, fds: readonly number[]): boolean {
  try {
    addon.udpSteerLanes(Int32Array.from(fds));
    return true;
  } catch (err) {
    logger.warn({ err, lanes: fds.length }, 'cannot steer datagrams to lanes by receiver index; one peer uses one lane');
    return false;
  }
}

export class NativeUdpSocket implements UdpEndpoint {
  readonly impl = 'native' as const;
  readonly port: number;
  readonly fd: number;
  /** Every lane's socket, `fd` first (all bound to `port`). */
  readonly laneFds: readonly number[];
  /** The lanes' datagrams go to laneFds[receiver index % lanes] (udpSteerLanes), not by 4-tuple. */
  readonly steered: boolean;
  /** Effective kernel buffer sizes (Linux reports twice the requested value). */
  readonly rcvbuf: number;
  readonly sndbuf: number;
  private readonly addon: NativeAddon;
  private readonly logger: Logger;
  private readonly stride: number;
  private readonly batch: MutableDatagramBatch;
  private readonly sendStats = new Float64Array(4);
  private reader: ReaderHandle | undefined;
  private cb: ((batch: DatagramBatch) => void) | undefined;
  private closed = false;
  /** Receive slots asked of the addon with UDP GRO (0 = no GRO). */
  private readonly groSlots: number;

  constructor(addon: NativeAddon, bindAddr: number, port: number, init: UdpInit) {
    this.addon = addon;
    this.logger = init.logger;
    this.stride = strideFor(init.maxDatagramBytes ?? UDP_MAX_DATAGRAM_BYTES);
    const gro = init.gro ?? true;
    // GRO splits a slot into many datagrams, so it needs slots as big as the largest UDP payload.
    this.groSlots = gro && this.stride >= UDP_MAX_DATAGRAM_BYTES ? UDP_GRO_SLOTS : 0;
    const entries = init.batchDatagrams ?? (this.groSlots ? UDP_GRO_BATCH_ENTRIES : UDP_BATCH_DATAGRAMS);
    // before the fd exists
    this.batch = newBatch(entries, this.stride, this.groSlots ? Math.min(this.groSlots, entries) : entries);
    const lanes = init.lanes ?? 1;
    const bufs = [init.rcvbufBytes ?? UDP_RCVBUF_BYTES, init.sndbufBytes ?? UDP_SNDBUF_BYTES] as const;
    // SO_REUSEPORT would let a second router on this port share the datagrams: first make sure the
    // port is free, as a plain bind (EADDRINUSE) does.
    if (lanes > 1 && port !== 0) addon.udpClose(addon.udpOpen(bindAddr, port, 0, 0).fd);
    const opened = addon.udpOpen(bindAddr, port, ...bufs, lanes > 1);
    const fds = [opened.fd];
    try {
      while (fds.length < lanes) fds.push(addon.udpOpen(bindAddr, opened.port, ...bufs, true).fd);
    } catch (err) {
      for (const fd of fds) addon.udpClose(fd);
      throw err;
    }
    this.laneFds = fds;
    this.steered = fds.length > 1 && steerLanes(addon, this.logger, fds);
    this.fd = opened.fd;
    this.port = opened.port;
    this.rcvbuf = opened.rcvbuf;
    this.sndbuf = opened.sndbuf;
  }

  /** Starts the recvmmsg reader on first call; a later call replaces the callback. */
  onDatagrams(cb: (batch: DatagramBatch) => void): void {
    if (this.closed) throw new Error(`udp socket on port ${this.port} is closed`);
    this.cb = cb;
    if (this.reader) return;
    const b = this.batch;
    this.reader = this.addon.udpReaderStart(
      this.fd,
      b.buf,
      this.stride,
      b.offsets,
      b.lengths,
      b.addrs,
      b.ports,
      (n) => this.onBatch(n),
      this.groSlots,
    );
  }

  private onBatch(count: number): void {
    if (count < 0) {
      this.reader = undefined;
      this.logger.error({ port: this.port, errno: this.addon.errnoName(count) }, 'udp reader failed; stopped');
      return;
    }
    this.batch.count = count;
    try {
      this.cb?.(this.batch);
    } catch (err) {
      // A throwing consumer must not take the router down from inside the addon's callback.
      handlerFailed(this.logger, this.port, err);
    }
  }

  sendBatch(batch: Batch, addrs: Uint32Array, ports: Uint16Array): void {
    if (this.closed) return;
    const { buf, offsets, lengths, count } = batch;
    if (count <= NATIVE_MAX_BATCH) {
      this.addon.udpSendBatch(this.fd, buf, offsets, lengths, count, addrs, ports, this.sendStats);
      return;
    }
    for (let i = 0; i < count; i += NATIVE_MAX_BATCH) {
      const n = Math.min(NATIVE_MAX_BATCH, count - i);
      this.addon.udpSendBatch(
        this.fd,
        buf,
        offsets.subarray(i, i + n),
        lengths.subarray(i, i + n),
        n,
        addrs.subarray(i, i + n),
        ports.subarray(i, i + n),
        this.sendStats,
      );
    }
  }

  send(buf: Uint8Array, offset: number, length: number, addr: number, port: number): void {
    if (this.closed) return;
    this.addon.udpSend(this.fd, buf, offset, length, addr, port, this.sendStats);
  }

  stats(): UdpStats {
    const r = this.reader ? this.addon.readerStats(this.reader) : undefined;
    const s = this.sendStats;
    return {
      impl: 'native',
      received: r?.frames ?? 0,
      batches: r?.batches ?? 0,
      truncated: r?.truncated ?? 0,
      receiveErrors: r?.errors ?? 0,
      sent: s[STAT_DONE]!,
      sendDropped: s[STAT_DROPPED]!,
      sendErrors: s[STAT_ERRORS]!,
      lastSendErrno: s[STAT_LAST_ERRNO]!,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = undefined;
    this.reader = stopReaderAndClose(this.addon, this.reader, () => {
      for (const fd of this.laneFds) this.addon.udpClose(fd);
    });
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * node:dgram fallback. Received datagrams are copied into the slab and flushed as one batch when the
 * slab is full or at setImmediate (after libuv's read loop for this wake-up). Sends copy each datagram,
 * because dgram may queue the buffer after the caller has reused its slab.
 */
export class DgramUdpSocket implements UdpEndpoint {
  readonly impl = 'dgram' as const;
  readonly port: number;
  private readonly sock: dgram.Socket;
  private readonly stride: number;
  private readonly batch: MutableDatagramBatch;
  private cb: ((batch: DatagramBatch) => void) | undefined;
  private flushScheduled = false;
  private closed = false;
  private readonly addrCache = new Map<number, string>();
  private readonly logger: Logger;
  private readonly counters = {
    received: 0,
    batches: 0,
    truncated: 0,
    receiveErrors: 0,
    sent: 0,
    sendDropped: 0,
    sendErrors: 0,
    lastSendErrno: 0,
  };
  private readonly onSent = (err: Error | null): void => {
    const c = this.counters;
    if (!err) {
      c.sent++;
      return;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'ENOBUFS') c.sendDropped++;
    else c.sendErrors++;
    c.lastSendErrno = -((err as NodeJS.ErrnoException).errno ?? 0);
  };

  private constructor(sock: dgram.Socket, init: UdpInit) {
    this.sock = sock;
    this.logger = init.logger;
    this.port = sock.address().port;
    this.stride = strideFor(init.maxDatagramBytes ?? UDP_MAX_DATAGRAM_BYTES);
    this.batch = newBatch(init.batchDatagrams ?? UDP_BATCH_DATAGRAMS, this.stride);
    sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    sock.on('error', (err) => {
      this.counters.receiveErrors++;
      init.logger.debug({ err, port: this.port }, 'udp socket error');
    });
  }

  static async open(port: number, init: UdpInit): Promise<DgramUdpSocket> {
    const rcv = init.rcvbufBytes ?? UDP_RCVBUF_BYTES;
    const snd = init.sndbufBytes ?? UDP_SNDBUF_BYTES;
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const failed = once(sock, 'error').then(([err]) => {
      throw err as Error;
    });
    sock.bind({ port, address: init.bindAddr ?? '0.0.0.0' });
    try {
      await Promise.race([once(sock, 'listening'), failed]);
    } catch (err) {
      sock.close();
      throw err;
    }
    failed.catch(() => {}); // later errors go to the handler installed by the constructor
    // Buffer sizes after bind (dgram needs a bound socket); capped by net.core.[rw]mem_max.
    try {
      if (rcv > 0) sock.setRecvBufferSize(rcv);
      if (snd > 0) sock.setSendBufferSize(snd);
    } catch (err) {
      init.logger.debug({ err }, 'udp buffer size not applied');
    }
    return new DgramUdpSocket(sock, init);
  }

  onDatagrams(cb: (batch: DatagramBatch) => void): void {
    if (this.closed) throw new Error(`udp socket on port ${this.port} is closed`);
    this.cb = cb;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (!this.cb) return;
    if (msg.length > this.stride) {
      this.counters.truncated++;
      return;
    }
    const b = this.batch;
    const i = b.count;
    const off = i * this.stride;
    msg.copy(b.buf, off);
    b.offsets[i] = off;
    b.lengths[i] = msg.length;
    b.addrs[i] = ipv4ToU32(rinfo.address);
    b.ports[i] = rinfo.port;
    b.count = i + 1;
    this.counters.received++;
    if (b.count === b.offsets.length) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  private readonly flushSoon = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    const b = this.batch;
    if (b.count === 0) return;
    this.counters.batches++;
    try {
      this.cb?.(b);
    } catch (err) {
      // Runs from setImmediate: a throw here would be an uncaught exception.
      this.counters.receiveErrors++;
      handlerFailed(this.logger, this.port, err);
    } finally {
      b.count = 0;
    }
  }

  private addrString(a: number): string {
    let s = this.addrCache.get(a);
    if (s === undefined) {
      if (this.addrCache.size >= 4096) this.addrCache.clear();
      s = u32ToIpv4(a);
      this.addrCache.set(a, s);
    }
    return s;
  }

  sendBatch(batch: Batch, addrs: Uint32Array, ports: Uint16Array): void {
    for (let i = 0; i < batch.count; i++) {
      this.send(batch.buf, batch.offsets[i]!, batch.lengths[i]!, addrs[i]!, ports[i]!);
    }
  }

  send(buf: Uint8Array, offset: number, length: number, addr: number, port: number): void {
    if (this.closed) return;
    const copy = Buffer.allocUnsafe(length);
    copy.set(buf.subarray(offset, offset + length));
    try {
      this.sock.send(copy, port, this.addrString(addr), this.onSent);
    } catch (err) {
      this.onSent(err as Error);
    }
  }

  stats(): UdpStats {
    return { impl: 'dgram', ...this.counters };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = undefined;
    this.batch.count = 0;
    this.sock.close();
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Opens the data-plane socket on `port` (0 = any; see `.port`). Native when the addon loads (or is
 * given), else node:dgram with a warning. Rejects with the OS error (EADDRINUSE, ...) on bind failure.
 */
export async function openUdp(port: number, init: UdpInit): Promise<UdpEndpoint> {
  const bindAddr = init.bindAddr ?? '0.0.0.0';
  const bindU32 = ipv4ToU32(bindAddr);
  let addon = init.addon;
  let reason = 'disabled by configuration';
  if (addon === undefined) {
    const r = tryLoadNative();
    addon = r.addon ?? null;
    if (r.addon === undefined) reason = r.reason;
  }
  if (addon) return new NativeUdpSocket(addon, bindU32, port, init);
  init.logger.warn({ reason, port }, 'native udp unavailable, using dgram (slower)');
  return DgramUdpSocket.open(port, init);
}
