// Gossip in and out (mesh gossip.go / routes.go): hands the three gossip messages that arrive to their
// channel's Gossiper (a throw is hostile input: counted and dropped), and moves gossip on: unicasts hop
// by hop along gossip routes, broadcasts down the origin's broadcast tree, neighbour gossip to a
// log-sized random subset. Gossip uses *any* listed connection; the data plane's established-only
// routes are not involved.

import type { Logger } from 'pino';
import { type GossipChannelName, connectionFatalReason } from '../core/gossip.js';
import type { Rng } from '../core/ports.js';
import { isPeerName, type PeerName } from '../core/types.js';
import type { ControlMessage } from '../wire/control-messages.js';
import type { GossipChannel } from './gossip-channel.js';
import type { PeerConnection } from './peer-connection.js';
import type { RouteState } from './route-state.js';
import type { RouterStats } from './router-types.js';

/** What the relay needs from the Router: its connection table and channels. */
export interface GossipRelayHost {
  readonly localName: PeerName;
  connectionTo(peer: PeerName): PeerConnection | undefined;
  connections(): PeerConnection[];
  /** True while the Router holds `conn` (a gossiper may have dropped it). */
  holds(conn: PeerConnection): boolean;
  /** Forgets and closes a connection whose peer can never be reconciled with us. */
  dropConnection(conn: PeerConnection, reason: string): void;
  /** Number of known peers (sizes the neighbour subset). */
  readonly peerCount: number;
  channel(name: GossipChannelName): GossipChannel | undefined;
}

export class GossipRelay {
  constructor(
    private readonly routes: RouteState,
    private readonly conns: GossipRelayHost,
    private readonly rng: Rng,
    private readonly stats: RouterStats,
    private readonly log: Logger,
  ) {}

  /**
   * A message that came on `conn` (which the Router holds): a gossip message is handled and true
   * returned; anything else returns false (not the mesh's business).
   */
  handle(conn: PeerConnection, msg: ControlMessage): boolean {
    const from = conn.remoteName;
    switch (msg.kind) {
      case 'gossip': {
        const ch = this.conns.channel(msg.channel);
        if (!ch) {
          this.stats.unknownChannelDropped++;
          return true;
        }
        const delta = this.guard(ch.name, from, conn, () => ch.gossiper.onGossip(from, msg.payload));
        if (delta) this.sendToNeighbours(ch.name, delta, from);
        return true;
      }
      case 'gossip-unicast': {
        if (!isPeerName(msg.src) || !isPeerName(msg.dst)) {
          this.stats.malformed++;
          return true;
        }
        if (msg.dst === this.conns.localName) {
          const ch = this.conns.channel(msg.channel);
          if (!ch) {
            this.stats.unknownChannelDropped++;
            return true;
          }
          this.guard(ch.name, msg.src, conn, () => ch.gossiper.onGossipUnicast(msg.src, msg.payload));
          return true;
        }
        this.forwardUnicast(msg, from);
        return true;
      }
      case 'gossip-broadcast': {
        if (!isPeerName(msg.src)) {
          this.stats.malformed++;
          return true;
        }
        if (msg.src === this.conns.localName) return true; // our own broadcast came back (views disagree): stop it
        const ch = this.conns.channel(msg.channel);
        if (ch) {
          this.guard(ch.name, msg.src, conn, () => ch.gossiper.onGossipBroadcast(msg.src, msg.payload));
          // It closed the connection (an incompatible peer): do not pass its broadcast on either (mesh relays
          // only what its gossiper accepted).
          if (!this.conns.holds(conn)) return true;
        } else {
          this.stats.unknownChannelRelayed++;
        }
        // Relay the original payload (not the delta): every peer on the tree gets it exactly once
        // even if this peer had already learnt the content another way.
        this.relayBroadcast(msg.channel, msg.src, msg.payload, from);
        return true;
      }
      default:
        return false;
    }
  }

  /** A unicast not addressed to us (or sent by us: `from` undefined) goes to its next hop. */
  forwardUnicast(msg: Extract<ControlMessage, { kind: 'gossip-unicast' }>, from: PeerName | undefined): void {
    const hop = this.routes.gossip().unicastNextHop(msg.dst);
    const conn = hop === undefined ? undefined : this.conns.connectionTo(hop);
    if (!conn) {
      this.stats.unicastNoRoute++;
      this.log.debug({ channel: msg.channel, src: msg.src, dst: msg.dst }, 'gossip unicast dropped: no route');
      return;
    }
    if (hop === from) {
      this.stats.unicastBounced++;
      this.log.debug({ channel: msg.channel, src: msg.src, dst: msg.dst, via: hop }, 'gossip unicast dropped: would bounce back');
      return;
    }
    if (!this.conns.channel(msg.channel)) this.stats.unknownChannelRelayed++;
    conn.send(msg);
  }

  /** Forwards along src's broadcast tree (gossip routes), never back to `except`. */
  relayBroadcast(channel: GossipChannelName, src: PeerName, payload: Uint8Array, except?: PeerName): void {
    const msg: ControlMessage = { kind: 'gossip-broadcast', channel, src, payload };
    for (const hop of this.routes.broadcastChildren(src)) {
      if (hop === except) continue;
      this.conns.connectionTo(hop)?.send(msg);
    }
  }

  /** To a random subset of 2·⌈log2(peers)⌉ neighbours (mesh randomNeighbours), not `except`. */
  sendToNeighbours(channel: GossipChannelName, payload: Uint8Array, except?: PeerName): void {
    const candidates = this.conns.connections().filter((c) => c.remoteName !== except);
    const k = Math.min(candidates.length, 2 * Math.max(1, Math.ceil(Math.log2(Math.max(2, this.conns.peerCount)))));
    // Partial Fisher–Yates: the first k of a random permutation.
    for (let i = 0; i < k; i++) {
      const j = i + this.rng.int(candidates.length - i);
      const c = candidates[j]!;
      candidates[j] = candidates[i]!;
      candidates[i] = c;
      c.send({ kind: 'gossip', channel, payload });
    }
  }

  /**
   * Runs a gossiper on a payload that came on `conn`. A throw drops the payload (counted); one that says the
   * sender can never be reconciled with us (connectionFatalReason) also closes `conn` with that reason.
   */
  private guard<T>(channel: GossipChannelName, peer: PeerName, conn: PeerConnection, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.stats.badPayloads[channel] = (this.stats.badPayloads[channel] ?? 0) + 1;
      const reason = connectionFatalReason(err);
      if (reason === undefined) {
        this.log.debug({ channel, src: peer, err }, 'gossip payload rejected');
        return undefined;
      }
      this.log.warn({ channel, src: peer, remote: conn.remoteName, reason }, 'closing the connection to an incompatible peer');
      this.conns.dropConnection(conn, reason);
      return undefined;
    }
  }
}
