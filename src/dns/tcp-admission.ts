// Who gets a DNS-over-TCP connection slot (issue 11.6). Pure bookkeeping; the sockets are in io/dns-tcp.ts.
//
//   - at most `maxPerClient` connections per client address: one client cannot hold the table;
//   - at most `maxTotal` in all; when full, a newcomer takes the slot of the connection idle the longest
//     (no query in progress), taken from the client holding the most connections (RFC 7766 §6.2.3 lets a
//     server close idle connections under pressure). Only when every connection is busy is the newcomer
//     refused.

export interface TcpSlot {
  /** Client address. */
  readonly client: string;
  /** A query of it is being answered: not to be evicted. */
  busy(): boolean;
  /** When it last completed a query or a reply (ms, any monotonic clock). */
  lastActiveMs(): number;
}

export type TcpAdmissionDecision<S> =
  | { admit: true; evict?: S }
  | { admit: false; reason: 'per-client limit' | 'all connections busy' };

export class TcpAdmission<S extends TcpSlot> {
  private readonly byClient = new Map<string, Set<S>>();
  private count = 0;

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerClient: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /**
   * Decides on a new connection and, when admitted, records it. The caller must close `evict` (and call
   * remove() for it, as for any closed connection).
   */
  admit(slot: S): TcpAdmissionDecision<S> {
    const own = this.byClient.get(slot.client);
    if (own && own.size >= this.maxPerClient) return { admit: false, reason: 'per-client limit' };
    let evict: S | undefined;
    if (this.count >= this.maxTotal) {
      evict = this.victim();
      if (!evict) return { admit: false, reason: 'all connections busy' };
      this.remove(evict);
    }
    this.add(slot);
    return evict ? { admit: true, evict } : { admit: true };
  }

  remove(slot: S): void {
    const set = this.byClient.get(slot.client);
    if (!set?.delete(slot)) return;
    this.count--;
    if (set.size === 0) this.byClient.delete(slot.client);
  }

  private add(slot: S): void {
    let set = this.byClient.get(slot.client);
    if (!set) this.byClient.set(slot.client, (set = new Set()));
    set.add(slot);
    this.count++;
  }

  /** The longest-idle connection of the client with the most connections that has an idle one. */
  private victim(): S | undefined {
    const clients = [...this.byClient.values()].sort((a, b) => b.size - a.size);
    for (const set of clients) {
      let best: S | undefined;
      for (const s of set) {
        if (s.busy()) continue;
        if (!best || s.lastActiveMs() < best.lastActiveMs()) best = s;
      }
      if (best) return best;
    }
    return undefined;
  }
}
