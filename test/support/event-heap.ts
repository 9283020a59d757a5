// The simulators' event queue: a binary min-heap ordered by (at, seq), so events due at the same instant
// come out in the order they were pushed (deterministic runs for a given seed). Shared by ipam-sim.ts and
// sim-network.ts.

export interface Timed {
  /** When the event is due (fake-clock ms). */
  at: number;
  /** Tie-breaker: push order. */
  seq: number;
}

export class EventHeap<T extends Timed> {
  private readonly h: T[] = [];

  get size(): number {
    return this.h.length;
  }

  /** The earliest event, left in place. */
  peek(): T | undefined {
    return this.h[0];
  }

  push(e: T): void {
    const h = this.h;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!earlier(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  /** Removes and returns the earliest event. */
  pop(): T | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && earlier(h[l]!, h[m]!)) m = l;
        if (r < h.length && earlier(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function earlier(a: Timed, b: Timed): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
