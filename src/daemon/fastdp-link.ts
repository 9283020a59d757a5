// Wires the fast datapath (dataplane/fastdp.ts decides, io/vxlan.ts programs the kernel) to the running
// router: every heartbeat interval it reads the connected peers (PeerLinks) and this host's container
// MACs, sends the pings, and applies the forwarding changes; heartbeats read from the heartbeat TAP are
// answered at once. Forwarding changes are applied one set at a time, in order.
// This host's container MACs: re-read as soon as the bridge reports a change on a container port (the
// new set is announced to the peers at once, so a new container's unicast leaves the sleeve within a
// round trip), and on every FULL_READ_BEATS-th beat as a safety net (every beat if there is no watch).

import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Batch, Clock, VxlanFdb } from '../core/ports.js';
import { Repeater } from '../core/repeater.js';
import { peerNameToNumber, tryParseIPv4 } from '../core/types.js';
import { FastDp, type FastDpCandidate, type FastDpPeerStatus } from '../dataplane/fastdp.js';
import { decodeHeartbeat, encodeHeartbeat, macsPerFrame, type Heartbeat } from '../dataplane/fastdp-wire.js';
import type { RouteTable } from '../dataplane/forwarder.js';
import { ETH_HEADER_BYTES } from '../dataplane/mac.js';
import type { PeerLinks } from './peer-links.js';

/** With the bridge watched, the full re-read of local MACs on one beat in this many. */
const FULL_READ_BEATS = 10;
/** Bridge events within this long are taken together (a container's link brings several). */
const MAC_EVENT_DELAY_MS = 5;

export interface FastDpLinkComponents {
  clock: Clock;
  logger: Logger;
  links: PeerLinks;
  routes: RouteTable;
  vxlan: VxlanFdb;
}

export class FastDpLink {
  private readonly dp: FastDp;
  private readonly log: Logger;
  private readonly frame: Buffer;
  private readonly pingBytes: number;
  private readonly beats: Repeater;
  private applying: Promise<void> = Promise.resolve();
  private readonly lastMode = new Map<number, string>();
  private watching: (() => boolean) | undefined;
  private beatCount = 0;
  private eventPending = false;
  private readSeq = 0;
  private appliedSeq = 0;
  droppedMalformed = 0;
  announcements = 0;

  constructor(
    private readonly c: FastDpLinkComponents,
    init: { localPeer: number; mtu: number; port: number },
  ) {
    this.log = c.logger.child({ component: 'fastdp' });
    this.pingBytes = ETH_HEADER_BYTES + init.mtu;
    this.frame = Buffer.alloc(this.pingBytes);
    this.dp = new FastDp({ localPeer: init.localPeer, port: init.port, macRoom: macsPerFrame(this.pingBytes) });
    this.beats = new Repeater(c.clock, this.dp.heartbeatMs, () => this.beat());
  }

  async start(): Promise<void> {
    await this.c.vxlan.setup();
    this.c.vxlan.heartbeatTap.onFrames((b) => this.onFrames(b));
    this.watching = this.c.vxlan.watchLocalMacs?.(() => this.localChanged());
    this.log.info('fast datapath: kernel VXLAN for peers that need no encryption');
    this.beats.start();
  }

  status(peer: number): FastDpPeerStatus | undefined {
    return this.dp.status(peer);
  }

  stats(): object {
    return { ...this.dp.stats, programmed: this.dp.programmedCount(), droppedMalformed: this.droppedMalformed, announcements: this.announcements };
  }

  async stop(): Promise<void> {
    this.beats.stop();
    await this.applying;
    await this.c.vxlan.teardown().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot remove the vxlan device'));
  }

  private async beat(): Promise<void> {
    if (!this.watching?.() || this.beatCount++ % FULL_READ_BEATS === 0) await this.readLocalMacs();
    if (this.beats.stopped) return;
    const now = this.c.clock.now();
    this.dp.setCandidates(this.candidates(), now);
    for (const ping of this.dp.tick(now)) this.write(ping, this.pingBytes);
    this.sync();
    await this.applying;
  }

  /**
   * Reads this host's container MACs; returns true if they changed. Of reads that overlap, only the one
   * started last is applied (an older table must not overwrite a newer one).
   */
  private async readLocalMacs(): Promise<boolean> {
    const seq = ++this.readSeq;
    try {
      const macs = await this.c.vxlan.localMacs();
      if (seq < this.appliedSeq) return false;
      this.appliedSeq = seq;
      return this.dp.setLocalMacs(macs);
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'cannot read the bridge forwarding table');
      return false;
    }
  }

  /** The bridge learnt or forgot a container MAC: re-read, and tell the peers now if the set changed. */
  private localChanged(): void {
    if (this.eventPending || this.beats.stopped) return;
    this.eventPending = true;
    this.c.clock.setTimer(MAC_EVENT_DELAY_MS, () => {
      this.eventPending = false;
      void this.readLocalMacs().then((changed) => {
        if (!changed || this.beats.stopped) return;
        this.announcements++;
        for (const ping of this.dp.announce()) this.write(ping, this.pingBytes);
        this.sync();
      });
    });
  }

  private candidates(): FastDpCandidate[] {
    const out: FastDpCandidate[] = [];
    for (const link of this.c.links.all()) {
      // An encrypted data plane never takes the fast datapath (VXLAN is plaintext): not a candidate.
      if (link.closed || link.dataEncrypted) continue;
      const peer = peerNameToNumber(link.remoteName);
      const underlay = tryParseIPv4(link.remoteIp);
      if (underlay === undefined) continue;
      // A NAT-punched link reaches the peer through a mapping for the sleeve's port only.
      const why = link.punched ? 'NAT traversal' : this.c.routes.unicastNextHop(peer) !== peer ? 'no direct route' : undefined;
      out.push({ peer, underlay, ...(why ? { ineligible: why } : {}) });
    }
    return out;
  }

  private onFrames(b: Batch): void {
    const now = this.c.clock.now();
    for (let i = 0; i < b.count; i++) {
      const hb = decodeHeartbeat(b.buf, b.offsets[i]!, b.lengths[i]!);
      if (!hb) {
        this.droppedMalformed++;
        continue;
      }
      const pong = this.dp.onHeartbeat(hb, now);
      if (pong) this.write(pong, 0);
    }
    this.sync();
  }

  private write(hb: Heartbeat, padTo: number): void {
    const len = encodeHeartbeat(this.frame, hb, padTo);
    this.c.vxlan.heartbeatTap.writeFrame(this.frame, 0, len);
  }

  /** Queues the forwarding changes the last events made (applied in order, one set at a time). */
  private sync(): void {
    this.logTransitions();
    const { add, del } = this.dp.takeChanges();
    if (add.length === 0 && del.length === 0) return;
    this.applying = this.applying
      .then(() => this.c.vxlan.program(add, del))
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot program the fast datapath'));
  }

  private logTransitions(): void {
    for (const link of this.c.links.all()) {
      const peer = peerNameToNumber(link.remoteName);
      const s = this.dp.status(peer);
      const mode = s ? `${s.mode}:${s.reason ?? ''}` : '';
      if (this.lastMode.get(peer) === mode) continue;
      this.lastMode.set(peer, mode);
      if (s?.mode === 'fastdp') this.log.info({ peer: link.remoteName }, 'fastdp: VXLAN path confirmed');
      else if (s?.reason && s.reason !== 'confirming the VXLAN path') this.log.info({ peer: link.remoteName, reason: s.reason }, 'fastdp: using sleeve');
    }
  }
}
