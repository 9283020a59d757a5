// The sleeve overlay: moves Ethernet frames between the local bridge and peers over UDP (DESIGN.md §4).
// This file owns the session table (and keeps a fast path's tables in step with it) and takes frames
// from the bridge; its parts, one job each:
//   overlay-types.ts       components, init, stats, session info
//   overlay-egress.ts      pack, seal and send datagrams (or frames over TCP)
//   overlay-ingress.ts     open, check and deliver datagrams (and what a fast path or TCP hands over)
//   overlay-heartbeats.ts  UDP confirmation, RTT, the fallback to TCP
//
// Outbound flow (one TAP wake-up):
//   1. TAP batch → Forwarder.fromLocal per frame (MAC learning, route lookup)
//   2. frames packed per next hop into datagrams (Packer)
//   3. per session: header (type, receiver index, counter), then one sealBatch call
//   4. one UdpSocket.sendBatch for every datagram; sessions on the TCP path get a 'frames' message instead
//
// Inbound flow (one UDP wake-up): overlay-ingress.ts.
//
// Frames too big for one datagram (a container whose MTU exceeds the overlay's) never vanish silently:
// IPv4 with DF → ICMP "fragmentation needed" back to the sender; IPv4 without DF → fragmented here;
// IPv6 → ICMPv6 "packet too big"; the rest is counted in droppedTooBig (pmtu.ts has the rules).
//
// Nothing here allocates per frame; bad packets are counted in `stats`, never thrown.
//
// With a fast path (components.fast, native I/O threads: io/fastpath.ts) the threads read the TAP and
// the socket and carry known unicast traffic over eligible sessions themselves; this class then sees
// only what they hand back (TAP frames they could not place; authenticated heartbeats and frames to
// forward) and keeps their tables in step: sessions, learnt MACs (MacCache.onLearn) and eligibility
// (UDP confirmed both ways and a direct route). The rules here stay the reference.

import { REKEY_AFTER_BYTES, REKEY_AFTER_MS } from '../core/defaults.js';
import type { Logger } from '../core/logger.js';
import type { Batch, FastIngressBatch, FastSessionStats } from '../core/ports.js';
import { formatIPv4 } from '../core/types.js';
import { AEAD_TAG_BYTES, DATA_HEADER_BYTES, FRAME_HEADER_BYTES, FRAME_LEN_CSUM_PARTIAL } from '../wire/data-packet.js';
import { BroadcastDedup, BroadcastNumbering, type BroadcastSource } from './broadcast-dedup.js';
import { buildFastRoutes } from './fast-routes.js';
import { Forwarder, type BroadcastSeen, type ForwardSink } from './forwarder.js';
import { ETH_HEADER_BYTES, dstMac, isGroupMac } from './mac.js';
import { MacCache } from './mac-cache.js';
import { OverlayEgress } from './overlay-egress.js';
import { Heartbeats } from './overlay-heartbeats.js';
import { OverlayIngress } from './overlay-ingress.js';
import { newOverlayStats, type OverlayComponents, type OverlayInit, type OverlayStats, type SessionInfo } from './overlay-types.js';
import { buildFragNeeded, buildPacketTooBig6, classifyTooBig, fragmentIPv4, TOO_BIG_REPLY_MAX_BYTES } from './pmtu.js';
import { Session, type SessionHooks, type SessionInit } from './session.js';
import { SessionRekey } from './session-rekey.js';
import type { RekeyMessage } from './rekey.js';

export type { OverlayComponents, OverlayInit, OverlayStats, SessionInfo } from './overlay-types.js';

/** Underlay IPv4 (20) + UDP (8) headers. */
const UNDERLAY_HEADERS_BYTES = 28;
const UNDERLAY_MTU = 1500;

export class Overlay {
  readonly stats: OverlayStats = newOverlayStats();
  readonly macs = new MacCache();
  readonly forwarder: Forwarder;
  private readonly byPeer = new Map<number, Session>();
  private readonly byIndex = new Map<number, Session>();
  private readonly egress: OverlayEgress;
  private readonly ingress: OverlayIngress;
  private readonly heartbeats: Heartbeats;
  private readonly log: Logger;
  private readonly tooBigBuf: Buffer;
  /** Largest IP packet that crosses the overlay: the configured MTU, or less if a datagram holds less. */
  readonly ipMtu: number;
  private started = false;
  private readonly rekey: SessionRekey | undefined;
  /** This router's broadcast numbering (the fast path continues it while it runs). */
  private readonly numbering: BroadcastNumbering;

  constructor(
    private readonly components: OverlayComponents,
    private readonly init: OverlayInit,
  ) {
    this.log = components.logger.child({ component: 'overlay' });
    this.numbering = new BroadcastNumbering(init.broadcastStart ?? 0);
    const sink: ForwardSink = {
      toPeer: (hop, origin, dst, buf, off, len) => this.egress.enqueue(hop, origin, dst, buf, off, len),
      toLocal: (buf, off, len) => this.ingress.queueLocal(buf as Buffer, off, len),
    };
    const fast = components.fast;
    // With a fast path, one broadcast dedup: the table its threads use (ours only while it is not running).
    const jsSeen = new BroadcastDedup();
    const seen: BroadcastSeen = fast ? { duplicate: (o, d) => fast.broadcastDuplicate(o, d) ?? jsSeen.duplicate(o, d) } : jsSeen;
    // And one broadcast numbering: its egress threads number the local broadcasts they send themselves.
    const numbering: BroadcastSource = fast ? { next: () => fast.nextBroadcast() ?? this.numbering.next() } : this.numbering;
    this.forwarder = new Forwarder(init.localPeer, components.routes, this.macs, sink, numbering, seen);
    this.egress = new OverlayEgress(components.udp, this.byPeer, this.stats, Overlay.maxDatagramBytes(init.mtu));
    this.ipMtu = Math.min(init.mtu, this.egress.packer.maxFrameBytes - ETH_HEADER_BYTES);
    this.tooBigBuf = Buffer.alloc(Math.max(TOO_BIG_REPLY_MAX_BYTES, ETH_HEADER_BYTES + this.ipMtu));
    if (components.rekeyCrypto) {
      this.rekey = new SessionRekey(components.clock, components.rekeyCrypto, {
        intervalMs: init.rekey?.intervalMs ?? REKEY_AFTER_MS,
        afterBytes: init.rekey?.afterBytes ?? REKEY_AFTER_BYTES,
        maxDatagramBytes: Overlay.maxDatagramBytes(init.mtu),
      });
    }
    this.heartbeats = new Heartbeats(components.clock, components.udp, this.log, this.stats, (s) => this.byPeer.get(s.peer) === s);
    this.ingress = new OverlayIngress({
      clock: components.clock,
      tap: components.tap,
      stats: this.stats,
      forwarder: this.forwarder,
      heartbeats: this.heartbeats,
      rekey: this.rekey,
      byPeer: this.byPeer,
      byIndex: this.byIndex,
    });
    if (fast) {
      this.macs.onLearn = (mac, peer) => fast.learn(mac, peer);
      components.routes.onChange?.(() => {
        for (const peer of this.byPeer.keys()) this.refreshFast(peer);
        this.publishRoutes();
      });
    }
  }

  /** Datagrams never exceed what a 1500-byte underlay carries unfragmented, unless the MTU needs more. */
  static maxDatagramBytes(mtu: number): number {
    const oneFrame = DATA_HEADER_BYTES + FRAME_HEADER_BYTES + mtu + ETH_HEADER_BYTES + AEAD_TAG_BYTES;
    return Math.max(oneFrame, UNDERLAY_MTU - UNDERLAY_HEADERS_BYTES);
  }

  /**
   * csumPartial (wire/hello.ts) may be announced with this MTU: every frame we can send (the packer's
   * largest) is shorter than 32768 bytes, so bit 15 of a length is free for the flag.
   */
  static csumPartialFits(mtu: number): boolean {
    return Overlay.maxDatagramBytes(mtu) - DATA_HEADER_BYTES - FRAME_HEADER_BYTES - AEAD_TAG_BYTES < FRAME_LEN_CSUM_PARTIAL;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const fast = this.components.fast;
    if (fast) {
      fast.start(
        (b) => this.onTapBatch(b),
        (b) => this.fromFast(b),
      );
      // Before the routes: the threads send local broadcasts only along a published tree of ours.
      fast.setBroadcastStart(this.numbering.last);
      this.publishRoutes();
      return;
    }
    this.components.tap.onFrames((b) => this.onTapBatch(b));
    this.components.udp.onDatagrams((b) => {
      this.ingress.udpBatch(b);
      this.egress.flush();
    });
  }

  /** Stops the fast path's threads (before the TAP and socket close) and drops every session. */
  stop(): void {
    this.components.fast?.stop();
    for (const s of this.byPeer.values()) s.destroy();
    this.byPeer.clear();
    this.byIndex.clear();
  }

  addSession(init: SessionInit, hooks: SessionHooks): void {
    this.removeSession(init.peer);
    const fast = this.components.fast;
    const watched: SessionHooks = fast
      ? {
          ...hooks,
          onPathChange: (path) => {
            hooks.onPathChange(path);
            this.refreshFast(init.peer);
          },
        }
      : hooks;
    const s = new Session(init, watched, this.components.aead, this.components.clock.now());
    this.byPeer.set(s.peer, s);
    for (let i = 0; i < s.localLanes; i++) this.byIndex.set((s.localIndex + i) >>> 0, s);
    if (fast) {
      fast.addSession({ ...init, lastCounter: s.sendCounter });
      s.counterSource = () => fast.nextCounter(s.peer);
      s.fast = fast;
    }
    if (init.keys && hooks.sendRekey) this.rekey?.attach(s, init.keys, hooks.sendRekey);
    this.heartbeats.beat(s);
  }

  /** Gives the fast path the routes and broadcast trees to relay by (fast-routes.ts). */
  private publishRoutes(): void {
    const fast = this.components.fast;
    if (!fast || !this.started) return;
    try {
      fast.setRoutes(buildFastRoutes(this.components.routes, this.init.localPeer));
    } catch (err) {
      // Without them the fast path hands relayed frames to us, as before: slower, never wrong.
      this.log.warn({ err }, 'fast path: cannot publish routes');
    }
  }

  /** Tells the fast path whether it may send this peer's frames itself. */
  private refreshFast(peer: number): void {
    const fast = this.components.fast;
    const s = this.byPeer.get(peer);
    if (!fast || !s) return;
    const eligible = s.path === 'udp' && s.confirmed && this.components.routes.unicastNextHop(peer) === peer;
    if (eligible === s.fastEligible) return;
    s.fastEligible = eligible;
    fast.setEligible(peer, eligible);
  }

  /** Fast path statistics (undefined without one). */
  fastStats(): Record<string, number | boolean> | undefined {
    return this.components.fast?.stats();
  }

  removeSession(peer: number): void {
    const s = this.byPeer.get(peer);
    if (!s) return;
    s.destroy();
    this.byPeer.delete(peer);
    for (let i = 0; i < s.localLanes; i++) this.byIndex.delete((s.localIndex + i) >>> 0);
    this.components.fast?.removeSession(peer);
  }

  /**
   * The peer's UDP address and port once its session is confirmed on UDP, else undefined. What NAT
   * traversal polls twice a second per neighbour: sessionInfo's counters (a native call) and text are not needed.
   */
  udpEndpoint(peer: number): { addr: number; port: number } | undefined {
    const s = this.byPeer.get(peer);
    return s?.confirmed && s.path === 'udp' ? { addr: s.remoteAddr >>> 0, port: s.remotePort } : undefined;
  }

  sessionInfo(peer: number): SessionInfo | undefined {
    const s = this.byPeer.get(peer);
    if (!s) return undefined;
    return {
      path: s.path,
      confirmed: s.confirmed,
      encrypted: s.encrypted,
      rttMs: s.rttMs,
      remote: `${formatIPv4(s.remoteAddr)}:${s.remotePort}`,
      rekeys: s.rekeyer?.stats.rekeys ?? 0,
      keyGeneration: s.sendGen,
      ...sessionTraffic(s, this.components.fast?.sessionStats(peer)),
    };
  }

  /** A rekey message from `peer` over the TCP connection. */
  onRekeyMessage(peer: number, msg: RekeyMessage): void {
    const s = this.byPeer.get(peer);
    if (s) this.rekey?.onMessage(s, msg);
  }

  /** Frames that came over the TCP connection from `peer` (a DATA body). */
  onTcpFrames(peer: number, body: Uint8Array): void {
    const s = this.byPeer.get(peer);
    if (!s) return;
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    this.ingress.tcpFrames(s, buf);
    this.egress.flush();
  }

  /** What the fast path hands over (heartbeats, frames its rules leave to ours). */
  private fromFast(b: FastIngressBatch): void {
    this.ingress.fastBatch(b);
    this.egress.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound

  private onTapBatch(batch: Batch): void {
    const now = this.components.clock.now();
    const max = this.egress.packer.maxFrameBytes;
    for (let i = 0; i < batch.count; i++) {
      const len = batch.lengths[i]!;
      if (len > max) this.tooBigFromLocal(batch.buf, batch.offsets[i]!, len, now);
      else this.forwarder.fromLocal(batch.buf, batch.offsets[i]!, len, now);
    }
    this.egress.flush();
  }

  /** A frame from the bridge that no datagram can hold (pmtu.ts). */
  private tooBigFromLocal(buf: Buffer, off: number, len: number, now: number): void {
    const group = isGroupMac(buf, off);
    // The bridge delivers local traffic itself; a flooded copy of it needs nothing from us.
    if (!group && this.macs.lookup(dstMac(buf, off), now) === this.init.localPeer) return;
    const out = this.tooBigBuf;
    switch (classifyTooBig(buf, off, len, group)) {
      case 'icmp4':
        this.components.tap.writeFrame(out, 0, buildFragNeeded(buf, off, len, this.ipMtu, out));
        this.stats.icmpTooBigSent++;
        return;
      case 'icmp6':
        this.components.tap.writeFrame(out, 0, buildPacketTooBig6(buf, off, len, this.ipMtu, out));
        this.stats.icmpTooBigSent++;
        return;
      case 'fragment4': {
        const n = fragmentIPv4(buf, off, len, this.ipMtu, out, (f, fo, fl) => this.forwarder.fromLocal(f, fo, fl, now));
        if (n === 0) {
          this.stats.droppedTooBig++;
          return;
        }
        this.stats.framesFragmented++;
        this.stats.fragmentsSent += n;
        return;
      }
      case 'drop':
        this.stats.droppedTooBig++;
    }
  }
}

/** A session's traffic: the JS path's counts plus the fast path's (undefined without one). */
function sessionTraffic(s: Session, fast: FastSessionStats | undefined): Pick<SessionInfo, 'datagramsSent' | 'bytesSent' | 'datagramsReceived' | 'bytesReceived'> {
  return {
    datagramsSent: s.datagramsSent + (fast?.datagramsSent ?? 0),
    bytesSent: s.bytesSent + (fast?.bytesSent ?? 0),
    datagramsReceived: s.datagramsReceived + (fast?.datagramsReceived ?? 0),
    bytesReceived: s.bytesReceived + (fast?.bytesReceived ?? 0),
  };
}
