// Accept-rate limiting for the control listener (mesh router.go acceptLimiter): a token bucket of
// ACCEPT_BURST tokens, one added every ACCEPT_REFILL_MS, PER SOURCE ADDRESS, and a global bucket
// ACCEPT_GLOBAL_FACTOR times larger that bounds the CPU a many-address flood can cost. The daemon asks
// tryAccept(address) for each inbound TCP connection and closes it at once when it returns false.
// Per address, because with one shared bucket a single host opening connections faster than the refill
// took every token: a new peer (or a known one coming back) was refused on every try while its backoff
// grew towards 6 minutes. PendingHandshakes (below) caps how many of the admitted ones may be
// handshaking at once.

import { ACCEPT_BURST, ACCEPT_GLOBAL_FACTOR, ACCEPT_REFILL_MS, ACCEPT_TRACKED_ADDRESSES } from '../core/defaults.js';
import type { Clock } from '../core/ports.js';

export interface AcceptLimiterInit {
  /** Bucket size per address. @default ACCEPT_BURST (20) */
  burst?: number;
  /** One token per this many ms per address. @default ACCEPT_REFILL_MS (50) */
  refillMs?: number;
  /** The global bucket is this many times one address's (size and rate). @default ACCEPT_GLOBAL_FACTOR */
  globalFactor?: number;
  /** Addresses whose buckets are remembered; beyond, full buckets are forgotten first. @default ACCEPT_TRACKED_ADDRESSES */
  maxTracked?: number;
}

/** Whole tokens, `burst` at most, one earned every `refillMs` (fractions of an interval carry over). */
class TokenBucket {
  available: number;
  private last: number;

  constructor(
    private readonly burst: number,
    private readonly refillMs: number,
    now: number,
  ) {
    this.available = burst;
    this.last = now;
  }

  refill(now: number): void {
    const earned = Math.floor((now - this.last) / this.refillMs);
    if (earned <= 0) return;
    this.available = Math.min(this.burst, this.available + earned);
    // A full bucket does not bank time; otherwise keep the fractional remainder.
    this.last = this.available === this.burst ? now : this.last + earned * this.refillMs;
  }

  get full(): boolean {
    return this.available >= this.burst;
  }
}

export class AcceptLimiter {
  private readonly clock: Clock;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly maxTracked: number;
  private readonly global: TokenBucket;
  private readonly byAddress = new Map<string, TokenBucket>();
  /** Inbound connections refused because their address exceeded its rate (a counter for /stats). */
  refused = 0;
  /** Inbound connections refused because all addresses together exceeded the global rate. */
  refusedGlobal = 0;

  constructor(components: { clock: Clock }, init: AcceptLimiterInit = {}) {
    this.clock = components.clock;
    this.burst = init.burst ?? ACCEPT_BURST;
    this.refillMs = init.refillMs ?? ACCEPT_REFILL_MS;
    this.maxTracked = init.maxTracked ?? ACCEPT_TRACKED_ADDRESSES;
    const factor = init.globalFactor ?? ACCEPT_GLOBAL_FACTOR;
    this.global = new TokenBucket(this.burst * factor, this.refillMs / factor, this.clock.now());
  }

  /** Takes a token from `address`'s bucket and the global one if both have one. */
  tryAccept(address: string): boolean {
    const now = this.clock.now();
    let b = this.byAddress.get(address);
    if (b) b.refill(now);
    else b = this.track(address, now);
    if (b.available < 1) {
      this.refused++;
      return false;
    }
    this.global.refill(now);
    if (this.global.available < 1) {
      this.refusedGlobal++;
      return false;
    }
    b.available--;
    this.global.available--;
    return true;
  }

  /** Tokens left for `address` now. */
  tokens(address: string): number {
    const b = this.byAddress.get(address);
    if (!b) return this.burst;
    b.refill(this.clock.now());
    return b.available;
  }

  /** Addresses whose buckets are remembered (bounded by maxTracked). */
  get tracked(): number {
    return this.byAddress.size;
  }

  /**
   * A new address's bucket. The map stays bounded whatever the number of source addresses: a full
   * bucket is the same as none, so those are forgotten first; if every bucket is in use, the oldest
   * entry goes (that address starts again from a full bucket, still under the global one).
   */
  private track(address: string, now: number): TokenBucket {
    if (this.byAddress.size >= this.maxTracked) {
      for (const [a, b] of this.byAddress) {
        b.refill(now);
        if (b.full) this.byAddress.delete(a);
      }
      if (this.byAddress.size >= this.maxTracked) this.byAddress.delete(this.byAddress.keys().next().value!);
    }
    const b = new TokenBucket(this.burst, this.refillMs, now);
    this.byAddress.set(address, b);
    return b;
  }
}

/** Inbound handshakes in progress at once, in total and from one source address (issue 11.1). */
export const MAX_PENDING_HANDSHAKES = 64;
export const MAX_PENDING_HANDSHAKES_PER_ADDRESS = 8;

export interface PendingHandshakesInit {
  /** @default MAX_PENDING_HANDSHAKES */
  max?: number;
  /** @default MAX_PENDING_HANDSHAKES_PER_ADDRESS */
  maxPerAddress?: number;
}

/** The control listener's refusals before authentication, as /stats `inbound` shows them. */
export interface InboundStats {
  /** Refused: the source address opened connections faster than its accept rate. */
  acceptRefused: number;
  /** Refused: all addresses together exceeded the global accept rate. */
  acceptRefusedGlobal: number;
  /** Refused: every pending-handshake slot taken (or the address's share of them). */
  pendingRefused: number;
  /** Handshakes closed to make room for a connection from a less greedy address. */
  pendingEvicted: number;
  /** Handshakes in progress now. */
  pending: number;
}

interface PendingEntry {
  address: string;
  /** Aborts the handshake (closes its connection); absent: this entry is never evicted. */
  evict: (() => void) | undefined;
  release: () => void;
}

/**
 * Bounds what unauthenticated inbound connections can hold: each is admitted with `tryEnter(address)`
 * and gives its slot back (the returned release, idempotent) when its handshake ends either way. With
 * the handshake's frame caps (handshake.ts) and its timeout, the memory strangers can pin is
 * max × a few KiB, whatever they send. The per-address cap keeps one flooding host from taking every
 * slot. When every slot is taken, a newcomer from an address that holds fewer slots than the greediest
 * address evicts that address's oldest handshake (its `evict` closes it): otherwise a few hosts
 * trickling preambles a byte at a time (slowloris) would keep every new peer out, refilling the slots
 * the moment the handshake timeout frees them. A peer's handshake takes a few round trips, so it
 * completes long before it becomes the oldest of an attacker's many.
 */
export class PendingHandshakes {
  private readonly max: number;
  private readonly maxPerAddress: number;
  private readonly byAddress = new Map<string, number>();
  /** In admission order (oldest first). */
  private readonly entries = new Set<PendingEntry>();
  /** Inbound connections refused because too many handshakes were pending (a counter for /stats). */
  refused = 0;
  /** Pending handshakes closed to make room for a connection from a less greedy address. */
  evicted = 0;

  constructor(init: PendingHandshakesInit = {}) {
    this.max = init.max ?? MAX_PENDING_HANDSHAKES;
    this.maxPerAddress = init.maxPerAddress ?? MAX_PENDING_HANDSHAKES_PER_ADDRESS;
  }

  get pending(): number {
    return this.entries.size;
  }

  /**
   * A release function if admitted, undefined if the connection must be closed at once. `evict`: how to
   * abort this handshake should a newcomer need its slot (without one it keeps its slot to the end).
   */
  tryEnter(address: string, evict?: () => void): (() => void) | undefined {
    const n = this.byAddress.get(address) ?? 0;
    if (n >= this.maxPerAddress || (this.entries.size >= this.max && !this.evictFor(n))) {
      this.refused++;
      return undefined;
    }
    this.byAddress.set(address, n + 1);
    let released = false;
    const entry: PendingEntry = {
      address,
      evict,
      release: () => {
        if (released) return;
        released = true;
        this.entries.delete(entry);
        const left = (this.byAddress.get(address) ?? 1) - 1;
        if (left > 0) this.byAddress.set(address, left);
        else this.byAddress.delete(address);
      },
    };
    this.entries.add(entry);
    return entry.release;
  }

  /** Frees a slot for a newcomer whose address holds `held`: the oldest evictable one of the greediest address. */
  private evictFor(held: number): boolean {
    let greediest = 0;
    for (const e of this.entries) if (e.evict) greediest = Math.max(greediest, this.byAddress.get(e.address) ?? 0);
    if (greediest <= held) return false;
    for (const e of this.entries) {
      if (!e.evict || this.byAddress.get(e.address) !== greediest) continue;
      const close = e.evict;
      e.release();
      this.evicted++;
      close();
      return true;
    }
    return false;
  }
}
