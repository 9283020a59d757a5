// The 'topology' gossip channel: its Gossiper (decode, validated merge, what was new) and the batched
// announcer that sends our changes and relays what we learnt, once per TOPOLOGY_BATCH_MS.
//
//   local connection added/removed/established → our entry bumped → announcer scheduled → one broadcast
//     of [our entry + entries of peers we connected to since the last one] along our broadcast tree.
//   remote update (gossip or broadcast) merged → the entries that were new are re-gossiped (coalesced)
//     with our own entry to a random neighbour subset, so the sender's view stays connected to ours.

import type { Gossiper } from '../core/gossip.js';
import type { Clock } from '../core/ports.js';
import type { PeerName } from '../core/types.js';
import type { GossipHost } from './gossip-channel.js';
import type { RouterStats } from './router-types.js';
import { decodeTopology, encodeTopology } from './topology-codec.js';
import type { PeerEntry, Topology, TopologyDelta } from './topology.js';

/** Batches the topology sends (see the top of this file); owns the cached full-state encoding. */
export class TopologyAnnouncer {
  private pendingBroadcast = new Set<PeerName>();
  private pendingRelay = new Set<PeerName>();
  private lastBroadcastVersion = 1;
  private cancelFlush: (() => void) | undefined;
  private fullStateCache: { gen: number; data: Uint8Array } | undefined;

  constructor(
    private readonly topology: Topology,
    private readonly clock: Clock,
    private readonly batchMs: number,
    private readonly stats: RouterStats,
    private readonly host: Pick<GossipHost, 'localName' | 'relayBroadcast' | 'sendToNeighbours'>,
  ) {}

  /** The whole topology, encoded once per generation. */
  encodeFull(): Uint8Array {
    const gen = this.topology.generation;
    if (this.fullStateCache?.gen !== gen) this.fullStateCache = { gen, data: encodeTopology(this.topology.entries()) };
    return this.fullStateCache.data;
  }

  /** A new connection to `peer`: its entry goes along with our next broadcast. */
  connected(peer: PeerName): void {
    this.pendingBroadcast.add(peer);
  }

  disconnected(peer: PeerName): void {
    this.pendingBroadcast.delete(peer);
  }

  /** Entries learnt by gossip, to re-gossip (coalesced) at the next flush. */
  noteRelay(entries: readonly PeerEntry[]): void {
    for (const e of entries) if (e.name !== this.host.localName) this.pendingRelay.add(e.name);
    this.schedule();
  }

  schedule(): void {
    if (this.cancelFlush) return;
    this.cancelFlush = this.clock.setTimer(this.batchMs, () => {
      this.cancelFlush = undefined;
      this.flush();
    });
  }

  stop(): void {
    this.cancelFlush?.();
    this.cancelFlush = undefined;
  }

  /**
   * The batched topology send: (1) if our entry changed, one broadcast of our entry plus the entries
   * of peers we connected to since the last flush (so receivers can reach them); (2) if gossip taught
   * us something, one re-gossip of those entries (current versions) plus ours to a neighbour subset.
   */
  private flush(): void {
    const self = this.topology.self;
    if (self.version !== this.lastBroadcastVersion || this.pendingBroadcast.size > 0) {
      const entries: PeerEntry[] = [self];
      for (const name of this.pendingBroadcast) {
        const e = this.topology.get(name);
        if (e) entries.push(e);
      }
      this.pendingBroadcast.clear();
      this.lastBroadcastVersion = self.version;
      this.stats.topologyBroadcasts++;
      this.host.relayBroadcast('topology', this.host.localName, encodeTopology(entries));
    }
    if (this.pendingRelay.size > 0) {
      const entries: PeerEntry[] = [self];
      for (const name of this.pendingRelay) {
        const e = this.topology.get(name);
        if (e) entries.push(e);
      }
      this.pendingRelay.clear();
      this.stats.topologyRelays++;
      this.host.sendToNeighbours('topology', encodeTopology(entries));
    }
  }
}

/** The 'topology' channel's Gossiper: decodes (validated), merges, and returns what was new. */
export class TopologyGossiper implements Gossiper {
  constructor(
    private readonly topology: Topology,
    private readonly announcer: TopologyAnnouncer,
    /** Called after a merge changed something (the Router checks invariants, logs, reschedules). */
    private readonly merged: (delta: TopologyDelta) => void,
  ) {}

  gossip(): Uint8Array {
    return this.announcer.encodeFull();
  }

  /**
   * Unlike other channels, the topology delta is not returned for immediate re-gossip: the Router
   * coalesces what was new over TOPOLOGY_BATCH_MS and re-gossips it once (mesh's gossip senders merge
   * pending data per connection the same way). Without this, a join storm costs O(merges × fan-out).
   */
  onGossip(_src: PeerName, data: Uint8Array): Uint8Array | undefined {
    const delta = this.merge(data);
    if (delta && delta.updated.length > 0) this.announcer.noteRelay(delta.updated);
    return undefined;
  }

  /**
   * What a broadcast taught us is also re-gossiped (coalesced) to neighbours: while views disagree
   * (links failing, peers joining) broadcast trees differ between peers and a broadcast can miss some;
   * the relay reaches them within a batch or two instead of waiting for the 30 s periodic gossip.
   * Peers that already knew it learn nothing new and stop the relay there.
   */
  onGossipBroadcast(_src: PeerName, data: Uint8Array): Uint8Array | undefined {
    const delta = this.merge(data);
    if (!delta || delta.updated.length === 0) return undefined;
    this.announcer.noteRelay(delta.updated);
    return undefined; // the Router relays the original broadcast along the tree, not a delta
  }

  onGossipUnicast(): void {
    // The topology channel has no unicast messages.
  }

  private merge(data: Uint8Array): TopologyDelta | undefined {
    const delta = this.topology.mergeDelta(decodeTopology(data));
    if (delta) this.merged(delta);
    return delta;
  }
}
