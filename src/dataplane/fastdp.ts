// The fast datapath's decisions (issue 16; Weave's fastdp without Open vSwitch): which peers carry known
// unicast over the kernel's VXLAN device instead of the sleeve, which forwarding entries that needs, and
// the heartbeats that confirm each peer's VXLAN path. Pure: the daemon (daemon/fastdp-link.ts) feeds it
// peers, local MACs, heartbeat frames and the time, writes the frames it returns into the heartbeat TAP
// and applies the forwarding changes through the VxlanFdb port (io/vxlan.ts). Heartbeats travel on a
// VXLAN device of their own (same UDP port and MTU, another VNI and bridge), so a heartbeat can never
// reach a container or be carried by the sleeve and confirm a path that does not work.
//
// How the kernel path keeps "each frame exactly once" (io/vxlan.ts sets it up; verified on this kernel):
//   - a remote MAC gets a static, sticky bridge entry on the vxlan port plus a vxlan entry (MAC → the
//     peer's underlay IP): the bridge sends known unicast there only, the router never sees it; sticky,
//     because sleeve frames the router writes into the TAP would otherwise move the entry to the TAP;
//   - broadcast, multicast and unknown unicast flood to every port: the vxlan device has no default entry
//     so it drops them, the TAP takes them to the sleeve;
//   - the TAP and the vxlan port are isolated from each other, so what arrives over VXLAN never reaches
//     the router (no second copy over the sleeve) and the router's sleeve frames never leave over VXLAN.
//
// Per peer:  ineligible (encrypted data plane, relayed, fastdp off at startup) → sleeve, with the reason;
//            probing → fastdp on the first reply to a full-size ping; fastdp → failed when no reply for
//            timeoutMs (its container MACs are unprogrammed at once, so frames fall back to the sleeve);
//            failed → fastdp again after `recoverReplies` replies in a row.
// Only peers with a heartbeat entry are pinged; a peer's container MACs are programmed only while it is
// in fastdp, learnt from its heartbeats (it announces the MACs its bridge has on container ports). A new
// local MAC is announced at once (announce(), on the bridge's change events), not at the next beat: until
// the peer programs it, unicast to that container detours through the sleeve. A MAC the peer no longer
// lists in a complete heartbeat (fastdp-wire.ts) is unprogrammed at once; one it stops announcing in
// rotated heartbeats expires after macTtlMs; all of a peer's go when it leaves.

import { HB_PING, HB_PONG, heartbeatMac, type Heartbeat } from './fastdp-wire.js';

export const FASTDP_HEARTBEAT_MS = 1_000;
export const FASTDP_TIMEOUT_MS = 5_000;
/** A container MAC a peer stopped announcing is unprogrammed after this long. */
export const FASTDP_MAC_TTL_MS = 30_000;
const RECOVER_REPLIES = 3;
/** Remote MACs held at most (a hostile or broken peer cannot grow the table without limit). */
const MAX_REMOTE_MACS = 16_384;

export interface FastDpInit {
  localPeer: number;
  /** The VXLAN UDP port (for the fallback reason). */
  port: number;
  heartbeatMs?: number;
  timeoutMs?: number;
  macTtlMs?: number;
  recoverReplies?: number;
  /** Local MACs one heartbeat holds (fastdp-wire.ts macsPerFrame); more are rotated over beats. */
  macRoom?: number;
}

/** What the daemon knows about a connected peer. */
export interface FastDpCandidate {
  peer: number;
  /** The peer's underlay IPv4 address (the VXLAN destination). */
  underlay: number;
  /** Why this peer cannot use the fast datapath (undefined: it may). */
  ineligible?: string;
}

export type FastDpMode = 'fastdp' | 'sleeve';

export interface FastDpPeerStatus {
  mode: FastDpMode;
  /** Why a peer is on the sleeve. */
  reason?: string;
}

/** A forwarding entry: on the data device (container traffic) or the heartbeat device. */
export interface FdbEntry {
  device: 'data' | 'heartbeat';
  mac: number;
  /** The peer's underlay IPv4. */
  underlay: number;
}

/** Forwarding entries to add (or move to another underlay address) and to remove. */
export interface FdbChanges {
  add: FdbEntry[];
  del: FdbEntry[];
}

type State = 'probing' | 'fastdp' | 'failed';

interface PeerState {
  underlay: number;
  ineligible: string | undefined;
  state: State;
  since: number;
  lastReply: number | undefined;
  replyRun: number;
  reason: string | undefined;
  seq: number;
  macs: Map<number, number>; // container MAC → last announced at
}

export interface FastDpStats {
  pingsSent: number;
  pongsSent: number;
  repliesReceived: number;
  fallbacks: number;
  droppedUnknownPeer: number;
  droppedMacLimit: number;
}

export class FastDp {
  private readonly peers = new Map<number, PeerState>();
  private localMacs = new Set<number>();
  private programmed = new Map<string, FdbEntry>();
  private remoteMacCount = 0;
  private rotation = 0;
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  private readonly macTtlMs: number;
  private readonly recoverReplies: number;
  readonly stats: FastDpStats = { pingsSent: 0, pongsSent: 0, repliesReceived: 0, fallbacks: 0, droppedUnknownPeer: 0, droppedMacLimit: 0 };

  constructor(private readonly init: FastDpInit) {
    this.heartbeatMs = init.heartbeatMs ?? FASTDP_HEARTBEAT_MS;
    this.timeoutMs = init.timeoutMs ?? FASTDP_TIMEOUT_MS;
    this.macTtlMs = init.macTtlMs ?? FASTDP_MAC_TTL_MS;
    this.recoverReplies = init.recoverReplies ?? RECOVER_REPLIES;
  }

  /** The connected peers, as of now: new ones start probing, gone ones are forgotten. */
  setCandidates(list: readonly FastDpCandidate[], now: number): void {
    const seen = new Set<number>();
    for (const c of list) {
      seen.add(c.peer);
      const p = this.peers.get(c.peer);
      if (!p || p.underlay !== c.underlay) {
        if (p) this.forget(c.peer, p);
        this.peers.set(c.peer, newPeer(c, now));
        continue;
      }
      if (p.ineligible !== c.ineligible) {
        // Becoming ineligible (e.g. the route became relayed) unprograms at once; eligible again: probe.
        this.clearMacs(p);
        Object.assign(p, newPeer(c, now), { macs: p.macs });
      }
    }
    for (const [peer, p] of this.peers) if (!seen.has(peer)) this.forget(peer, p);
  }

  /**
   * MACs on this host's container ports (never programmed as remote, announced to peers). Returns true if
   * the set changed (then announce() tells the peers now rather than at the next beat).
   */
  setLocalMacs(macs: Iterable<number>): boolean {
    const next = new Set(macs);
    const changed = next.size !== this.localMacs.size || [...next].some((m) => !this.localMacs.has(m));
    this.localMacs = next;
    return changed;
  }

  /**
   * Advances the heartbeat state to `now` and returns the pings to send now (one per eligible peer).
   * Call every heartbeatMs.
   */
  tick(now: number): Heartbeat[] {
    const out: Heartbeat[] = [];
    const local = this.localList();
    for (const [peer, p] of this.peers) {
      if (p.ineligible !== undefined) continue;
      const quiet = now - (p.lastReply ?? p.since);
      if (p.state !== 'failed' && quiet > this.timeoutMs) {
        if (p.state === 'fastdp') this.stats.fallbacks++;
        p.state = 'failed';
        p.replyRun = 0;
        p.reason = `no VXLAN heartbeat reply (UDP ${this.init.port}) for ${Math.round(quiet / 1000)}s`;
      }
      // Recovery needs replies in a row: a gap starts the count again.
      if (p.state === 'failed' && quiet > 2 * this.heartbeatMs) p.replyRun = 0;
      for (const [mac, at] of p.macs) if (now - at > this.macTtlMs) this.dropMac(p, mac);
      out.push(this.ping(peer, p, local));
    }
    this.rotation++;
    return out;
  }

  /**
   * Pings every eligible peer now with this host's MACs, without advancing the heartbeat state: a
   * container that just appeared is programmed on the peers within a round trip, not a beat.
   */
  announce(): Heartbeat[] {
    const local = this.localList();
    const out: Heartbeat[] = [];
    for (const [peer, p] of this.peers) if (p.ineligible === undefined) out.push(this.ping(peer, p, local));
    return out;
  }

  private ping(peer: number, p: PeerState, macs: number[]): Heartbeat {
    this.stats.pingsSent++;
    return { kind: HB_PING, sender: this.init.localPeer, dst: heartbeatMac(peer), seq: ++p.seq >>> 0, macs };
  }

  /** The local MACs for the next heartbeat (macsFor). */
  private localList(): number[] {
    return this.macsFor([...this.localMacs], this.init.macRoom ?? Number.MAX_SAFE_INTEGER);
  }

  /**
   * Local MACs to put in a heartbeat that holds `room`: all of them if they fit, else a window that
   * moves on each tick so every MAC is announced within a few beats (filling the frame: fastdp-wire.ts).
   */
  private macsFor(macs: readonly number[], room: number): number[] {
    if (macs.length <= room) return [...macs];
    const start = (this.rotation * room) % macs.length;
    return [...macs.slice(start), ...macs.slice(0, start)].slice(0, room);
  }

  /** A heartbeat read from the heartbeat TAP; returns the pong to send, if any. */
  onHeartbeat(hb: Heartbeat, now: number): Heartbeat | undefined {
    const p = this.peers.get(hb.sender);
    if (!p || p.ineligible !== undefined || hb.dst !== heartbeatMac(this.init.localPeer)) {
      this.stats.droppedUnknownPeer++;
      return undefined;
    }
    this.announced(p, hb.macs, now);
    // A complete list: the sender's MACs it no longer has (a container that left) go now.
    if (hb.complete) {
      const listed = new Set(hb.macs);
      for (const mac of p.macs.keys()) if (!listed.has(mac)) this.dropMac(p, mac);
    }
    if (hb.kind === HB_PONG) {
      this.stats.repliesReceived++;
      p.lastReply = now;
      p.replyRun++;
      if (p.state === 'probing' || (p.state === 'failed' && p.replyRun >= this.recoverReplies)) {
        p.state = 'fastdp';
        p.reason = undefined;
      }
      return undefined;
    }
    this.stats.pongsSent++;
    return { kind: HB_PONG, sender: this.init.localPeer, dst: heartbeatMac(hb.sender), seq: hb.seq, macs: this.localList() };
  }

  status(peer: number): FastDpPeerStatus | undefined {
    const p = this.peers.get(peer);
    if (!p) return undefined;
    if (p.ineligible !== undefined) return { mode: 'sleeve', reason: p.ineligible };
    if (p.state === 'fastdp') return { mode: 'fastdp' };
    return { mode: 'sleeve', reason: p.reason ?? 'confirming the VXLAN path' };
  }

  /**
   * The forwarding entries to change since the last call: every eligible peer's heartbeat MAC (on the
   * heartbeat device), and the container MACs of peers in fastdp that are not local (on the data device).
   * Marks them applied.
   */
  takeChanges(): FdbChanges {
    const want = new Map<string, FdbEntry>();
    const put = (e: FdbEntry): void => void want.set(`${e.device}/${e.mac}`, e);
    for (const [peer, p] of this.peers) {
      if (p.ineligible !== undefined) continue;
      put({ device: 'heartbeat', mac: heartbeatMac(peer), underlay: p.underlay });
      if (p.state !== 'fastdp') continue;
      for (const mac of p.macs.keys()) if (!this.localMacs.has(mac)) put({ device: 'data', mac, underlay: p.underlay });
    }
    const changes: FdbChanges = { add: [], del: [] };
    for (const [key, e] of want) if (this.programmed.get(key)?.underlay !== e.underlay) changes.add.push(e);
    for (const [key, e] of this.programmed) if (!want.has(key)) changes.del.push(e);
    this.programmed = want;
    return changes;
  }

  /** How many forwarding entries are programmed (heartbeat MACs included). */
  programmedCount(): number {
    return this.programmed.size;
  }

  private announced(p: PeerState, macs: readonly number[], now: number): void {
    for (const mac of macs) {
      if (mac === 0 || this.localMacs.has(mac)) continue;
      if (!p.macs.has(mac)) {
        // A MAC that moved to this peer leaves the other one.
        for (const other of this.peers.values()) if (other !== p && other.macs.has(mac)) this.dropMac(other, mac);
        if (this.remoteMacCount >= MAX_REMOTE_MACS) {
          this.stats.droppedMacLimit++;
          continue;
        }
        this.remoteMacCount++;
      }
      p.macs.set(mac, now);
    }
  }

  private dropMac(p: PeerState, mac: number): void {
    if (p.macs.delete(mac)) this.remoteMacCount--;
  }

  private clearMacs(p: PeerState): void {
    this.remoteMacCount -= p.macs.size;
    p.macs.clear();
  }

  private forget(peer: number, p: PeerState): void {
    this.clearMacs(p);
    this.peers.delete(peer);
  }
}

function newPeer(c: FastDpCandidate, now: number): PeerState {
  return {
    underlay: c.underlay,
    ineligible: c.ineligible,
    state: 'probing',
    since: now,
    lastReply: undefined,
    replyRun: 0,
    reason: undefined,
    seq: 0,
    macs: new Map(),
  };
}
