// Which peer each MAC lives behind, learnt from the source address of frames (DESIGN.md §4).
// Entries expire after MAC_CACHE_MAX_AGE_MS without traffic, so a container that moved or went away stops
// attracting unicast; until it is re-learnt its frames are flooded, which is always correct, only slower.

import { MAC_CACHE_MAX_AGE_MS } from '../core/defaults.js';

interface Entry {
  peer: number;
  seenAt: number;
}

export interface MacCacheInit {
  /** @default MAC_CACHE_MAX_AGE_MS */
  maxAgeMs?: number;
  /** Upper bound on entries; a flood of random source MACs cannot grow memory without limit. @default 65536 */
  maxEntries?: number;
}

export class MacCache {
  private readonly entries = new Map<number, Entry>();
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;

  constructor(init: MacCacheInit = {}) {
    this.maxAgeMs = init.maxAgeMs ?? MAC_CACHE_MAX_AGE_MS;
    this.maxEntries = init.maxEntries ?? 65536;
  }

  /**
   * Called on every learn (new, moved or refreshed): a fast path's copy of the table follows it
   * (io/fastpath.ts), including the refresh that keeps an entry from expiring.
   */
  onLearn: ((mac: number, peer: number) => void) | undefined;

  /** Records that `mac` was seen coming from `peer`. Returns true if this is new or the MAC moved. */
  learn(mac: number, peer: number, now: number): boolean {
    this.onLearn?.(mac, peer);
    const e = this.entries.get(mac);
    if (e) {
      e.seenAt = now;
      if (e.peer === peer) return false;
      e.peer = peer;
      return true;
    }
    if (this.entries.size >= this.maxEntries) this.expire(now);
    if (this.entries.size >= this.maxEntries) return false;
    this.entries.set(mac, { peer, seenAt: now });
    return true;
  }

  /** The peer behind `mac`, or undefined if unknown or expired. */
  lookup(mac: number, now: number): number | undefined {
    const e = this.entries.get(mac);
    if (!e) return undefined;
    if (now - e.seenAt > this.maxAgeMs) {
      this.entries.delete(mac);
      return undefined;
    }
    return e.peer;
  }

  /** Forgets every MAC behind `peer` (the peer went away). */
  forgetPeer(peer: number): void {
    for (const [mac, e] of this.entries) if (e.peer === peer) this.entries.delete(mac);
  }

  expire(now: number): void {
    for (const [mac, e] of this.entries) if (now - e.seenAt > this.maxAgeMs) this.entries.delete(mac);
  }

  get size(): number {
    return this.entries.size;
  }

  /** [mac, peer] pairs, for status. */
  list(): Array<[number, number]> {
    return [...this.entries].map(([mac, e]) => [mac, e.peer]);
  }
}
