// The routes and broadcast trees a fast path relays by (core/ports.ts FastRoutes; native/src/
// fastpath_relay.h): built from the same RouteTable the Forwarder asks, so the native relay forwards a
// frame exactly where Forwarder.fromPeer would. Republished whole whenever the routes may have changed.

import type { FastRoutes } from '../core/ports.js';
import type { RouteTable } from './forwarder.js';

/**
 * For every destination peer with a route, its next hop; for every origin (us included, and every
 * destination), our children in its broadcast tree. Peers other than `self` come from routes.peers().
 */
export function buildFastRoutes(routes: RouteTable, self: number): FastRoutes {
  const peers = [...new Set([self, ...(routes.peers?.() ?? [])])].sort((a, b) => a - b);
  const dsts: number[] = [];
  const hops: number[] = [];
  const kids: number[] = [];
  const first = new Uint32Array(peers.length + 1);
  peers.forEach((p, i) => {
    if (p !== self) {
      const hop = routes.unicastNextHop(p);
      if (hop !== undefined) {
        dsts.push(p);
        hops.push(hop);
      }
    }
    for (const k of routes.broadcastNextHops(p)) kids.push(k);
    first[i + 1] = kids.length;
  });
  return {
    dsts: Float64Array.from(dsts),
    hops: Float64Array.from(hops),
    origins: Float64Array.from(peers),
    first,
    kids: Float64Array.from(kids),
  };
}
