// NAT traversal decisions (DESIGN.md §3 "NAT traversal"), pure: no timers or sockets, the caller passes
// `now` and acts on what comes back (daemon/nat-traversal.ts does the I/O).
//
// Two roles, every peer plays both:
//   NatIntroducer  on a peer that holds UDP sessions to two neighbours that are not connected to each
//                  other: tells each the other's UDP endpoint as it sees it on its own authenticated
//                  session (the address after their NATs), so both can send at once and open their NATs.
//   NatPuncher     on a peer that gets such a hint: decides whether to act (only on hints from a
//                  neighbour, about a peer the authenticated mesh already knows), which side dials the
//                  tunnelled handshake (the lower name; the other waits for it), when an attempt has
//                  failed (no UDP confirmation by NAT_PUNCH_TIMEOUT_MS), why, and when to try again.
//
// Timeline of one punch (A < B, both behind NATs, introducer P):
//   t0        P sees A and B confirmed on UDP and not connected to each other
//   t0+2 s    P sends hints (NAT_INTRODUCE_AFTER_MS lets an ordinary dial win first)
//   +1 RTT    A dials B through P (tunnelled handshake); both sessions start and send heartbeats to the
//             hinted endpoint every 500 ms (UDP_FAST_HEARTBEAT_MS): each side's first packets open its
//             own NAT, the other side's later ones pass it
//   +4 s      no confirmation: the tunnel is closed, the reason kept for status, A and B stay relayed
//             through P; retry after NAT_BACKOFF_MIN_MS, doubling to NAT_BACKOFF_MAX_MS
// A punched path that later goes silent (the NAT dropped or changed its mapping) is closed the same way
// and retried at P's next hint without backoff; P re-sends hints at once when an endpoint it sees changes.
// Keep-alive: confirmed sessions send a heartbeat every UDP_SLOW_HEARTBEAT_MS (10 s), well under the
// 30 s a typical NAT keeps an idle UDP mapping.

import { peerLabel, formatIPv4, type PeerName } from '../core/types.js';
import type { Endpoint, NatMessage } from './nat-messages.js';

/** A pair of neighbours must be unconnected this long before they are introduced (a dial goes first). */
export const NAT_INTRODUCE_AFTER_MS = 2_000;
/** An introduced pair still unconnected is introduced again this often at most. */
export const NAT_REINTRODUCE_MS = 30_000;
/** How often the daemon calls tick()/due(). */
export const NAT_TICK_MS = 500;
/** UDP must be confirmed this long after the tunnelled link came up (below UDP_CONFIRM_FALLBACK_MS, so
 *  frames never ride the tunnel: a failed punch leaves the traffic relayed through the introducer). */
export const NAT_PUNCH_TIMEOUT_MS = 4_000;
/** A hint lets the hinted peer's tunnelled handshake in for this long. */
export const NAT_HINT_TTL_MS = 15_000;
export const NAT_BACKOFF_MIN_MS = 15_000;
export const NAT_BACKOFF_MAX_MS = 300_000;

export type Hint = Extract<NatMessage, { t: 'hint' }>;

// ---------------------------------------------------------------------------------------------
// Introducer

export interface NeighbourView {
  name: PeerName;
  /** Its UDP endpoint as seen on our session; undefined until that session is confirmed. */
  endpoint: Endpoint | undefined;
  /** The UDP port it says it listens on (its handshake). */
  listenPort: number;
}

export interface Introduction {
  to: PeerName;
  hint: Hint;
}

interface PairRecord {
  since: number;
  /** They were connected after we introduced them (a lost punched path is introduced again at once). */
  wasLinked: boolean;
  lastSent: number | undefined;
  /** Endpoints last sent (a change means a NAT mapping changed: introduce again at once). */
  sentA: string;
  sentB: string;
}

export class NatIntroducer {
  private readonly pairs = new Map<string, PairRecord>();

  /** Hints to send now. `linked(a, b)`: a and b list a connection to each other (topology). */
  tick(now: number, neighbours: readonly NeighbourView[], linked: (a: PeerName, b: PeerName) => boolean): Introduction[] {
    const out: Introduction[] = [];
    const seen = new Set<string>();
    const ready = neighbours.filter((n) => n.endpoint !== undefined).sort((x, y) => (x.name < y.name ? -1 : 1));
    for (let i = 0; i < ready.length; i++) {
      for (let j = i + 1; j < ready.length; j++) {
        const a = ready[i]!;
        const b = ready[j]!;
        const key = `${a.name}|${b.name}`;
        seen.add(key);
        const epA = epKey(a.endpoint!);
        const epB = epKey(b.endpoint!);
        let rec = this.pairs.get(key);
        const changed = rec?.lastSent !== undefined && (rec.sentA !== epA || rec.sentB !== epB);
        if (linked(a.name, b.name)) {
          // Connected. If we introduced them and an endpoint moved, their punched path needs the new one.
          if (rec) rec.wasLinked = true;
          if (!changed) {
            if (rec && rec.lastSent === undefined) this.pairs.delete(key);
            continue;
          }
        } else {
          if (!rec) this.pairs.set(key, (rec = { since: now, wasLinked: false, lastSent: undefined, sentA: '', sentB: '' }));
          if (rec.wasLinked) {
            // Their (punched) connection just went: introduce them again now, not in NAT_REINTRODUCE_MS.
            rec.wasLinked = false;
            rec.lastSent = undefined;
          } else if (now - rec.since < NAT_INTRODUCE_AFTER_MS) continue;
          if (!changed && rec.lastSent !== undefined && now - rec.lastSent < NAT_REINTRODUCE_MS) continue;
        }
        rec!.lastSent = now;
        rec!.sentA = epA;
        rec!.sentB = epB;
        out.push({ to: a.name, hint: hintAbout(b, a) }, { to: b.name, hint: hintAbout(a, b) });
      }
    }
    for (const key of this.pairs.keys()) if (!seen.has(key)) this.pairs.delete(key);
    return out;
  }
}

function hintAbout(peer: NeighbourView, to: NeighbourView): Hint {
  return { t: 'hint', peer: peer.name, endpoint: peer.endpoint!, yours: to.endpoint!, listenPort: peer.listenPort };
}

function epKey(e: Endpoint): string {
  return `${formatIPv4(e.addr)}:${e.port}`;
}

// ---------------------------------------------------------------------------------------------
// Puncher

/** What the caller knows about a hint's context. */
export interface HintContext {
  /** The hint came from a peer we hold a connection to. */
  fromNeighbour: boolean;
  /** The hinted peer is in our (authenticated) topology. */
  known: boolean;
  /** Our connection to the hinted peer: none, a punched (tunnelled) one, or an ordinary one. */
  connection: 'none' | 'punched' | 'other';
}

export type HintDecision =
  | { act: 'ignore'; why: string }
  /** Dial the tunnelled handshake to the peer through the hint's sender. */
  | { act: 'dial'; endpoint: Endpoint }
  /** The peer dials; let its tunnel in. */
  | { act: 'wait' }
  /** Our punched session to the peer should send to this endpoint from now on. */
  | { act: 'update'; endpoint: Endpoint };

export type PunchState = 'punching' | 'punched' | 'failed';

export interface PunchView {
  state: PunchState;
  introducer: PeerName;
  /** The peer's endpoint as the introducer saw it. */
  endpoint: Endpoint;
  /** failed: why, and when the next attempt may start (monotonic ms). */
  reason?: string;
  retryAt?: number;
}

interface PeerRecord {
  state: PunchState | 'hinted';
  introducer: PeerName;
  hint: Hint;
  hintAt: number;
  deadline: number | undefined;
  failures: number;
  retryAt: number;
  reason: string | undefined;
}

export class NatPuncher {
  private readonly peers = new Map<PeerName, PeerRecord>();

  constructor(
    private readonly self: PeerName,
    /** Our UDP port (to tell whether our own NAT rewrites it). */
    private readonly ownPort: number,
    private readonly nickname: (p: PeerName) => string = () => '',
    /** --no-discovery: dial only the targets given, so hints (a kind of discovery) are not acted on. */
    private readonly discovery = true,
  ) {}

  onHint(from: PeerName, hint: Hint, now: number, ctx: HintContext): HintDecision {
    const peer = hint.peer;
    if (!this.discovery) return { act: 'ignore', why: 'peer discovery is off' };
    if (!ctx.fromNeighbour) return { act: 'ignore', why: 'hint not from a neighbour' };
    if (peer === this.self || peer === from) return { act: 'ignore', why: 'hint about ourselves or the sender' };
    if (!ctx.known) return { act: 'ignore', why: 'hint about a peer the mesh does not know' };
    if (!usableAddress(hint.endpoint.addr)) return { act: 'ignore', why: 'hint endpoint is not a unicast address' };
    const rec = this.peers.get(peer);
    if (ctx.connection === 'other') return { act: 'ignore', why: 'already connected' };
    if (ctx.connection === 'punched') {
      if (rec && (rec.hint.endpoint.addr !== hint.endpoint.addr || rec.hint.endpoint.port !== hint.endpoint.port)) {
        rec.hint = hint;
        return { act: 'update', endpoint: hint.endpoint };
      }
      return { act: 'ignore', why: 'already punched' };
    }
    if (rec?.state === 'punching') return { act: 'ignore', why: 'punch in progress' };
    if (rec && rec.state === 'failed' && now < rec.retryAt) return { act: 'ignore', why: 'backing off after a failed punch' };
    const next: PeerRecord = {
      state: 'hinted',
      introducer: from,
      hint,
      hintAt: now,
      deadline: undefined,
      failures: rec?.failures ?? 0,
      retryAt: rec?.retryAt ?? now,
      reason: rec?.reason,
    };
    this.peers.set(peer, next);
    if (this.self < peer) {
      next.state = 'punching';
      next.deadline = now + NAT_PUNCH_TIMEOUT_MS + NAT_HINT_TTL_MS; // the link must come up meanwhile
      return { act: 'dial', endpoint: hint.endpoint };
    }
    return { act: 'wait' };
  }

  /** A tunnelled handshake from `peer` through `introducer` arrived: the endpoint to use, or undefined (refuse). */
  acceptInbound(peer: PeerName, introducer: PeerName, now: number): Endpoint | undefined {
    const rec = this.peers.get(peer);
    if (!rec || rec.introducer !== introducer || rec.state !== 'hinted' || now - rec.hintAt > NAT_HINT_TTL_MS) return undefined;
    rec.state = 'punching';
    rec.deadline = now + NAT_PUNCH_TIMEOUT_MS + NAT_HINT_TTL_MS;
    return rec.hint.endpoint;
  }

  /** The tunnelled link to `peer` was adopted: UDP must confirm by NAT_PUNCH_TIMEOUT_MS. */
  linkUp(peer: PeerName, now: number): void {
    const rec = this.peers.get(peer);
    if (rec) rec.deadline = now + NAT_PUNCH_TIMEOUT_MS;
  }

  /** UDP to `peer` is confirmed both ways over the punched path. */
  confirmed(peer: PeerName): void {
    const rec = this.peers.get(peer);
    if (!rec) return;
    rec.state = 'punched';
    rec.deadline = undefined;
    rec.failures = 0;
    rec.reason = undefined;
  }

  /**
   * The attempt or punched link to `peer` ended; returns the reason kept for status. A punched path that
   * is lost (a NAT mapping changed) is retried at the next hint; a failed attempt backs off, doubling.
   */
  ended(peer: PeerName, now: number): string | undefined {
    const rec = this.peers.get(peer);
    if (!rec || (rec.state !== 'punching' && rec.state !== 'punched')) return undefined;
    const wasPunched = rec.state === 'punched';
    rec.reason = wasPunched ? this.lostReason(rec) : this.failureReason(rec);
    rec.state = 'failed';
    rec.deadline = undefined;
    if (wasPunched) {
      rec.retryAt = now;
    } else {
      rec.retryAt = now + Math.min(NAT_BACKOFF_MAX_MS, NAT_BACKOFF_MIN_MS * 2 ** rec.failures);
      rec.failures++;
    }
    return rec.reason;
  }

  /** Attempts whose time is up: the caller closes them (then calls ended(), which gives the reason). */
  due(now: number): PeerName[] {
    const out: PeerName[] = [];
    for (const [peer, rec] of this.peers) {
      if (rec.state === 'punching' && rec.deadline !== undefined && now >= rec.deadline) out.push(peer);
      // A hint nobody acted on expires.
      if (rec.state === 'hinted' && now - rec.hintAt > NAT_HINT_TTL_MS && rec.reason === undefined) this.peers.delete(peer);
    }
    return out;
  }

  view(peer: PeerName): PunchView | undefined {
    const rec = this.peers.get(peer);
    if (!rec || rec.state === 'hinted') {
      if (!rec || rec.reason === undefined) return undefined;
    }
    const v: PunchView = { state: rec.state === 'hinted' ? 'failed' : rec.state, introducer: rec.introducer, endpoint: rec.hint.endpoint };
    if (rec.reason !== undefined && v.state === 'failed') {
      v.reason = rec.reason;
      v.retryAt = rec.retryAt;
    }
    return v;
  }

  /** Every peer we have punched, are punching or failed to punch. */
  peersWithState(): PeerName[] {
    return [...this.peers.keys()].filter((p) => this.view(p) !== undefined);
  }

  private failureReason(rec: PeerRecord): string {
    const h = rec.hint;
    let why: string;
    if (h.endpoint.port !== h.listenPort) {
      why = `the peer's NAT rewrites its UDP port (${h.listenPort} -> ${h.endpoint.port}; symmetric NAT?)`;
    } else if (h.yours.port !== this.ownPort) {
      why = `our NAT rewrites our UDP port (${this.ownPort} -> ${h.yours.port}; symmetric NAT?)`;
    } else {
      why = `no UDP reply from ${epKey(h.endpoint)} in ${NAT_PUNCH_TIMEOUT_MS / 1000}s (UDP filtered?)`;
    }
    return `punching failed: ${why}; relayed via ${this.label(rec.introducer)}`;
  }

  private lostReason(rec: PeerRecord): string {
    return `punched path lost (no UDP heartbeats; NAT mapping changed?); relayed via ${this.label(rec.introducer)}`;
  }

  private label(p: PeerName): string {
    return peerLabel(p, this.nickname(p));
  }
}

/** Not 0/8, loopback, link-local, multicast or broadcast: a hint must not aim our packets there. */
export function usableAddress(a: number): boolean {
  const first = a >>> 24;
  if (first === 0 || first === 127 || first >= 224) return false;
  return !(first === 169 && ((a >>> 16) & 255) === 254);
}
