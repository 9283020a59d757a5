// The mesh's routes (peer names) as the data plane wants them (48-bit numbers), memoised until the next
// routes:changed so the per-frame lookups allocate nothing.

import type { RouteTable } from '../dataplane/forwarder.js';
import type { Router } from '../mesh/router.js';
import { peerNameFromNumber, peerNameToNumber } from '../core/types.js';

export class RouteAdapter implements RouteTable {
  private unicast = new Map<number, number | undefined>();
  private broadcast = new Map<number, readonly number[]>();
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly router: Router) {
    router.on('routes:changed', () => this.invalidate());
    router.on('connection:established', () => this.invalidate());
    router.on('connection:removed', () => this.invalidate());
  }

  invalidate(): void {
    this.unicast = new Map();
    this.broadcast = new Map();
    for (const l of this.listeners) l();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  unicastNextHop(dst: number): number | undefined {
    if (this.unicast.has(dst)) return this.unicast.get(dst);
    const hop = this.router.unicastNextHop(peerNameFromNumber(dst));
    const n = hop === undefined ? undefined : peerNameToNumber(hop);
    this.unicast.set(dst, n);
    return n;
  }

  peers(): readonly number[] {
    const self = this.router.routes().self;
    return this.router
      .routes()
      .reachablePeers()
      .filter((p) => p !== self)
      .map(peerNameToNumber);
  }

  broadcastNextHops(origin: number): readonly number[] {
    let hops = this.broadcast.get(origin);
    if (!hops) {
      hops = this.router.broadcastNextHops(peerNameFromNumber(origin)).map(peerNameToNumber);
      this.broadcast.set(origin, hops);
    }
    return hops;
  }
}
