// NAT traversal wiring (issue 17; decisions in mesh/nat-punch.ts, DESIGN.md §3): the 'nat' gossip
// channel, the introducer's hints, and the tunnelled handshake between two peers behind NATs.
//
// As introducer: every NAT_TICK_MS, our confirmed UDP sessions give each neighbour's endpoint (the
// address its NAT shows us, learnt from authenticated packets); NatIntroducer says which pairs to tell.
// As puncher: a hint acted on opens a PunchTunnelStream to the peer through the introducer and runs the
// ordinary handshake over it (PeerLinks.handshake with the hinted UDP endpoint); the session's
// heartbeats, sent by both sides at once, are the punch. Every NAT_TICK_MS we look at our punched
// links' paths: UDP confirmed → punched; not confirmed in time, or the path went to TCP (heartbeats lost)
// → the link is closed (traffic stays relayed through the introducer) and the reason kept for status.
//
// Tunnel messages go down the link to the introducer by hand, not along the gossip routes: once the
// tunnelled link exists, the routes to the peer would lead into the tunnel itself.

import type { NatFailureView } from '../api/status.js';
import { errorMessage } from '../core/errors.js';
import type { Gossiper } from '../core/gossip.js';
import type { Logger } from '../core/logger.js';
import type { Clock, Rng } from '../core/ports.js';
import { formatIPv4, peerLabel, peerNameToNumber, type PeerName } from '../core/types.js';
import type { Overlay } from '../dataplane/overlay.js';
import { decodeNatMessage, encodeNatMessage, type Endpoint, type NatMessage } from '../mesh/nat-messages.js';
import { NAT_TICK_MS, NatIntroducer, NatPuncher, type Hint, type NeighbourView } from '../mesh/nat-punch.js';
import { PunchTunnelStream } from '../mesh/punch-tunnel.js';
import type { Router } from '../mesh/router.js';
import type { PeerLink } from './peer-link.js';
import type { PeerLinks } from './peer-links.js';

export interface NatTraversalComponents {
  clock: Clock;
  rng: Rng;
  logger: Logger;
  router: Router;
  overlay: Overlay;
  links: PeerLinks;
}

interface Tunnel {
  peer: PeerName;
  introducer: PeerName;
  id: number;
  stream: PunchTunnelStream;
}

export class NatTraversal implements Gossiper {
  private readonly log: Logger;
  private readonly introducer = new NatIntroducer();
  private readonly puncher: NatPuncher;
  /** Live tunnels by `${peer}|${id}`. */
  private readonly tunnels = new Map<string, Tunnel>();
  private cancelTimer: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly c: NatTraversalComponents,
    private readonly self: PeerName,
    udpPort: number,
  ) {
    this.log = c.logger.child({ component: 'nat' });
    this.puncher = new NatPuncher(self, udpPort, (p) => c.router.nicknameOf(p) ?? '', c.router.discovery);
    c.router.registerChannel('nat', this);
    c.router.on('connection:removed', (conn) => this.connectionRemoved(conn as PeerLink));
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.tick();
      this.cancelTimer = this.c.clock.setTimer(NAT_TICK_MS, tick);
    };
    this.cancelTimer = this.c.clock.setTimer(NAT_TICK_MS, tick);
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    for (const t of this.tunnels.values()) t.stream.close();
    this.tunnels.clear();
  }

  /** `status connections` text for a tunnelled link: "punched via P(nick)" or "punching via P(nick)". */
  linkText(peer: PeerName): string | undefined {
    const v = this.puncher.view(peer);
    if (!v || v.state === 'failed') return undefined;
    return `${v.state} via ${peerLabel(v.introducer, this.c.router.nicknameOf(v.introducer) ?? '')}`;
  }

  /** Failed punches to peers we have no connection to (traffic relayed), for `status connections`. */
  failures(): NatFailureView[] {
    const offset = this.c.clock.wallNow() - this.c.clock.now();
    const out: NatFailureView[] = [];
    for (const peer of this.puncher.peersWithState()) {
      const v = this.puncher.view(peer);
      if (!v || v.state !== 'failed' || v.reason === undefined || this.c.links.get(peer)) continue;
      out.push({ address: fmt(v.endpoint), name: peer, nickname: this.c.router.nicknameOf(peer) ?? '', reason: v.reason, retryAt: (v.retryAt ?? 0) + offset });
    }
    return out;
  }

  // Gossiper: the channel carries only unicasts.
  gossip(): Uint8Array | undefined {
    return undefined;
  }
  onGossip(): Uint8Array | undefined {
    return undefined;
  }
  onGossipBroadcast(): Uint8Array | undefined {
    return undefined;
  }

  onGossipUnicast(src: PeerName, data: Uint8Array): void {
    const m = decodeNatMessage(data); // a throw is counted and dropped by the router as hostile input
    switch (m.t) {
      case 'hint':
        this.onHint(src, m);
        return;
      case 'data':
        this.onTunnelData(src, m.introducer, m.stream, m.bytes);
        return;
      case 'close': {
        const t = this.tunnels.get(`${src}|${m.stream}`);
        if (t?.introducer === m.introducer) t.stream.remoteClosed(new Error('closed by the peer'));
      }
    }
  }

  // ------------------------------------------------------------------------------------------

  private tick(): void {
    const now = this.c.clock.now();
    // Introducer: hints for neighbours that are not connected to each other.
    const neighbours: NeighbourView[] = [];
    for (const link of this.c.links.all()) {
      if (link.closed || link.punched) continue;
      neighbours.push({ name: link.remoteName, endpoint: this.endpointOf(link), listenPort: link.remoteListenPort });
    }
    const topo = this.c.router.topology;
    const lists = (a: PeerName, b: PeerName): boolean => topo.get(a)?.connections.some((c) => c.name === b) ?? false;
    for (const { to, hint } of this.introducer.tick(now, neighbours, (a, b) => lists(a, b) || lists(b, a))) {
      this.c.links.get(to)?.send({ kind: 'gossip-unicast', channel: 'nat', src: this.self, dst: to, payload: encodeNatMessage(hint) });
      this.log.debug({ to, peer: hint.peer, endpoint: fmt(hint.endpoint) }, 'introducing peers behind nat');
    }
    // Puncher: our punched links.
    for (const link of this.c.links.all()) {
      if (!link.punched || link.closed) continue;
      const v = this.puncher.view(link.remoteName);
      if (link.path === 'udp' && v?.state === 'punching') {
        this.puncher.confirmed(link.remoteName);
        this.log.info({ peer: link.remoteName, endpoint: fmt(link.punched) }, 'nat punched: direct udp path');
      } else if (link.path === 'tcp') {
        // Never let frames ride the tunnel: close it; traffic goes through the introducer over UDP.
        link.close(this.puncher.ended(link.remoteName, now) ?? 'punched path lost');
      }
    }
    for (const peer of this.puncher.due(now)) {
      const link = this.c.links.get(peer);
      const reason = this.puncher.ended(peer, now) ?? 'punching failed';
      this.log.info({ peer, reason }, 'nat punch failed');
      if (link?.punched) link.close(reason);
      for (const t of this.tunnels.values()) if (t.peer === peer) t.stream.close();
    }
  }

  /** A neighbour's UDP endpoint as our confirmed session sees it. */
  private endpointOf(link: PeerLink): Endpoint | undefined {
    return this.c.overlay.udpEndpoint(peerNameToNumber(link.remoteName));
  }

  private onHint(from: PeerName, hint: Hint): void {
    const now = this.c.clock.now();
    const existing = this.c.links.get(hint.peer);
    const decision = this.puncher.onHint(from, hint, now, {
      fromNeighbour: this.c.links.get(from) !== undefined,
      known: this.c.router.topology.get(hint.peer) !== undefined,
      connection: existing ? (existing.punched ? 'punched' : 'other') : 'none',
    });
    this.log.debug({ from, peer: hint.peer, endpoint: fmt(hint.endpoint), decision }, 'nat hint');
    switch (decision.act) {
      case 'dial':
        this.dial(hint.peer, from, decision.endpoint);
        return;
      case 'update':
        // The peer's NAT mapping changed: re-punch from scratch (the session cannot move by itself).
        existing?.close('peer endpoint changed (NAT mapping changed); punching again');
        return;
      default:
    }
  }

  private newTunnel(peer: PeerName, introducer: PeerName, id: number, ep: Endpoint): Tunnel {
    const send = (m: NatMessage): void => {
      const link = this.c.links.get(introducer);
      if (!link) return;
      link.send({ kind: 'gossip-unicast', channel: 'nat', src: this.self, dst: peer, payload: encodeNatMessage(m) });
    };
    const stream = new PunchTunnelStream(formatIPv4(ep.addr), ep.port, {
      data: (bytes) => send({ t: 'data', introducer, stream: id, bytes }),
      close: () => send({ t: 'close', introducer, stream: id }),
    });
    const t: Tunnel = { peer, introducer, id, stream };
    const key = `${peer}|${id}`;
    this.tunnels.set(key, t);
    stream.onClose(() => {
      if (this.tunnels.get(key) === t) this.tunnels.delete(key);
    });
    return t;
  }

  private dial(peer: PeerName, introducer: PeerName, ep: Endpoint): void {
    const t = this.newTunnel(peer, introducer, this.c.rng.int(0x100000000), ep);
    this.adopt(t, true, ep);
  }

  private onTunnelData(src: PeerName, introducer: PeerName, id: number, bytes: Uint8Array): void {
    const known = this.tunnels.get(`${src}|${id}`);
    if (known) {
      // Bytes claiming another introducer are not this tunnel's (the stream is sealed end to end anyway).
      if (known.introducer === introducer) known.stream.deliver(bytes);
      return;
    }
    const ep = this.c.links.get(introducer) ? this.puncher.acceptInbound(src, introducer, this.c.clock.now()) : undefined;
    if (!ep) {
      // Not hinted (or hinted long ago): refuse, so a mesh member cannot make us handshake with anyone.
      this.c.links.get(introducer)?.send({
        kind: 'gossip-unicast', channel: 'nat', src: this.self, dst: src, payload: encodeNatMessage({ t: 'close', introducer, stream: id }),
      });
      return;
    }
    const t = this.newTunnel(src, introducer, id, ep);
    this.adopt(t, false, ep);
    t.stream.deliver(bytes);
  }

  /** Runs the handshake over the tunnel; the link must turn out to be the peer we meant. */
  private adopt(t: Tunnel, outbound: boolean, ep: Endpoint): void {
    const address = fmt(ep);
    this.c.links
      .handshake(t.stream, outbound, address, { addr: ep.addr, port: ep.port, introducer: t.introducer })
      .then((link) => {
        if (link.remoteName !== t.peer) {
          link.close(`punched tunnel reached ${link.remoteName}, not ${t.peer}`);
          return;
        }
        this.puncher.linkUp(t.peer, this.c.clock.now());
        this.log.info({ peer: peerLabel(t.peer, link.remoteNickname), via: t.introducer, endpoint: address }, 'nat tunnel up; punching');
      })
      .catch((err: unknown) => {
        this.log.info({ peer: t.peer, err: errorMessage(err) }, 'nat tunnel handshake failed');
        this.puncher.ended(t.peer, this.c.clock.now());
      });
  }

  private connectionRemoved(link: PeerLink): void {
    if (link.punched) {
      // Closed by the peer (its deadline came first) or lost: keep the reason for status.
      if (this.c.links.get(link.remoteName) === undefined) this.puncher.ended(link.remoteName, this.c.clock.now());
      for (const t of this.tunnels.values()) if (t.peer === link.remoteName) t.stream.close();
      return;
    }
    // An introducer went: its tunnels go with it.
    for (const t of this.tunnels.values()) {
      if (t.introducer === link.remoteName) t.stream.remoteClosed(new Error(`introducer ${link.remoteName} disconnected`));
    }
  }
}

function fmt(e: Endpoint): string {
  return `${formatIPv4(e.addr)}:${e.port}`;
}
