// The local peer's view of its own address space: the ranges it owns (as the ring says) and which
// addresses in them are in use. Free = owned − used. Pure bookkeeping: no gossip, no containers.
import type { AddrRange } from './addr-range.js';
import { IntervalSet } from './interval-set.js';

export class Space {
  private owned = new IntervalSet();
  private free = new IntervalSet();
  private readonly used = new Set<number>();

  /**
   * Replaces the owned ranges (after the ring changed). Returns the used addresses that are no longer
   * inside owned space: always [] unless something broke an invariant (the caller reports them).
   */
  setOwned(ranges: Iterable<AddrRange>): number[] {
    this.owned = IntervalSet.of(ranges);
    const sortedUsed = [...this.used].sort((a, b) => a - b);
    const free = new IntervalSet();
    const orphans: number[] = [];
    let u = 0;
    for (const r of this.owned.intervals()) {
      while (u < sortedUsed.length && sortedUsed[u]! < r.start) orphans.push(sortedUsed[u++]!);
      let cursor = r.start;
      while (u < sortedUsed.length && sortedUsed[u]! < r.end) {
        const a = sortedUsed[u++]!;
        if (a > cursor) free.add({ start: cursor, end: a });
        cursor = a + 1;
      }
      if (cursor < r.end) free.add({ start: cursor, end: r.end });
    }
    while (u < sortedUsed.length) orphans.push(sortedUsed[u++]!);
    this.free = free;
    return orphans;
  }

  ownedRanges(): AddrRange[] {
    return this.owned.intervals();
  }

  get numOwned(): number {
    return this.owned.size;
  }

  get numUsed(): number {
    return this.used.size;
  }

  isOwned(addr: number): boolean {
    return this.owned.has(addr);
  }

  isFree(addr: number): boolean {
    return this.free.has(addr);
  }

  isUsed(addr: number): boolean {
    return this.used.has(addr);
  }

  /** Marks a specific owned, free address as used. */
  take(addr: number): boolean {
    if (!this.free.has(addr)) return false;
    this.free.remove({ start: addr, end: addr + 1 });
    this.used.add(addr);
    return true;
  }

  /** Lowest free address inside `window`, marked used; undefined if none. */
  allocate(window: AddrRange): number | undefined {
    const a = this.free.firstIn(window);
    if (a === undefined) return undefined;
    this.free.remove({ start: a, end: a + 1 });
    this.used.add(a);
    return a;
  }

  /** Returns an address to the free pool. False if it was not in use. */
  release(addr: number): boolean {
    if (!this.used.delete(addr)) return false;
    if (this.owned.has(addr)) this.free.add({ start: addr, end: addr + 1 });
    return true;
  }

  numFree(window?: AddrRange): number {
    return window ? this.free.countIn(window) : this.free.size;
  }

  biggestFreeIn(window: AddrRange): AddrRange | undefined {
    return this.free.biggestIn(window);
  }

  /** Internal consistency: free ⊆ owned, used ∩ free = ∅, |free| + |used ∩ owned| = |owned|. */
  checkInvariants(): Error | undefined {
    let usedOwned = 0;
    for (const a of this.used) {
      if (this.free.has(a)) return new Error(`space: address ${a} is both used and free`);
      if (this.owned.has(a)) usedOwned++;
    }
    for (const r of this.free.intervals()) {
      if (this.owned.countIn(r) !== r.end - r.start) return new Error(`space: free range ${r.start}-${r.end} is not owned`);
    }
    if (this.free.size + usedOwned !== this.owned.size) {
      return new Error(`space: free ${this.free.size} + used ${usedOwned} != owned ${this.owned.size}`);
    }
    return undefined;
  }
}
