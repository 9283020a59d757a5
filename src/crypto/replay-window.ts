// Anti-replay sliding window for data-plane counters (RFC 6479, as in wireguard-go replay/replay.go).
// Call `accept(counter)` only AFTER the packet authenticated, so forged counters cannot move the window.
//
// Counters are u64 on the wire but held as JS numbers; anything ≥ 2^53 is rejected. The counter of a
// session runs on across key generations (rekeying changes the key, not the counter), so one window
// covers them all; at one datagram per microsecond 2^53 takes 285 years.
//
// The bitmap is a ring of 32-bit blocks, one more block than the window needs, so that sliding forward
// only ever clears whole blocks (O(1) amortised, no allocation per call):
//
//   ring: [ block 0 | block 1 | … | block R-1 ]      R = windowSize/32 + 1
//   bit for counter c: block floor(c/32) mod R, bit c mod 32
//
// Accepted: c > 0, c ≤ 2^53-1, c > highest - windowSize, and not seen before. Counter 0 is never valid
// (data-plane counters start at 1), which also makes the zero value "nothing seen yet".

import { REPLAY_WINDOW_PACKETS } from '../core/defaults.js';

const BLOCK_BITS = 32;

export class ReplayWindow {
  /** Counters older than `highest - windowSize + 1` are rejected. */
  readonly windowSize: number;
  private readonly ring: Uint32Array;
  private readonly ringBlocks: number;
  private highest = 0;

  /** @param windowSize a multiple of 32. @default REPLAY_WINDOW_PACKETS */
  constructor(windowSize: number = REPLAY_WINDOW_PACKETS) {
    if (!Number.isInteger(windowSize) || windowSize <= 0 || windowSize % BLOCK_BITS !== 0) {
      throw new RangeError(`replay window size ${windowSize} must be a positive multiple of ${BLOCK_BITS}`);
    }
    this.windowSize = windowSize;
    this.ringBlocks = windowSize / BLOCK_BITS + 1;
    this.ring = new Uint32Array(this.ringBlocks);
  }

  /** Highest counter accepted so far (0 if none). */
  get highestAccepted(): number {
    return this.highest;
  }

  /** Forgets everything (new key generation). */
  reset(): void {
    this.ring.fill(0);
    this.highest = 0;
  }

  /** True if `counter` is new and within the window (and records it); false otherwise. */
  accept(counter: number): boolean {
    if (!(counter > 0 && counter <= Number.MAX_SAFE_INTEGER) || counter !== Math.floor(counter)) return false;
    const block = Math.floor(counter / BLOCK_BITS);
    if (counter > this.highest) {
      // Slide forward: clear the blocks between the old highest block and the new one (at most the ring).
      const current = Math.floor(this.highest / BLOCK_BITS);
      const diff = Math.min(block - current, this.ringBlocks);
      for (let i = 1; i <= diff; i++) this.ring[(current + i) % this.ringBlocks] = 0;
      this.highest = counter;
    } else if (this.highest - counter >= this.windowSize) {
      return false; // too old
    }
    const idx = block % this.ringBlocks;
    const mask = 1 << (counter % BLOCK_BITS);
    const word = this.ring[idx]!;
    if ((word & mask) !== 0) return false; // already seen
    this.ring[idx] = word | mask;
    return true;
  }
}
