// One named gossip channel: the `Gossip` a channel owner sends with, bound to the Router that moves the
// bytes (mesh gossip_channel.go). Payloads are opaque here; the owner encodes and validates them.

import type { Gossip, GossipChannelName, Gossiper } from '../core/gossip.js';
import type { PeerName } from '../core/types.js';

/** What a channel needs from the Router to send (implemented by Router; a fake in unit tests). */
export interface GossipHost {
  readonly localName: PeerName;
  sendUnicast(channel: GossipChannelName, src: PeerName, dst: PeerName, payload: Uint8Array): void;
  /** Forwards a broadcast from `src` to our children in src's tree, except `except` (the sender). */
  relayBroadcast(channel: GossipChannelName, src: PeerName, payload: Uint8Array, except?: PeerName): void;
  sendToNeighbours(channel: GossipChannelName, payload: Uint8Array, except?: PeerName): void;
}

export class GossipChannel implements Gossip {
  constructor(
    readonly name: GossipChannelName,
    readonly gossiper: Gossiper,
    private readonly host: GossipHost,
  ) {}

  gossipUnicast(dst: PeerName, data: Uint8Array): void {
    if (dst === this.host.localName) {
      this.gossiper.onGossipUnicast(dst, data);
      return;
    }
    this.host.sendUnicast(this.name, this.host.localName, dst, data);
  }

  /** Every other reachable peer gets it once; we do not deliver to ourselves (as mesh). */
  gossipBroadcast(data: Uint8Array): void {
    this.host.relayBroadcast(this.name, this.host.localName, data);
  }

  gossipToNeighbours(data: Uint8Array): void {
    this.host.sendToNeighbours(this.name, data);
  }
}
