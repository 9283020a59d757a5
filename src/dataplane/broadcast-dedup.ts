// Exactly-once delivery of broadcast frames when peers disagree about the broadcast tree.
//
// Every peer forwards a broadcast to its children in the origin's tree, computed from its own view of the
// topology. While a change is still spreading by gossip (a connection just became established, e.g. one
// that fell back to TCP; a peer died or came back), two relays can each believe they are a receiver's
// parent, and the receiver gets the frame twice (seen as duplicate ARP replies and `ping -b` DUPs in the
// five-host mesh test). Trees cannot be made to agree instantly, so the origin numbers its broadcasts and
// each receiver drops a (origin, sequence) it has already seen.
//
// The sequence rides in the frame's destination-peer field: a broadcast's destination is
// ff:ff:SS:SS:SS:SS, with SS the 32-bit sequence (a peer name is a unicast MAC, so an ff:ff prefix can
// never name a peer). ff:ff:ff:ff:ff:ff — what routers before this change send — carries no sequence and
// is never deduplicated. The origin starts at a random sequence, so a restarted router does not collide
// with what receivers remember of its previous run.
//
// Memory: WINDOW sequences per origin (a duplicate arrives within milliseconds of the original), at most
// MAX_ORIGINS origins (least recently seen evicted); origins come only from authenticated peers.

import { BROADCAST_PEER } from '../wire/data-packet.js';

/** Top 16 bits of a broadcast destination. */
const BROADCAST_PREFIX = 0xffff;
const TWO32 = 0x1_0000_0000;
/** The legacy broadcast destination (no sequence). */
export const LEGACY_BROADCAST = BROADCAST_PEER;

const WINDOW = 256;
const MAX_ORIGINS = 1024;

export function isBroadcastDst(dst: number): boolean {
  return Math.floor(dst / TWO32) === BROADCAST_PREFIX;
}

/** The destination-peer value for broadcast number `seq` (never the legacy all-ones value). */
export function broadcastDst(seq: number): number {
  return BROADCAST_PREFIX * TWO32 + (seq >>> 0);
}

/** Where a router's broadcast numbers come from (a fast path numbering with its threads: io/fastpath.ts). */
export interface BroadcastSource {
  next(): number;
}

/** Numbers the broadcasts a router originates. */
export class BroadcastNumbering implements BroadcastSource {
  private seq: number;

  constructor(start: number) {
    this.seq = start >>> 0;
  }

  next(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0xffffffff) this.seq = 0; // all ones is the legacy "no sequence" value
    return broadcastDst(this.seq);
  }

  /** The last number used (the start before the first). */
  get last(): number {
    return this.seq;
  }
}

interface Recent {
  ring: Float64Array;
  set: Set<number>;
  pos: number;
}

/** Remembers the last WINDOW broadcasts of each origin. */
export class BroadcastDedup {
  private readonly origins = new Map<number, Recent>();

  /** True when this (origin, broadcast destination) was seen already; records it otherwise. */
  duplicate(origin: number, dst: number): boolean {
    if (dst === LEGACY_BROADCAST) return false;
    let r = this.origins.get(origin);
    if (r) {
      if (r.set.has(dst)) return true;
      // Refresh recency: Map iteration order is insertion order, so the first key is the oldest.
      this.origins.delete(origin);
      this.origins.set(origin, r);
    } else {
      if (this.origins.size >= MAX_ORIGINS) this.origins.delete(this.origins.keys().next().value!);
      r = { ring: new Float64Array(WINDOW).fill(-1), set: new Set(), pos: 0 };
      this.origins.set(origin, r);
    }
    const old = r.ring[r.pos]!;
    if (old >= 0) r.set.delete(old);
    r.ring[r.pos] = dst;
    r.set.add(dst);
    r.pos = (r.pos + 1) % WINDOW;
    return false;
  }

  /** Origins remembered (for tests and stats). */
  get size(): number {
    return this.origins.size;
  }
}
