// The Router's route tables, derived from the topology: data-plane routes (established, symmetric
// connections), gossip routes (any listed connection) and the broadcast children gossip relays to.
//
// Data routes are recalculated ROUTES_RECALC_DEFER_MS after a topology change (mesh routes.go defers
// 100 ms, which coalesces a burst of changes into one recalculation); until then the data plane uses the
// previous routes, and routes:changed / peers:changed fire from the recalculation (recalculate()
// forces it). Gossip routes and broadcast children always come from the current topology: relaying a
// broadcast along a stale tree can loop it between peers that disagree.

import type { Clock } from '../core/ports.js';
import type { PeerName } from '../core/types.js';
import { Routes } from './routes.js';
import type { Topology } from './topology.js';

/** Routes are recalculated this long after a topology change (mesh routes.go). */
export const ROUTES_RECALC_DEFER_MS = 100;

/** What a recalculation changed (the Router turns these into events). */
export interface RoutesRecalculated {
  routesChanged: boolean;
  peersChanged: boolean;
}

export class RouteState {
  private routesGen = -1;
  private dataRoutes!: Routes;
  private gossipRoutesCache: Routes | undefined;
  private gossipRoutesGen = -1;
  private relayCache = new Map<PeerName, PeerName[]>();
  private relayCacheGen = -1;
  private peersKey = '';
  private announcedGossip: Routes | undefined;
  private cancelRecalc: (() => void) | undefined;

  constructor(
    private readonly topology: Topology,
    private readonly localName: PeerName,
    private readonly clock: Clock,
    /** Called with what the deferred recalculation changed. */
    private readonly onRecalculated: (what: RoutesRecalculated) => void,
  ) {
    this.recalculate();
  }

  /** The data-plane route table (established, symmetric connections). */
  data(): Routes {
    return this.dataRoutes;
  }

  /** The route table gossip uses (any listed connection), always from the current topology. */
  gossip(): Routes {
    const gen = this.topology.generation;
    if (!this.gossipRoutesCache || this.gossipRoutesGen !== gen) {
      this.gossipRoutesCache = new Routes(this.topology.asMap(), this.localName, 'all');
      this.gossipRoutesGen = gen;
    }
    return this.gossipRoutesCache;
  }

  /** Our children in `src`'s broadcast tree (current topology, cached per generation). */
  broadcastChildren(src: PeerName): PeerName[] {
    const gen = this.topology.generation;
    if (gen !== this.relayCacheGen) {
      this.relayCache.clear();
      this.relayCacheGen = gen;
    }
    let hops = this.relayCache.get(src);
    if (!hops) {
      hops = this.topology.broadcastChildren(src);
      this.relayCache.set(src, hops);
    }
    return hops;
  }

  /** The topology changed: recalculate ROUTES_RECALC_DEFER_MS from now (once per burst). */
  schedule(): void {
    if (this.cancelRecalc) return;
    this.cancelRecalc = this.clock.setTimer(ROUTES_RECALC_DEFER_MS, () => {
      this.cancelRecalc = undefined;
      const what = this.recalculate();
      if (what) this.onRecalculated(what);
    });
  }

  stop(): void {
    this.cancelRecalc?.();
    this.cancelRecalc = undefined;
  }

  /**
   * Recalculates now if the topology changed since the last calculation (cancelling a pending timer).
   * Returns what changed, or undefined when nothing was recalculated (or on the first calculation).
   */
  recalculate(): RoutesRecalculated | undefined {
    this.stop();
    const gen = this.topology.generation;
    if (gen === this.routesGen) return undefined;
    const peers = this.topology.asMap();
    const data = new Routes(peers, this.localName, 'established');
    const gossip = this.gossip();
    const first = this.routesGen === -1;
    const routesChanged = !data.sameUnicast(this.dataRoutes) || !gossip.sameUnicast(this.announcedGossip);
    this.dataRoutes = data;
    this.announcedGossip = gossip;
    this.routesGen = gen;
    const key = gossip.reachablePeers().map((n) => `${n}(${this.topology.get(n)?.nickname ?? ''})`).join(',');
    const peersChanged = key !== this.peersKey;
    this.peersKey = key;
    return first ? undefined : { routesChanged, peersChanged };
  }
}
