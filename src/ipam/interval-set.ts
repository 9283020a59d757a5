// A set of addresses stored as sorted, disjoint, non-adjacent [start, end) intervals. O(log n) lookups,
// O(n) worst-case splice on insert/remove (n = number of intervals, small in practice).
import type { AddrRange } from './addr-range.js';

export class IntervalSet {
  private starts: number[] = [];
  private ends: number[] = [];
  private total = 0;

  static of(ranges: Iterable<AddrRange>): IntervalSet {
    const s = new IntervalSet();
    for (const r of ranges) s.add(r);
    return s;
  }

  get size(): number {
    return this.total;
  }

  get intervalCount(): number {
    return this.starts.length;
  }

  intervals(): AddrRange[] {
    return this.starts.map((start, i) => ({ start, end: this.ends[i]! }));
  }

  /** Index of the last interval with start <= addr, or -1. */
  private floorIndex(addr: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= addr) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  has(addr: number): boolean {
    const i = this.floorIndex(addr);
    return i >= 0 && addr < this.ends[i]!;
  }

  add(r: AddrRange): void {
    if (r.end <= r.start) return;
    let start = r.start;
    let end = r.end;
    // First interval that could touch [start, end): the floor of start (may be adjacent or overlapping).
    let i = this.floorIndex(start);
    if (i < 0 || this.ends[i]! < start) i++;
    let j = i;
    while (j < this.starts.length && this.starts[j]! <= end) {
      start = Math.min(start, this.starts[j]!);
      end = Math.max(end, this.ends[j]!);
      this.total -= this.ends[j]! - this.starts[j]!;
      j++;
    }
    this.starts.splice(i, j - i, start);
    this.ends.splice(i, j - i, end);
    this.total += end - start;
  }

  remove(r: AddrRange): void {
    if (r.end <= r.start) return;
    let i = this.floorIndex(r.start);
    if (i < 0 || this.ends[i]! <= r.start) i++;
    const newStarts: number[] = [];
    const newEnds: number[] = [];
    let j = i;
    while (j < this.starts.length && this.starts[j]! < r.end) {
      const s = this.starts[j]!;
      const e = this.ends[j]!;
      this.total -= e - s;
      if (s < r.start) {
        newStarts.push(s);
        newEnds.push(r.start);
        this.total += r.start - s;
      }
      if (e > r.end) {
        newStarts.push(r.end);
        newEnds.push(e);
        this.total += e - r.end;
      }
      j++;
    }
    this.starts.splice(i, j - i, ...newStarts);
    this.ends.splice(i, j - i, ...newEnds);
  }

  /** Lowest member within `w`, or undefined. */
  firstIn(w: AddrRange): number | undefined {
    let i = this.floorIndex(w.start);
    if (i >= 0 && this.ends[i]! > w.start) return w.start;
    i++;
    if (i < this.starts.length && this.starts[i]! < w.end) return this.starts[i]!;
    return undefined;
  }

  /** Number of members within `w`. */
  countIn(w: AddrRange): number {
    let i = this.floorIndex(w.start);
    if (i < 0) i = 0;
    let n = 0;
    for (; i < this.starts.length && this.starts[i]! < w.end; i++) {
      const s = Math.max(this.starts[i]!, w.start);
      const e = Math.min(this.ends[i]!, w.end);
      if (e > s) n += e - s;
    }
    return n;
  }

  /** The largest contiguous run of members within `w` (lowest on ties), or undefined. */
  biggestIn(w: AddrRange): AddrRange | undefined {
    let i = this.floorIndex(w.start);
    if (i < 0) i = 0;
    let best: AddrRange | undefined;
    for (; i < this.starts.length && this.starts[i]! < w.end; i++) {
      const s = Math.max(this.starts[i]!, w.start);
      const e = Math.min(this.ends[i]!, w.end);
      if (e > s && (!best || e - s > best.end - best.start)) best = { start: s, end: e };
    }
    return best;
  }
}
