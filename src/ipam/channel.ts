// The `ipam` gossip channel: what we gossip (our whole ring, or our Paxos state before there is one), and
// every message received — checked for the same --ipalloc-range, then merged (ring, Paxos) or dispatched
// (space requests, grants, denials, ring requests). A conflicting update is refused, remembered for status
// and logged, and thrown to the router; our ring stays as it was. A range mismatch is thrown with the reason
// for the router to close the connection with (the core reports; the router acts).
import { IpamConflictError, isTsweaveError } from '../core/errors.js';
import { type PeerName, formatCidr } from '../core/types.js';
import { formatRange, formatRangeAsCidr } from './addr-range.js';
import type { Bootstrap } from './bootstrap.js';
import type { IpamContext } from './context.js';
import type { Donations } from './donation.js';
import { IpamMismatchError, isIpamMismatch } from './errors.js';
import { type UnicastMsg, decodeGossip, decodeUnicast } from './messages.js';
import type { NodeClaims } from './paxos.js';
import type { RemovedPeer, RingData } from './ring.js';

export interface ChannelHooks {
  /** Waiting requests should be tried again (something may have changed). */
  retry(): void;
  /** A tombstone for us arrived (departure.ts enterRemoved). */
  removed(tomb: RemovedPeer): void;
}

export class IpamChannel {
  constructor(
    private readonly ctx: IpamContext,
    private readonly bootstrap: Bootstrap,
    private readonly donations: Donations,
    private readonly hooks: ChannelHooks,
  ) {}

  /** Full state for periodic gossip: the whole ring, or Paxos state before there is a ring. */
  gossip(): Uint8Array | undefined {
    if (this.ctx.removedBy) return undefined;
    if (!this.ctx.ring.isEmpty) return this.ctx.fullRingGossip();
    return this.bootstrap.paxosGossip();
  }

  onGossip(src: PeerName, data: Uint8Array): Uint8Array | undefined {
    const ctx = this.ctx;
    // Steady state: a neighbour's full ring is byte-for-byte ours. Nothing to learn, nothing to decode.
    const cached = ctx.cachedRingGossip();
    if (cached && !ctx.removedBy && data.length === cached.length && Buffer.compare(data, cached) === 0) return undefined;
    const m = decodeGossip(data);
    this.checkRange(m.start, m.end, src);
    if (ctx.removedBy) return undefined;
    let ringDelta: RingData | undefined;
    let paxosDelta: Map<PeerName, NodeClaims> | undefined;
    try {
      if (m.ring) ringDelta = this.mergeRing(src, m.ring, m.complete);
      if (m.paxos) {
        if (!ctx.ring.isEmpty) {
          // The sender still runs Paxos but a ring exists: tell it directly.
          ctx.sendRing(src);
        } else if (ctx.paxos) {
          paxosDelta = this.bootstrap.mergePaxos(m.paxos);
        }
      }
    } finally {
      ctx.persistIfDirty();
    }
    this.hooks.retry();
    // What was new to us is re-gossiped as our whole ring (see context.broadcastRing for why never as a part).
    if (ringDelta) return ctx.fullRingGossip();
    if (paxosDelta && ctx.ring.isEmpty) return this.bootstrap.paxosGossip(paxosDelta);
    return undefined;
  }

  onGossipUnicast(src: PeerName, data: Uint8Array): void {
    const m = decodeUnicast(data);
    this.checkRange(m.start, m.end, src);
    try {
      this.handleUnicast(src, m);
    } finally {
      this.ctx.persistIfDirty();
    }
    this.hooks.retry();
  }

  private handleUnicast(src: PeerName, m: UnicastMsg): void {
    const ctx = this.ctx;
    if (ctx.removedBy) {
      if (m.kind === 'req') this.donations.deny(src, m, `peer ${ctx.self} was removed from the ring by 'rmpeer' and gives no space`, false);
      return;
    }
    switch (m.kind) {
      case 'req':
        this.donations.handleRequest(src, m);
        return;
      case 'grant':
        this.donations.handleGrant(src, m);
        return;
      case 'deny':
        this.donations.handleDeny(src, m);
        return;
      case 'ring?':
        if (!ctx.ring.isEmpty) ctx.sendRing(src);
        return;
      case 'ring':
        this.mergeRing(src, m.ring, true);
        return;
    }
  }

  private checkRange(start: number, end: number, src: PeerName): void {
    const ctx = this.ctx;
    if (start !== ctx.universe.start || end !== ctx.universe.end) {
      const [ours, theirs] = [formatRange(ctx.universe), formatRange({ start, end })];
      // Shown on both ends (the remote gets it with the close), so it names both peers rather than "ours".
      const connectionReason = `IPAM range mismatch: ${ctx.label(ctx.self)} has --ipalloc-range ${formatCidr(ctx.range)}, ` +
        `${ctx.label(src)} has ${formatRangeAsCidr({ start, end })}`;
      const err = new IpamMismatchError(
        'range', ours, theirs,
        `Incompatible IP allocation ranges (received: ${theirs} from ${ctx.label(src)}, ours: ${ours}): ` +
          `every peer must use the same --ipalloc-range`,
        { fields: { peer: src }, connectionReason },
      );
      ctx.lastConflict = err;
      ctx.log.error({ err, peer: src }, 'ipam update rejected');
      throw err;
    }
  }

  /** Merges ring data; returns the delta. Throws IpamConflictError (logged) and leaves our ring as it was. */
  mergeRing(src: PeerName, incoming: RingData, complete: boolean): RingData | undefined {
    const ctx = this.ctx;
    if (!complete) {
      // We never send parts of rings (see context.broadcastRing); ask for the whole thing instead of guessing.
      if (incoming.entries.length > 0) this.bootstrap.askForRing(src);
      return undefined;
    }
    const tomb = incoming.removed.find((t) => t.peer === ctx.self);
    if (tomb && ctx.ring.ownsTokensRemovedBy(tomb)) {
      this.hooks.removed(tomb);
      return undefined;
    }
    const wasEmpty = ctx.ring.isEmpty;
    let delta: RingData | undefined;
    try {
      delta = ctx.ring.merge(incoming);
    } catch (err) {
      if (isTsweaveError(err) && err.code === 'ERR_IPAM_CONFLICT') throw this.refused(src, err);
      throw err;
    }
    if (!delta) return undefined;
    ctx.dirty = true;
    ctx.afterOwnershipChange();
    if (wasEmpty) {
      this.bootstrap.stop();
      ctx.log.info({ seeds: ctx.ring.seeds.length, from: src }, 'ipam ring received');
    }
    return delta;
  }

  /** The ring refused a merge: the error to throw, naming the sender (and the way out for a foreign seed list). */
  private refused(src: PeerName, err: Error): IpamConflictError {
    const hint = isIpamMismatch(err, 'seeds')
      ? "; if this peer's data dir holds IPAM state from another cluster, run 'tsweave reset' on it and launch it again"
      : '';
    const message = `${err.message} (from ${this.ctx.label(src)})${hint}`;
    const opts = { cause: err, fields: { peer: src } };
    const e = isIpamMismatch(err)
      ? new IpamMismatchError(err.mismatch, err.ours, err.theirs, message, opts)
      : new IpamConflictError(message, opts);
    this.ctx.lastConflict = e;
    this.ctx.log.error({ err: e, peer: src }, 'ipam update rejected');
    return e;
  }
}
