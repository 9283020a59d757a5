// TapDevice (core/ports.ts) over the native addon: a TAP opened with IFF_TAP|IFF_NO_PI, read by a
// poll-driven batch reader (up to `batchFrames` frames per callback, packed into one slab) and written
// with one write() per frame inside one N-API call. DATAPLANE-PROBE.md §3: `fs.read` on a TAP costs
// ~18 µs a frame and can hang process exit; this path ~1 µs. There is deliberately no `fs` fallback.
//
// Offload (default on; TSWEAVE_TAP_OFFLOAD=0 turns it off): the TAP is opened with IFF_VNET_HDR and
// TSO4/checksum offload, so one read() returns a whole TCP superframe (up to 64 KiB) that the addon
// cuts into MTU-sized frames, and writeFrames coalesces consecutive frames of one TCP flow into one GSO
// write (native/src/offload.h). The frames the rest of tsweave sees are the same either way. If the
// kernel refuses offload the TAP is plain, and that is logged once at warn.
//
// A batch handed to `onFrames` is valid only during the callback: the next wake-up reuses the slab.
// Link state, MTU and addresses are set elsewhere (io/ via iproute2), not here.
import { readdirSync } from 'node:fs';

import type { Logger } from '../core/logger.js';
import type { Batch, TapDevice } from '../core/ports.js';
import { STAT_DONE, STAT_DROPPED, STAT_ERRORS, STAT_LAST_ERRNO, loadNative, stopReaderAndClose, type NativeAddon, type ReaderHandle, type ReaderStats } from './native.js';

/** Largest frame a TAP read accepts by default: never truncate. */
export const TAP_MAX_FRAME_BYTES = 65535;
export const TAP_BATCH_FRAMES = 64;
/** With offload a read returns up to 64 KiB + the Ethernet header (native TSW_TAP_SUPERFRAME_BYTES). */
export const TAP_SUPERFRAME_BYTES = 65536 + 256;
/** Slab bytes reserved per frame for the usual MTU-sized frame (frames are packed, 16-aligned). */
const TYPICAL_FRAME_SLOT_BYTES = 2048;

export interface TapInit {
  /** The addon; @default loadNative() (throws NativeAddonError / UnsupportedPlatformError). */
  addon?: NativeAddon;
  /** Bytes offered to each read(); longer frames are truncated by the kernel. @default 65535 */
  maxFrameBytes?: number;
  /** Frames per callback at most. @default 64 */
  batchFrames?: number;
  /** Free bytes before each frame in the slab (for prepending headers in place). @default 0 */
  headroom?: number;
  /** Free bytes after each frame in the slab. @default 0 */
  tailroom?: number;
  /** Reports a fatal reader error (the reader has stopped) and a refused offload. */
  logger?: Logger;
  /** Ask for TSO/GRO offload (IFF_VNET_HDR); the router passes TSWEAVE_TAP_OFFLOAD. @default true */
  offload?: boolean;
  /**
   * > 1: a multi-queue TAP (IFF_MULTI_QUEUE) with this many queues, one per fast-path lane (`queueFds`);
   * this object reads and writes queue 0. Only for a fast path, which reads every queue. @default 1
   */
  queues?: number;
}

export interface TapStats {
  reader: ReaderStats | undefined;
  written: number;
  /** Frames the kernel refused with EAGAIN (queue full). */
  writeDropped: number;
  /** Frames refused with another error (EIO when the link is down, ...). */
  writeErrors: number;
  lastWriteErrno: number;
  /** Whether the TAP runs with offload (IFF_VNET_HDR, TSO4). */
  offload: boolean;
  /** Coalesced GSO writes and the frames they carried. */
  groWrites: number;
  groFrames: number;
}

export class NativeTapDevice implements TapDevice {
  readonly name: string;
  readonly fd: number;
  /** Every queue's fd, queue 0 (`fd`) first: one per fast-path lane. */
  readonly queueFds: readonly number[];
  private readonly addon: NativeAddon;
  private readonly init: Required<Omit<TapInit, 'addon' | 'logger' | 'offload' | 'queues'>>;
  /** The kernel accepted offload: reads carry virtio_net_hdr, superframes are segmented natively. */
  readonly offload: boolean;
  private readonly groStats = new Float64Array(2);
  private readonly logger: Logger | undefined;
  private reader: ReaderHandle | undefined;
  private cb: ((batch: Batch) => void) | undefined;
  private readonly slab: Buffer;
  private readonly batch: { buf: Buffer; offsets: Int32Array; lengths: Int32Array; count: number };
  private readonly writeStats = new Float64Array(4);
  private closed = false;

  constructor(addon: NativeAddon, opened: { fd: number; name: string; offload?: boolean; queueFds?: readonly number[] }, init: TapInit) {
    this.addon = addon;
    this.fd = opened.fd;
    this.queueFds = opened.queueFds ?? [opened.fd];
    this.name = opened.name;
    this.logger = init.logger;
    this.offload = opened.offload === true;
    const maxFrame = init.maxFrameBytes ?? TAP_MAX_FRAME_BYTES;
    this.init = {
      maxFrameBytes: this.offload ? Math.max(maxFrame, TAP_SUPERFRAME_BYTES) : maxFrame,
      batchFrames: init.batchFrames ?? TAP_BATCH_FRAMES,
      headroom: init.headroom ?? 0,
      tailroom: init.tailroom ?? 0,
    };
    const { maxFrameBytes, batchFrames, headroom, tailroom } = this.init;
    const slot = Math.min(maxFrameBytes, TYPICAL_FRAME_SLOT_BYTES) + headroom + tailroom + 16;
    this.slab = Buffer.alloc(maxFrameBytes + headroom + tailroom + 16 + batchFrames * slot);
    this.batch = {
      buf: this.slab,
      offsets: new Int32Array(batchFrames),
      lengths: new Int32Array(batchFrames),
      count: 0,
    };
  }

  /** Starts the reader on first call; a later call replaces the callback. */
  onFrames(cb: (batch: Batch) => void): void {
    if (this.closed) throw new Error(`tap ${this.name} is closed`);
    this.cb = cb;
    if (this.reader) return;
    const { maxFrameBytes, headroom, tailroom } = this.init;
    this.reader = this.addon.tapReaderStart(
      this.fd,
      this.slab,
      this.batch.offsets,
      this.batch.lengths,
      maxFrameBytes,
      headroom,
      tailroom,
      (count) => this.onBatch(count),
      this.offload,
    );
  }

  private onBatch(count: number): void {
    if (count < 0) {
      this.reader = undefined;
      this.logger?.error({ tap: this.name, errno: this.addon.errnoName(count) }, 'tap reader failed; stopped');
      return;
    }
    this.batch.count = count;
    this.cb?.(this.batch);
  }

  writeFrames(batch: Batch): void {
    if (this.closed) return;
    this.addon.tapWriteFrames(
      this.fd,
      batch.buf,
      batch.offsets,
      batch.lengths,
      batch.count,
      this.writeStats,
      this.offload,
      this.groStats,
    );
  }

  writeFrame(buf: Uint8Array, offset: number, length: number): void {
    if (this.closed) return;
    this.addon.tapWriteFrame(this.fd, buf, offset, length, this.writeStats, this.offload);
  }

  stats(): TapStats {
    const w = this.writeStats;
    return {
      reader: this.reader ? this.addon.readerStats(this.reader) : undefined,
      written: w[STAT_DONE]!,
      writeDropped: w[STAT_DROPPED]!,
      writeErrors: w[STAT_ERRORS]!,
      lastWriteErrno: w[STAT_LAST_ERRNO]!,
      offload: this.offload,
      groWrites: this.groStats[0]!,
      groFrames: this.groStats[1]!,
    };
  }

  /** Stops the reader and closes the fd (the kernel deletes a non-persistent TAP). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = undefined;
    this.reader = stopReaderAndClose(this.addon, this.reader, () => {
      for (const fd of this.queueFds) this.addon.tapClose(fd);
    });
  }
}

/**
 * A multi-queue TAP takes every opener's queue: a second router (or anything) on the same name would
 * silently share this one's traffic. So the first queue must be the only one, as a plain TAP gets
 * EBUSY from TUNSETIFF when it is in use.
 */
function refuseForeignQueues(name: string): void {
  const attached = readdirSync(`/sys/class/net/${name}/queues`).filter((q) => q.startsWith('tx-')).length;
  if (attached > 1) {
    throw Object.assign(new Error(`TUNSETIFF ${name}: the multi-queue TAP has ${attached - 1} queue(s) of another owner`), { code: 'EBUSY', syscall: 'TUNSETIFF' });
  }
}

/** Opens (creating if needed) TAP `name`. Throws errno errors such as EPERM from TUNSETIFF. */
export function openTap(name: string, init: TapInit = {}): NativeTapDevice {
  const addon = init.addon ?? loadNative();
  const wantOffload = init.offload ?? true;
  const queues = init.queues ?? 1;
  const opened = addon.tapOpen(name, wantOffload, queues > 1);
  if (wantOffload && !opened.offload) {
    init.logger?.warn(
      { tap: opened.name, errno: addon.errnoName(opened.offloadErrno ?? 0) },
      'tap offload (IFF_VNET_HDR, TSO) refused by the kernel; reading frame by frame (slower)',
    );
  }
  const queueFds = [opened.fd];
  try {
    if (queues > 1) refuseForeignQueues(opened.name);
    // The further queues attach with the first one's flags (offload as the kernel granted it).
    while (queueFds.length < queues) queueFds.push(addon.tapOpen(opened.name, opened.offload, true).fd);
    return new NativeTapDevice(addon, { ...opened, queueFds }, init);
  } catch (err) {
    for (const fd of queueFds) addon.tapClose(fd);
    throw err;
  }
}
