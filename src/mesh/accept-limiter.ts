// Accept-rate limiting for the control listener (mesh router.go acceptLimiter): a token bucket of
// ACCEPT_BURST tokens, one added every ACCEPT_REFILL_MS. The daemon asks tryAccept() for each inbound
// TCP connection and closes it at once when it returns false. PendingHandshakes (below) caps how many of
// the admitted ones may be handshaking at once.

import { ACCEPT_BURST, ACCEPT_REFILL_MS } from '../core/defaults.js';
import type { Clock } from '../core/ports.js';

export interface AcceptLimiterInit {
  /** Bucket size. @default ACCEPT_BURST (20) */
  burst?: number;
  /** One token per this many ms. @default ACCEPT_REFILL_MS (50) */
  refillMs?: number;
}

export class AcceptLimiter {
  private readonly clock: Clock;
  private readonly burst: number;
  private readonly refillMs: number;
  private available: number;
  private last: number;
  /** Inbound connections refused since start (a counter for status/metrics). */
  refused = 0;

  constructor(components: { clock: Clock }, init: AcceptLimiterInit = {}) {
    this.clock = components.clock;
    this.burst = init.burst ?? ACCEPT_BURST;
    this.refillMs = init.refillMs ?? ACCEPT_REFILL_MS;
    this.available = this.burst;
    this.last = this.clock.now();
  }

  /** Takes a token if one is available. */
  tryAccept(): boolean {
    this.refill();
    if (this.available >= 1) {
      this.available--;
      return true;
    }
    this.refused++;
    return false;
  }

  get tokens(): number {
    this.refill();
    return this.available;
  }

  private refill(): void {
    const now = this.clock.now();
    const earned = Math.floor((now - this.last) / this.refillMs);
    if (earned <= 0) return;
    this.available = Math.min(this.burst, this.available + earned);
    // A full bucket does not bank time; otherwise keep the fractional remainder.
    this.last = this.available === this.burst ? now : this.last + earned * this.refillMs;
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

/**
 * Bounds what unauthenticated inbound connections can hold: each is admitted with `tryEnter(address)`
 * and gives its slot back (the returned release, idempotent) when its handshake ends either way. With
 * the handshake's frame caps (handshake.ts) and its timeout, the memory strangers can pin is
 * max × a few KiB, whatever they send. The per-address cap keeps one flooding host from taking every
 * slot, so peers elsewhere still get in during a flood.
 */
export class PendingHandshakes {
  private readonly max: number;
  private readonly maxPerAddress: number;
  private readonly byAddress = new Map<string, number>();
  private total = 0;
  /** Inbound connections refused because too many handshakes were pending (a counter for status). */
  refused = 0;

  constructor(init: PendingHandshakesInit = {}) {
    this.max = init.max ?? MAX_PENDING_HANDSHAKES;
    this.maxPerAddress = init.maxPerAddress ?? MAX_PENDING_HANDSHAKES_PER_ADDRESS;
  }

  get pending(): number {
    return this.total;
  }

  /** A release function if admitted, undefined if the connection must be closed at once. */
  tryEnter(address: string): (() => void) | undefined {
    const n = this.byAddress.get(address) ?? 0;
    if (this.total >= this.max || n >= this.maxPerAddress) {
      this.refused++;
      return undefined;
    }
    this.total++;
    this.byAddress.set(address, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left > 0) this.byAddress.set(address, left);
      else this.byAddress.delete(address);
    };
  }
}
