// Forwarding decisions for Ethernet frames (DESIGN.md §4), the reference the fast path is tested against.
//
//   from the local bridge (TAP):  learn src MAC → us; group or unknown dst → our broadcast tree;
//                                 known remote dst → unicast next hop towards the peer behind it.
//   from a peer (origin, dst):    learn src MAC → origin; dst = us → bridge; dst = broadcast → bridge and
//                                 onwards along origin's tree, once per broadcast number (broadcast-dedup.ts);
//                                 dst = another peer → relay by unicast route.
//
// A relaying peer never needs the MAC: it forwards by destination peer. Frames are never copied here;
// the sink receives views into the caller's buffer.

import { BroadcastDedup, BroadcastNumbering, isBroadcastDst, type BroadcastSource } from './broadcast-dedup.js';
import { ETH_HEADER_BYTES, dstMac, isGroupMac, srcMac } from './mac.js';
import type { MacCache } from './mac-cache.js';

/** Routes as the data plane needs them: peers as 48-bit numbers. */
export interface RouteTable {
  /** Next hop towards dst, or undefined if unreachable. */
  unicastNextHop(dst: number): number | undefined;
  /** Where this peer sends a broadcast that originated at `origin` (excluding where it came from). */
  broadcastNextHops(origin: number): readonly number[];
  /** Calls `listener` whenever routes may have changed (for a fast path's copy of "direct or not"). */
  onChange?(listener: () => void): void;
  /** Every peer the routes know besides us (a fast path's copy of the routes: fast-routes.ts). */
  peers?(): readonly number[];
}

/** Remembers which broadcasts were seen (BroadcastDedup, or a fast path's table shared with it). */
export interface BroadcastSeen {
  duplicate(origin: number, dst: number): boolean;
}

export interface ForwardSink {
  toPeer(nextHop: number, origin: number, dst: number, buf: Uint8Array, off: number, len: number): void;
  toLocal(buf: Uint8Array, off: number, len: number): void;
}

export interface ForwardStats {
  framesFromLocal: number;
  framesFromPeers: number;
  framesToLocal: number;
  framesRelayed: number;
  framesFlooded: number;
  droppedRunt: number;
  droppedLoop: number;
  droppedNoRoute: number;
  /** Broadcasts that arrived a second time (relays disagreeing about the tree). */
  droppedDuplicate: number;
}

export function newForwardStats(): ForwardStats {
  return {
    framesFromLocal: 0,
    framesFromPeers: 0,
    framesToLocal: 0,
    framesRelayed: 0,
    framesFlooded: 0,
    droppedRunt: 0,
    droppedLoop: 0,
    droppedNoRoute: 0,
    droppedDuplicate: 0,
  };
}

export class Forwarder {
  readonly stats: ForwardStats = newForwardStats();
  private readonly numbering: BroadcastSource;

  /**
   * `broadcastStart`: where this router's broadcast numbering starts (random per start, see
   * broadcast-dedup.ts), or the numbering itself (a fast path that sends local broadcasts itself: one
   * sequence for both). `seen`: the broadcast dedup; a fast path that forwards broadcasts itself passes
   * the table its threads use, so a broadcast is delivered once whichever path saw it first.
   */
  constructor(
    private readonly localPeer: number,
    private readonly routes: RouteTable,
    private readonly macs: MacCache,
    private readonly sink: ForwardSink,
    broadcastStart: number | BroadcastSource = 0,
    private readonly seen: BroadcastSeen = new BroadcastDedup(),
  ) {
    this.numbering = typeof broadcastStart === 'number' ? new BroadcastNumbering(broadcastStart) : broadcastStart;
  }

  /** A frame read from the local bridge. */
  fromLocal(buf: Uint8Array, off: number, len: number, now: number): void {
    if (len < ETH_HEADER_BYTES) {
      this.stats.droppedRunt++;
      return;
    }
    this.stats.framesFromLocal++;
    this.macs.learn(srcMac(buf, off), this.localPeer, now);
    if (!isGroupMac(buf, off)) {
      const owner = this.macs.lookup(dstMac(buf, off), now);
      if (owner === this.localPeer) {
        // The bridge delivers local traffic itself; a copy that reaches the TAP needs nothing from us.
        return;
      }
      if (owner !== undefined) {
        const hop = this.routes.unicastNextHop(owner);
        if (hop !== undefined) {
          this.sink.toPeer(hop, this.localPeer, owner, buf, off, len);
          return;
        }
      }
    }
    this.flood(this.localPeer, buf, off, len);
  }

  /** A frame that arrived from a peer (after authentication and decryption). */
  fromPeer(origin: number, dst: number, buf: Uint8Array, off: number, len: number, now: number): void {
    if (len < ETH_HEADER_BYTES) {
      this.stats.droppedRunt++;
      return;
    }
    if (origin === this.localPeer) {
      this.stats.droppedLoop++;
      return;
    }
    this.stats.framesFromPeers++;
    if (dst === this.localPeer) {
      this.macs.learn(srcMac(buf, off), origin, now);
      this.deliverLocal(buf, off, len);
      return;
    }
    if (isBroadcastDst(dst)) {
      if (this.seen.duplicate(origin, dst)) {
        this.stats.droppedDuplicate++;
        return;
      }
      this.macs.learn(srcMac(buf, off), origin, now);
      this.deliverLocal(buf, off, len);
      for (const hop of this.routes.broadcastNextHops(origin)) this.sink.toPeer(hop, origin, dst, buf, off, len);
      return;
    }
    const hop = this.routes.unicastNextHop(dst);
    if (hop === undefined) {
      this.stats.droppedNoRoute++;
      return;
    }
    this.stats.framesRelayed++;
    this.sink.toPeer(hop, origin, dst, buf, off, len);
  }

  /** A broadcast from `origin` that a fast path delivered and forwarded itself: only learn its source. */
  learnFrom(origin: number, buf: Uint8Array, off: number, len: number, now: number): void {
    if (len < ETH_HEADER_BYTES || origin === this.localPeer) return;
    this.macs.learn(srcMac(buf, off), origin, now);
  }

  private deliverLocal(buf: Uint8Array, off: number, len: number): void {
    this.stats.framesToLocal++;
    this.sink.toLocal(buf, off, len);
  }

  private flood(origin: number, buf: Uint8Array, off: number, len: number): void {
    this.stats.framesFlooded++;
    const dst = this.numbering.next();
    for (const hop of this.routes.broadcastNextHops(origin)) this.sink.toPeer(hop, origin, dst, buf, off, len);
  }
}
