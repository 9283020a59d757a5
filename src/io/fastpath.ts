// FastPath (core/ports.ts) over the native addon's I/O threads (native/src/fastpath.h): the TAP and the
// UDP socket are read by threads that carry known unicast traffic themselves and hand the rest to the
// overlay; one egress and one ingress thread per lane (a TAP queue and a SO_REUSEPORT socket each,
// TSWEAVE_DATAPLANE_THREADS lanes), or one thread per lane for both (TSWEAVE_DATAPLANE_THREAD_MODE=unified). Turned off with TSWEAVE_FASTPATH=0 (then the overlay reads both
// through the JS readers).
import type { Logger } from '../core/logger.js';
import type { Batch, FastIngressBatch, FastPath, FastRoutes, FastSessionInit, FastSessionStats } from '../core/ports.js';
import { MAC_CACHE_MAX_AGE_MS } from '../core/defaults.js';
import type { FastPathHandle, NativeAddon } from './native.js';

/** Frames per egress hand-off (one TAP read batch) and entries per ingress hand-off. */
const EGRESS_ENTRIES = 64;
const INGRESS_ENTRIES = 512;
/** Egress hand-off slab: one superframe read plus a batch of typical frames (as io/tap.ts sizes its slab). */
const EGRESS_SLAB_BYTES = 65536 + 256 + 16 + EGRESS_ENTRIES * (2048 + 16);
const INGRESS_SLAB_BYTES = 1 << 20;
const MAC_MAX_ENTRIES = 65536;

export interface NativeFastPathInit {
  addon: NativeAddon;
  logger: Logger;
  tapFd: number;
  tapOffload: boolean;
  udpFd: number;
  /**
   * Lanes beyond the first: every lane's TAP queue fd and UDP socket fd, lane 0 first (tapFd, udpFd).
   * @default one lane
   */
  lanes?: { tapFds: readonly number[]; udpFds: readonly number[] };
  /** UDP GRO on receive; the router passes TSWEAVE_UDP_GRO. @default true */
  udpGro?: boolean;
  /**
   * One thread per lane for both directions (TSWEAVE_DATAPLANE_THREAD_MODE=unified) instead of an egress
   * and an ingress thread. @default false
   */
  unified?: boolean;
  localPeer: number;
  /** Largest datagram (Overlay.maxDatagramBytes(mtu)). */
  maxDatagramBytes: number;
}

export class NativeFastPath implements FastPath {
  private readonly egress = {
    buf: Buffer.alloc(EGRESS_SLAB_BYTES),
    offsets: new Int32Array(EGRESS_ENTRIES),
    lengths: new Int32Array(EGRESS_ENTRIES),
    count: 0,
  };
  private readonly ingress = {
    buf: Buffer.alloc(INGRESS_SLAB_BYTES),
    offsets: new Int32Array(INGRESS_ENTRIES),
    lengths: new Int32Array(INGRESS_ENTRIES),
    kinds: new Uint8Array(INGRESS_ENTRIES),
    peers: new Float64Array(INGRESS_ENTRIES),
    dsts: new Float64Array(INGRESS_ENTRIES),
    addrs: new Uint32Array(INGRESS_ENTRIES),
    ports: new Uint16Array(INGRESS_ENTRIES),
    count: 0,
  };
  private handle: FastPathHandle | undefined;
  private stopped = false;

  constructor(private readonly init: NativeFastPathInit) {}

  start(onLocalFrames: (batch: Batch) => void, onIngress: (batch: FastIngressBatch) => void): void {
    if (this.handle || this.stopped) throw new Error('fast path already started');
    const { addon, logger } = this.init;
    const egress = this.egress;
    const ing = this.ingress;
    const failed = (dir: string, n: number): void => {
      logger.error({ direction: dir, errno: addon.errnoName(n) }, 'fast path thread stopped');
    };
    const lanes = this.init.lanes;
    this.handle = addon.fastpathStart(
      lanes ? Int32Array.from(lanes.tapFds) : this.init.tapFd,
      lanes ? Int32Array.from(lanes.udpFds) : this.init.udpFd,
      this.init.tapOffload,
      this.init.udpGro ?? true,
      this.init.localPeer,
      this.init.maxDatagramBytes,
      MAC_CACHE_MAX_AGE_MS,
      MAC_MAX_ENTRIES,
      egress.buf,
      egress.offsets,
      egress.lengths,
      (n) => {
        if (n < 0) return failed('egress', n);
        egress.count = n;
        onLocalFrames(egress);
      },
      ing.buf,
      ing.offsets,
      ing.lengths,
      ing.kinds,
      ing.peers,
      ing.dsts,
      ing.addrs,
      ing.ports,
      (n) => {
        if (n < 0) return failed('ingress', n);
        ing.count = n;
        onIngress(ing);
      },
      this.init.unified ?? false,
    );
  }

  private get h(): FastPathHandle {
    if (!this.handle) throw new Error('fast path not started');
    return this.handle;
  }

  addSession(s: FastSessionInit): void {
    const k = s.keys;
    this.init.addon.fastpathAddSession(
      this.h,
      s.peer,
      s.localIndex,
      s.remoteIndex,
      s.remoteAddr,
      s.remotePort,
      s.lastCounter,
      k?.sendKey ?? null,
      k?.sendSalt ?? null,
      k?.recvKey ?? null,
      k?.recvSalt ?? null,
      s.localLanes ?? 1,
      s.remoteLanes ?? 1,
      s.csumPartial ?? false,
    );
  }

  removeSession(peer: number): void {
    if (this.handle && !this.stopped) this.init.addon.fastpathRemoveSession(this.handle, peer);
  }

  setEligible(peer: number, eligible: boolean): void {
    this.init.addon.fastpathSetEligible(this.h, peer, eligible);
  }

  nextCounter(peer: number): number {
    const c = this.init.addon.fastpathNextCounter(this.h, peer);
    if (c === 0) throw new Error(`fast path has no session for peer ${peer}`);
    return c;
  }

  learn(mac: number, peer: number): void {
    this.init.addon.fastpathLearn(this.h, mac, peer);
  }

  setRoutes(r: FastRoutes): void {
    this.init.addon.fastpathSetRoutes(this.h, r.dsts, r.hops, r.origins, r.first, r.kids);
  }

  broadcastDuplicate(origin: number, dst: number): boolean | undefined {
    if (!this.handle || this.stopped) return undefined;
    return this.init.addon.fastpathBroadcastDuplicate(this.handle, origin, dst);
  }

  setBroadcastStart(last: number): void {
    this.init.addon.fastpathSetBroadcastStart(this.h, last);
  }

  nextBroadcast(): number | undefined {
    if (!this.handle || this.stopped) return undefined;
    return this.init.addon.fastpathNextBroadcast(this.handle);
  }

  setRecvKey(peer: number, gen: number, key: Uint8Array, salt: Uint8Array, graceMs: number): void {
    this.init.addon.fastpathSetRecvKey(this.h, peer, gen, key, salt, graceMs);
  }

  setSendKey(peer: number, gen: number, key: Uint8Array, salt: Uint8Array): void {
    this.init.addon.fastpathSetSendKey(this.h, peer, gen, key, salt);
  }

  stats(): Record<string, number | boolean> {
    return this.handle ? this.init.addon.fastpathStats(this.handle) : { running: false };
  }

  sessionStats(peer: number): FastSessionStats | undefined {
    return this.handle ? this.init.addon.fastpathSessionStats(this.handle, peer) : undefined;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.handle) this.init.addon.fastpathStop(this.handle);
  }
}
