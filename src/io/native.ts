// The only module that loads the native addon (native/build/Release/tsweave_native.node, built by
// `npm install` → scripts/build-native.mjs → node-gyp). Everything else uses the typed `NativeAddon`
// below, or the wrappers in io/tap.ts, io/udp.ts and `nativeDataAead()` here.
//
// Conventions shared by every function (the C files in native/src document the same contract):
// - Slabs: one preallocated Buffer plus Int32Array offsets/lengths; item i is
//   buf[offsets[i], offsets[i] + lengths[i]). Nothing is allocated per packet on either side.
// - IPv4 addresses are host-order u32 (127.0.0.1 = 0x7f000001); ports host order.
// - Wrong argument → TypeError naming it (code ERR_INVALID_ARG_TYPE); an item outside its buffer →
//   RangeError (ERR_OUT_OF_RANGE), thrown before anything is modified; a failed syscall → Error with
//   `code` = errno name ("EPERM"), `errno` = -errno, `syscall`, message "TUNSETIFF vethwe-tap: ...".
// - Per-packet failures are never thrown: they are returned (counts, status bytes) or accumulated in an
//   optional `stats: Float64Array(4)` = [done, dropped (EAGAIN/ENOBUFS), errors, lastErrno].
// - Readers call `cb(count)` once per batch, with `globalThis` as `this`; the batch is valid only during
//   the callback. `cb(-errno)` once on a fatal error, after which the reader is stopped.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NativeAddonError, UnsupportedPlatformError, errorMessage } from '../core/errors.js';
import type { AeadHandle, DataAeadEngine, OpenBatch, SealBatch } from '../crypto/data-aead.js';
import type { FastSessionStats } from '../core/ports.js';

/** The ABI this wrapper was written for; native/src/addon.c TSW_ABI_VERSION. */
export const NATIVE_ABI_VERSION = 11;

/** Accumulated counters of a batch write/send: [done, dropped, errors, lastErrno]. */
export const STAT_DONE = 0;
export const STAT_DROPPED = 1;
export const STAT_ERRORS = 2;
export const STAT_LAST_ERRNO = 3;

declare const readerBrand: unique symbol;
/** A running poll-driven batch reader (stop it with `readerStop`). */
export interface ReaderHandle {
  readonly [readerBrand]: true;
}
declare const nativeAeadBrand: unique symbol;
/** A native AES-256-GCM context (one key, one direction). */
export interface NativeAeadHandle {
  readonly [nativeAeadBrand]: true;
}

export interface ReaderStats {
  /** Poll wake-ups. */
  wakeups: number;
  /** Callbacks with count > 0. */
  batches: number;
  /** Frames or datagrams delivered. */
  frames: number;
  /** read()/recvmmsg() errors other than EAGAIN/EINTR. */
  errors: number;
  /** UDP datagrams dropped because they were longer than the slot stride. */
  truncated: number;
  /** TAP offload: GSO superframes read, frames cut from them, frames that could not be handled. */
  superframes: number;
  segments: number;
  badOffload: number;
  lastErrno: number;
  active: boolean;
}

export interface NativeAddon {
  readonly abiVersion: number;

  // ---- TAP (native/src/tap.c)
  /**
   * Opens /dev/net/tun and attaches TAP `name` (IFF_TAP|IFF_NO_PI, O_NONBLOCK|O_CLOEXEC). With
   * `offload`, also IFF_VNET_HDR + TUNSETOFFLOAD(CSUM|TSO4) (native/src/offload.h); `offload` in the
   * result says whether the kernel accepted it (else `offloadErrno` says why and the TAP is plain).
   */
  tapOpen(
    name: string,
    offload?: boolean,
    /** IFF_MULTI_QUEUE: each further open of the same name attaches one more queue (a fast-path lane's). */
    multiQueue?: boolean,
  ): { fd: number; name: string; offload: boolean; offloadErrno?: number };
  /**
   * Starts reading frames, packed into `slab`: each frame starts 16-aligned after `headroom` free
   * bytes, is followed by `tailroom` free bytes, and gets up to `maxFrameBytes` (longer frames are
   * truncated by the kernel). At most offsets.length frames per callback, up to 4 callbacks per wake-up.
   */
  tapReaderStart(
    fd: number,
    slab: Uint8Array,
    offsets: Int32Array,
    lengths: Int32Array,
    maxFrameBytes: number,
    headroom: number,
    tailroom: number,
    cb: (count: number) => void,
    /** The fd was opened with offload: read virtio_net_hdr + frame, segment superframes (maxFrameBytes ≥ 65792). */
    offload?: boolean,
  ): ReaderHandle;
  /**
   * One write() per frame; returns how many were written. With `offload` (a vnet TAP), runs of
   * consecutive same-flow IPv4 TCP frames are coalesced into one GSO write; groStats accumulates
   * [gso writes, frames in them].
   */
  tapWriteFrames(
    fd: number,
    buf: Uint8Array,
    offsets: Int32Array,
    lengths: Int32Array,
    count: number,
    stats?: Float64Array,
    offload?: boolean,
    groStats?: Float64Array,
  ): number;
  /** Returns 1 if written, 0 if dropped (counted in stats). */
  tapWriteFrame(fd: number, buf: Uint8Array, offset: number, length: number, stats?: Float64Array, offload?: boolean): number;
  tapClose(fd: number): void;

  // ---- UDP, IPv4 (native/src/udp.c)
  /**
   * Bound, non-blocking socket; rcvbuf/sndbuf > 0 are forced (SO_*BUFFORCE, falling back to SO_*BUF).
   * reusePort: SO_REUSEPORT (the fast path's lanes: one socket each on one port).
   */
  udpOpen(
    bindAddr: number,
    port: number,
    rcvbuf: number,
    sndbuf: number,
    reusePort?: boolean,
  ): { fd: number; port: number; rcvbuf: number; sndbuf: number };
  /**
   * Steers the datagrams of a SO_REUSEPORT group by receiver index: fds are the group's sockets in the
   * order they were bound; a datagram goes to fds[index % fds.length] (a classic BPF program on the
   * group, SO_ATTACH_REUSEPORT_CBPF), and socket i sends with IP TTL 64 - i so that the receiving
   * side's GRO never merges two lanes' datagrams into one train. Throws the errno error.
   */
  udpSteerLanes(fds: Int32Array): void;
  /**
   * Starts a recvmmsg reader: slot i = slab[i*stride, (i+1)*stride), n = min length of the four arrays.
   * Datagrams longer than `stride` are dropped and counted as truncated. Up to 8 callbacks per wake-up.
   */
  udpReaderStart(
    fd: number,
    slab: Uint8Array,
    stride: number,
    offsets: Int32Array,
    lengths: Int32Array,
    addrs: Uint32Array,
    ports: Uint16Array,
    cb: (count: number) => void,
    /**
     * > 0: turn on UDP_GRO and receive into this many slots (slab ≥ groSlots × stride); a slot may then
     * hold many same-size datagrams, split into entries (offsets point inside the slot).
     */
    groSlots?: number,
  ): ReaderHandle;
  /**
   * sendmmsg, datagram i to addrs[i]:ports[i]; runs of same-destination, same-length datagrams leave as
   * one UDP GSO message (UDP_SEGMENT) when the kernel allows. EAGAIN drops the rest of the batch;
   * returns how many datagrams were sent.
   */
  udpSendBatch(
    fd: number,
    buf: Uint8Array,
    offsets: Int32Array,
    lengths: Int32Array,
    count: number,
    addrs: Uint32Array,
    ports: Uint16Array,
    stats?: Float64Array,
  ): number;
  /** One sendto(); returns 1 if sent, 0 if dropped (counted in stats). */
  udpSend(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    addr: number,
    port: number,
    stats?: Float64Array,
  ): number;
  udpClose(fd: number): void;

  // ---- readers (native/src/reader.c)
  /** Stops a reader and releases its slab/arrays/callback. Idempotent; safe inside its callback. */
  readerStop(h: ReaderHandle): void;
  readerStats(h: ReaderHandle): ReaderStats;

  // ---- AES-256-GCM over node's OpenSSL (native/src/aead.c); semantics in crypto/data-aead.ts
  aeadCreate(key: Uint8Array, salt: Uint8Array, forSeal: boolean): NativeAeadHandle;
  aeadSealBatch: SealBatch<NativeAeadHandle>;
  aeadOpenBatch: OpenBatch<NativeAeadHandle>;
  aeadDestroy(h: NativeAeadHandle): void;

  // ---- the fast path: I/O threads in lanes (native/src/fastpath.h, fastpath_js.c); wrapped by io/fastpath.ts
  fastpathStart(
    /** One fd, or one per lane: the queues of one multi-queue TAP / sockets on one port (SO_REUSEPORT). */
    tapFds: number | Int32Array,
    udpFds: number | Int32Array,
    tapOffload: boolean,
    udpGro: boolean,
    localPeer: number,
    stride: number,
    macMaxAgeMs: number,
    macMaxEntries: number,
    eSlab: Uint8Array,
    eOffsets: Int32Array,
    eLengths: Int32Array,
    eCb: (count: number) => void,
    iSlab: Uint8Array,
    iOffsets: Int32Array,
    iLengths: Int32Array,
    iKinds: Uint8Array,
    iPeers: Float64Array,
    iDsts: Float64Array,
    iAddrs: Uint32Array,
    iPorts: Uint16Array,
    iCb: (count: number) => void,
    /** One thread per lane doing both directions (fastpath_unified.c); undefined = false (two threads). */
    unified?: boolean,
  ): FastPathHandle;
  fastpathStop(h: FastPathHandle): void;
  fastpathAddSession(
    h: FastPathHandle,
    peer: number,
    localIndex: number,
    remoteIndex: number,
    remoteAddr: number,
    remotePort: number,
    lastCounter: number,
    sendKey?: Uint8Array | null,
    sendSalt?: Uint8Array | null,
    recvKey?: Uint8Array | null,
    recvSalt?: Uint8Array | null,
    /** Receive lanes of each end: indexes localIndex..+localLanes-1 find the session; send lane i
     *  addresses remoteIndex + i % remoteLanes. 1..16 each. */
    localLanes?: number,
    remoteLanes?: number,
    /** Both ends announced csumPartial (wire/hello.ts): bit 15 of frame lengths is the flag. */
    csumPartial?: boolean,
  ): void;
  fastpathRemoveSession(h: FastPathHandle, peer: number): void;
  fastpathSetEligible(h: FastPathHandle, peer: number, eligible: boolean): void;
  /** The session's next send counter (shared with the egress thread); 0 when there is no such session. */
  fastpathNextCounter(h: FastPathHandle, peer: number): number;
  fastpathLearn(h: FastPathHandle, mac: number, peer: number): boolean;
  /** Rekeying: the new receive key (generation byte gen) becomes current, the current one stays
   *  accepted graceMs longer. false: no encrypted session of peer. */
  fastpathSetRecvKey(h: FastPathHandle, peer: number, gen: number, key: Uint8Array, salt: Uint8Array, graceMs: number): boolean;
  /** Rekeying: seal with this key (generation byte gen) from now on. false: no encrypted session of peer. */
  fastpathSetSendKey(h: FastPathHandle, peer: number, gen: number, key: Uint8Array, salt: Uint8Array): boolean;
  fastpathStats(h: FastPathHandle): Record<string, number | boolean>;
  /** One session's fast-path traffic; undefined without such a session. */
  fastpathSessionStats(h: FastPathHandle, peer: number): FastSessionStats | undefined;
  /** Replaces the relay routes and broadcast trees (native/src/fastpath_relay_js.c). */
  fastpathSetRoutes(h: FastPathHandle, dsts: Float64Array, hops: Float64Array, origins: Float64Array, first: Uint32Array, kids: Float64Array): void;
  /** The shared broadcast dedup: true when (origin, dst) was seen already, else records it. */
  fastpathBroadcastDuplicate(h: FastPathHandle, origin: number, dst: number): boolean;
  /** This router's broadcast numbering continues after `last` (0..2^32-1). */
  fastpathSetBroadcastStart(h: FastPathHandle, last: number): void;
  /** The destination peer of this router's next broadcast, from the sequence the egress lanes use too. */
  fastpathNextBroadcast(h: FastPathHandle): number;

  /** "EPERM" for 1 or -1. */
  errnoName(errno: number): string;
}

declare const fastPathHandleBrand: unique symbol;
/** A running fast path (opaque). */
export interface FastPathHandle {
  readonly [fastPathHandleBrand]: true;
}

const ADDON_REL_PATH = join('native', 'build', 'Release', 'tsweave_native.node');
const REBUILD_HINT = 'run `npm rebuild`; needs python3, make, cc';

/**
 * The package root: the nearest folder above `from` with a package.json. Works from src/io (tsx) and
 * from dist/src/io (tsc output mirrors the tree).
 */
export function findPackageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new NativeAddonError(`cannot find package.json above ${from} to locate ${ADDON_REL_PATH}`);
    dir = up;
  }
}

/** Absolute path of the addon file (whether or not it exists). */
export function nativeAddonPath(): string {
  return join(findPackageRoot(), ADDON_REL_PATH);
}

let cached: NativeAddon | undefined;

/**
 * Loads the addon once. Throws UnsupportedPlatformError off Linux, NativeAddonError when the file is
 * missing, fails to load, or has another ABI version.
 */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw new UnsupportedPlatformError(
      `the tsweave native addon (TAP, batched UDP) needs Linux; this is ${process.platform}`,
      { fields: { platform: process.platform } },
    );
  }
  const path = nativeAddonPath();
  let mod: NativeAddon;
  try {
    mod = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (err) {
    const missing = !existsSync(path);
    throw new NativeAddonError(
      `${missing ? 'native addon not built' : 'cannot load native addon'} (${path}): ` +
        `${missing ? 'file missing' : errorMessage(err)}; ${REBUILD_HINT}`,
      { cause: err, fields: { path } },
    );
  }
  if (mod.abiVersion !== NATIVE_ABI_VERSION) {
    throw new NativeAddonError(
      `native addon ${path} has ABI version ${String(mod.abiVersion)}, this code needs ${NATIVE_ABI_VERSION}; ${REBUILD_HINT}`,
      { fields: { path } },
    );
  }
  cached = mod;
  return mod;
}

export type TryLoadResult = { addon: NativeAddon; reason?: undefined } | { addon: undefined; reason: string };

/** Like loadNative(), but returns the reason instead of throwing (for fallbacks that log it). */
export function tryLoadNative(): TryLoadResult {
  try {
    return { addon: loadNative() };
  } catch (err) {
    return { addon: undefined, reason: errorMessage(err) };
  }
}

/** The data-plane AEAD engine over the addon (same semantics as `nodeDataAead` in crypto/data-aead.ts). */
export function nativeDataAead(addon: NativeAddon = loadNative()): DataAeadEngine {
  // NativeAeadHandle and AeadHandle are both opaque; the casts only move between the two brands.
  return {
    name: 'native',
    create: (key, salt, forSeal) => addon.aeadCreate(key, salt, forSeal) as unknown as AeadHandle,
    sealBatch: (h, buf, offsets, lengths, count) =>
      addon.aeadSealBatch(h as unknown as NativeAeadHandle, buf, offsets, lengths, count),
    openBatch: (h, buf, offsets, lengths, count, status) =>
      addon.aeadOpenBatch(h as unknown as NativeAeadHandle, buf, offsets, lengths, count, status),
    destroy: (h) => addon.aeadDestroy(h as unknown as NativeAeadHandle),
  };
}

/**
 * Closes an fd that a native batch reader polls (TAP, UDP socket): the reader is stopped first, so its
 * thread never polls a closed, possibly already reused, fd. Returns undefined for the caller's reader field.
 */
export function stopReaderAndClose(addon: NativeAddon, reader: ReaderHandle | undefined, closeFd: () => void): undefined {
  if (reader) addon.readerStop(reader);
  closeFd();
  return undefined;
}
