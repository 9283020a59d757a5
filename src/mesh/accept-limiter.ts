// Accept-rate limiting for the control listener (mesh router.go acceptLimiter): a token bucket of
// ACCEPT_BURST tokens, one added every ACCEPT_REFILL_MS. The daemon asks tryAccept() for each inbound
// TCP connection and closes it at once when it returns false.

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
